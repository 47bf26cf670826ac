from __future__ import annotations

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from fingercount.serving.deps import State
from fingercount.serving.schemas import HealthResponse, seed_model_info

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse)
async def health(state: State) -> HealthResponse:
    """Liveness and readiness: is a model loaded (and if not, why), does the registry answer (checked at
    most once a second, off the request path), does the served version still agree with the teacher
    on live frames (monitoring's drift alarm), and what becomes of camera frames stored on disk.

    On the event loop, with no thread hop and no call out: under a flood of predictions it answers
    in its turn on the loop, not after inference threads and a registry round trip."""
    loaded = state.manager.current()
    probe = state.registry_probe
    registry_ok = probe.reachable() if probe.known() else await anyio.to_thread.run_sync(probe.reachable)
    reason = None
    drift = None if loaded is None else state.monitor.drift(loaded.info.version)
    if loaded is None:
        reason = state.manager.last_error or state.startup_error or "no model loaded yet"
    elif not registry_ok:
        reason = "registry unreachable; serving the loaded model"
    elif drift is not None:
        reason = f"drift: {drift}"
    privacy = state.frame_storage.describe()
    if reason is None and privacy["stored_frames"] == "not stored":
        reason = f"camera frames are not stored: {privacy['reason']}"  # serving itself is unaffected
    return HealthResponse(
        status="healthy" if loaded is not None and registry_ok and drift is None else "degraded",  # the seed's word
        mlflow_uri=state.settings.tracking_uri(),
        model_loaded=loaded is not None,
        model=None if loaded is None else loaded.info.as_dict(),
        reason=reason,
        registry_reachable=registry_ok,
        preprocessing_enabled=state.settings.enable_preprocessing,
        privacy=privacy,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, state: State) -> Response:
    """Prometheus text (the ecosystem's convention); the seed's JSON summary to a client that asks
    for JSON (`Accept: application/json`)."""
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/plain" not in accept:
        loaded = state.manager.current()
        summary = {
            "model_loaded": loaded is not None,
            "model_info": {} if loaded is None else seed_model_info(loaded.info),
            "preprocessing_enabled": state.settings.enable_preprocessing,
            "skip_frames": state.stream_defaults.skip_frames,
        }
        return JSONResponse(summary)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
