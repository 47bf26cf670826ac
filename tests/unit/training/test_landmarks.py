"""The teacher's landmarks as supervision (`model.landmarks`): the pose copy of a prepared dataset,
the pose model that keeps a detection checkpoint's classes, and a trained pose model counted alike
by every engine, its keypoints included, with its boxes measured as a detector's."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from fingercount.checkpoints import checkpoint_path
from fingercount.config import TrainingConfig
from fingercount.errors import ModelLoadError
from fingercount.inference.engines import build_engine
from fingercount.labeling.fingers import count_raised_in_image
from fingercount.registry.count_head import KeypointHead
from fingercount.registry.package import ModelMetadata, ModelPackage
from fingercount.training.count_heads import box_records, hand_count
from fingercount.training.evaluate import detection_metrics
from fingercount.training.export import export_model
from fingercount.training.landmark_labels import KEYPOINTS, landmark_data_yaml
from fingercount.training.paste import read_labels
from fingercount.training.yolo import detector_of, model_task, pose_model, quiet_ultralytics
from tests.unit.training.test_paste import prepared

NAMES = [str(i) for i in range(6)]
SHIPPED = "fingercount-hands-n160"


@pytest.fixture(scope="module")
def with_hands(tmp_path_factory: pytest.TempPathFactory, real_hands: Path) -> Path:
    """Real photos boxed and counted (train, and the same as val), and plain rooms with a box no hand is in."""
    data_yaml = prepared(tmp_path_factory.mktemp("landmarks") / "prepared", ["hands", "room"])
    root = data_yaml.parent
    for image in (root / "images" / "train").glob("hands__*"):
        shutil.copyfile(image, root / "images" / "val" / image.name)
        shutil.copyfile(root / "labels" / "train" / f"{image.stem}.txt", root / "labels" / "val" / f"{image.stem}.txt")
    return data_yaml


@pytest.fixture(scope="module")
def pose_copy(with_hands: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    return landmark_data_yaml(with_hands, tmp_path_factory.mktemp("pose") / "landmarks", progress=False)


def test_each_labelled_hand_gets_the_teachers_landmarks_inside_its_box(
    with_hands: Path, pose_copy: tuple[Path, dict[str, int]]
) -> None:
    data_yaml, tally = pose_copy
    root, pose = with_hands.parent, data_yaml.parent
    spec = yaml.safe_load(data_yaml.read_text())
    assert spec["kpt_shape"] == [21, 3]
    assert spec["flip_idx"] == list(range(21))  # a mirrored wrist is a wrist
    assert spec["names"] == yaml.safe_load(with_hands.read_text())["names"]
    hands = sorted((root / "images" / "train").glob("hands__*"))
    assert tally == {"with_landmarks": 2 * len(hands), "without": 4}  # train and val; the rooms' boxes hold no hand
    for image in hands:
        linked = pose / "images" / "train" / image.name
        assert os.stat(linked).st_ino == os.stat(image).st_ino  # hard-linked, not copied
        (line,) = (pose / "labels" / "train" / f"{image.stem}.txt").read_text().splitlines()
        fields = line.split()
        assert len(fields) == 5 + 3 * KEYPOINTS
        assert fields[:5] == (root / "labels" / "train" / f"{image.stem}.txt").read_text().split()[:1] + [
            f"{float(v):.6f}" for v in (root / "labels" / "train" / f"{image.stem}.txt").read_text().split()[1:]
        ]  # the source's class and box, unchanged
        points = np.array(fields[5:], float).reshape(KEYPOINTS, 3)
        assert (points[:, 2] == 2).all()
        ((_, (x1, y1, x2, y2)),) = read_labels(root / "labels" / "train" / f"{image.stem}.txt")
        assert x1 <= points[:, 0].min() <= points[:, 0].max() <= x2  # the box is the teacher's: margins
        assert y1 <= points[:, 1].min() <= points[:, 1].max() <= y2
    for room in (pose / "labels" / "train").glob("room__*"):
        assert np.array(room.read_text().split()[5:], float).tolist() == [0.0] * 63  # not labelled: no loss


def test_landmarks_and_pasted_hands_are_refused_together() -> None:
    with pytest.raises(ValidationError, match="pasted hands have no landmarks"):
        TrainingConfig.model_validate({"model": {"landmarks": True}, "augmentation": {"paste": {"images": 10}}})


def test_a_pose_model_keeps_every_detection_layer_of_its_checkpoint(tmp_path: Path) -> None:
    import torch

    quiet_ultralytics()
    model = pose_model(str(checkpoint_path(SHIPPED)), "yolo11n", NAMES, tmp_path)
    assert model.task == "pose"
    assert model.model.yaml["kpt_shape"] == [21, 3]
    detector = torch.load(checkpoint_path(SHIPPED), weights_only=False)["model"].float().state_dict()
    pose = model.model.state_dict()
    assert all(torch.equal(pose[key].float(), value) for key, value in detector.items())  # the class head too
    assert any(key.startswith("model.23.cv4") for key in pose)  # the keypoint branch, new


@pytest.fixture(scope="module")
def trained(pose_copy: tuple[Path, dict[str, int]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A pose model trained one epoch from the shipped checkpoint: its weights and exports."""
    out = tmp_path_factory.mktemp("trained")
    quiet_ultralytics()
    model = pose_model(str(checkpoint_path(SHIPPED)), "yolo11n", NAMES, out / "model")
    model.train(data=str(pose_copy[0]), epochs=1, imgsz=96, batch=8, workers=0, device="cpu", project=str(out),
                name="run", verbose=False, plots=False, pretrained=True)  # fmt: skip
    weights = Path(model.trainer.save_dir) / "weights" / "best.pt"
    exported = export_model(weights, 96, out / "exports")
    return {"pytorch": weights, "onnx": exported["onnx"], "openvino": next(exported["openvino"].glob("*.xml"))}


