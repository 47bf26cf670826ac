"""Image-level count evaluation without boxes: count folders, YOLO folders, or a prepared split.

Photos of real hands rarely come with boxes, but their count is known (`DIR/<count>/*.jpg`).
This measures what a user sees — the total finger count per photo — for our model and, beside
it on the same photos, for the hand-landmark teacher.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from fingercount.counting import finger_count
from fingercount.data.sources.combined import SEPARATOR
from fingercount.errors import DatasetError
from fingercount.inference import Engine
from fingercount.training.evaluate import (
    count_floor,
    count_result,
    predicted_hands,
    read_data_yaml,
    read_image,
    true_counts,
)


@dataclass
class CountReport:
    images: int
    accuracy: float
    mae: float
    no_hand: float  # share of photos where no hand was found
    per_count: dict[str, float]  # true count -> exact accuracy on those photos
    confusion: dict[str, dict[str, int]]

    def metrics(self, prefix: str) -> dict[str, float]:
        flat = {"count_accuracy": self.accuracy, "count_mae": self.mae, "no_hand": self.no_hand, "images": self.images}
        flat.update({f"count_accuracy/{count}": value for count, value in self.per_count.items()})
        return {f"{prefix}/{key}": float(value) for key, value in flat.items()}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def truth_from_path(path: Path) -> dict[Path, int]:
    """Photo -> true total count, from count folders, a YOLO folder or a data.yaml (its test split)."""
    from fingercount.labeling.folders import count_folders

    path = Path(path)
    if path.is_file() and path.suffix in {".yaml", ".yml"}:
        return split_truth(path, "test")
    if not path.is_dir():
        raise DatasetError(f"{path}: no such folder or data.yaml")
    by_count = count_folders(path)
    if by_count is not None:
        truth = {photo: count for count, photos in by_count.items() for photo in photos}
        if not truth:
            raise DatasetError(f"{path}: the count folders hold no photos")
        return truth
    if (path / "data.yaml").is_file():
        return split_truth(path / "data.yaml", "test") if (path / "images" / "test").is_dir() else _yolo_truth(path)
    if (path / "images").is_dir():
        return _yolo_truth(path)
    raise DatasetError(f"{path}: expected count folders (0/ … 5/), a YOLO folder (images/ + labels/) or a data.yaml")


def _yolo_truth(root: Path) -> dict[Path, int]:
    from fingercount.data.sources.local import read_yolo_folder

    dataset = read_yolo_folder(root)
    truth = {}
    for sample in dataset.samples:
        if sample.boxes is None or sample.problem:
            continue  # unlabelled or unparseable: no truth to compare with
        truth[sample.image] = sum(finger_count(dataset.class_names[b.class_id]) or 0 for b in sample.boxes)
    if not truth:
        raise DatasetError(f"{root}: no labelled images")
    return truth


def split_truth(data_yaml: Path, split: str, source: str | None = None) -> dict[Path, int]:
    """A prepared split's photos (optionally one source's, by name prefix) and their true counts."""
    root, names = read_data_yaml(data_yaml)
    truth = true_counts(root, split, names)
    if source is not None:
        truth = {image: count for image, count in truth.items() if image.name.startswith(f"{source}{SEPARATOR}")}
        if not truth:
            raise DatasetError(f"{root}: the {split} split has no images from source {source!r}")
    return truth


def report(truth: list[int], predicted: list[int]) -> CountReport:
    """Counting metrics for one list of true totals and one of predicted totals (-1: no hand found)."""
    found = [max(p, 0) for p in predicted]
    result = count_result(truth, [[(p, 1.0)] for p in found], 0.0)
    per_count: dict[str, list[bool]] = {}
    for t, p in zip(truth, found, strict=True):
        per_count.setdefault(str(t), []).append(t == p)
    return CountReport(
        images=len(truth),
        accuracy=result.accuracy,
        mae=result.mae,
        no_hand=float(np.mean([p < 0 for p in predicted])) if predicted else 0.0,
        per_count={k: float(np.mean(v)) for k, v in sorted(per_count.items(), key=lambda kv: int(kv[0]))},
        confusion=result.confusion,
    )


def model_counts(engine: Engine, photos: list[Path], conf: float) -> list[int]:
    """Our model's total count per photo (as served), -1 where it found no hand above `conf`."""
    totals = []
    for hands in predicted_hands(engine, photos, count_floor(engine, conf)):
        kept = [count for count, score in hands if score >= conf]
        totals.append(sum(kept) if kept else -1)
    return totals


def teacher_counts(photos: list[Path], progress: bool = False) -> list[int]:
    """The teacher's total count per photo, -1 where it found no hand."""
    from fingercount.labeling.photo import photo_hands
    from fingercount.labeling.teacher import HandTeacher

    totals = []
    with HandTeacher() as teacher:
        for photo in tqdm(photos, desc="teacher", unit="img", disable=not progress):
            image = read_image(photo)
            hands = photo_hands(teacher, image) if image is not None else []
            totals.append(sum(h.count for h in hands) if hands else -1)
    return totals


def evaluate_sets(
    engine: Engine, sets: dict[str, Any], data_yaml: Path | None, conf: float, with_teacher: bool
) -> tuple[dict[str, float], dict[str, Any]]:
    """Each named set (config.EvalSetConfig): flat `eval/<set>/…` metrics and a JSON report."""
    metrics: dict[str, float] = {}
    details: dict[str, Any] = {}
    for name, spec in sets.items():
        if spec.path is not None:
            truth, root = truth_from_path(spec.path), Path(spec.path)
        else:
            if data_yaml is None:
                raise DatasetError(f"evaluation set {name!r} names a split, but there is no prepared dataset")
            truth, root = split_truth(data_yaml, spec.split, spec.source), data_yaml.parent
        photos, true = list(truth), list(truth.values())
        predicted = model_counts(engine, photos, conf)
        ours = report(true, predicted)
        metrics.update(ours.metrics(f"eval/{name}"))
        # Per photo (named within its set), so that the gate can pair two versions on the same photos.
        per_photo = {_photo_id(photo, root): [t, p] for photo, t, p in zip(photos, true, predicted, strict=True)}
        details[name] = {"model": {**ours.to_dict(), "photos": per_photo}}
        if with_teacher:
            judged = teacher_counts(photos)
            teacher = report(true, judged)
            metrics.update(teacher.metrics(f"eval/{name}/teacher"))
            metrics.update(agreement_metrics(f"eval/{name}", predicted, judged))
            details[name]["teacher"] = teacher.to_dict()
    return metrics, details


def _photo_id(photo: Path, root: Path) -> str:
    try:
        return photo.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return photo.name


def agreement(model: list[int], teacher: list[int]) -> tuple[float | None, int]:
    """How often the model's total equals the teacher's, on images where the teacher sees a hand
    (what production monitoring measures without labels), and on how many images."""
    pairs = [(max(m, 0), t) for m, t in zip(model, teacher, strict=True) if t >= 0]
    return (sum(m == t for m, t in pairs) / len(pairs) if pairs else None), len(pairs)


def agreement_metrics(prefix: str, model: list[int], teacher: list[int]) -> dict[str, float]:
    rate, judged = agreement(model, teacher)
    return {
        f"{prefix}/teacher_judged": float(judged),
        **({f"{prefix}/teacher_agreement": rate} if rate is not None else {}),
    }
