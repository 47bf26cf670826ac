"""MLflow client defaults and the one "does the tracking server answer" check."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from fingercount.processes import http_ok


def client_defaults() -> None:
    """The client's defaults retry for minutes; a dead server should be a clear error instead."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


def reachable(tracking_uri: str, timeout: float = 2.0) -> bool:
    """Whether the registry answers now (a local SQLite store always does)."""
    if urlparse(tracking_uri).scheme not in {"http", "https"}:
        return True
    return http_ok(tracking_uri.rstrip("/") + "/health", timeout)
