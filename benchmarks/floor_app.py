"""The floor under any Python `/predict` here: uvicorn with a bare ASGI app that reads the whole
request body and answers a constant JSON of a prediction's size, no decode and no model.

    uvicorn floor_app:app --app-dir benchmarks --port 8002

An arm of `benchmarks/serving.py --compare`: a server's p50 minus this arm's is what it spends
beyond HTTP on the same client and cores (decode, inference, its own framework).
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

ANSWER = (
    b'{"finger_count":3,"predictions":[{"class_name":"3","class_id":3,"confidence":0.9012,'
    b'"bbox":[210.5,120.0,380.2,400.7],"fingers":3}],"preprocessing_applied":false,'
    b'"inference_time_ms":2.31,"model_name":"yolov11-finger-counting","model_version":"1",'
    b'"image_size":[640,480],"conf":0.25}'
)
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})
