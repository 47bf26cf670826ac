"""Each count head on real photos, with the shipped checkpoint as the detector and the real
hand-landmark model: which hands it counts by landmarks, and where it asks the whole frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fingercount import checkpoints
from fingercount.errors import ModelLoadError
from fingercount.inference import Detection
from fingercount.inference.engines import UltralyticsEngine
from fingercount.labeling.crops import box_count
from fingercount.labeling.teacher import HandTeacher
from fingercount.registry.count_head import WHOLE_FRAME_CONFIDENCE, HeadEngine
from tests.conftest import real_photos

NAMES = [str(count) for count in range(6)]
CONF = 0.3


@pytest.fixture(scope="module")
def detector() -> UltralyticsEngine:
    return UltralyticsEngine(checkpoints.checkpoint_path("fingercount-hands-n160-balanced"), 160, NAMES, 2)


@pytest.fixture(scope="module")
def frames(real_hands: Path) -> list[np.ndarray]:
    """One real photo of each count 1-5, each with a hand the detector finds."""
    return [cv2.imread(str(photos[0])) for photos in real_photos(1).values()]


def test_classes_is_the_detector_and_landmarks_recount_each_box(
    detector: UltralyticsEngine, frames: list[np.ndarray]
) -> None:
    head = HeadEngine(detector, "landmarks", 0.7, NAMES)
    assert (head.name, head.imgsz, head.precision) == (detector.name, detector.imgsz, detector.precision)
    recounted = 0
    with HandTeacher() as teacher:
        for frame in frames:
            found, counted = detector.predict(frame, CONF), head.predict(frame, CONF)
            assert found, "the shipped checkpoint finds the hand on its own real set"
            assert [d.bbox for d in counted] == [d.bbox for d in found]  # the same boxes, counted again
            for box, hand in zip(found, counted, strict=True):
                landmark = box_count(teacher, frame, box.bbox)
                if landmark is None:  # the landmark model finds no hand in the crop: the class stands
                    assert hand == box
                else:
                    recounted += 1
                    assert (hand.fingers, hand.counted_by, hand.confidence) == (landmark, "landmarks", box.confidence)
                    assert hand.class_name == str(landmark)
    assert recounted >= 3


@pytest.mark.parametrize(
    ("head", "unsure_head", "unsure_by"),
    [("arbitrated", "landmarks", {"landmarks"}), ("sure+photo", "photo+landmarks", {"photo"})],
)
def test_a_sure_detector_keeps_its_class_and_an_unsure_one_asks_the_landmark_model(
    detector: UltralyticsEngine, frames: list[np.ndarray], head: str, unsure_head: str, unsure_by: set[str]
) -> None:
    """arbitrated: per box, landmarks on the crop where unsure; sure+photo: the whole frame unless
    the detector is sure of every box."""
    always_sure = HeadEngine(detector, head, 0.01, NAMES)
    never_sure = HeadEngine(detector, head, 1.01, NAMES)
    unsure = HeadEngine(detector, unsure_head, 0.7, NAMES)
    for frame in frames:
        assert always_sure.predict(frame, CONF) == detector.predict(frame, CONF)
        assert never_sure.predict(frame, CONF) == unsure.predict(frame, CONF)
    assert {h.counted_by for frame in frames for h in never_sure.predict(frame, CONF)} <= unsure_by | {"classes"}


def test_the_whole_frame_where_the_detector_keeps_no_box(detector: UltralyticsEngine, frames: list[np.ndarray]) -> None:
    fallback = HeadEngine(detector, "landmarks+photo", 0.7, NAMES)
    photo_first = HeadEngine(detector, "photo+landmarks", 0.7, NAMES)
    with HandTeacher() as teacher:
        for frame in frames:
            whole = teacher.label(frame)
            assert whole
            # A threshold no box reaches: the landmark model counts the whole frame; kept at any threshold.
            assert not detector.predict(frame, 0.999)
            hands = fallback.predict(frame, 0.999)
            assert [(h.fingers, h.counted_by, h.confidence) for h in hands] == [
                (w.count, "photo", WHOLE_FRAME_CONFIDENCE) for w in whole
            ]
            # The detector keeps a box: landmarks on it, not the frame.
            assert {h.counted_by for h in fallback.predict(frame, CONF)} <= {"landmarks", "classes"}
            # The frame first, whatever the detector finds.
            assert [h.fingers for h in photo_first.predict(frame, CONF)] == [w.count for w in whole]


def test_the_photo_first_head_runs_the_detector_only_where_the_frame_has_no_hand(
    detector: UltralyticsEngine, frames: list[np.ndarray]
) -> None:
    calls: list[float] = []

    class Counted:  # the real detector, its calls counted
        name, imgsz, precision = detector.name, detector.imgsz, detector.precision

        def predict(self, frame: np.ndarray, conf: float) -> list[Detection]:
            calls.append(conf)
            return detector.predict(frame, conf)

    photo_first = HeadEngine(Counted(), "photo+landmarks", 0.7, NAMES)  # type: ignore[arg-type]
    for frame in frames:
        assert photo_first.predict(frame, CONF)
    assert calls == []  # every frame has a hand the landmark model finds: its cost is the landmark model's alone
    blank = np.full_like(frames[0], 127)
    assert photo_first.predict(blank, CONF) == detector.predict(blank, CONF)
    assert calls == [CONF]


def test_a_head_without_the_landmark_model_is_refused_with_the_install_command(
    detector: UltralyticsEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fingercount.labeling import teacher

    monkeypatch.setattr(teacher.importlib.util, "find_spec", lambda name: None)  # MediaPipe not installed
    with pytest.raises(ModelLoadError, match=r"landmarks head, which needs the landmark model: .*pip install"):
        HeadEngine(detector, "landmarks", 0.7, NAMES)
