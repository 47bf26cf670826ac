"""A version's count head (`ModelMetadata.count_head`): how the fingers of a found hand are counted.

It wraps the version's engine where the engine is built (`ModelPackage.served_engine`), so serving,
the pyfunc and evaluation count alike:
- `classes`: the detector's class (no wrapper);
- `landmarks`: the hand-landmark model on each box's crop, the class where it finds no hand;
- `arbitrated`: the class where the detector's confidence is at least `count_sure`, else landmarks;
- `landmarks+photo`: landmarks; where the detector keeps no box, the landmark model on the frame;
- `photo+landmarks`: the landmark model on the frame; where it finds no hand, landmarks on the boxes;
- `sure+photo`: the class where the detector is sure (>= `count_sure`) of every box it keeps, else
  `photo+landmarks` (sure boxes keep their class): the landmark model runs only where it is unsure;
- `keypoints` (`KeypointHead`): the finger rule on the 21 keypoints a pose model (`model.landmarks`)
  predicts for each box itself: no landmark model, so no label extra at serving.

A hand the landmark model finds on the whole frame comes back with confidence 1.0: its count does
not depend on the detector's threshold. Each answer says how it was counted (`counted_by`).
"""

from __future__ import annotations

import dataclasses
import threading
import weakref
from typing import TYPE_CHECKING

import numpy as np

from fingercount.config import SURE_HEADS
from fingercount.counting import finger_count
from fingercount.errors import ModelLoadError
from fingercount.inference import Detection, Engine
from fingercount.labeling.fingers import count_raised_in_image

if TYPE_CHECKING:
    from fingercount.labeling.teacher import HandTeacher

WHOLE_FRAME_CONFIDENCE = 1.0


class HeadEngine:
    """The detector's engine with its hands counted by a head (an `Engine` itself)."""

    # Evaluation predicts at the served threshold itself: with a head, the answer at one threshold is
    # not a cut of the answer at a lower one (a box kept at 0.05 can stop the whole-frame fallback).
    exact_conf = True

    def __init__(self, detector: Engine, head: str, sure: float, class_names: list[str]) -> None:
        from fingercount.labeling.teacher import unavailable_reason

        reason = unavailable_reason()
        if reason is not None:
            raise ModelLoadError(f"this version counts with the {head} head, which needs the landmark model: {reason}")
        self.detector, self.head, self.sure = detector, head, sure
        self.name, self.imgsz, self.precision = detector.name, detector.imgsz, detector.precision
        self._classes = classes_by_count(class_names)
        self._local = threading.local()  # a landmarker is not thread-safe: one per serving thread
        self._teachers: list[HandTeacher] = []
        weakref.finalize(self, _close_all, self._teachers)

    def predict(self, frame: np.ndarray, conf: float) -> list[Detection]:
        teacher = self._teacher()
        if self.head == "photo+landmarks":  # the detector runs only where the landmark model finds no hand
            counted = self._whole_frame(frame, teacher)
            if counted:
                return counted
        found = self.detector.predict(frame, conf)
        if self.head == "sure+photo":
            if found and min(d.confidence for d in found) >= self.sure:
                return found
            counted = self._whole_frame(frame, teacher)
            if counted:
                return counted
        if self.head == "landmarks+photo" and not found:
            return self._whole_frame(frame, teacher)
        return [self._by_landmarks(frame, detection, teacher) for detection in found]

    def _whole_frame(self, frame: np.ndarray, teacher: HandTeacher) -> list[Detection]:
        from fingercount.labeling.photo import photo_hands

        return [
            counted(self._classes, h.count, WHOLE_FRAME_CONFIDENCE, h.box, "photo") for h in photo_hands(teacher, frame)
        ]

    def _by_landmarks(self, frame: np.ndarray, detection: Detection, teacher: HandTeacher) -> Detection:
        from fingercount.labeling.crops import box_count

        if self.head in SURE_HEADS and detection.confidence >= self.sure:
            return detection
        count = box_count(teacher, frame, detection.bbox)
        if count is None:
            return detection
        return counted(self._classes, count, detection.confidence, detection.bbox, "landmarks")

    def _teacher(self) -> HandTeacher:
        teacher: HandTeacher | None = getattr(self._local, "teacher", None)
        if teacher is None:
            from fingercount.labeling.teacher import HandTeacher

            teacher = self._local.teacher = HandTeacher()
            self._teachers.append(teacher)
        return teacher


class KeypointHead:
    """A pose model's engine with each box counted by the finger rule on its own keypoints (an
    `Engine`). Per box, so a cut at a lower threshold is the answer at a higher one (no `exact_conf`)."""

    def __init__(self, detector: Engine, class_names: list[str]) -> None:
        self.detector = detector
        self.name, self.imgsz, self.precision = detector.name, detector.imgsz, detector.precision
        self._classes = classes_by_count(class_names)

    def predict(self, frame: np.ndarray, conf: float) -> list[Detection]:
        return [self._by_keypoints(detection) for detection in self.detector.predict(frame, conf)]

    def _by_keypoints(self, detection: Detection) -> Detection:
        if detection.keypoints is None:  # checked at load (`ModelPackage.served_engine`); never silently wrong
            raise ModelLoadError("the keypoints head needs a model that predicts keypoints; this one predicts none")
        count = count_raised_in_image(np.array(detection.keypoints))
        kept = counted(self._classes, count, detection.confidence, detection.bbox, "keypoints")
        return dataclasses.replace(kept, keypoints=detection.keypoints)


def classes_by_count(class_names: list[str]) -> dict[int, tuple[int, str]]:
    """Each finger count's class (its first, where names repeat a count)."""
    classes: dict[int, tuple[int, str]] = {}
    for class_id, name in enumerate(class_names):
        count = finger_count(name)
        if count is not None:
            classes.setdefault(count, (class_id, name))
    return classes


def counted(
    classes: dict[int, tuple[int, str]], count: int, confidence: float, bbox: tuple[float, ...], how: str
) -> Detection:
    """A hand counted `count` by a head (`how`), named by the detector's class for that count."""
    class_id, name = classes.get(count, (-1, str(count)))  # a count the detector has no class for
    x1, y1, x2, y2 = bbox
    return Detection(class_id, name, float(confidence), (float(x1), float(y1), float(x2), float(y2)), how)


def _close_all(teachers: list[HandTeacher]) -> None:
    """Each thread's landmarker, closed while the interpreter still can (MediaPipe's own finaliser
    fails at exit)."""
    for teacher in teachers:
        teacher.close()
    teachers.clear()
