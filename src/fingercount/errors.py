"""One error hierarchy for the whole package.

Each class carries the HTTP status that the serving layer answers with and the exit code the
CLI ends with, so neither layer needs a table of its own. No FastAPI import here on purpose.
"""

from __future__ import annotations


class FingercountError(Exception):
    """Base class: a problem the user can act on, reported as one line."""

    code = "error"
    http_status = 500
    exit_code = 1

    def body(self) -> dict[str, str]:
        """The one error shape every client sees: HTTP bodies and WebSocket messages alike."""
        return {"error": self.code, "detail": str(self)}


class ConfigError(FingercountError):
    """A configuration file (or option) is missing, malformed or inconsistent."""

    code = "invalid_config"
    http_status = 400
    exit_code = 2


class DatasetError(FingercountError):
    """A dataset cannot be read, imported or prepared."""

    code = "invalid_dataset"
    http_status = 400
    exit_code = 1


class SourceUnavailableError(FingercountError):
    """A remote data source (Picsellia) cannot be reached or refuses our credentials."""

    code = "source_unavailable"
    http_status = 503
    exit_code = 1


class TrackingUnavailableError(FingercountError):
    """The MLflow tracking server or registry cannot be reached."""

    code = "tracking_unavailable"
    http_status = 503
    exit_code = 1


class ModelNotFoundError(FingercountError):
    """A model path, registered model, version or alias does not exist."""

    code = "model_not_found"
    http_status = 404
    exit_code = 1


class ModelLoadError(FingercountError):
    """A model version exists but cannot be served (corrupt or incomplete artifacts, no engine)."""

    code = "model_load_failed"
    http_status = 422
    exit_code = 1


class NoModelLoadedError(FingercountError):
    """A prediction was asked for before any model was loaded."""

    code = "no_model_loaded"
    http_status = 503


class BadImageError(FingercountError):
    """The uploaded bytes are not a decodable image."""

    code = "bad_image"
    http_status = 400


class UnsupportedMediaError(FingercountError):
    code = "unsupported_media_type"
    http_status = 415


class PayloadTooLargeError(FingercountError):
    code = "payload_too_large"
    http_status = 413


class UnauthorizedError(FingercountError):
    code = "unauthorized"
    http_status = 401


class InvalidRequestError(FingercountError):
    """A request that does not match the API's schema (FastAPI's validation)."""

    code = "invalid_request"
    http_status = 422


class NotFoundError(FingercountError):
    """A named thing (collection, frame, job) that does not exist."""

    code = "not_found"
    http_status = 404


class ConflictError(FingercountError):
    """The request conflicts with the current state (e.g. a training job is already running)."""

    code = "conflict"
    http_status = 409


class TrainingUnavailableError(FingercountError):
    """This process cannot train (a serving image without PyTorch and Ultralytics)."""

    code = "training_unavailable"
    http_status = 503


class OverloadedError(FingercountError):
    """More inference requests than the server admits: retry after `retry_after` seconds."""

    code = "overloaded"
    http_status = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
