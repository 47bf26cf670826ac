"""The production topology with real processes: PostgreSQL + S3 (moto) + `mlflow server`.

train (test config) → register → serving loads it from the server → /predict answers; the
MLflow server stops: serving keeps answering and /health says the registry is unreachable; it
restarts: /models/load works again; PostgreSQL restarts: the run and the version are still there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from mlflow import MlflowClient

from fingercount.devstack import BUCKET, S3_KEYS, DevStack
from fingercount.registry import Registry
from fingercount.serving.model_manager import ModelManager
from fingercount.training.trainer import TrainResult
from tests.workspace import Workspace, running_server, serving_settings, use_tracking_uri, wait_for

pytestmark = pytest.mark.slow
MODEL = "yolov11-finger-counting"


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    running = DevStack().start()
    try:
        yield running
    finally:
        running.stop()


def test_train_serve_and_survive_outages(
    stack: DevStack, workspace: Workspace, first: TrainResult, tmp_path: Path
) -> None:
    from fingercount.training.trainer import TrainEnvironment, train

    config = workspace.config()
    config = config.model_copy(update={"mlflow": config.mlflow.model_copy(update={"experiment_name": "stack"})})
    try:
        result = train(config, TrainEnvironment(stack.tracking_uri, model_cache=tmp_path / "cache", progress=False))
    finally:
        use_tracking_uri(workspace.tracking_uri)  # later tests use the workspace's embedded store
    assert result.model_version == "1"
    client = MlflowClient(tracking_uri=stack.tracking_uri, registry_uri=stack.tracking_uri)
    assert client.get_run(result.run_id).info.status == "FINISHED"

    # The artifacts went through the server into the S3 bucket, which stays private.
    s3 = boto3.client(
        "s3", endpoint_url=stack.s3_endpoint, region_name="us-east-1",
        aws_access_key_id=S3_KEYS["AWS_ACCESS_KEY_ID"], aws_secret_access_key=S3_KEYS["AWS_SECRET_ACCESS_KEY"],
    )  # fmt: skip
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert any(key.endswith("weights/best.pt") for key in keys)
    assert any(key.endswith("exports/model.onnx") for key in keys)
    assert httpx.get(f"{stack.s3_endpoint}/{BUCKET}/{keys[0]}").status_code == 403  # no anonymous reads

    # The cache already holds "version 1" of the same name from another registry (the workspace's):
    # serving must not mistake it for the stack's version 1.
    ModelManager(Registry(workspace.tracking_uri, tmp_path)).load(MODEL, version="1")
    settings = serving_settings(workspace, tmp_path, MLFLOW_TRACKING_URI=stack.tracking_uri, MODEL_ALIAS="staging")
    image = next(Path("data/test-prepared/images/test").iterdir()).read_bytes()
    with running_server(settings) as base:
        wait_for(lambda: httpx.get(f"{base}/health").json()["model_loaded"], timeout=120)

        def predict() -> httpx.Response:
            return httpx.post(f"{base}/predict", files={"file": ("f.jpg", image, "image/jpeg")}, timeout=60)

        assert predict().json()["model_version"] == "1"
        assert httpx.get(f"{base}/models/current").json()["model"]["run_id"] == result.run_id

        stack.stop_mlflow()
        assert predict().status_code == 200  # the loaded model keeps serving
        # /health rechecks the registry at most once a second, off the request path.
        wait_for(lambda: httpx.get(f"{base}/health", timeout=30).json()["registry_reachable"] is False, timeout=30)
        health = httpx.get(f"{base}/health", timeout=30).json()
        assert health["registry_reachable"] is False
        assert health["model_loaded"] is True
        assert health["status"] == "degraded"
        failed = httpx.post(f"{base}/models/load", json={"version": 1}, timeout=120)
        assert failed.status_code >= 400
        assert failed.json()["error"]
        assert predict().json()["model_version"] == "1"

        stack.start_mlflow()
        wait_for(lambda: httpx.get(f"{base}/health", timeout=30).json()["registry_reachable"], timeout=60)
        reloaded = httpx.post(f"{base}/models/load", json={"version": 1}, timeout=120)
        assert reloaded.status_code == 200, reloaded.text

    stack.pg_ctl("restart")  # nothing is lost: metadata lives in PostgreSQL
    assert client.get_run(result.run_id).info.status == "FINISHED"
    assert str(client.get_model_version(MODEL, "1").version) == "1"
