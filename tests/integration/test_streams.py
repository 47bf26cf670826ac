"""Abusive clients are bounded and do not hurt others: oversized and flooding WebSocket clients,
a client that never reads, one that leaves mid-inference, and a slowloris HTTP body."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from fingercount.training.trainer import TrainResult
from tests.workspace import Workspace, running_server, serving_settings, wait_for

pytestmark = pytest.mark.slow
LIMIT = 2 * 1024 * 1024


@pytest.fixture(scope="module")
def server(first: TrainResult, workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workspace.registry().set_alias("yolov11-finger-counting", "streams", str(first.model_version))
    settings = serving_settings(
        workspace, tmp_path_factory.mktemp("streams"), MODEL_ALIAS="streams", MAX_UPLOAD_BYTES=str(LIMIT),
        BODY_TIMEOUT="1",
    )  # fmt: skip
    with running_server(settings) as base:
        wait_for(lambda: httpx.get(f"{base}/health").json()["model_loaded"], timeout=120)
        yield base


@pytest.fixture(scope="module")
def image() -> bytes:
    return next(Path("data/test-prepared/images/test").iterdir()).read_bytes()


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws/predict?conf=0.001"


def answer_for(ws: object, frame_id: int) -> dict[str, object]:
    while True:
        message = json.loads(ws.recv(timeout=30))  # type: ignore[attr-defined]
        if message.get("frame_id") == frame_id:
            return message  # type: ignore[no-any-return]


def still_serving(base: str, image: bytes) -> None:
    started = time.perf_counter()
    answer = httpx.post(f"{base}/predict", files={"file": ("f.jpg", image, "image/jpeg")}, timeout=30)
    assert answer.status_code == 200
    assert time.perf_counter() - started < 5


def test_frames_over_the_limit_are_refused_and_huge_ones_close_the_socket(server: str, image: bytes) -> None:
    with connect(ws_url(server), open_timeout=10) as ws:
        ws.send(b"\xff\xd8\xff" + bytes(LIMIT + 10))  # over MAX_UPLOAD_BYTES: an error, the stream goes on
        assert answer_for(ws, 1)["error"] == "payload_too_large"
        ws.send(image)
        assert "finger_count" in answer_for(ws, 2)
    with connect(ws_url(server), open_timeout=10, max_size=None) as ws:
        ws.send(bytes(17 * 1024 * 1024))  # over the WebSocket frame limit (16 MiB): closed, 1009
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
    still_serving(server, image)


def test_floods_keep_one_frame_waiting(server: str, image: bytes) -> None:
    with connect(ws_url(server), open_timeout=10) as ws:
        for _ in range(2000):
            ws.send(json.dumps({"conf": "nonsense"}))  # malformed settings are ignored
        ws.send(image)
        assert "finger_count" in answer_for(ws, 1)
        for _ in range(100):
            ws.send(image)
        last = answer_for(ws, 101)  # newest wins: the last frame is always answered
        assert last["dropped_frames"] > 50  # most frames were replaced, not queued
    still_serving(server, image)


def test_a_client_that_never_reads_or_leaves_mid_inference_hurts_nobody(server: str, image: bytes) -> None:
    silent = connect(ws_url(server), open_timeout=10)
    for _ in range(200):
        silent.send(image)  # and never reads an answer
    gone = connect(ws_url(server), open_timeout=10)
    gone.send(image)
    gone.close()  # before its answer
    with connect(ws_url(server), open_timeout=10) as ws:
        started = time.perf_counter()
        ws.send(image)
        assert "finger_count" in answer_for(ws, 1)
        assert time.perf_counter() - started < 10
    silent.close()
    still_serving(server, image)


def test_a_stalled_body_is_cut_off_with_408(server: str, image: bytes) -> None:
    address = urlparse(server)
    with socket.create_connection((address.hostname, address.port), timeout=30) as slow:
        slow.sendall(
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 100000\r\n\r\n--b\r\n"
        )  # and then nothing: a slowloris client
        started = time.perf_counter()
        still_serving(server, image)  # others are served meanwhile
        reply = slow.recv(4096).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 408"), reply
    assert '"error":"request_timeout"' in reply.replace(" ", "")
    assert time.perf_counter() - started < 10
