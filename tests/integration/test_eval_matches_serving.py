"""Evaluation measures what is served: `fingercount eval` and `/predict` give the same counts,
image by image, on every engine — so the accuracy that gates a promotion is the one users get."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from fingercount.cli import main
from fingercount.training.evaluate import read_data_yaml, true_counts
from fingercount.training.trainer import TrainResult
from tests.workspace import Workspace, running_server, serving_settings, wait_for

pytestmark = pytest.mark.slow
MODEL = "yolov11-finger-counting"
ALIAS = "eval-parity"
DATA = Path("data/test-prepared/data.yaml")
# The two-epoch test model finds no hand at its stored threshold; at this one it finds plenty.
CONF = 0.001


@pytest.mark.parametrize("engine", ["openvino", "onnx", "pytorch"])
def test_eval_count_accuracy_equals_served_count_accuracy(
    engine: str,
    first: TrainResult,
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = workspace.registry()
    registry.set_alias(MODEL, ALIAS, "1")
    report = tmp_path / "eval.json"
    args = ["eval", "-m", f"models:/{MODEL}/1", "--data", str(DATA), "--engine", engine, "--conf", str(CONF)]
    args += ["--report", str(report)]
    # Through the real entry point, without capsys: Ultralytics' validator keeps a handle on the
    # stream it first wrote to, which capsys closes at teardown.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", workspace.tracking_uri)
    monkeypatch.setattr(sys, "argv", ["fingercount", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert not exit_info.value.code
    evaluated = json.loads(report.read_text())
    assert evaluated["engine"] == engine

    root, names = read_data_yaml(DATA)
    truth = true_counts(root, "test", names)
    settings = serving_settings(workspace, tmp_path / "cache", MODEL_ALIAS=ALIAS, ENGINE=engine)
    with running_server(settings) as base:
        wait_for(lambda: httpx.get(f"{base}/health").json()["model_loaded"], timeout=120)
        assert httpx.get(f"{base}/models/current").json()["model"]["engine"] == engine
        served = {}
        for image in truth:
            files = {"file": (image.name, image.read_bytes())}
            response = httpx.post(f"{base}/predict", files=files, params={"conf": CONF}, timeout=60)
            assert response.status_code == 200, response.text
            assert response.json()["conf"] == evaluated["count_conf"] == CONF
            served[image] = response.json()["finger_count"]
    served_accuracy = sum(served[image] == count for image, count in truth.items()) / len(truth)
    assert evaluated["metrics"]["test/count_accuracy"] == pytest.approx(served_accuracy)
    assert evaluated["metrics"]["test/images"] == len(truth)
    # The same answer image by image, not only on average; a model that found nothing would prove nothing.
    predicted = {Path(image): count for image, count in _eval_counts(evaluated).items()}
    assert predicted == served
    assert any(served.values())


def _eval_counts(evaluated: dict[str, object]) -> dict[str, int]:
    counts = evaluated["counts"]
    assert isinstance(counts, dict)
    return {str(image): int(count) for image, count in counts.items()}
