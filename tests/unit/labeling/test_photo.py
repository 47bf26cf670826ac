"""A whole photo looked at again where the landmark model finds no hand (real photos, MediaPipe)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fingercount.labeling.photo import TILES, photo_hands
from fingercount.labeling.teacher import HandTeacher
from tests.conftest import MANY_PEOPLE, real_photos


@pytest.fixture(scope="module")
def teacher() -> HandTeacher:
    with HandTeacher() as loaded:
        yield loaded


def test_a_hand_that_fills_the_photo_is_found_inside_a_border(teacher: HandTeacher, real_hands: Path) -> None:
    """Each photo cut to inside its hand's box (the hand fills the frame and runs off its edges, as in a
    phone photo of one's own hand): `photo_hands` tries again inside a border where `label` finds none."""
    plain = framed = 0
    for paths in real_photos(per_count=4).values():
        for path in paths:
            image = cv2.imread(str(path))
            hands = teacher.label(image)
            if not hands:
                continue
            x1, y1, x2, y2 = hands[0].box
            dx, dy = (x2 - x1) * 0.1, (y2 - y1) * 0.1
            tight = np.ascontiguousarray(image[int(y1 + dy) : int(y2 - dy), int(x1 + dx) : int(x2 - dx)])
            direct, found = teacher.label(tight), photo_hands(teacher, tight)
            if direct:
                assert found == direct, "where the photo itself shows a hand, no second look"
            for hand in found:
                bx1, by1, bx2, by2 = hand.box
                assert 0 <= bx1 < bx2 <= tight.shape[1], "box in the photo"
                assert 0 <= by1 < by2 <= tight.shape[0], "box in the photo"
            plain, framed = plain + bool(direct), framed + bool(found)
    assert framed >= plain + 3, f"a hand found on {framed} tight crops inside a border, {plain} without"  # 15, 9


def test_a_blank_photo_has_no_hand_even_inside_a_border(teacher: HandTeacher) -> None:
    assert photo_hands(teacher, np.full((240, 320, 3), 128, np.uint8)) == []


def test_a_hand_far_from_the_camera_is_found_in_tiles(teacher: HandTeacher, real_hands: Path) -> None:
    """Each photo at its own size inside a frame four times larger (a hand a few pixels wide where the
    palm detector sees the whole frame at 192 px): `photo_hands` finds it in tiles, boxed where it is."""
    plain = tiled = 0
    for paths in real_photos(per_count=2).values():
        for path in paths:
            photo = cv2.imread(str(path))
            height, width = photo.shape[:2]
            frame = np.full((4 * height, 4 * width, 3), 128, np.uint8)
            top, left = 2 * height, width  # across a tile edge: the overlap must catch it
            frame[top : top + height, left : left + width] = photo
            plain += bool(teacher.label(frame))
            for hand in photo_hands(teacher, frame):
                x1, y1, x2, y2 = hand.box
                assert left - 0.2 * width <= x1 < x2 <= left + 1.2 * width, "boxed where the photo is"
                assert top - 0.2 * height <= y1 < y2 <= top + 1.2 * height, "boxed where the photo is"
                tiled += 1
    assert tiled >= plain + 4, f"{tiled} of 10 far hands found in tiles, {plain} on the whole frame"  # 9, 3


@pytest.mark.parametrize(("size", "looks"), [((480, 640), 2), ((960, 1280), 2 + TILES * TILES)])
def test_an_empty_frame_costs_two_looks_and_a_large_one_its_tiles(
    teacher: HandTeacher, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int], looks: int
) -> None:
    """The webcam stream's 640 px frames are never tiled: a frame with no hand asks the landmark model
    twice, then the landmark network alone once."""
    calls, alone = [], []
    label, without_palm = teacher.label, teacher.without_palm
    monkeypatch.setattr(teacher, "label", lambda bgr: calls.append(bgr.shape) or label(bgr))
    monkeypatch.setattr(teacher, "without_palm", lambda bgr: alone.append(bgr.shape) or without_palm(bgr))
    assert photo_hands(teacher, np.full((*size, 3), 128, np.uint8)) == []
    assert len(calls) == looks
    assert alone == [(*size, 3)]


# Phone photos of one's own hand filling the frame, its palm cut off by the bottom edge: the palm
# detector finds no palm in them, even inside a border (docs/benchmarks.md, "A fourth look").
PALM_OFF_THE_FRAME = {"WA0190": 2, "WA0192": 2, "WA0195": 2, "WA0202": 1, "WA0203": 1, "WA0448": 1}


def test_a_hand_whose_palm_runs_off_the_frame_is_found_without_the_palm_detector(teacher: HandTeacher) -> None:
    if not MANY_PEOPLE.is_dir():
        pytest.skip(f"{MANY_PEOPLE} is not here (the shared datasets sit beside the repository)")
    right = 0
    for stem, count in PALM_OFF_THE_FRAME.items():
        (path,) = (MANY_PEOPLE / "images").glob(f"IMG-20230312-{stem}_*")
        photo = cv2.imread(str(path))
        assert photo_hands(teacher, photo, without_palm=False) == [], f"{stem}: the chain before finds no hand"
        (hand,) = photo_hands(teacher, photo)
        x1, y1, x2, y2 = hand.box
        assert 0 <= x1 < x2 <= photo.shape[1], "box in the photo"
        assert 0 <= y1 < y2 <= photo.shape[0], "box in the photo"
        assert hand.score >= teacher.min_score
        right += hand.count == count
    assert right >= 5, f"{right} of {len(PALM_OFF_THE_FRAME)} counted right by the landmark network alone"  # 6


@pytest.mark.parametrize("shape", [(1, 300, 3), (300, 1, 3), (1, 1, 3), (120, 160), (120, 160, 4)])
def test_the_landmark_network_alone_takes_any_photo(teacher: HandTeacher, shape: tuple[int, ...]) -> None:
    """A 1-pixel-thin upload, a grey one, one with alpha: no hand, no error."""
    assert teacher.without_palm(np.full(shape, 128, np.uint8)) is None
