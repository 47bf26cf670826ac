"""`fingercount data label`: a folder of hand photos -> a YOLO dataset boxed and counted by the teacher.

Two layouts. Count folders (`SRC/<count>/*.jpg`, the layout of most public finger-count sets):
the folder is the truth and the teacher gives the box; a photo where the teacher finds no hand,
several hands, or another count is listed in report.json with its reason, and `on_mismatch`
decides whether it is skipped or kept with the folder's count. Any other folder: every photo's
hands are boxed and counted by the teacher. A photo with no hand found is never kept (there is
nothing to box). Class names are "0".."5": a hand with no raised finger is a hand, not background.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from fingercount.errors import DatasetError
from fingercount.files import built_aside, image_files

CLASS_NAMES = [str(count) for count in range(6)]
REPORT = "report.json"
OnMismatch = Literal["skip", "keep"]
_COUNT_DIR = re.compile(r"^[0-5]$")
Job = tuple[Path, int | None, OnMismatch]  # photo, its folder's count (None: no count folders), on_mismatch


@dataclass
class LabelReport:
    out: Path
    layout: str
    kept: int
    listed: list[dict[str, Any]] = field(default_factory=list)
    teacher: dict[str, Any] = field(default_factory=dict)
    agreement: float | None = None  # count folders: share of photos where the teacher agreed exactly

    def to_dict(self) -> dict[str, Any]:
        return {
            "layout": self.layout,
            "kept": self.kept,
            "listed": self.listed,
            "teacher": self.teacher,
            "teacher_agreement": self.agreement,
            "reasons": dict(Counter(item["reason"] for item in self.listed)),
        }


def count_folders(src: Path) -> dict[int, list[Path]] | None:
    """`{count: photos}` when SRC holds count folders (0-5) and nothing else with images; else None."""
    folders = [p for p in src.iterdir() if p.is_dir() and _COUNT_DIR.match(p.name)]
    if not folders:
        return None
    return {int(folder.name): _images(folder) for folder in sorted(folders)}


def _images(folder: Path) -> list[Path]:
    return sorted(image_files(folder), key=natural_key)


def natural_key(path: Path) -> tuple[Any, ...]:
    """`two_2.jpg` before `two_10.jpg`."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path)))


def _yolo_line(class_id: int, box: tuple[float, ...], width: int, height: int) -> str:
    x1, y1, x2, y2 = box
    cx, cy, w, h = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height
    return f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n"


def label_folder(
    src: Path, out: Path, on_mismatch: OnMismatch = "skip", progress: bool = True, workers: int | None = None
) -> LabelReport:
    """Label every photo under SRC into OUT (built aside, swapped in at the end).

    The teacher runs on one thread per photo, so photos are shared out over `workers` processes
    (default: every core).
    """
    from fingercount.labeling.teacher import describe

    src, out = Path(src), Path(out)
    if not src.is_dir():
        raise DatasetError(f"{src}: no such folder")
    if out.exists() and not (out / REPORT).is_file() and any(out.iterdir()):
        raise DatasetError(f"{out}: exists and is not a labelled dataset (no {REPORT}); choose another --out")
    by_count = count_folders(src)
    jobs: list[Job] = (
        [(photo, count, on_mismatch) for count, photos in by_count.items() for photo in photos]
        if by_count is not None
        else [(photo, None, on_mismatch) for photo in _images(src)]
    )
    if not jobs:
        raise DatasetError(f"{src}: no photos found (.jpg, .png, …), neither in count folders 0-5 nor elsewhere")
    report = LabelReport(out, "count-folders" if by_count is not None else "photos", 0, teacher=describe())
    agreed = 0
    with built_aside(out) as tmp:
        (tmp / "images").mkdir()
        (tmp / "labels").mkdir()
        outcomes = _outcomes(jobs, workers or os.cpu_count() or 1)
        for (photo, truth, _), outcome in tqdm(
            zip(jobs, outcomes, strict=True), total=len(jobs), desc="labelling", unit="img", disable=not progress
        ):
            agreed += outcome.get("agreed", False)
            if outcome.get("reason"):
                listed = {k: v for k, v in outcome.items() if k not in {"lines", "agreed"}}
                report.listed.append({"file": str(photo.relative_to(src)), **listed})
            if outcome.get("lines"):
                name = f"{truth}__{photo.name}" if truth is not None else "__".join(photo.relative_to(src).parts)
                shutil.copyfile(photo, tmp / "images" / name)
                (tmp / "labels" / f"{Path(name).stem}.txt").write_text("".join(outcome["lines"]))
                report.kept += 1
        if by_count is not None:
            report.agreement = agreed / len(jobs)
        if report.kept == 0:
            raise DatasetError(f"{src}: the teacher kept no photo ({report.to_dict()['reasons']})")
        (tmp / "data.yaml").write_text(yaml.safe_dump({"names": dict(enumerate(CLASS_NAMES)), "nc": len(CLASS_NAMES)}))
        (tmp / REPORT).write_text(json.dumps({"source": str(src), **report.to_dict()}, indent=2, sort_keys=True))
    return report


def _outcomes(jobs: list[Job], workers: int) -> Iterator[dict[str, Any]]:
    """Each job's outcome, in order."""
    from fingercount.labeling.pool import teacher_map

    return teacher_map(_label_job, jobs, workers)


def _label_job(teacher: Any, job: Job) -> dict[str, Any]:
    photo, truth, on_mismatch = job
    return _label_one(teacher, photo, truth, on_mismatch)


def _label_one(teacher: Any, photo: Path, truth: int | None, on_mismatch: OnMismatch) -> dict[str, Any]:
    """YOLO label lines for one photo, and why it is listed (if it is)."""
    image = cv2.imdecode(np.fromfile(str(photo), np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return {"reason": "corrupt_image", "folder_count": truth, "action": "skipped"}
    height, width = image.shape[:2]
    hands = teacher.label(image)
    counts = [hand.count for hand in hands]
    if not hands:
        return {"reason": "no_hand", "folder_count": truth, "action": "skipped"}
    if truth is None:
        return {"lines": [_yolo_line(h.count, h.box, width, height) for h in hands]}
    best = max(hands, key=lambda hand: hand.score)
    line = [_yolo_line(truth, best.box, width, height)]
    if len(hands) > 1:
        reason = "several_hands"
    elif best.count != truth:
        reason = "count_mismatch"
    else:
        return {"lines": line, "agreed": True}
    keep = on_mismatch == "keep"
    return {
        "reason": reason, "folder_count": truth, "teacher_counts": counts,
        "action": "kept with the folder's count" if keep else "skipped", "lines": line if keep else None,
    }  # fmt: skip


def folder_fingerprint(src: Path) -> str:
    """Content hash of every photo under SRC with its path: the key of a cached labelled dataset."""
    digest = hashlib.sha256()
    for photo in _images(src):
        digest.update(str(photo.relative_to(src)).encode())
        digest.update(hashlib.sha256(photo.read_bytes()).digest())
    return digest.hexdigest()
