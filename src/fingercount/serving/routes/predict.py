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
    query_bool(request.query_params, "skip_check")  # the seed's; checked, never skips (no other client's answer)
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
    A connection starts with the server's stream defaults (`POST /config/conf_threshold`,
    `POST /config/skip_frames`); with skip_frames N, 1 frame in N is predicted and the others get
    this connection's last answer. An error is `{"error", "detail", "finger_count": 0, "predictions": []}`.
    """
    state: ServingState = websocket.app.state.serving
    await websocket.accept()
    defaults = state.stream_defaults
    options = StreamOptions(conf if conf is not None else defaults.conf_threshold, preprocess)
    skip = Skipping(defaults.skip_frames)
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
            repeated = skip.answer_without_predicting()
            if repeated is not None:  # this connection's own last answer: never another client's
                await websocket.send_json({**repeated, "frame_id": frame_id, "dropped_frames": dropped})
                continue
            try:
                result = await state.admission.run(predict_bytes, state, data, options.conf, options.preprocess)
                payload = {**result.model_dump(), "frame_id": frame_id, "dropped_frames": dropped}
                skip.predicted(payload)
            except FingercountError as exc:
                state.metrics.errors.labels(exc.code).inc()
                # The seed's error shape (a count and predictions), our code and detail beside it.
                payload = {"frame_id": frame_id, **exc.body(), "finger_count": 0, "predictions": [],
                           "dropped_frames": dropped}  # fmt: skip
            await websocket.send_json(payload)

    receiver = asyncio.create_task(receive())
    try:
        await process()
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away mid-send
    finally:
        receiver.cancel()


@dataclass
class Skipping:
    """The seed's frame skipping, per connection: 1 frame in `every` gets a new prediction, the others
    this connection's last answer with `inference_time_ms` 0 (the seed kept one for the whole server)."""

    every: int
    _since: int = 0
    _last: dict[str, object] | None = None

    def answer_without_predicting(self) -> dict[str, object] | None:
        self._since += 1
        if self.every <= 1 or self._last is None or self._since >= self.every:
            return None
        return {**self._last, "inference_time_ms": 0.0}

    def predicted(self, payload: dict[str, object]) -> None:
        self._since, self._last = 0, payload


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
