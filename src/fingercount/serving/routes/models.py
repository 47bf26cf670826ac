from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from fingercount.errors import ConfigError
from fingercount.serving.deps import Admin, State
from fingercount.serving.schemas import ModelState, errors

router = APIRouter(prefix="/models", tags=["models"])

# Registry names and references only: never a path or a URL.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,127}$")
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")


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
async def load(
    state: State,
    _admin: Admin,
    model_name: Annotated[str | None, Query(description="Registered model name (default MODEL_NAME).")] = None,
    version: Annotated[str | None, Query(pattern=r"^\d{1,9}$")] = None,
    alias: Annotated[str | None, Query()] = None,
    stage: Annotated[str | None, Query()] = None,
) -> ModelState:
    """Load a registered version (by number, alias or legacy stage) and swap it in; returns the new state."""
    name = model_name or state.settings.model_name
    if not _NAME.match(name):
        raise ConfigError("model_name must be a registered model name (letters, digits, '-', '_', '.')")
    given = [ref for ref in (version, alias, stage) if ref is not None]
    if len(given) != 1:
        raise ConfigError("give exactly one of version, alias or stage")
    for ref in (alias, stage):
        if ref is not None and not _ALIAS.match(ref):
            raise ConfigError("alias/stage must be a name like 'production' or 'Staging'")
    try:
        await run_in_threadpool(state.manager.load, name, version=version, alias=alias, stage=stage)
    except Exception:
        state.metrics.load_failures.inc()
        raise
    return model_state(state)
