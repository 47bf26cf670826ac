"""`fingercount tune` on Ray Tune: a 4-trial sweep of the test config, on a local Ray and then on a
started Ray head (RAY_ADDRESS): one parent run, four nested runs with their statuses (ASHA stops
some early), the best trial registered and gated."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from fingercount.processes import free_port
from tests.workspace import Workspace

pytestmark = pytest.mark.slow
RAY = Path(sys.executable).with_name("ray")


def sweep(workspace: Workspace, store: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], MlflowClient]:
    uri = f"sqlite:///{store}"  # its own store: the sweep's version must not move the session's aliases
    result = subprocess.run(
        [sys.executable, "-m", "fingercount", "tune", "-t", "configs/test_config.yaml",
         "--space", "configs/tune_test_space.yaml", "--quiet"],
        cwd=workspace.root, env={**os.environ, "MLFLOW_TRACKING_URI": uri, **env}, capture_output=True, text=True,
        timeout=900,
    )  # fmt: skip
    return result, MlflowClient(uri, registry_uri=uri)


def check_sweep(result: subprocess.CompletedProcess[str], client: MlflowClient, say: Callable[[str], None]) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (experiment,) = [e for e in client.search_experiments() if e.name == "fingercount-tests"]
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    statuses = sorted(r.data.tags["tune.status"] for r in trials)
    say("tune: " + ", ".join(statuses))
    assert len(trials) == 4
    assert parent.info.status == "FINISHED"
    assert any(s.startswith("stopped early") for s in statuses), statuses  # ASHA at work
    assert all(r.info.status == "KILLED" for r in trials if r.data.tags["tune.status"].startswith("stopped"))
    assert {r.data.params["training.lr0"] for r in trials} == {"0.02", "1e-06", "1.1e-06", "1.2e-06"}
    assert all(client.get_metric_history(r.info.run_id, "val_cls_loss") for r in trials)  # per-epoch metrics
    (version,) = client.search_model_versions("name='yolov11-finger-counting'")
    assert version.run_id == parent.data.tags["tune.best_run"]
    assert client.get_run(version.run_id).data.tags["tune.status"] == "completed"
    assert "registered yolov11-finger-counting version 1" in result.stdout


def test_a_sweep_on_a_local_ray(workspace: Workspace, tmp_path: Path, say: Callable[[str], None]) -> None:
    check_sweep(*sweep(workspace, tmp_path / "tune.db"), say)


@pytest.fixture
def ray_head() -> Iterator[str]:
    port = free_port()
    subprocess.run(
        [str(RAY), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
         "--disable-usage-stats", "--include-dashboard=false"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=120)


def test_the_same_sweep_on_a_started_ray_head(
    workspace: Workspace, ray_head: str, tmp_path: Path, say: Callable[[str], None]
) -> None:
    check_sweep(*sweep(workspace, tmp_path / "tune.db", RAY_ADDRESS=ray_head), say)
