"""The FastAPI service: registry-backed, hot-swappable models, and the dashboard."""
