"""The pyfunc flavour behind MLflow's own server (`mlflow models serve`): images as base64 text are
counted; a file path in a request is refused, so a served model never reads the server's files."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fingercount.processes import free_port, http_ok, wait_until
from fingercount.training.trainer import TrainResult
from tests.workspace import Workspace

pytestmark = pytest.mark.slow
MODEL = "yolov11-finger-counting"


@pytest.fixture(scope="module")
def mlflow_serve(first: TrainResult, workspace: Workspace) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{MODEL}/{first.model_version}",
               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": workspace.tracking_uri,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",  # it runs `uvicorn`
    }
    # Its own process group: MLflow starts uvicorn as a child, which must stop with it.
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is None and http_ok(f"{base}/ping"), "mlflow models serve", timeout=180)
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def invoke(base: str, *images: str, conf: float = 0.001) -> httpx.Response:
    body = {"dataframe_split": {"columns": ["image"], "data": [[image] for image in images]}, "params": {"conf": conf}}
    return httpx.post(f"{base}/invocations", json=body, timeout=60)


def test_base64_images_are_counted(mlflow_serve: str) -> None:
    image = next(Path("data/test-prepared/images/test").iterdir())
    answer = invoke(mlflow_serve, base64.b64encode(image.read_bytes()).decode())
    assert answer.status_code == 200, answer.text
    rows = answer.json()["predictions"]
    assert rows  # a two-epoch model at conf 0.001: the plumbing is what is tested
    assert {row["image"] for row in rows} == {0}
    assert {"class_name", "confidence", "x1", "y1", "x2", "y2"} <= set(rows[0])


@pytest.mark.parametrize("path", ["/etc/passwd", "data/test-prepared/images/test"])
def test_file_paths_in_a_request_are_refused(mlflow_serve: str, path: str) -> None:
    if path.startswith("data/"):
        path = str(next(Path(path).iterdir()).resolve())  # an image the server could read
    answer = invoke(mlflow_serve, path)
    assert answer.status_code == 400, answer.text
    assert "file paths are refused" in answer.json()["message"]
