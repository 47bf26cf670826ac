"""Training jobs of the teach loop: start one (fine-tune the serving version on a collection), watch, cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from fingercount.data.collections import NAME
from fingercount.errors import DatasetError
from fingercount.serving.deps import Admin, State
from fingercount.serving.schemas import errors

router = APIRouter(prefix="/jobs", tags=["jobs"])


@router.post("", responses=errors(400, 401, 404, 409, 503))
def start_job(
    state: State,
    _admin: Admin,
    collection: Annotated[str, Query(pattern=NAME.pattern, description="The collection to learn from.")],
    epochs: Annotated[int | None, Query(ge=1, le=300, description="Epochs (default: the teach config's).")] = None,
) -> dict[str, Any]:
    """Fine-tune the serving version on a collection plus the base data, in a separate process.

    One job at a time (409 while one runs). On success the version is registered, evaluated,
    gated and promoted to the alias this server serves, and the server loads it.
    """
    summary = state.collections.summary(collection)  # 404 for an unknown collection
    if summary["frames"] == 0:
        raise DatasetError(f"collection {collection!r} has no frames yet")
    return state.jobs.start(collection, epochs).to_dict()


@router.get("/current", responses=errors(404))
def current_job(state: State) -> dict[str, Any]:
    """The latest job: state, phase, epoch, metrics, and why it failed."""
    return state.jobs.current().to_dict()


@router.post("/current/cancel", responses=errors(401, 404, 409))
def cancel_job(state: State, _admin: Admin) -> dict[str, Any]:
    """Stop the running job: its run ends KILLED and the old model keeps serving."""
    return state.jobs.cancel().to_dict()
