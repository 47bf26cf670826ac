"""A drop-in for the seed: every call of its README's API section, verbatim, and the calls its
dashboard makes (`frontend/comms.js`), answered in its shapes, ours beside them; CORS by configuration."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from mlflow import MlflowClient
from websockets.sync.client import connect

from fingercount.training.trainer import TrainResult
from tests.integration.test_serving import MODEL, post_image, sample_image
from tests.workspace import Workspace, running_server, serving_settings, wait_for

pytestmark = pytest.mark.slow
ORIGIN = "http://127.0.0.1:8080"  # the seed's dashboard, on its own origin
TOKEN = "seed-admin"


@pytest.fixture(scope="module")
def server(
    first: TrainResult, second: TrainResult, workspace: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    MlflowClient().set_registered_model_alias(MODEL, "seed", "1")
    settings = serving_settings(
        workspace, tmp_path_factory.mktemp("seed-cache"), MODEL_ALIAS="seed", CORS_ORIGINS=ORIGIN
    )
    with running_server(settings) as base:
        wait_for(lambda: httpx.get(f"{base}/health").json()["model_loaded"])
        yield base


def test_the_readme_api_section_verbatim(server: str) -> None:
    health = httpx.get(f"{server}/health").json()  # GET /health
    assert health["status"] == "healthy"
    assert {"mlflow_uri", "model_loaded", "preprocessing_enabled"} <= set(health)

    current = httpx.get(f"{server}/models/current").json()  # GET /models/current
    assert (current["name"], current["version"]) == (MODEL, "1")
    assert isinstance(current["metrics"], dict)
    assert isinstance(current["loaded_at"], str)
    assert {"stage", "architecture"} <= set(current)
    assert current["model"]["version"] == "1"  # ours beside the seed's

    models = httpx.get(f"{server}/models/list").json()  # GET /models/list
    model = next(m for m in models if m["name"] == MODEL)
    assert isinstance(model["description"], str)
    for version in model["versions"]:
        assert {"version", "stage", "run_id", "metrics", "created_at"} <= set(version)

    # POST /models/load?model_name=yolov11-finger-counting&version=1 (and &stage=Production)
    loaded = httpx.post(f"{server}/models/load?model_name=yolov11-finger-counting&version=2", timeout=120)
    assert loaded.status_code == 200, loaded.text
    answer = loaded.json()
    assert answer["status"] == "success"
    assert answer["model_info"]["version"] == "2"
    assert httpx.get(f"{server}/models/current").json()["version"] == "2"
    client = MlflowClient()
    before = client.get_model_version(MODEL, "1").current_stage
    client.transition_model_version_stage(MODEL, "1", "Production")
    try:
        staged = httpx.post(f"{server}/models/load?model_name=yolov11-finger-counting&stage=Production", timeout=120)
    finally:  # the workspace is shared: other tests read version 1's stage
        client.transition_model_version_stage(MODEL, "1", before)
    assert staged.status_code == 200, staged.text
    assert staged.json()["model_info"]["version"] == "1"

    experiments = httpx.get(f"{server}/models/experiments").json()  # GET /models/experiments
    assert isinstance(experiments, list)
    run = next(r for e in experiments for r in e["runs"] if r["status"] == "FINISHED")
    assert {"experiment_id", "experiment_name", "run_count"} <= set(experiments[0])
    assert {"run_id", "run_name", "start_time", "metrics", "params", "tags", "available_weights"} <= set(run)
    assert "weights/best.pt" in run["available_weights"]

    response = post_image(server, sample_image())  # POST /predict, multipart file=<image>
    assert response.status_code == 200
    body = response.json()
    assert {"finger_count", "predictions", "preprocessing_applied", "inference_time_ms"} <= set(body)


def test_load_by_query_is_checked_as_the_body_is(server: str) -> None:
    both = httpx.post(f"{server}/models/load?version=1&alias=seed", timeout=30)
    assert both.status_code == 422
    assert "exactly one" in both.json()["detail"]
    mixed = httpx.post(f"{server}/models/load?version=1", json={"version": 1}, timeout=30)
    assert mixed.status_code == 422
    missing = httpx.post(f"{server}/models/load?model_name=yolov11-finger-counting&version=99", timeout=60)
    assert missing.status_code == 404
    assert httpx.post(f"{server}/models/load?stage=Nowhere", timeout=30).status_code == 422


def test_the_dashboards_calls(server: str) -> None:
    predicted = post_image(server, sample_image(), skip_check="false", conf_threshold=0.15)
    assert predicted.status_code == 200
    assert predicted.json()["conf"] == 0.15
    both = post_image(server, sample_image(), conf=0.2, conf_threshold=0.15)
    assert both.status_code == 422

    run_id = httpx.get(f"{server}/models/current").json()["run_id"]
    switched = httpx.post(
        f"{server}/models/load_run_weights?run_id={run_id}&artifact_path=weights/best.pt", timeout=120
    )
    assert switched.status_code == 200, switched.text
    assert switched.json()["model_info"]["run_id"] == run_id
    other = httpx.post(f"{server}/models/load_run_weights?run_id={run_id}&artifact_path=weights/last.pt")
    assert other.status_code == 404
    assert "weights/best.pt" in other.json()["detail"]
    nowhere = httpx.post(f"{server}/models/load_run_weights?run_id={'0' * 32}&artifact_path=weights/best.pt")
    assert nowhere.status_code == 404

    refreshed = httpx.post(f"{server}/models/experiments/refresh").json()
    assert refreshed["status"] == "success"
    assert refreshed["experiment_count"] >= 1
    assert httpx.post(f"{server}/config/conf_threshold?threshold=0.3").json()["conf_threshold"] == 0.3
    assert httpx.post(f"{server}/config/skip_frames", json={"skip_frames": 3}).json()["skip_frames"] == 3
    try:
        with connect(server.replace("http", "ws") + "/ws/predict") as socket:
            answers = []
            for _ in range(4):
                socket.send(sample_image())
                answers.append(json.loads(socket.recv(timeout=60)))
        assert answers[0]["conf"] == 0.3  # the stream default
        assert [a["inference_time_ms"] == 0 for a in answers] == [False, True, True, False]  # 1 frame in 3
        assert answers[1]["finger_count"] == answers[0]["finger_count"]  # this connection's own answer
        with connect(server.replace("http", "ws") + "/ws/predict") as socket:
            socket.send(b"not an image")
            error = json.loads(socket.recv(timeout=60))
        assert (error["finger_count"], error["predictions"]) == (0, [])
        assert error["error"]
    finally:
        httpx.post(f"{server}/config/skip_frames", json={"skip_frames": 1})
        httpx.post(f"{server}/config/conf_threshold?threshold=0.25")

    summary = httpx.get(f"{server}/metrics", headers={"Accept": "application/json"}).json()
    assert summary["model_loaded"] is True
    assert summary["model_info"]["name"] == MODEL
    assert "fingercount_" in httpx.get(f"{server}/metrics").text  # Prometheus by default


def test_cors_by_configuration(server: str, workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> None:
    preflight = httpx.options(
        f"{server}/models/load",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    allowed = httpx.get(f"{server}/health", headers={"Origin": ORIGIN})
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    other = httpx.get(f"{server}/health", headers={"Origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in other.headers

    settings = serving_settings(workspace, tmp_path_factory.mktemp("cors-none"), MODEL_ALIAS="seed", ADMIN_TOKEN=TOKEN)
    with running_server(settings) as base:  # no CORS_ORIGINS: no cross-origin answers at all
        assert "access-control-allow-origin" not in httpx.get(f"{base}/health", headers={"Origin": ORIGIN}).headers
    settings = serving_settings(
        workspace, tmp_path_factory.mktemp("cors-any"), MODEL_ALIAS="seed", CORS_ORIGINS="*", ADMIN_TOKEN=TOKEN
    )
    with running_server(settings) as base:
        assert httpx.get(f"{base}/health", headers={"Origin": ORIGIN}).headers["access-control-allow-origin"] == "*"
        refused = httpx.post(f"{base}/config/skip_frames", json={"skip_frames": 2}, headers={"Origin": ORIGIN})
        assert refused.status_code == 401  # whatever the origin, admin calls need the token
