from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, WebSocket, WebSocketDisconnect

from fingercount.errors import FingercountError
from fingercount.serving.deps import ServingState, require_model
from fingercount.serving.imaging import decode_image
from fingercount.serving.predictor import predict_frame
from fingercount.serving.schemas import MULTIPART_FRAMING, PREDICT_REQUEST, PredictResponse, errors
from fingercount.serving.upload import multipart_field, query_bool, query_conf, read_body

router = APIRouter(tags=["predict"])

Conf = Annotated[float | None, Query(ge=0.0, le=1.0, description="Confidence threshold (default: the model's).")]
Preprocess = Annotated[bool | None, Query(description="Blur faces first (default: ENABLE_PREPROCESSING).")]


def predict_bytes(state: ServingState, data: bytes, conf: float | None, preprocess: bool | None) -> PredictResponse:
    """Decode, predict and record metrics; runs in a worker thread, never on the event loop."""
    loaded = require_model(state)  # this request keeps this model even if a swap happens meanwhile
    frame = decode_image(data, state.settings.max_upload_bytes, state.settings.max_image_pixels)
    blur = state.preprocessing(preprocess)
    response, seconds, seen = predict_frame(loaded, frame, conf, blur)
    state.metrics.inference.labels(loaded.info.engine).observe(seconds)
    state.monitor.offer(seen, response.finger_count, loaded.info, blurred=blur is not None)
    return response


@router.post(
    "/predict",
    response_model=PredictResponse,
    responses=errors(400, 408, 413, 415, 503),
    openapi_extra=PREDICT_REQUEST,
)
async def predict(request: Request) -> Response:
    """Count fingers in one image (multipart field `file`: JPEG, PNG or WebP).

    The request is read by hand (`serving/upload.py`): the hot path skips FastAPI's form parsing and
    dependency solving, with the same answers for a missing field or a bad parameter (422)."""
    state: ServingState = request.app.state.serving
    require_model(state)  # 503 before reading a body that could not be served
    conf = query_conf(request.query_params)
    preprocess = query_bool(request.query_params, "preprocess")
    limit = state.settings.max_upload_bytes + MULTIPART_FRAMING
    body = await read_body(request.stream(), limit)
    data = multipart_field(body, request.headers.get("content-type", ""))
    response = await state.admission.run(predict_bytes, state, data, conf, preprocess)
    return Response(response.model_dump_json(), media_type="application/json")


@router.websocket("/ws/predict")
async def predict_stream(websocket: WebSocket, conf: Conf = None, preprocess: Preprocess = None) -> None:
    """Binary JPEG frames in, one JSON answer per processed frame out.

    At most one frame is processed per connection; a frame that arrives while another is being
    processed replaces any frame still waiting (newest wins) and is counted as dropped.
    A text message `{"conf": 0.4, "preprocess": true}` changes the settings for later frames.
    """
    state: ServingState = websocket.app.state.serving
    await websocket.accept()
    options = StreamOptions(conf, preprocess)
    waiting: list[tuple[int, bytes]] = []  # at most one entry: the newest unprocessed frame
    ready = asyncio.Event()
    received = dropped = 0
    closed = False

    async def receive() -> None:
        nonlocal received, dropped, closed
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("text"):
                    options.update(message["text"])
                    continue
                received += 1
                if waiting:
                    waiting.clear()
                    dropped += 1
                    state.metrics.dropped_frames.inc()
                waiting.append((received, message.get("bytes") or b""))
                ready.set()
        except WebSocketDisconnect:
            pass
        finally:
            closed = True
            ready.set()

    async def process() -> None:
        while True:
            await ready.wait()
            ready.clear()
            if closed:
                return
            if not waiting:
                continue
            frame_id, data = waiting.pop()
            try:
                result = await state.admission.run(predict_bytes, state, data, options.conf, options.preprocess)
                payload = {**result.model_dump(), "frame_id": frame_id, "dropped_frames": dropped}
            except FingercountError as exc:
                state.metrics.errors.labels(exc.code).inc()
                payload = {"frame_id": frame_id, **exc.body(), "dropped_frames": dropped}
            await websocket.send_json(payload)

    receiver = asyncio.create_task(receive())
    try:
        await process()
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away mid-send
    finally:
        receiver.cancel()


@dataclass
class StreamOptions:
    conf: float | None
    preprocess: bool | None

    def update(self, text: str) -> None:
        """Apply a JSON control message; anything malformed is ignored."""
        try:
            update = json.loads(text)
        except json.JSONDecodeError:
            return
        if not isinstance(update, dict):
            return
        if isinstance(update.get("conf"), int | float) and 0 <= update["conf"] <= 1:
            self.conf = float(update["conf"])
        if isinstance(update.get("preprocess"), bool):
            self.preprocess = update["preprocess"]
