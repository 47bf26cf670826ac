"""Datasets: sources (picsellia, local, synthetic) and preparation into YOLO splits."""
