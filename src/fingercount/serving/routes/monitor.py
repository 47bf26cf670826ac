"""Monitoring without labels: the served version's agreement with the teacher, and the disagreements
kept for review (MONITOR_KEEP=1)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse

from fingercount.errors import NotFoundError
from fingercount.serving.deps import Admin, ServingState, State
from fingercount.serving.monitor import REVIEW_ID, ReviewStore
from fingercount.serving.schemas import errors

router = APIRouter(prefix="/monitor", tags=["monitor"])
FrameId = Annotated[str, Path(pattern=REVIEW_ID, description="A kept frame's id.")]


@router.get("", responses=errors())
def monitor(
    state: State,
    frames: Annotated[bool, Query(description="Also list the window's judged frames (digest, both counts).")] = False,
) -> dict[str, Any]:
    """The served version's agreement with the hand-landmark teacher over the last MONITOR_WINDOW judged
    frames (95 % Wilson interval), the model-vs-teacher count confusion, the baseline the version had on
    its held-out sets at registration, whether it drifts, every version seen since the server started, and
    what the agreement judges (`judges`: not an accuracy when the version's count head asks the same model)."""
    loaded = state.manager.current()
    if loaded is None:
        return state.monitor.status(None, frames)
    return state.monitor.status(loaded.info.version, frames, loaded.info.count_head)


def _review(state: ServingState) -> ReviewStore:
    if state.monitor.review is None:
        raise NotFoundError("disagreements are not kept: start the server with MONITOR_KEEP=1")
    store: ReviewStore = state.monitor.review
    return store


@router.get("/review", responses=errors(404))
def review_list(state: State) -> list[dict[str, Any]]:
    """Kept disagreements, newest first: model count, teacher count, version, the teacher's box."""
    return _review(state).list()


@router.get("/review/{frame_id}/image", responses=errors(404), response_class=FileResponse)
def review_image(state: State, frame_id: FrameId) -> FileResponse:
    return FileResponse(_review(state).image(frame_id), media_type="image/jpeg")


@router.post("/review/{frame_id}", responses=errors(400, 401, 404))
def review_count(
    state: State,
    _admin: Admin,
    frame_id: FrameId,
    count: Annotated[int, Query(ge=0, le=5, description="The true number of raised fingers.")],
) -> dict[str, Any]:
    """Give the true count: the frame joins the `review` collection (the teach loop trains on it)."""
    return _review(state).resolve(frame_id, count, state.collections)


@router.delete("/review/{frame_id}", status_code=204, responses=errors(401, 404))
def review_delete(state: State, _admin: Admin, frame_id: FrameId) -> None:
    """Drop a kept frame (nothing to learn from it)."""
    _review(state).delete(frame_id)
