"""The landmark model's count of one detected hand: its box cropped with a margin and enlarged.

The landmark model finds a hand in a full photo far less often when the hand is small; a crop of
the detector's box, enlarged, finds it. Used by the count heads (a version's served head, and the
campaign's measure of them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from fingercount.labeling.teacher import HandTeacher, TeacherHand

CROP_SIZE = 256  # the crop's longer side: the landmark model finds hands far more often enlarged
CROP_MARGIN = 0.25  # of the box's size on each side: the fingertips a tight box cuts


def hand_crop(frame: np.ndarray, bbox: tuple[float, float, float, float]) -> np.ndarray:
    """The box with a margin, clipped to the frame, its longer side scaled to CROP_SIZE."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = bbox
    dx, dy = (x2 - x1) * CROP_MARGIN, (y2 - y1) * CROP_MARGIN
    left, top = max(int(x1 - dx), 0), max(int(y1 - dy), 0)
    right, bottom = min(int(np.ceil(x2 + dx)), width), min(int(np.ceil(y2 + dy)), height)
    crop = frame[top:bottom, left:right]
    scale = CROP_SIZE / max(crop.shape[:2])
    size = (max(round(crop.shape[1] * scale), 1), max(round(crop.shape[0] * scale), 1))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def box_count(teacher: HandTeacher, frame: np.ndarray, bbox: tuple[float, float, float, float]) -> int | None:
    """The fingers the landmark model counts on the box's hand, or None where it finds none."""
    x1, y1, x2, y2 = bbox
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    hands = teacher.label(hand_crop(frame, bbox))
    return nearest_centre(hands).count if hands else None


def nearest_centre(hands: list[TeacherHand]) -> TeacherHand:
    """Of the hands found on a crop, the one the crop was cut around (it can hold a second hand's edge)."""

    def distance(hand: TeacherHand) -> float:
        x1, y1, x2, y2 = hand.box
        return abs((x1 + x2) / 2 - CROP_SIZE / 2) + abs((y1 + y2) / 2 - CROP_SIZE / 2)

    return min(hands, key=distance)
