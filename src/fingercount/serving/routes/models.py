from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from starlette.concurrency import run_in_threadpool

from fingercount.serving.deps import Admin, State
from fingercount.serving.schemas import LoadRequest, ModelState, errors

router = APIRouter(prefix="/models", tags=["models"])


def model_state(state: State) -> ModelState:
    return ModelState(
        loaded=state.manager.current() is not None,
        model=state.manager.describe(),
        last_error=state.manager.last_error,
    )


@router.get("/current", response_model=ModelState)
def current(state: State) -> ModelState:
    """The model serving predictions now."""
    return model_state(state)


@router.get("/list", responses=errors(503))
def list_models(state: State) -> list[dict[str, Any]]:
    """Every registered model with all its versions, aliases, legacy stage, architecture and test metrics."""
    models = state.manager.registry.list_models()
    serving = state.manager.current()
    for model in models:
        for version in model["versions"]:
            version["serving"] = serving is not None and (serving.info.name, serving.info.version) == (
                model["name"], version["version"],
            )  # fmt: skip
    return models


@router.get("/experiments", responses=errors(503))
def experiments(state: State) -> dict[str, Any]:
    """Experiments with their runs: status, metrics and main parameters."""
    experiments = state.manager.registry.list_experiments()
    return {"mlflow_ui_url": state.settings.mlflow_ui_url, "experiments": experiments}


@router.post("/load", response_model=ModelState, responses=errors(400, 401, 404, 503))
async def load(state: State, _admin: Admin, target: Annotated[LoadRequest, Body()]) -> ModelState:
    """Load a registered version and swap it in; returns the new state.

    The body names exactly one of `version`, `alias` or `stage` (and optionally `model_name`),
    e.g. `{"version": 3}` or `{"model_name": "my-model", "alias": "production"}`.
    """
    name = target.model_name or state.settings.model_name
    version = None if target.version is None else str(target.version)
    try:
        await run_in_threadpool(state.manager.load, name, version=version, alias=target.alias, stage=target.stage)
    except Exception:
        state.metrics.load_failures.inc()
        raise
    return model_state(state)