def test_a_trained_pose_model_counts_alike_on_every_engine_with_its_keypoints(
    trained: dict[str, Path], with_hands: Path, tmp_path: Path
) -> None:
    weights = trained["pytorch"]
    assert model_task(weights) == "pose"
    assert model_task(detector_of(weights, tmp_path / "boxes")) == "detect"
    metrics, _ = detection_metrics(weights, with_hands, 96, "cpu", "val")  # the detection labels, not the pose copy
    assert 0.0 <= metrics["mAP50"] <= 1.0
    files = trained
    engines = {
        kind: build_engine(files, 96, NAMES, kind, threads=1)
        for kind in ("pytorch", "onnx", "openvino")
    }  # fmt: skip
    photos = sorted((with_hands.parent / "images" / "train").glob("hands__*"))
    for photo in photos:
        frame = cv2.imread(str(photo))
        found = {kind: engine.predict(frame, 0.01) for kind, engine in engines.items()}
        reference = found["pytorch"]
        assert reference
        assert all(d.keypoints is not None and len(d.keypoints) == 21 for d in reference)
        for kind in ("onnx", "openvino"):
            assert [d.class_id for d in found[kind]] == [d.class_id for d in reference], kind
            for ours, theirs in zip(found[kind], reference, strict=True):
                assert np.allclose(ours.keypoints, theirs.keypoints, atol=1.0), kind  # pixels
    from fingercount.labeling.teacher import HandTeacher

    with HandTeacher() as teacher:
        records = box_records(engines["onnx"], photos[:2], teacher)
    assert all(len(box) == 4 and 0 <= box[3] <= 5 for boxes in records for box in boxes)
    assert hand_count(records[0][0], "keypoints", 1.0) == records[0][0][3]  # type: ignore[misc]


def test_without_the_teacher_a_landmarks_run_stops_before_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from fingercount.errors import ConfigError
    from fingercount.training import trainer

    config = TrainingConfig.model_validate({"model": {"landmarks": True}})
    trainer.teacher_needed(config)  # it runs here: nothing to say
    monkeypatch.setattr(
        trainer, "unavailable_reason", lambda: "MediaPipe is not installed: pip install 'fingercount[label]'"
    )
    with pytest.raises(ConfigError, match=r"^model.landmarks label with the hand-landmark teacher, .*pip install"):
        trainer.teacher_needed(config)
    trainer.teacher_needed(TrainingConfig())  # a plain recipe needs no teacher


def _package(root: Path, weights: Path, keypoints: int) -> ModelPackage:
    """A version counting with the keypoints head, as `trainer.package` registers one."""
    metadata = ModelMetadata(class_names=NAMES, imgsz=96, count_head="keypoints", keypoints=keypoints)
    package = ModelPackage.create(root, weights, metadata)
    export_model(package.weights, 96, package.exports)
    package.save()
    return ModelPackage.open(root)


def test_the_keypoints_head_is_served_as_the_finger_rule_on_the_models_own_keypoints(
    trained: dict[str, Path], with_hands: Path, tmp_path: Path
) -> None:
    package = _package(tmp_path / "pose", trained["pytorch"], KEYPOINTS)
    served = package.served_engine("onnx", threads=1)  # no landmark model: nothing of the label extra
    assert isinstance(served, KeypointHead)
    plain = package.engine("onnx", threads=1)
    counts = set()
    for photo in sorted((with_hands.parent / "images" / "train").glob("hands__*")):
        frame = cv2.imread(str(photo))
        found, hands = plain.predict(frame, 0.01), served.predict(frame, 0.01)
        assert found
        assert [h.bbox for h in hands] == [d.bbox for d in found]  # the same boxes, counted again
        for box, hand in zip(found, hands, strict=True):
            count = count_raised_in_image(np.array(box.keypoints))
            assert (hand.fingers, hand.counted_by, hand.confidence) == (count, "keypoints", box.confidence)
            assert hand.class_name == str(count)
            assert hand.keypoints == box.keypoints
            counts.add(count)
    assert len(counts) >= 2  # the rule reads the keypoints, not one answer for every box


def test_the_keypoints_head_on_a_model_without_keypoints_is_refused_at_load(tmp_path: Path) -> None:
    package = _package(tmp_path / "detector", checkpoint_path(SHIPPED), 0)
    with pytest.raises(ModelLoadError, match="keypoints head, but its model predicts no keypoints"):
        package.served_engine("onnx", threads=1)
    with pytest.raises(ValidationError, match=r"set model\.landmarks: true"):
        TrainingConfig.model_validate({"evaluation": {"count_head": "keypoints"}})
    TrainingConfig.model_validate({"model": {"landmarks": True}, "evaluation": {"count_head": "keypoints"}})
