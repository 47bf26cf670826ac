"""Collections of the user's own frames (teach loop): add, list, view, delete; the live teacher count."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Query, UploadFile
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from fingercount.data.collections import NAME
from fingercount.errors import DatasetError
from fingercount.serving.deps import Admin, ServingState, State
from fingercount.serving.imaging import decode_image
from fingercount.serving.schemas import IMAGE_UPLOAD, errors

router = APIRouter(tags=["collections"])

CollectionName = Annotated[
    str, Path(pattern=NAME.pattern, description="letters, digits, '-' and '_' (1-64); never a path")
]
FrameId = Annotated[str, Path(pattern=r"^c[0-5]_h\d{5}_\d{6}$")]


def teacher_hands(state: ServingState, data: bytes) -> tuple[Any, list[Any]]:
    """The decoded frame as predicted (faces blurred when preprocessing is on) and the teacher's hands in it."""
    frame = decode_image(data, state.settings.max_upload_bytes, state.settings.max_image_pixels)
    if state.settings.enable_preprocessing:
        frame = state.face_blur(frame)
    return frame, state.label_hands(frame)


@router.post("/teacher", responses=errors(400, 408, 413, 415, 503), openapi_extra=IMAGE_UPLOAD)
async def teacher(state: State, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    """The hand-landmark teacher's hands and total count for one frame (the Collect page shows it live)."""
    data = await file.read(state.settings.max_upload_bytes + 1)
    _, hands = await run_in_threadpool(teacher_hands, state, data)
    return {"count": sum(h.count for h in hands), "hands": [h.to_dict() for h in hands]}


@router.get("/collections")
def list_collections(state: State) -> list[dict[str, Any]]:
    """Every collection with its frame count per finger count."""
    return [state.collections.summary(name) for name in state.collections.names()]


@router.get("/collections/{name}", responses=errors(404))
def describe_collection(state: State, name: CollectionName) -> dict[str, Any]:
    """One collection: counts per class and every frame with its count, the teacher's count and box."""
    summary = state.collections.summary(name)
    return {**summary, "items": [frame.to_dict() for frame in state.collections.frames(name)]}


@router.post("/collections/{name}/frames", responses=errors(400, 401, 408, 413, 415, 503), openapi_extra=IMAGE_UPLOAD)
async def add_frame(
    state: State,
    _admin: Admin,
    name: CollectionName,
    file: Annotated[UploadFile, File()],
    count: Annotated[
        int | None, Query(ge=0, le=5, description="Raised fingers shown (default: the teacher's).")
    ] = None,
) -> dict[str, Any]:
    """Add one frame: checked like /predict, boxed by the teacher, skipped if it repeats the last one."""
    data = await file.read(state.settings.max_upload_bytes + 1)

    def store() -> dict[str, Any]:
        frame, hands = teacher_hands(state, data)
        if not hands:
            raise DatasetError("the teacher found no hand in this frame: show one hand, well lit, inside the frame")
        if len(hands) > 1:
            raise DatasetError(f"the teacher found {len(hands)} hands: show one hand at a time")
        (hand,) = hands
        # A webcam frame usually holds a face: what reaches the disk is blurred (privacy.py).
        kept = state.frame_storage.for_disk(frame, blurred=state.settings.enable_preprocessing)
        stored = state.collections.add(name, kept, hand.count if count is None else count, hand.count, hand.box)
        return {
            "stored": stored is not None,
            "frame": None if stored is None else stored.to_dict(),
            "teacher_count": hand.count,
            "collection": state.collections.summary(name),
        }

    return await run_in_threadpool(store)


@router.get("/collections/{name}/images/{frame_id}.jpg", response_class=FileResponse, responses=errors(404))
def frame_image(state: State, name: CollectionName, frame_id: FrameId) -> FileResponse:
    return FileResponse(state.collections.image(name, frame_id), media_type="image/jpeg")


@router.delete("/collections/{name}/frames/{frame_id}", responses=errors(401, 404))
def delete_frame(state: State, _admin: Admin, name: CollectionName, frame_id: FrameId) -> dict[str, Any]:
    """Remove one frame; returns the collection's new counts."""
    state.collections.delete(name, frame_id)
    return state.collections.summary(name)
