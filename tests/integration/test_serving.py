"""The serving API against a real registry (embedded SQLite store) and a real uvicorn server."""

from __future__ import annotations

import json
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from mlflow import MlflowClient
from skimage import data as samples

from fingercount.processes import free_port
from fingercount.training.trainer import TrainResult
from tests.workspace import Workspace, running_server, serving_settings, wait_for

pytestmark = pytest.mark.slow
MODEL = "yolov11-finger-counting"
DEFAULT_ALIAS = "serving-default"


def sample_image(index: int = 0) -> bytes:
    path = sorted(Path("data/test-prepared/images/test").iterdir())[index]
    return path.read_bytes()


def post_image(
    base: str, content: bytes, name: str = "f.jpg", kind: str = "image/jpeg", **params: object
) -> httpx.Response:
    return httpx.post(f"{base}/predict", files={"file": (name, content, kind)}, params=params, timeout=60)


@pytest.fixture(scope="module")
def versions(first: TrainResult, second: TrainResult) -> tuple[str, str]:
    client = MlflowClient()
    client.set_registered_model_alias(MODEL, DEFAULT_ALIAS, "1")
    return "1", "2"


@pytest.fixture(scope="module")
def server(versions: tuple[str, str], workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = serving_settings(workspace, tmp_path_factory.mktemp("cache"), MODEL_ALIAS=DEFAULT_ALIAS)
    with running_server(settings) as base:
        wait_for(lambda: httpx.get(f"{base}/health").json()["model_loaded"])
        yield base


@pytest.fixture(autouse=True)
def back_to_version_1(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:
        httpx.post(f"{request.getfixturevalue('server')}/models/load", json={"version": 1}, timeout=120)


def test_health_and_current(server: str) -> None:
    health = httpx.get(f"{server}/health").json()
    assert health["status"] == "healthy"
    assert health["registry_reachable"] is True
    assert health["model"]["version"] == "1"
    current = httpx.get(f"{server}/models/current").json()
    assert current["loaded"] is True
    assert current["model"]["engine"] == "openvino"  # the fastest available by default
    assert current["model"]["requested"] == f"alias {DEFAULT_ALIAS}"


def test_models_list_and_experiments(server: str) -> None:
    models = httpx.get(f"{server}/models/list").json()
    (model,) = [m for m in models if m["name"] == MODEL]
    by_version = {v["version"]: v for v in model["versions"]}
    assert {"1", "2"} <= set(by_version)
    assert DEFAULT_ALIAS in by_version["1"]["aliases"]
    assert by_version["1"]["serving"] is True
    assert by_version["1"]["tags"]["architecture"] == "yolo11n"
    assert "test/count_accuracy" in by_version["1"]["tags"]
    experiments = httpx.get(f"{server}/models/experiments").json()
    runs = [run for e in experiments for run in e["runs"]]
    assert any(run["status"] == "FINISHED" and "test/mAP50-95" in run["metrics"] for run in runs)
    assert all("model.architecture" in run["main_params"] for run in runs if run["status"] == "FINISHED")


def test_predict(server: str) -> None:
    response = post_image(server, sample_image(), conf=0.001)
    assert response.status_code == 200
    body = response.json()
    assert body["model_name"] == MODEL
    assert body["model_version"] == "1"
    assert body["inference_time_ms"] > 0
    assert body["preprocessing_applied"] is False
    assert body["image_size"] == [128, 128]
    assert body["finger_count"] == sum(int(p["class_name"]) for p in body["predictions"])
    for prediction in body["predictions"]:
        x1, y1, x2, y2 = prediction["bbox"]
        assert 0 <= x1 <= x2 <= 128
        assert 0 <= y1 <= y2 <= 128
        assert prediction["confidence"] >= 0.001
    default = post_image(server, sample_image()).json()
    assert default["conf"] == httpx.get(f"{server}/models/current").json()["model"]["count_conf"]


def test_predict_with_face_blur(server: str) -> None:
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(samples.astronaut(), cv2.COLOR_RGB2BGR))
    assert ok
    body = post_image(server, encoded.tobytes(), "a.png", "image/png", preprocess="true").json()
    assert body["preprocessing_applied"] is True
    assert post_image(server, encoded.tobytes(), "a.png", "image/png").json()["preprocessing_applied"] is False


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height: a decompression bomb's calling card."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def gif_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 8)).save(buffer, "GIF")
    return buffer.getvalue()


BAD_INPUTS = {
    "empty body": (b"", "image/jpeg", 400, "bad_image"),
    "truncated JPEG": (None, "image/jpeg", 400, "bad_image"),
    "text sent as image/jpeg": (b"hello, I am not a picture", "image/jpeg", 415, "unsupported_media_type"),
    "20000x20000 PNG bomb": (png_header_only(20000, 20000), "image/png", 413, "payload_too_large"),
    "GIF": (gif_bytes(), "image/gif", 415, "unsupported_media_type"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_the_right_4xx(server: str, case: str) -> None:
    content, kind, status, code = BAD_INPUTS[case]
    if content is None:
        content = sample_image()[:-400]
    response = post_image(server, content, kind=kind)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.json()["detail"]
    assert httpx.get(f"{server}/health").json()["status"] == "healthy"


def test_oversized_body_is_413(versions: tuple[str, str], workspace: Workspace, tmp_path: Path) -> None:
    settings = serving_settings(workspace, tmp_path, MODEL_ALIAS=DEFAULT_ALIAS, MAX_UPLOAD_BYTES="100000")
    with running_server(settings, load_default=False) as base:
        response = post_image(base, b"\xff\xd8\xff" + b"\x00" * 300_000)
        assert response.status_code == 413
        assert response.json()["error"] == "payload_too_large"
        assert httpx.get(f"{base}/health").status_code == 200


def test_missing_file_field_is_a_4xx(server: str) -> None:
    response = httpx.post(f"{server}/predict", data={"nothing": "here"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_no_model_loaded(workspace: Workspace, tmp_path: Path) -> None:
    settings = serving_settings(workspace, tmp_path, MODEL_NAME="no-such-model")
    with running_server(settings) as base:
        wait_for(lambda: httpx.get(f"{base}/health").json()["reason"] != "no model loaded yet")
        health = httpx.get(f"{base}/health").json()
        assert health["model_loaded"] is False
        assert "no-such-model" in health["reason"]
        response = post_image(base, sample_image())
        assert response.status_code == 503
        assert "POST /models/load" in response.json()["detail"]


def test_registry_down_server_still_starts(workspace: Workspace, tmp_path: Path) -> None:
    settings = serving_settings(workspace, tmp_path, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}")
    with running_server(settings) as base:
        health = httpx.get(f"{base}/health").json()
        assert health["registry_reachable"] is False
        assert health["model_loaded"] is False
        response = httpx.post(f"{base}/models/load", json={"version": 1}, timeout=120)
        assert 500 > response.status_code >= 400 or response.status_code == 503
        assert response.json()["error"]


def test_load_by_version_alias_stage_and_failures_keep_the_old_model(server: str) -> None:
    state = httpx.post(f"{server}/models/load", json={"version": 2}, timeout=120).json()
    assert state["model"]["version"] == "2"
    assert post_image(server, sample_image()).json()["model_version"] == "2"
    missing = httpx.post(f"{server}/models/load", json={"version": 99}, timeout=60)
    assert missing.status_code == 404
    assert missing.json()["error"] == "model_not_found"
    assert httpx.get(f"{server}/models/current").json()["model"]["version"] == "2"
    assert post_image(server, sample_image()).json()["model_version"] == "2"
    by_alias = httpx.post(f"{server}/models/load", json={"alias": DEFAULT_ALIAS}, timeout=120).json()
    assert by_alias["model"]["version"] == "1"


def test_corrupt_artifact_keeps_the_old_model(server: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    httpx.post(f"{server}/models/load", json={"version": 2}, timeout=120)
    httpx.post(f"{server}/models/load", json={"version": 1}, timeout=120)
    cache = next(Path(p) for p in tmp_path_factory.getbasetemp().glob("cache*/*/" + MODEL + "/2"))
    onnx = cache / "artifacts" / "exports" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:-100] + b"\x00" * 100)
    response = httpx.post(f"{server}/models/load", json={"version": 2}, timeout=120)
    assert response.status_code == 422
    assert "does not match its sha256" in response.json()["detail"]
    assert httpx.get(f"{server}/models/current").json()["model"]["version"] == "1"
    # The corrupt copy was dropped: the next load downloads a good one.
    assert httpx.post(f"{server}/models/load", json={"version": 2}, timeout=120).status_code == 200


@pytest.mark.parametrize(
    "target",
    [
        {"model_name": "../../etc/passwd", "version": 1},
        {"model_name": "https://evil.example/model", "version": 1},
        {"alias": "s3://bucket/x"},
        {"version": 1, "alias": "production"},
        {"version": "1; rm -rf /"},
        {},
    ],
)
def test_load_accepts_registry_references_only(server: str, target: dict[str, object]) -> None:
    response = httpx.post(f"{server}/models/load", json=target)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_admin_token_is_enforced(versions: tuple[str, str], workspace: Workspace, tmp_path: Path) -> None:
    settings = serving_settings(workspace, tmp_path, ADMIN_TOKEN="s3cret")
    with running_server(settings, load_default=False) as base:
        url = f"{base}/models/load"
        assert httpx.post(url, json={"version": 1}).status_code == 401
        wrong = httpx.post(url, json={"version": 1}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "unauthorized"
        right = httpx.post(url, json={"version": 1}, headers={"Authorization": "Bearer s3cret"}, timeout=120)
        assert right.status_code == 200
        assert right.json()["model"]["version"] == "1"
        assert httpx.get(f"{base}/models/current").status_code == 200  # reads stay open


def test_swap_under_load_drops_nothing(server: str) -> None:
    image = sample_image()
    results: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                response = http.post(f"{server}/predict", files={"file": ("f.jpg", image, "image/jpeg")})
                version = response.json().get("model_version") if response.status_code == 200 else None
                results.append((response.status_code, version))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for target in ("2", "1", "2", "1", "2"):
            state = httpx.post(f"{server}/models/load", json={"version": int(target)}, timeout=120).json()
            assert state["model"]["version"] == target
            wait_for(lambda: len(results) > 0, timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert results
    assert all(status == 200 for status, _ in results), {s for s, _ in results}
    assert {version for _, version in results} <= {"1", "2"}
    assert {version for _, version in results} == {"1", "2"}


def test_follow_mode_picks_up_an_alias_move(versions: tuple[str, str], workspace: Workspace, tmp_path: Path) -> None:
    client = MlflowClient()
    client.set_registered_model_alias(MODEL, "follow-me", "1")
    settings = serving_settings(
        workspace, tmp_path, MODEL_ALIAS="follow-me", MODEL_FOLLOW="true", MODEL_FOLLOW_INTERVAL="0.5"
    )
    with running_server(settings) as base:
        wait_for(lambda: (httpx.get(f"{base}/models/current").json()["model"] or {}).get("version") == "1")
        client.set_registered_model_alias(MODEL, "follow-me", "2")
        wait_for(lambda: httpx.get(f"{base}/models/current").json()["model"]["version"] == "2", timeout=60)


def test_websocket_stream(server: str) -> None:
    from websockets.sync.client import connect

    image = sample_image()
    url = server.replace("http://", "ws://") + "/ws/predict?conf=0.001"
    with connect(url, open_timeout=10) as socket:
        for _ in range(6):
            socket.send(image)
        answers = []
        while True:
            answer = json.loads(socket.recv(timeout=30))
            answers.append(answer)
            if answer["frame_id"] == 6:
                break
        assert all(a["model_version"] == "1" for a in answers)
        assert [a["frame_id"] for a in answers] == sorted(a["frame_id"] for a in answers)
        assert answers[-1]["dropped_frames"] == 6 - len(answers)
        socket.send(b"not an image")
        error = json.loads(socket.recv(timeout=30))
        assert error["error"] == "unsupported_media_type"
        assert error["frame_id"] == 7
        socket.send(json.dumps({"preprocess": True}))
        socket.send(image)
        assert json.loads(socket.recv(timeout=30))["preprocessing_applied"] is True


def test_metrics_endpoint(server: str) -> None:
    post_image(server, sample_image())
    text = httpx.get(f"{server}/metrics").text
    for name in (
        "fingercount_request_seconds_bucket",
        "fingercount_inference_seconds_bucket",
        "fingercount_model_info",
        "fingercount_model_swaps_total",
        "fingercount_errors_total",
        "fingercount_ws_dropped_frames_total",
    ):
        assert name in text, name
    assert 'route="/predict"' in text


def test_openapi_docs(server: str) -> None:
    spec = httpx.get(f"{server}/openapi.json").json()
    assert {"/predict", "/health", "/models/load", "/models/list", "/models/current", "/models/experiments"} <= set(
        spec["paths"]
    )
    assert httpx.get(f"{server}/docs").status_code == 200


def test_exported_engines_match_pytorch(versions: tuple[str, str], workspace: Workspace) -> None:
    """Parity: same image, same classes and boxes from ONNX, OpenVINO and Ultralytics PyTorch."""
    package = workspace.registry().fetch(MODEL, "1")
    # f32 on purpose: the exports' parity (bf16/INT8 are gated by the count, training/precision.py).
    engines = {name: package.engine(name, openvino_precision="f32") for name in ("pytorch", "onnx", "openvino")}
    for index in range(4):
        frame = cv2.imdecode(np.frombuffer(sample_image(index), np.uint8), cv2.IMREAD_COLOR)
        # A two-epoch model is unsure of everything: compare its most confident boxes.
        reference = sorted(engines["pytorch"].predict(frame, 0.001), key=lambda d: -d.confidence)[:3]
        assert reference
        for name in ("onnx", "openvino"):
            found = sorted(engines[name].predict(frame, 0.001), key=lambda d: -d.confidence)[:3]
            for ref, got in zip(reference, found, strict=False):
                assert got.class_name == ref.class_name, name
                assert iou(got.bbox, ref.bbox) >= 0.9, name
                assert abs(got.confidence - ref.confidence) < 0.01


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_exported_engine_path_never_imports_torch(
    versions: tuple[str, str], workspace: Workspace, tmp_path: Path
) -> None:
    """The serving container must not need PyTorch for versions with exports."""
    import subprocess
    import sys

    script = f"""
import sys, time
from fastapi.testclient import TestClient
from fingercount.serving.app import create_app
from fingercount.settings import Settings
settings = Settings(_env_file=None, MLFLOW_TRACKING_URI={workspace.tracking_uri!r}, MODEL_NAME={MODEL!r},
                    MODEL_ALIAS={DEFAULT_ALIAS!r}, MODEL_CACHE_DIR={str(tmp_path)!r}, ENGINE="onnx")
with TestClient(create_app(settings)) as client:
    for _ in range(300):
        if client.get("/health").json()["model_loaded"]:
            break
        time.sleep(0.1)
    image = open({str(sorted(Path("data/test-prepared/images/test").iterdir())[0])!r}, "rb").read()
    response = client.post("/predict", files={{"file": ("f.jpg", image, "image/jpeg")}})
    assert response.status_code == 200, response.text
    assert response.json()["model_version"] == "1"
print("torch" in sys.modules, "ultralytics" in sys.modules)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False False"


def test_health_answers_while_predictions_run(server: str) -> None:
    import time

    image = sample_image()
    stop = threading.Event()

    def busy() -> None:
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                http.post(f"{server}/predict", files={"file": ("f.jpg", image, "image/jpeg")})

    threads = [threading.Thread(target=busy) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        started = time.perf_counter()
        assert httpx.get(f"{server}/models/current", timeout=10).status_code == 200
        assert time.perf_counter() - started < 5  # answered while six clients keep the engine busy
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def test_security_headers(server: str) -> None:
    """Dashboard and API: no framing, no sniffing, no referrer; a CSP without inline script."""
    for path in ("/", "/app.js", "/health", "/models/current"):
        headers = httpx.get(f"{server}{path}").headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["referrer-policy"] == "no-referrer", path
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy, path
        assert "frame-ancestors 'none'" in policy, path
        assert "unsafe-inline" not in policy, path
    refused = post_image(server, b"not an image")  # error responses carry them too
    assert refused.status_code == 415
    assert refused.headers["x-frame-options"] == "DENY"
    assert "content-security-policy" not in httpx.get(f"{server}/docs").headers  # Swagger UI loads from a CDN


def test_the_openapi_document_lists_every_error_with_the_one_schema(server: str) -> None:
    """A client generated from /openapi.json reads every error the same way: `{"error", "detail"}`."""
    document = httpx.get(f"{server}/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    error_ref = "#/components/schemas/ErrorBody"
    expected = {
        ("/predict", "post"): {"400", "408", "413", "415", "422", "503"},
        ("/models/load", "post"): {"400", "401", "404", "422", "503"},
        ("/collections/{name}/frames", "post"): {"400", "401", "408", "413", "415", "422", "503"},
        ("/jobs", "post"): {"400", "401", "404", "409", "422", "503"},
    }
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            errors = {code: r for code, r in operation["responses"].items() if not code.startswith("2")}
            for code, response in errors.items():
                assert response["content"]["application/json"]["schema"]["$ref"] == error_ref, (path, method, code)
            if (path, method) in expected:
                assert set(errors) == expected[(path, method)], (path, method)
    # And the API answers in that shape, validation errors included.
    invalid = httpx.post(f"{server}/predict", params={"conf": 7}, files={"file": ("f.jpg", sample_image())})
    assert invalid.status_code == 422
    assert set(invalid.json()) == {"error", "detail"}
