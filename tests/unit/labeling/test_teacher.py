"""The hand-landmark teacher on real photos (MediaPipe, offline, pinned model)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fingercount.labeling.teacher import MODEL_SHA256, HandTeacher, box_from_landmarks, model_path
from tests.conftest import real_photos


@pytest.fixture(scope="module")
def teacher() -> HandTeacher:
    with HandTeacher() as loaded:
        yield loaded


def test_model_is_the_pinned_one_and_recorded(teacher: HandTeacher) -> None:
    import hashlib

    assert hashlib.sha256(model_path().read_bytes()).hexdigest() == MODEL_SHA256
    described = teacher.describe()
    assert described["model_sha256"] == MODEL_SHA256
    assert described["mediapipe"] == "1.2.3"


def test_teacher_gives_the_folder_count_on_most_photos(teacher: HandTeacher, real_hands: Path) -> None:
    photos = real_photos(per_count=4)
    right = 0
    for count, paths in photos.items():
        for path in paths:
            image = cv2.imread(str(path))
            hands = teacher.label(image)
            assert len(hands) <= 1, f"{path.name}: one hand in the photo, {len(hands)} found"
            if hands:
                hand = hands[0]
                x1, y1, x2, y2 = hand.box
                height, width = image.shape[:2]
                assert 0 <= x1 < x2 <= width
                assert 0 <= y1 < y2 <= height
                assert (x2 - x1) * (y2 - y1) > 0.02 * width * height, "a hand box, not a speck"
                assert hand.handedness in {"Left", "Right"}
                assert hand.count == sum(hand.fingers)
                right += hand.count == count
    assert right >= 16, f"teacher matched the folder on {right} of 20 photos"  # measured: 19 of 20


def test_blank_image_has_no_hand(teacher: HandTeacher) -> None:
    assert teacher.label(np.full((240, 320, 3), 128, np.uint8)) == []


def test_gray_and_bgra_images_are_accepted(teacher: HandTeacher, real_hands: Path) -> None:
    path = real_photos(per_count=1)[5][0]
    color = cv2.imread(str(path))
    assert len(teacher.label(cv2.cvtColor(color, cv2.COLOR_BGR2BGRA))) == 1
    assert len(teacher.label(cv2.cvtColor(color, cv2.COLOR_BGR2GRAY))) <= 1  # colour helps it; gray must not fail


def test_box_grows_by_the_margin_and_is_clipped() -> None:
    points = np.array([[0.1, 0.2], [0.5, 0.6]] + [[0.3, 0.4]] * 19)
    x1, y1, x2, y2 = box_from_landmarks(points, 100, 100, margin=0.1)
    assert (x1, y1, x2, y2) == pytest.approx((6, 16, 54, 64))
    assert box_from_landmarks(points, 100, 100, margin=1.0) == pytest.approx((0, 0, 90, 100))
