"""Response models: the seed's shapes, documented in /docs."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Prediction(BaseModel):
    class_name: str
    class_id: int
    confidence: float
    bbox: list[float] = Field(description="x1, y1, x2, y2 in the original image's pixels")
    fingers: int = Field(description="raised fingers of this hand (from its class name)")


class PredictResponse(BaseModel):
    finger_count: int
    predictions: list[Prediction]
    preprocessing_applied: bool
    inference_time_ms: float
    model_name: str
    model_version: str
    image_size: list[int] = Field(description="width, height of the image as received")
    conf: float


class ModelState(BaseModel):
    loaded: bool
    model: dict[str, object] | None = None
    last_error: str | None = None


class HealthResponse(BaseModel):
    status: str
    model_loaded: bool
    model: dict[str, object] | None = None
    reason: str | None = None
    registry_reachable: bool
    preprocessing_enabled: bool


class ErrorBody(BaseModel):
    """Every error the API answers, whatever its status."""

    error: str = Field(description="a stable code, e.g. bad_image, unauthorized, overloaded")
    detail: str = Field(description="what went wrong and what to do, in one sentence")


_MEANINGS = {
    400: "bad input (an image that cannot be decoded, a request that cannot be carried out)",
    401: "missing or wrong `Authorization: Bearer <ADMIN_TOKEN>`",
    404: "no such model version, collection, frame or job",
    408: "the request body stalled (BODY_TIMEOUT)",
    409: "conflicts with the current state (a job is already running)",
    413: "the upload or the image is too large",
    415: "not a JPEG, PNG or WebP image",
    422: "a parameter is missing or invalid, or the model version cannot be served",
    503: "not available now: no model loaded, at capacity (see Retry-After), registry or teacher unavailable",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route can answer, all with `ErrorBody`."""
    return {status: {"model": ErrorBody, "description": _MEANINGS[status]} for status in sorted({*statuses, 422})}
