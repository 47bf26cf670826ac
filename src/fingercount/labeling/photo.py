"""The landmark model's hands in a whole photo, looked at again where it finds none (what a count of a
whole photo uses: the count heads, the teacher's measure, the monitor's judge; docs/benchmarks.md).

Labelling for training keeps `HandTeacher.label` alone, so the campaign's training data stays the same.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from fingercount.labeling.crops import hand_crop, nearest_centre
from fingercount.labeling.teacher import HandTeacher, TeacherHand
from fingercount.labeling.verify import MATCH_IOU, iou

# A whole photo where no hand is found is looked at again (`photo_hands`):
# - inside a border of this share of its longer side: the palm detector misses a hand that fills the
#   frame or runs off its edge (a phone photo of one's own hand);
PHOTO_BORDER = 0.25
# - then, in a frame this large or larger, in TILES x TILES tiles overlapping by TILE_OVERLAP: the palm
#   detector sees the whole frame at 192 px, where a hand far from the camera is a few pixels. Each hand
#   a tile finds is counted on its own crop, enlarged. The 640 px webcam stream is never tiled.
TILE_FROM = 768
TILES = 2
TILE_OVERLAP = 0.25
# - last, the landmark network alone on the whole photo, without the palm detector (one hand at most;
#   labeling/without_palm.py): a hand that fills the frame, its palm cut off by the edge.
# Bumped when `photo_hands` looks differently: campaign results counted by another rule are counted again.
PHOTO_RULE = "border-0.25+tiles-2x2-from-768+without-palm-0.5"


def photo_hands(teacher: HandTeacher, bgr: np.ndarray, without_palm: bool = True) -> list[TeacherHand]:
    """Every hand in a whole photo: where none is found, the photo again inside a border, then (a large
    one) in tiles, then (`without_palm`) by the landmark network alone; boxes in the photo's own pixels."""
    hands = teacher.label(bgr)
    if not hands:
        hands = _inside_border(teacher, bgr)
    if not hands and max(bgr.shape[:2]) >= TILE_FROM:
        hands = _in_tiles(teacher, bgr)
    if not hands and without_palm and (alone := teacher.without_palm(bgr)) is not None:
        hands = [alone]
    return hands


def _inside_border(teacher: HandTeacher, bgr: np.ndarray) -> list[TeacherHand]:
    height, width = bgr.shape[:2]
    pad = int(PHOTO_BORDER * max(height, width))
    framed = cv2.copyMakeBorder(bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return [moved for hand in teacher.label(framed) if (moved := _moved(hand, -pad, -pad, width, height))]


def _in_tiles(teacher: HandTeacher, bgr: np.ndarray) -> list[TeacherHand]:
    height, width = bgr.shape[:2]
    tile_h, tile_w = int(height / TILES * (1 + TILE_OVERLAP)), int(width / TILES * (1 + TILE_OVERLAP))
    found: list[TeacherHand] = []
    for row in range(TILES):
        for column in range(TILES):
            top, left = min(row * height // TILES, height - tile_h), min(column * width // TILES, width - tile_w)
            for hand in teacher.label(np.ascontiguousarray(bgr[top : top + tile_h, left : left + tile_w])):
                moved = _moved(hand, left, top, width, height)
                if moved and all(iou(moved.box, other.box) < MATCH_IOU for other in found):  # one hand, two tiles
                    found.append(moved)
    counted = []
    for hand in found:  # a far hand's landmarks are loose: counted again on its crop, enlarged
        close = teacher.label(hand_crop(bgr, hand.box))
        counted.append(dataclasses.replace(nearest_centre(close), box=hand.box) if close else hand)
    return counted


def _moved(hand: TeacherHand, dx: float, dy: float, width: int, height: int) -> TeacherHand | None:
    """The hand with its box shifted by (dx, dy) and clipped to a width x height photo; None where
    nothing of it is left in the photo."""
    x1, y1, x2, y2 = hand.box
    box = (max(x1 + dx, 0.0), max(y1 + dy, 0.0), min(x2 + dx, float(width)), min(y2 + dy, float(height)))
    return dataclasses.replace(hand, box=box) if box[2] > box[0] and box[3] > box[1] else None
