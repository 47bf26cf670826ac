"""The teacher's 21 landmarks as supervision (`model.landmarks`): a pose copy of a prepared dataset.

Each labelled box is matched to the hand the teacher finds there (box overlap, as the teacher check
matches), and its label line gets that hand's 21 landmarks as keypoints (x, y as fractions of the
photo, visible); a box the teacher does not find, or a landmark outside the photo, gets keypoints
marked not labelled, which Ultralytics' pose loss leaves out. The boxes and classes stay the
source's labels: the count is still taught by the class, the landmarks teach where the fingers are.

The copy hard-links the images (a file of its own path, which the weighted training list keeps) and
writes only labels, so it costs the teacher's time (about 30 ms a photo here), not the disk.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from tqdm import tqdm

from fingercount.files import image_files
from fingercount.labeling.teacher import HandTeacher, TeacherHand
from fingercount.labeling.verify import MATCH_IOU, iou
from fingercount.training.evaluate import read_image
from fingercount.training.paste import Box, read_labels
from fingercount.training.yolo import KPT_SHAPE

KEYPOINTS = KPT_SHAPE[0]
# A hand's landmarks keep their names when the photo is mirrored: the wrist stays the wrist.
FLIP_IDX = list(range(KEYPOINTS))
SPLITS = ("train", "val", "test")


def landmark_data_yaml(data_yaml: Path, out: Path, progress: bool = True) -> tuple[Path, dict[str, int]]:
    """A pose copy of the prepared dataset of `data_yaml` in `out`; (its data.yaml, boxes given
    landmarks and boxes without, over all splits)."""
    root = data_yaml.parent
    spec = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    tally = {"with_landmarks": 0, "without": 0}
    if out.exists():
        shutil.rmtree(out)  # a half-written copy from a killed run is never read
    with HandTeacher() as teacher:
        for split in SPLITS:
            images = image_files(root / "images" / split)
            (out / "images" / split).mkdir(parents=True, exist_ok=True)
            (out / "labels" / split).mkdir(parents=True, exist_ok=True)
            for image in tqdm(images, desc=f"landmarks ({split})", unit="img", disable=not progress):
                _link(image, out / "images" / split / image.name)
                labels = read_labels(root / "labels" / split / f"{image.stem}.txt")
                frame = read_image(image)
                found = teacher.label_with_points(frame) if frame is not None and labels else []
                height, width = frame.shape[:2] if frame is not None else (1, 1)
                lines = []
                for class_id, box, points in with_landmarks(labels, found, width, height):
                    tally["with_landmarks" if points is not None else "without"] += 1
                    lines.append(pose_line(class_id, box, points, width, height))
                (out / "labels" / split / f"{image.stem}.txt").write_text("".join(lines))
    spec.update({split: f"images/{split}" for split in SPLITS})
    spec.update(kpt_shape=KPT_SHAPE, flip_idx=FLIP_IDX)
    (out / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out / "data.yaml", tally


def with_landmarks(
    labels: list[tuple[int, Box]], found: Sequence[tuple[TeacherHand, np.ndarray]], width: int, height: int
) -> list[tuple[int, Box, np.ndarray | None]]:
    """Each labelled box (fractions) with the landmarks (pixels) of the teacher's hand that overlaps
    it most, at least MATCH_IOU; a teacher hand goes to one box only."""
    pixels = [(x1 * width, y1 * height, x2 * width, y2 * height) for _, (x1, y1, x2, y2) in labels]
    pairs = sorted(
        ((iou(box, hand.box), b, h) for b, box in enumerate(pixels) for h, (hand, _) in enumerate(found)),
        reverse=True,
    )
    matched: dict[int, int] = {}
    for overlap, b, h in pairs:
        if overlap >= MATCH_IOU and b not in matched and h not in matched.values():
            matched[b] = h
    return [(c, box, found[matched[b]][1] if b in matched else None) for b, (c, box) in enumerate(labels)]


def pose_line(class_id: int, box: Box, points: np.ndarray | None, width: int, height: int) -> str:
    """One YOLO pose label line: class, box (centre, size), then x y visibility per landmark."""
    x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in box)
    fields = [f"{(x1 + x2) / 2:.6f}", f"{(y1 + y2) / 2:.6f}", f"{x2 - x1:.6f}", f"{y2 - y1:.6f}"]
    for index in range(KEYPOINTS):
        x, y = (points[index, 0] / width, points[index, 1] / height) if points is not None else (-1.0, -1.0)
        inside = 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0
        fields += [f"{x:.6f}", f"{y:.6f}", "2"] if inside else ["0", "0", "0"]
    return f"{class_id} {' '.join(fields)}\n"


def _link(image: Path, target: Path) -> None:
    try:
        os.link(image, target)
    except OSError:  # another file system
        shutil.copyfile(image, target)
