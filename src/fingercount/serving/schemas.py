"""Response models: the seed's shapes, documented in /docs."""

from __future__ import annotations

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
