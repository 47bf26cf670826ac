"""The CLI over a real store: train errors, eval, models list/describe/promote, main.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fingercount.config import load_training_config
from fingercount.processes import free_port
from fingercount.training.trainer import TrainResult
from tests.conftest import REPO, run_cli
from tests.workspace import Workspace

pytestmark = pytest.mark.slow
DATA = "data/test-prepared/data.yaml"


@pytest.fixture
def env(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", workspace.tracking_uri)
    return workspace


def test_models_list_and_describe(
    first: TrainResult, env: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(["models", "list"], monkeypatch, capsys)
    assert code == 0
    assert "yolov11-finger-counting" in out
    assert "v1" in out
    assert "@staging" in out
    code, out, _ = run_cli(["models", "describe", "yolov11-finger-counting", "--version", "1"], monkeypatch, capsys)
    assert code == 0
    described = json.loads(out)
    assert described["version"] == "1"
    assert described["tags"]["architecture"] == "yolo11n"


def test_models_promote_and_unknown_version(
    first: TrainResult, env: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["models", "promote", "yolov11-finger-counting", "--version", "1", "--alias", "canary"]
    code, out, _ = run_cli(args, monkeypatch, capsys)
    assert code == 0
    assert "@canary: promoted (first version for this alias)" in out
    code, _, err = run_cli(["models", "promote", "yolov11-finger-counting", "--version", "99"], monkeypatch, capsys)
    assert code == 1
    assert err.strip() == "error: registered model 'yolov11-finger-counting' has no version 99"


def test_eval_from_registry_alias(
    first: TrainResult, env: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = env.root / "eval.json"
    args = ["eval", "--model", "models:/yolov11-finger-counting@staging", "--data", "data/test-prepared/data.yaml"]
    code, out, _ = run_cli([*args, "--report", str(report)], monkeypatch, capsys)
    assert code == 0
    assert "test/count_accuracy" in out
    stored = json.loads(report.read_text())
    assert stored["count_conf"] == first.evaluation.count_conf  # type: ignore[union-attr]


def test_seed_entry_point_eval_on_a_weights_path(first: TrainResult, env: Workspace) -> None:
    weights = first.weights.relative_to(env.root)
    assert str(weights).startswith("experiments/")
    result = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "eval", "--model", str(weights), "--data", DATA],
        cwd=env.root, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "test/mAP50-95" in result.stdout
    trained = load_training_config(REPO / "configs/test_config.yaml").dataset.img_size
    assert f"inference at {trained} px (the size it was trained at)" in result.stderr, result.stderr
    # The README's command beside the seed's `experiments/yolo11n_*/weights/best.pt`: the newest run's weights.
    readme = f'{sys.executable} {REPO / "main.py"} eval --model "$(ls -t experiments/*/*/weights/best.pt | head -1)"'
    newest = subprocess.run(["bash", "-c", f"{readme} --data {DATA} --imgsz 96"], cwd=env.root, capture_output=True,
                            text=True, timeout=300, check=False)  # fmt: skip
    assert newest.returncode == 0, newest.stderr
    assert "at 96 px (--imgsz)" in newest.stderr


def test_train_against_an_unreachable_server_fails_fast(
    env: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    code, _, err = run_cli(["train", "-t", "configs/test_config.yaml"], monkeypatch, capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: MLflow tracking server {uri} is not reachable; start it")


def test_eval_missing_weights(
    env: Workspace, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["eval", "--model", "nowhere/best.pt"], monkeypatch, capsys)
    assert code == 1
    assert err.strip() == "error: nowhere/best.pt: no such weights file"
    assert not Path("nowhere").exists()
