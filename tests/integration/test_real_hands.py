"""Real photos in the loop: named evaluation sets, the teacher beside the model, fine-tuning a
registered version, the gate on a named set, and `eval --counts` checked by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fingercount.config import EvalSetConfig, EvaluationConfig
from fingercount.training.trainer import TrainResult, train
from tests.conftest import count_folders, run_cli
from tests.workspace import Workspace

pytestmark = pytest.mark.slow
NAME = "yolov11-finger-counting"


@pytest.fixture(scope="module")
def tiny_counts(tmp_path_factory: pytest.TempPathFactory, real_hands: Path) -> Path:
    """Count folders with 2 real photos of each count."""
    return count_folders(tmp_path_factory.mktemp("counts"), per_count=2)


@pytest.fixture(scope="module")
def staging_version(workspace: Workspace, first: TrainResult) -> str:
    """The version @staging when the fine-tuning starts (its parent)."""
    return str(workspace.registry().resolve(NAME, alias="staging").version)


@pytest.fixture(scope="module")
def fine_tuned(workspace: Workspace, staging_version: str, tiny_counts: Path) -> TrainResult:
    """The @staging version fine-tuned, evaluated on the test split and on real photos, not promoted."""
    config = workspace.config()
    sets = {"heldout": EvalSetConfig(split="test"), "real": EvalSetConfig(path=tiny_counts)}
    config = config.model_copy(
        update={
            "model": config.model.model_copy(update={"weights": f"models:/{NAME}@staging"}),
            "evaluation": EvaluationConfig(sets=sets, teacher=True),
            "mlflow": config.mlflow.model_copy(update={"auto_promote_stage": None}),
        }
    )
    return train(config, workspace.env())


def test_named_sets_are_logged_stored_and_listed(
    fine_tuned: TrainResult, staging_version: str, workspace: Workspace
) -> None:
    from mlflow import MlflowClient

    metrics = MlflowClient().get_run(fine_tuned.run_id).data.metrics
    assert metrics["eval/real/images"] == 10
    assert 0 <= metrics["eval/real/count_accuracy"] <= 1
    assert metrics["eval/real/teacher/count_accuracy"] >= 0.7  # measured 1.0 on these 10 photos
    assert metrics["eval/heldout/images"] == metrics["test/images"]
    assert {f"eval/real/count_accuracy/{count}" for count in "12345"} <= set(metrics)
    version = workspace.registry().describe(NAME, fine_tuned.model_version)
    assert version["tags"]["parent.version"] == staging_version
    assert version["eval_sets"]["real"]["teacher_count_accuracy"] == pytest.approx(
        metrics["eval/real/teacher/count_accuracy"], abs=1e-5
    )
    (model,) = [m for m in workspace.registry().list_models() if m["name"] == NAME]  # the workspace has others
    listed = {v["version"]: v for v in model["versions"]}
    assert set(listed[str(fine_tuned.model_version)]["eval_sets"]) == {"heldout", "real"}


def test_fine_tune_records_its_parent(fine_tuned: TrainResult, staging_version: str) -> None:
    from mlflow import MlflowClient

    tags = MlflowClient().get_run(fine_tuned.run_id).data.tags
    assert tags["parent.uri"] == f"models:/{NAME}@staging"
    assert tags["parent.version"] == staging_version


def test_gate_on_a_named_set_promotes_and_refuses(
    fine_tuned: TrainResult, first: TrainResult, workspace: Workspace
) -> None:
    from mlflow import MlflowClient

    metric = "eval/real/count_accuracy"
    holder = workspace.registry().promote(NAME, str(fine_tuned.model_version), "real-gate", metric)
    assert holder.promoted
    value = holder.new_value
    assert value is not None
    client = MlflowClient()
    client.log_metric(first.run_id, metric, value - 0.5)
    refused = workspace.registry().promote(NAME, str(first.model_version), "real-gate", metric)
    assert not refused.promoted
    assert refused.reason.startswith(f"{metric} ")
    client.log_metric(first.run_id, metric, value + 0.5, step=1)
    assert workspace.registry().promote(NAME, str(first.model_version), "real-gate", metric).promoted


def test_eval_counts_equals_a_hand_computation(
    first: TrainResult,
    tiny_counts: Path,
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ultralytics import YOLO

    out = workspace.root / "counts.json"
    args = ["eval", "-m", str(first.weights), "--counts", str(tiny_counts), "--conf", "0.25", "--imgsz", "64"]
    code, stdout, _ = run_cli([*args, "--report", str(out)], monkeypatch, capsys)
    assert code == 0
    assert "teacher" in stdout
    produced = json.loads(out.read_text())
    model = YOLO(str(first.weights))
    right = 0
    for folder in sorted(tiny_counts.iterdir()):
        for photo in sorted(folder.iterdir()):
            boxes = model.predict(str(photo), imgsz=64, conf=0.25, agnostic_nms=True, verbose=False)[0].boxes
            right += sum(int(model.names[int(c)]) for c in boxes.cls) == int(folder.name)
    assert produced["images"] == 10
    assert produced["model"]["accuracy"] == pytest.approx(right / 10)
    assert produced["teacher"]["accuracy"] >= 0.7
