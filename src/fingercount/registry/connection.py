"""Connecting to the tracking server / registry, failing fast when it does not answer."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from fingercount.errors import TrackingUnavailableError


def client_defaults() -> None:
    """The client's defaults retry for minutes; a dead server should be a clear error instead."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")


def configure(tracking_uri: str) -> None:
    """Point the process-wide MLflow client at `tracking_uri` without checking that it answers."""
    import mlflow

    client_defaults()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)


def connect(tracking_uri: str, timeout: float = 5.0) -> None:
    """Point MLflow at `tracking_uri`, failing within seconds when a server does not answer."""
    if not reachable(tracking_uri, timeout):  # checked first: a dead URI never becomes the current one
        raise TrackingUnavailableError(
            f"MLflow tracking server {tracking_uri} is not reachable; "
            "start it or set MLFLOW_TRACKING_URI to a reachable server (unset: embedded SQLite store)"
        )
    configure(tracking_uri)


def reachable(tracking_uri: str, timeout: float = 2.0) -> bool:
    """Whether the registry answers now (a local SQLite store always does)."""
    if urlparse(tracking_uri).scheme not in {"http", "https"}:
        return True
    import requests

    try:
        return requests.get(tracking_uri.rstrip("/") + "/health", timeout=timeout).ok
    except requests.RequestException:
        return False
