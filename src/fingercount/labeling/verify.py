"""Labels checked by the teacher (`verify: teacher` on a source).

Each labelled hand is matched to the teacher's hands by box overlap. Where the teacher sees that
hand and counts at least `disagree_by` fingers otherwise, the label is judged wrong: the image is
left out (listed with both counts) or, with `on_disagree: relabel`, the box takes the teacher's
count. The default of 2 is measured (docs/benchmarks.md): the teacher is often one off on right
labels (a thumb held close, fingers held together), while wrong labels are other gestures — a
thumbs up or a pointing finger labelled five. A hand the teacher does not see is kept as labelled:
the teacher misses hands (small, blurred, gloved), and a miss says nothing about the label. The
teacher's hands are cached per image content and teacher version.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from tqdm import tqdm

from fingercount.labels import Box, RawDataset, RawSample

OnDisagree = Literal["leave_out", "relabel"]
# A labelled box and a teacher box at this overlap or more are one hand. Annotators draw tighter
# or looser boxes than the teacher's landmark extent; 0.3 still never pairs two hands side by side.
MATCH_IOU = 0.3


@dataclass
class HandCheck:
    file: str
    box: int  # the box's index in its label
    label: int
    teacher: int | None  # None: the teacher saw no hand there
    iou: float

    def contradicts(self, disagree_by: int) -> bool:
        """The teacher sees this hand and counts at least `disagree_by` fingers otherwise."""
        return self.teacher is not None and abs(self.teacher - self.label) >= disagree_by


def verify_with_teacher(
    dataset: RawDataset,
    on_disagree: OnDisagree,
    cache_dir: Path,
    progress: bool = True,
    workers: int | None = None,
    disagree_by: int = 2,
) -> RawDataset:
    """`dataset` with the labels the teacher contradicts left out or relabelled; a summary in its notes."""
    from fingercount.labeling.pool import teacher_map
    from fingercount.labeling.teacher import describe

    to_check = [s for s in dataset.samples if s.boxes and not s.problem]
    checked = {id(s) for s in to_check}
    cache = _Cache(cache_dir, describe())
    paths = {cache.key(s.image): s.image for s in to_check}
    missing = sorted(set(paths) - set(cache.entries))
    found = teacher_map(_hands_of, [paths[key] for key in missing], workers or os.cpu_count() or 1)
    for key, entry in tqdm(zip(missing, found, strict=True), total=len(missing), desc="teacher check",
                           unit="img", disable=not progress):  # fmt: skip
        cache.entries[key] = entry
    if missing:
        cache.save()
    names = list(dataset.class_names)
    checks: list[HandCheck] = []
    samples: list[RawSample] = []
    relabelled: list[dict[str, Any]] = []
    for sample in dataset.samples:
        if id(sample) not in checked:
            samples.append(sample)
            continue
        entry = cache.entries[cache.key(sample.image)]
        found_checks = _match(sample, names, entry["hands"], entry["size"])
        checks += found_checks
        wrong = [check for check in found_checks if check.contradicts(disagree_by)]
        if not wrong:
            samples.append(sample)
        elif on_disagree == "leave_out":
            said = "; ".join(f"box {c.box + 1}: labelled {c.label}, teacher counts {c.teacher}" for c in wrong)
            samples.append(replace(sample, boxes=None, problem=said, problem_reason="teacher_disagrees"))
        else:
            boxes = list(sample.boxes or ())
            for check in wrong:
                names, boxes = _with_class(names, boxes, str(check.teacher))
                boxes[check.box] = replace(boxes[check.box], class_id=names.index(str(check.teacher)))
            samples.append(replace(sample, boxes=tuple(boxes)))
            relabelled += [{"file": c.file, "box": c.box + 1, "label": c.label, "teacher": c.teacher} for c in wrong]
    images_out = len([s for s in samples if s.problem_reason == "teacher_disagrees"])
    summary = _summary(checks, on_disagree, disagree_by, images_out)
    description = {
        **dataset.description,
        "verify": {"teacher": describe(), "summary": summary, "relabelled": relabelled},
    }
    return RawDataset(names, samples, description, [*dataset.notes, f"teacher check: {summary}"])


def _summary(checks: list[HandCheck], on_disagree: OnDisagree, disagree_by: int, images_out: int) -> str:
    agreed = sum(c.teacher == c.label for c in checks)
    unseen = sum(c.teacher is None for c in checks)
    wrong = sum(c.contradicts(disagree_by) for c in checks)
    close = len(checks) - agreed - unseen - wrong
    images = f"{images_out} image{'' if images_out == 1 else 's'}"
    acted = f"{wrong} relabelled" if on_disagree == "relabel" else f"{wrong} left out ({images})"
    kept = f", {close} counted fewer than {disagree_by} off (kept)" if disagree_by > 1 else ""
    return f"{len(checks)} hands checked, {agreed} agreed{kept}, {acted}, {unseen} not seen by the teacher"


def _match(sample: RawSample, names: list[str], hands: list[dict[str, Any]], size: list[int] | None) -> list[HandCheck]:
    """Each labelled box against its best-overlapping teacher hand (each hand used once)."""
    width, height = size or (1, 1)
    free = list(range(len(hands)))
    checks = []
    for index, box in enumerate(sample.boxes or ()):
        labelled = (
            (box.cx - box.w / 2) * width, (box.cy - box.h / 2) * height,
            (box.cx + box.w / 2) * width, (box.cy + box.h / 2) * height,
        )  # fmt: skip
        best = max(free, key=lambda i: iou(labelled, hands[i]["box"]), default=None)
        overlap = iou(labelled, hands[best]["box"]) if best is not None else 0.0
        teacher = None
        if best is not None and overlap >= MATCH_IOU:
            free.remove(best)
            teacher = int(hands[best]["count"])
        checks.append(HandCheck(sample.name, index, int(names[box.class_id]), teacher, round(overlap, 3)))
    return checks


def iou(a: tuple[float, ...], b: tuple[float, ...] | list[float]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _with_class(names: list[str], boxes: list[Box], name: str) -> tuple[list[str], list[Box]]:
    """Class `name` added to the count names (kept sorted), box ids moved to match."""
    if name in names:
        return names, boxes
    grown = sorted([*names, name], key=int)
    return grown, [replace(b, class_id=grown.index(names[b.class_id])) for b in boxes]


def _hands_of(teacher: Any, image: Path) -> dict[str, Any]:
    frame = cv2.imdecode(np.fromfile(str(image), np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        return {"size": None, "hands": []}
    return {"size": [frame.shape[1], frame.shape[0]], "hands": [h.to_dict() for h in teacher.label(frame)]}


class _Cache:
    """The teacher's hands (and the image size) per image content, one JSON file per teacher version."""

    def __init__(self, folder: Path, teacher: dict[str, Any]) -> None:
        version = hashlib.sha256(json.dumps(teacher, sort_keys=True).encode()).hexdigest()[:16]
        self.path = Path(folder) / f"teacher-hands-{version}.json"
        self.entries: dict[str, dict[str, Any]] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self._digests: dict[Path, str] = {}

    def key(self, image: Path) -> str:
        if image not in self._digests:
            self._digests[image] = hashlib.sha256(image.read_bytes()).hexdigest()
        return self._digests[image]

    def save(self) -> None:
        """Written aside and renamed: a crash never leaves a half-written cache."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(self.entries))
        partial.replace(self.path)
