"""Count heads, measured without training: how a hand's fingers are counted once the detector has
found it.

- `classes`: the detector's class (what serving answers today);
- `landmarks`: the hand-landmark model on the box's crop, the class only where it finds no hand;
- `arbitrated`: the class where the detector is sure (confidence >= a threshold), landmarks
  otherwise; the threshold is chosen on photos of *other* sources, never on the ones it is judged on;
- `landmarks+photo`: as `landmarks`, and where the detector keeps no box at all, the landmark model
  on the whole photo (on people it never met the detector found no hand on over half the photos);
- `photo+landmarks`: the other way round: the landmark model on the whole photo, and where it finds
  no hand, the `landmarks` head on the detector's boxes (the detector rescues the hands it misses);
- `sure+photo`: the class where the detector is sure of every hand it keeps (confidence >= the
  arbitrated head's threshold), else `photo+landmarks` with the class kept for the sure boxes: the
  whole-photo count on people and rooms the detector never met, its own where it has.
- `keypoints` (a model trained with `model.landmarks` only): the finger rule on the 21 keypoints
  the model itself predicts for each box, no second model.

Each photo is recorded once as its boxes — (class count, confidence, landmark count or None[,
keypoint count]) —
so every head, at any threshold, is a pure function of the records: a campaign result keeps the
records and a head can be judged again later without the weights.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fingercount.config import COUNT_HEADS as MEASURED_HEADS  # what the campaign judges on each final run
from fingercount.config import POSE_HEADS, SURE_HEADS, WHOLE_PHOTO_HEADS
from fingercount.inference import Engine
from fingercount.labeling.crops import box_count
from fingercount.labeling.fingers import count_raised_in_image
from fingercount.training.evaluate import PREDICT_FLOOR, THRESHOLDS, read_image

if TYPE_CHECKING:
    from fingercount.labeling.teacher import HandTeacher

__all__ = [
    "HEADS", "MEASURED_HEADS", "POSE_HEADS", "WHOLE_PHOTO_HEADS",
    "Box", "box_records", "choose_sure", "hand_count", "photo_totals",
]  # fmt: skip
# class count, confidence, landmark count (None: no hand found)[, the count from the model's keypoints]
Box = tuple[int, float, int | None] | tuple[int, float, int | None, int]
HEADS = tuple(head for head in MEASURED_HEADS if head not in POSE_HEADS)  # judged on any model
# POSE_HEADS are judged where every box has its keypoint count (a pose model's records)


def box_records(engine: Engine, photos: Iterable[Path], teacher: HandTeacher) -> list[list[Box]]:
    """Each photo's boxes above the prediction floor, each with the landmark count of its crop."""
    records = []
    for path in photos:
        frame = read_image(path)
        found = engine.predict(frame, PREDICT_FLOOR) if frame is not None else []
        boxes: list[Box] = []
        for detection in found:
            assert frame is not None
            landmark = box_count(teacher, frame, detection.bbox)
            box: Box = (detection.fingers, round(float(detection.confidence), 4), landmark)
            if detection.keypoints is not None:
                box = (*box, count_raised_in_image(np.array(detection.keypoints)))
            boxes.append(box)
        records.append(boxes)
    return records


def hand_count(box: Box, head: str, sure: float) -> int:
    """One hand's fingers by `head` (`sure`: the arbitrated head's confidence threshold)."""
    fingers, confidence, landmark = box[:3]
    if head == "keypoints":
        return box[3] if len(box) > 3 else fingers
    if head == "classes" or landmark is None or (head in SURE_HEADS and confidence >= sure):
        return fingers
    return landmark


def photo_totals(
    records: list[list[Box]], conf: float, head: str, sure: float = 1.0, whole: list[int] | None = None
) -> list[int]:
    """Each photo's total at detection threshold `conf` (-1: no hand found), counted by `head`.
    `whole`: the landmark model's total on each whole photo (-1: none), which WHOLE_PHOTO_HEADS need."""
    if head in WHOLE_PHOTO_HEADS and whole is None:
        raise ValueError(f"the {head} head needs the landmark model's count of each whole photo")
    totals = []
    for index, boxes in enumerate(records):
        photo = whole[index] if whole is not None else -1
        kept = [box for box in boxes if box[1] >= conf]
        if head == "sure+photo" and kept and min(box[1] for box in kept) >= sure:
            totals.append(sum(box[0] for box in kept))
        elif head in ("photo+landmarks", "sure+photo") and photo >= 0:
            totals.append(photo)
        elif kept:
            totals.append(sum(hand_count(box, head, sure) for box in kept))
        else:
            totals.append(photo if head == "landmarks+photo" else -1)
    return totals


def choose_sure(records: list[list[Box]], truth: list[int], conf: float) -> float:
    """The arbitrated head's threshold that counts most of these photos right (ties: the higher,
    which leans on the detector's class, the head that needs no second model)."""
    grid = [t for t in (*THRESHOLDS, 1.01) if t >= conf]

    def right(sure: float) -> int:
        totals = photo_totals(records, conf, "arbitrated", sure)
        return sum(max(p, 0) == t for p, t in zip(totals, truth, strict=True))

    return max(grid, key=lambda sure: (right(sure), sure))
