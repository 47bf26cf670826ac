"""Response models: the seed's shapes, documented in /docs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

# Registry names and references only: never a path or a URL.
MODEL_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,127}$"
ALIAS = r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$"


class Prediction(BaseModel):
    class_name: str
    class_id: int
    confidence: float
    bbox: list[float] = Field(description="x1, y1, x2, y2 in the original image's pixels")
    fingers: int = Field(description="raised fingers of this hand (from its class name)")
    counted_by: str = Field(
        "classes",
        description="how the version counted this hand (its count head): the detector's class (classes), the "
        "hand-landmark model on the box (landmarks) or on the whole frame (photo), or the finger rule on the "
        "model's own keypoints (keypoints)",
    )


class PredictResponse(BaseModel):
    finger_count: int
    predictions: list[Prediction]
    preprocessing_applied: bool
    inference_time_ms: float
    model_name: str
    model_version: str
    image_size: list[int] = Field(description="width, height of the image as received")
    conf: float
    processed_image: str | None = Field(
        default=None, description="the seed's field: always null (the image is never sent back)"
    )


class ModelState(BaseModel):
    """Ours (`loaded`, `model`, `last_error`) and, at the top level beside them, the seed's
    `/models/current` fields for the model serving now (None while none is loaded)."""

    loaded: bool
    model: dict[str, object] | None = None
    last_error: str | None = None
    name: str | None = None
    version: str | None = None
    stage: str | None = None
    architecture: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    loaded_at: str | None = Field(default=None, description="ISO time the model was loaded")
    run_id: str | None = None


class LoadResponse(ModelState):
    """The new state, with the seed's answer beside it (`status`, `message`, `model_info`)."""

    status: Literal["success"] = "success"
    message: str = ""
    model_info: dict[str, object] = Field(default_factory=dict)


def seed_model_info(info: Any) -> dict[str, Any]:
    """A served model as the seed describes it (`loaded_at` as ISO text)."""
    # The seed's keys (`mAP50-95`, `precision`, …: its final test figures) beside ours (`test/…`, `eval/…`).
    tested = {key.removeprefix("test/"): value for key, value in info.metrics.items() if key.startswith("test/")}
    return {
        "name": info.name, "version": info.version, "stage": info.stage, "architecture": info.architecture,
        "metrics": {**tested, **info.metrics}, "run_id": info.run_id,
        "loaded_at": datetime.fromtimestamp(info.loaded_at).isoformat(),
    }  # fmt: skip


class StreamDefaults(BaseModel):
    """What a new WebSocket connection starts with (`/config/conf_threshold`, `/config/skip_frames`)."""

    conf_threshold: float | None = Field(default=None, description="None: the model's stored threshold")
    skip_frames: int = Field(default=1, description="answer 1 frame in N with a new prediction (per connection)")


class SkipFrameConfig(BaseModel):
    skip_frames: int = Field(ge=1, le=1000, description="Process 1 frame in N on each WebSocket connection.")


class LoadRequest(BaseModel):
    """A registered version to load: exactly one of `version`, `alias` or `stage`."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": [ref]} for ref in ("version", "alias", "stage")]},
    )

    # Absent, never null: `SkipJsonSchema` keeps null out of the documented types.
    model_name: Annotated[str, Field(pattern=MODEL_NAME)] | SkipJsonSchema[None] = Field(
        default=None, description="Registered model name (default MODEL_NAME)."
    )
    version: Annotated[int, Field(ge=1, le=999_999_999)] | SkipJsonSchema[None] = Field(
        default=None, description="A version number."
    )
    alias: Annotated[str, Field(pattern=ALIAS)] | SkipJsonSchema[None] = Field(
        default=None, description="An alias, e.g. production."
    )
    stage: Literal["Staging", "Production", "Archived"] | SkipJsonSchema[None] = Field(
        default=None, description="A legacy stage (MLflow's names)."
    )

    @model_validator(mode="after")
    def one_reference(self) -> LoadRequest:
        if sum(ref is not None for ref in (self.version, self.alias, self.stage)) != 1:
            raise ValueError("give exactly one of version, alias or stage")
        return self


class PrivacyStatus(BaseModel):
    """What happens to camera frames written to disk (collections, the review queue)."""

    keep_faces: bool = Field(description="KEEP_FACES=1: the operator keeps frames as sent")
    stored_frames: str = Field(description="faces blurred | with faces | not stored (the blur cannot run)")
    reason: str


class HealthResponse(BaseModel):
    status: str = Field(description="healthy (the seed's word), or degraded with a reason")
    mlflow_uri: str
    model_loaded: bool
    model: dict[str, object] | None = None
    reason: str | None = None
    registry_reachable: bool
    preprocessing_enabled: bool
    privacy: PrivacyStatus


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


# Multipart framing adds a little to the file itself; the routes check the file's own size.
MULTIPART_FRAMING = 64 * 1024

# What an image upload's `file` part holds, in the OpenAPI document (a client or fuzzer then sends images).
IMAGE_UPLOAD: dict[str, Any] = {
    "requestBody": {
        "content": {"multipart/form-data": {"encoding": {"file": {"contentType": "image/jpeg, image/png, image/webp"}}}}
    }
}


# `/predict` reads its request by hand (serving/upload.py), so its parameters and body are written out here.
PREDICT_REQUEST: dict[str, Any] = {
    "parameters": [
        {
            "name": "conf",
            "in": "query",
            "required": False,
            "schema": {"anyOf": [{"type": "number", "minimum": 0.0, "maximum": 1.0}, {"type": "null"}]},
            "description": "Confidence threshold (default: the model's).",
        },
        {
            "name": "conf_threshold",
            "in": "query",
            "required": False,
            "schema": {"anyOf": [{"type": "number", "minimum": 0.0, "maximum": 1.0}, {"type": "null"}]},
            "description": "The seed's name for `conf` (give one of them).",
        },
        {
            "name": "skip_check",
            "in": "query",
            "required": False,
            "schema": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
            "description": "Accepted for the seed's clients; /predict never skips: every image gets its own answer.",
        },
        {
            "name": "preprocess",
            "in": "query",
            "required": False,
            "schema": {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
            "description": "Blur faces first (default: ENABLE_PREPROCESSING).",
        },
    ],
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary", "title": "File"}},
                },
                **IMAGE_UPLOAD["requestBody"]["content"]["multipart/form-data"],
            }
        },
    },
}
