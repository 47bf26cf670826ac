"""train → evaluate → register → promote on a fresh SQLite store, with the tiny test config."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from mlflow import MlflowClient

from fingercount import interrupts
from fingercount.training import trainer as trainer_module
from fingercount.training.tracking import EPOCH_METRICS, tracked_run
from fingercount.training.trainer import TrainResult, train
from tests.workspace import Workspace

pytestmark = pytest.mark.slow
MODEL = "yolov11-finger-counting"


def all_artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    found = []
    for item in client.list_artifacts(run_id, path):
        found.extend(all_artifacts(client, run_id, item.path) if item.is_dir else [item.path])
    return found


def test_run_finished_with_params(first: TrainResult) -> None:
    run = MlflowClient().get_run(first.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    expected = {
        "model.architecture": "yolo11n",
        "dataset.img_size": "64",
        "dataset.seed": "42",
        "dataset.split_ratios.train": "0.6",
        "training.lr0": "0.01",
        "training.optimizer": "SGD",
        "augmentation.fliplr": "0.5",
        "augmentation.mosaic": "0.0",
        "device": "cpu",
    }
    assert {key: params.get(key) for key in expected} == expected
    for key in ("dataset.content_hash", "dataset.source", "env.torch", "env.ultralytics", "env.mlflow", "env.cpu"):
        assert params.get(key), key
    assert json.loads(params["dataset.source"])["source"] == "synthetic"


def test_one_metric_point_per_epoch(first: TrainResult) -> None:
    client = MlflowClient()
    for metric in EPOCH_METRICS:
        history = client.get_metric_history(first.run_id, metric)
        assert sorted(point.step for point in history) == [1, 2], metric
    assert first.fit.epochs_logged == [1, 2]


def test_each_artifact_logged_exactly_once(first: TrainResult) -> None:
    artifacts = all_artifacts(MlflowClient(), first.run_id)
    expected = [
        "weights/best.pt", "weights/last.pt", "results.csv", "plots/results.png", "plots/confusion_matrix.png",
        "plots/confusion_matrix_normalized.png", "plots/BoxPR_curve.png", "plots/BoxF1_curve.png",
        "plots/BoxP_curve.png", "plots/BoxR_curve.png", "config/resolved_config.yaml", "config/test_config.yaml",
        "dataset/manifest.json", "evaluation/test_report.json",
    ]  # fmt: skip
    for name in expected:
        assert artifacts.count(name) == 1, name
    assert any(a.startswith("samples/val_batch") for a in artifacts)
    basenames = [Path(a).name for a in artifacts]
    assert basenames.count("best.pt") == 1
    assert basenames.count("results.csv") == 1


def test_dataset_lineage(first: TrainResult) -> None:
    run = MlflowClient().get_run(first.run_id)
    manifest = json.loads((Path("data/test-prepared") / "manifest.json").read_text())
    inputs = run.inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.digest == manifest["content_hash"][:16]
    assert run.data.params["dataset.content_hash"] == manifest["content_hash"]


def test_test_metrics(first: TrainResult) -> None:
    metrics = MlflowClient().get_run(first.run_id).data.metrics
    for key in (
        "test/mAP50",
        "test/mAP50-95",
        "test/precision",
        "test/recall",
        "test/count_accuracy",
        "test/count_mae",
    ):
        assert key in metrics, key
    assert 0 <= metrics["test/count_accuracy"] <= 1
    assert {f"test/AP50-95/{n}" for n in "12345"} & set(metrics)
    assert first.evaluation is not None
    truth_images = sum(sum(row.values()) for row in first.evaluation.confusion.values())
    assert truth_images == metrics["test/images"] == 8


def test_version_registered_and_promoted(first: TrainResult, workspace: Workspace) -> None:
    client = MlflowClient()
    assert first.model_version == "1"
    assert first.promotion is not None
    assert first.promotion["promoted"] is True
    assert first.promotion["reason"] == "first version for this alias"
    version = client.get_model_version(MODEL, "1")
    assert version.current_stage == "Staging"
    assert version.tags["promotion.staging.decision"] == "promoted"
    holder = str(client.get_model_version_by_alias(MODEL, "staging").version)
    # Later tests may train version 2, which then holds the alias only if its own gate said so.
    assert holder == "1" or client.get_model_version(MODEL, holder).tags["promotion.staging.decision"] == "promoted"
    artifacts = workspace.registry().fetch(MODEL, "1").artifacts
    metadata = json.loads((artifacts / "metadata.json").read_text())
    assert metadata["class_names"] == ["1", "2", "3", "4", "5"]
    assert metadata["imgsz"] == 64
    assert metadata["architecture"] == "yolo11n"
    assert 0.05 <= metadata["count_conf"] <= 0.95
    import hashlib

    for relative, digest in metadata["sha256"].items():
        assert hashlib.sha256((artifacts / relative).read_bytes()).hexdigest() == digest
    assert set(metadata["sha256"]) >= {"weights/best.pt", "exports/model.onnx"}


def test_exports_load(first: TrainResult, workspace: Workspace) -> None:
    import onnxruntime as ort
    import openvino as ov

    exports = workspace.registry().fetch(MODEL, "1").exports
    session = ort.InferenceSession(str(exports / "model.onnx"), providers=["CPUExecutionProvider"])
    output = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, 64, 64), np.float32)})
    assert output[0].shape[0] == 1
    compiled = ov.Core().compile_model(str(next(exports.glob("model_openvino/*.xml"))), "CPU")
    assert compiled(np.zeros((1, 3, 64, 64), np.float32))[0].shape == output[0].shape


def test_pyfunc_predict_returns_detections(first: TrainResult) -> None:
    import mlflow.pyfunc
    import pandas as pd

    # Local paths only when the loading caller opts in; bytes and base64 text always.
    model = mlflow.pyfunc.load_model(f"models:/{MODEL}/1", model_config={"allow_local_paths": True})
    image = next(Path("data/test-prepared/images/test").iterdir())
    encoded = base64.b64encode(image.read_bytes()).decode()
    # A two-epoch model is not confident, so ask for everything above 0.001: the plumbing is what is tested.
    frame = model.predict(pd.DataFrame({"image": [str(image), image.read_bytes(), encoded]}), params={"conf": 0.001})
    assert list(frame.columns) == ["image", "class_id", "class_name", "confidence", "x1", "y1", "x2", "y2"]
    assert len(frame) > 0
    assert set(frame["image"]) == {0, 1, 2}
    assert frame["class_name"].isin(["1", "2", "3", "4", "5"]).all()
    height, width = cv2.imread(str(image)).shape[:2]
    assert (frame[["x1", "x2"]] <= width + 1).all().all()
    assert (frame[["y1", "y2"]] <= height + 1).all().all()


def test_second_training_adds_version_2_and_gate_decides(
    first: TrainResult, second: TrainResult, workspace: Workspace
) -> None:
    promote = workspace.registry().promote
    assert second.model_version == "2"
    client = MlflowClient()
    first_acc = client.get_run(first.run_id).data.metrics["test/count_accuracy"]
    second_acc = client.get_run(second.run_id).data.metrics["test/count_accuracy"]
    assert second.promotion is not None
    assert second.promotion["promoted"] == (second_acc > first_acc)
    holder = str(client.get_model_version_by_alias(MODEL, "staging").version)
    assert holder == ("2" if second_acc > first_acc else "1")
    assert client.get_model_version(MODEL, "2").tags["promotion.staging.decision"] in {"promoted", "kept"}

    # Both ways, with a gate metric whose values the test controls on the real runs.
    client.log_metric(first.run_id, "test/gate_score", 0.5)
    assert promote(MODEL, "1", "production", metric="test/gate_score").promoted  # first holder
    client.log_metric(second.run_id, "test/gate_score", 0.4)
    kept = promote(MODEL, "2", "production", metric="test/gate_score")
    assert not kept.promoted
    assert kept.current_version == "1"
    assert str(client.get_model_version_by_alias(MODEL, "production").version) == "1"
    tags = client.get_model_version(MODEL, "2").tags
    assert tags["promotion.production.decision"] == "kept"
    assert tags["promotion.production.candidate_test/gate_score"] == "0.4"
    assert tags["promotion.production.current_test/gate_score"] == "0.5"
    # The metric fallback (no held-out photos counted by both): a tie keeps the serving version.
    client.log_metric(second.run_id, "test/gate_score", 0.5)
    tie = promote(MODEL, "2", "production", metric="test/gate_score")
    assert not tie.promoted
    assert tie.reason.startswith("not better (a tie): test/gate_score 0.5 = that of version 1")
    assert str(client.get_model_version_by_alias(MODEL, "production").version) == "1"
    client.log_metric(second.run_id, "test/gate_score", 0.6)
    moved = promote(MODEL, "2", "production", metric="test/gate_score")
    assert moved.promoted
    assert str(client.get_model_version_by_alias(MODEL, "production").version) == "2"
    assert client.get_model_version(MODEL, "2").current_stage == "Production"


def test_a_stop_a_library_dropped_ends_the_run_killed(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    client = MlflowClient()
    # The signal landed; a library swallowed its KeyboardInterrupt ...
    with pytest.raises(KeyboardInterrupt), tracked_run(workspace.tracking_uri, "dropped-stop", "went-on", {}) as run:
        monkeypatch.setattr(interrupts, "_asked", True)
    assert client.get_run(run.info.run_id).info.status == "KILLED"
    # ... or turned it into another error (pybind11, on an import: ImportError); the stop is still asked for.
    with pytest.raises(RuntimeError), tracked_run(workspace.tracking_uri, "dropped-stop", "failed-on", {}) as run:
        raise RuntimeError("openvino export failed")
    ended = client.get_run(run.info.run_id)
    assert ended.info.status == "KILLED"
    assert ended.data.tags["error"] == "interrupted (RuntimeError: openvino export failed)"


@pytest.mark.parametrize(("error", "status"), [(RuntimeError("injected"), "FAILED"), (KeyboardInterrupt(), "KILLED")])
def test_failure_after_start_marks_the_run(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, error: BaseException, status: str
) -> None:
    def explode(*args: Any, **kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(trainer_module, "fit", explode)
    config = workspace.config()
    config = config.model_copy(
        update={"mlflow": config.mlflow.model_copy(update={"experiment_name": f"fail-{status}"})}
    )
    with pytest.raises(type(error)):
        train(config, workspace.env())
    client = MlflowClient()
    experiment = client.get_experiment_by_name(f"fail-{status}")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == status
    assert run.data.tags["error"].startswith(type(error).__name__ if status == "FAILED" else "interrupted")
