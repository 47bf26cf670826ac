"""The seed's `/config/*` calls: what a new WebSocket connection starts with. Skipping is per
connection (the seed kept one counter and one last answer for the whole server)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from fingercount.serving.deps import Admin, State
from fingercount.serving.schemas import SkipFrameConfig, errors

router = APIRouter(prefix="/config", tags=["config"])


@router.get("")
def client_config(state: State) -> dict[str, Any]:
    """What a dashboard needs to know: the MLflow UI's address and the stream defaults."""
    return {"mlflow_ui_url": state.settings.mlflow_ui_url, **state.stream_defaults.model_dump()}


@router.post("/conf_threshold", responses=errors(401))
def set_conf_threshold(
    state: State, _admin: Admin, threshold: Annotated[float, Query(ge=0.0, le=1.0, description="0 to 1.")]
) -> dict[str, Any]:
    """The confidence threshold new WebSocket connections count with (a connection's `?conf=` wins)."""
    state.stream_defaults.conf_threshold = threshold
    return {"status": "success", "conf_threshold": threshold}


@router.post("/skip_frames", responses=errors(400, 401))
def set_skip_frames(state: State, _admin: Admin, config: SkipFrameConfig) -> dict[str, Any]:
    """New WebSocket connections predict 1 frame in `skip_frames` and answer the others with their own
    last prediction. `/predict` never skips: each image gets its own answer."""
    state.stream_defaults.skip_frames = config.skip_frames
    return {"status": "success", "skip_frames": config.skip_frames}
