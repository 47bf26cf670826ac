"""The models the server can serve: the current one, the registry's versions, loading one (by
registry reference or by a run's weights), and the experiments browser. Each answer carries the
seed's fields (its `serving/api.py`) with ours beside them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from fingercount.config import describe_validation_error
from fingercount.errors import InvalidRequestError, ModelNotFoundError
from fingercount.serving.deps import Admin, ServingState, State
from fingercount.serving.schemas import (
    ALIAS,
    MODEL_NAME,
    LoadRequest,
    LoadResponse,
    ModelState,
    errors,
    seed_model_info,
)

router = APIRouter(prefix="/models", tags=["models"])
SERVED_WEIGHTS = "weights/best.pt"  # what a registered version packages (and serves) of its run


def model_state(state: ServingState) -> ModelState:
    loaded = state.manager.current()
    seed = {} if loaded is None else seed_model_info(loaded.info)
    return ModelState(loaded=loaded is not None, model=state.manager.describe(), last_error=state.manager.last_error,
                      **seed)  # fmt: skip


@router.get("/current", response_model=ModelState)
def current(state: State) -> ModelState:
    """The model serving predictions now: the seed's fields at the top level, ours under `model`."""
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
def experiments(state: State) -> list[dict[str, Any]]:
    """Experiments, each with its runs (the seed's list): status, metrics, params, tags, the run's
    weight files (`available_weights`). Kept a few seconds; `POST /models/experiments/refresh` drops it."""
    found, _ = state.experiments_cache.get(state.manager.registry.list_experiments)
    return found


@router.post("/experiments/refresh", responses=errors(503))
def refresh_experiments(state: State) -> dict[str, Any]:
    """Drop the experiments kept in memory and list them again (the seed's call)."""
    state.experiments_cache.drop()
    found, at = state.experiments_cache.get(state.manager.registry.list_experiments)
    return {"status": "success", "experiment_count": len(found), "cached_at": datetime.fromtimestamp(at).isoformat()}


@router.post("/load", response_model=LoadResponse, responses=errors(400, 401, 404, 503))
async def load(
    state: State,
    _admin: Admin,
    target: Annotated[LoadRequest | None, Body()] = None,
    model_name: Annotated[
        str | None, Query(pattern=MODEL_NAME, description="Registered model (default MODEL_NAME).")
    ] = None,
    version: Annotated[int | None, Query(ge=1, le=999_999_999, description="A version number.")] = None,
    alias: Annotated[str | None, Query(pattern=ALIAS, description="An alias, e.g. production.")] = None,
    stage: Annotated[str | None, Query(description="A legacy stage: Staging, Production or Archived.")] = None,
) -> LoadResponse:
    """Load a registered version and swap it in; returns the new state.

    By JSON body (`{"version": 3}`, `{"model_name": "my-model", "alias": "production"}`) or, as the
    seed's clients do, by query (`?model_name=…&version=3`, `&stage=Production`, `&alias=…`): either
    way exactly one of `version`, `alias` or `stage`.
    """
    query = {k: v for k, v in {"model_name": model_name, "version": version, "alias": alias, "stage": stage}.items()
             if v is not None}  # fmt: skip
    if target is not None and query:
        raise InvalidRequestError("give the model by JSON body or by query parameters, not both")
    if target is None:
        try:
            target = LoadRequest.model_validate(query)
        except ValidationError as exc:
            raise InvalidRequestError(f"query: {describe_validation_error(exc)}") from None
    name = target.model_name or state.settings.model_name
    number = None if target.version is None else str(target.version)
    await _swap(state, name, version=number, alias=target.alias, stage=target.stage)
    return _loaded(state, f"Model {name} loaded successfully")


@router.post("/load_run_weights", response_model=LoadResponse, responses=errors(400, 401, 404, 503))
async def load_run_weights(
    state: State,
    _admin: Admin,
    run_id: Annotated[str, Query(pattern=r"^[0-9a-f]{32}$", description="An MLflow run id.")],
    artifact_path: Annotated[str, Query(max_length=200, description="The run's weights, e.g. weights/best.pt.")] = (
        SERVED_WEIGHTS
    ),
) -> LoadResponse:
    """Serve a run's weights (the seed's call), through the registry: the version that run registered
    is loaded as any version is (packaged with its exports, verified, warmed up, swapped atomically).
    A run that registered no version, or weights its version does not package, is a 404 that says so."""
    found = await run_in_threadpool(state.manager.registry.version_for_run, run_id)
    if found is None:
        raise ModelNotFoundError(
            f"run {run_id} registered no model version: only registered versions are served (register the run, "
            "e.g. `fingercount train` with mlflow.auto_register, then load it)"
        )
    if artifact_path.strip("/") != SERVED_WEIGHTS:
        raise ModelNotFoundError(
            f"run {run_id}'s version {found.version} packages {SERVED_WEIGHTS}, not {artifact_path}: load that"
        )
    await _swap(state, str(found.name), version=str(found.version))
    return _loaded(state, f"Loaded {SERVED_WEIGHTS} from run {run_id} (version {found.version})")


async def _swap(state: ServingState, name: str, **reference: str | None) -> None:
    try:
        await run_in_threadpool(state.manager.load, name, **reference)
    except Exception:
        state.metrics.load_failures.inc()
        raise


def _loaded(state: ServingState, message: str) -> LoadResponse:
    current = model_state(state)
    info = {k: v for k, v in current.model_dump().items() if k in ("name", "version", "stage", "architecture",
                                                                     "metrics", "run_id", "loaded_at")}  # fmt: skip
    return LoadResponse(**current.model_dump(), message=message, model_info=info)
