"""Evaluation on the test split: detection metrics and the counting metrics users care about.

Counts are measured through an inference engine (`fingercount.inference`): the same engine,
detection core and class-agnostic NMS that serving runs, so the accuracy that gates a promotion
is the accuracy users get. The confidence threshold for counting is chosen on the validation
split, then applied unchanged to test.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from fingercount.counting import finger_count
from fingercount.data.sources.local import parse_yolo_label
from fingercount.errors import DatasetError
from fingercount.inference import Engine
from fingercount.training.tracking import f1

THRESHOLDS = tuple(round(float(t), 2) for t in np.arange(0.05, 0.951, 0.05))
PREDICT_FLOOR = THRESHOLDS[0]


@dataclass
class CountResult:
    accuracy: float
    mae: float
    confusion: dict[str, dict[str, int]]  # true total -> predicted total -> images
    images: int


@dataclass
class EvalReport:
    metrics: dict[str, float]  # flat, "test/..." and "val/..." keys
    count_conf: float
    confusion: dict[str, dict[str, int]]
    per_class_ap: dict[str, float] = field(default_factory=dict)
    engine: str = ""  # the inference engine the counts were measured with
    counts: dict[str, int] = field(default_factory=dict)  # test image -> predicted finger count
    sets: dict[str, Any] = field(default_factory=dict)  # named evaluation sets, model and teacher
    precisions: dict[str, dict[str, float]] = field(default_factory=dict)  # validation counts and ms, each
    precision: str = "f32"  # the one serving runs by default (training/precision.py)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "count_conf": self.count_conf,
            "engine": self.engine,
            "counts": self.counts,
            "count_confusion": self.confusion,
            "per_class_ap50_95": self.per_class_ap,
            "precisions": self.precisions,
            "serving_precision": self.precision,
        }


def read_data_yaml(data_yaml: Path) -> tuple[Path, list[str]]:
    if not data_yaml.is_file():
        raise DatasetError(f"{data_yaml}: no such data.yaml; run `fingercount data prepare` first")
    data = yaml.safe_load(data_yaml.read_text(encoding="utf-8")) or {}
    names = data.get("names", {})
    names = [names[key] for key in sorted(names)] if isinstance(names, dict) else list(names)
    return data_yaml.parent, [str(n) for n in names]


def true_counts(root: Path, split: str, names: list[str]) -> dict[Path, int]:
    """Image -> true finger total, from the prepared labels."""
    images = sorted((root / "images" / split).iterdir()) if (root / "images" / split).is_dir() else []
    if not images:
        raise DatasetError(f"{root}: the {split} split has no images")
    totals = {}
    for image in images:
        label = root / "labels" / split / f"{image.stem}.txt"
        boxes, problem = parse_yolo_label(label.read_text())
        if problem:
            raise DatasetError(f"{label}: {problem}")
        totals[image] = sum(finger_count(names[box.class_id]) or 0 for box in boxes)
    return totals


def read_image(path: Path) -> np.ndarray | None:
    """A photo as serving decodes an upload (BGR), or None when it cannot be decoded."""
    return cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)


def predicted_hands(engine: Engine, images: list[Path], floor: float = PREDICT_FLOOR) -> list[list[tuple[int, float]]]:
    """(fingers, confidence) per hand the engine finds, above `floor`.

    Thresholding these later at any `conf >= floor` gives the served answer at `conf`: greedy
    NMS never lets a box below `conf` suppress one above it.
    """
    hands = []
    for path in images:
        frame = read_image(path)
        found = engine.predict(frame, floor) if frame is not None else []
        hands.append([(d.fingers, d.confidence) for d in found])
    return hands


def count_floor(engine: Engine, conf: float) -> float:
    """Where to predict so that keeping the hands at `conf` and above gives the served answer at
    `conf`: the floor, or `conf` itself for an engine with a count head (registry/count_head.py)."""
    return conf if getattr(engine, "exact_conf", False) else min(conf, PREDICT_FLOOR)


def image_totals(hands: list[list[tuple[int, float]]], conf: float) -> list[int]:
    """Each image's finger count at `conf`: what serving answers at that threshold."""
    return [sum(count for count, p in image if p >= conf) for image in hands]


def count_result(truth: list[int], hands: list[list[tuple[int, float]]], conf: float) -> CountResult:
    predicted = image_totals(hands, conf)
    confusion: dict[str, Counter[str]] = {}
    for t, p in zip(truth, predicted, strict=True):
        confusion.setdefault(str(t), Counter())[str(p)] += 1
    errors = np.abs(np.array(truth) - np.array(predicted))
    return CountResult(
        accuracy=float(np.mean(errors == 0)),
        mae=float(np.mean(errors)),
        confusion={
            k: dict(sorted(v.items(), key=lambda kv: int(kv[0])))
            for k, v in sorted(confusion.items(), key=lambda kv: int(kv[0]))
        },
        images=len(truth),
    )


def choose_threshold(truth: list[int], hands: list[list[tuple[int, float]]]) -> tuple[float, CountResult]:
    """The threshold with the best exact-count accuracy (ties: lower MAE, then nearer 0.5)."""
    scored = [(conf, count_result(truth, hands, conf)) for conf in THRESHOLDS]
    return min(scored, key=lambda item: (-item[1].accuracy, item[1].mae, abs(item[0] - 0.5)))


def detection_metrics(
    weights: Path, data_yaml: Path, imgsz: int, device: str | None, split: str
) -> tuple[dict[str, float], dict[str, float]]:
    """mAP, precision, recall, F1 and per-class AP from Ultralytics' validator on the weights."""
    from ultralytics import YOLO

    from fingercount.training.yolo import detector_of

    with tempfile.TemporaryDirectory() as tmp:
        model = YOLO(str(detector_of(weights, Path(tmp))), task="detect")  # a pose model's boxes and classes
        result = model.val(
            data=str(data_yaml), split=split, imgsz=imgsz, batch=16, device=device, plots=False,
            verbose=False, project=tmp, name="val", agnostic_nms=False,
        )  # fmt: skip
    box = result.box
    metrics = {
        "mAP50": float(box.map50),
        "mAP50-95": float(box.map),
        "precision": float(box.mp),
        "recall": float(box.mr),
        "F1": f1(float(box.mp), float(box.mr)),
    }
    per_class = {str(model.names[int(c)]): float(ap) for c, ap in zip(result.ap_class_index, box.ap, strict=True)}
    return metrics, per_class


def evaluate(
    engine: Engine, weights: Path, data_yaml: Path, device: str | None = None, conf: float | None = None
) -> EvalReport:
    """Choose the counting threshold on val (unless given), then measure everything on test."""
    root, names = read_data_yaml(data_yaml)
    metrics: dict[str, float] = {}
    if conf is None:
        # The detector's threshold, chosen on its own counts (a count head counts the boxes it keeps).
        detector: Engine = getattr(engine, "detector", engine)
        val_truth = true_counts(root, "val", names)
        conf, val_result = choose_threshold(list(val_truth.values()), predicted_hands(detector, list(val_truth)))
        if detector is not engine:
            val_result = count_result(list(val_truth.values()), predicted_hands(engine, list(val_truth), conf), conf)
        metrics["val/count_accuracy"] = val_result.accuracy
        metrics["val/count_mae"] = val_result.mae
    test_truth = true_counts(root, "test", names)
    test_hands = predicted_hands(engine, list(test_truth), count_floor(engine, conf))
    test_result = count_result(list(test_truth.values()), test_hands, conf)
    counts = dict(zip((str(p) for p in test_truth), image_totals(test_hands, conf), strict=True))
    detection, per_class = detection_metrics(weights, data_yaml, engine.imgsz, device, "test")
    metrics.update({f"test/{key}": value for key, value in detection.items()})
    metrics.update({f"test/AP50-95/{name}": value for name, value in per_class.items()})
    metrics["test/count_accuracy"] = test_result.accuracy
    metrics["test/count_mae"] = test_result.mae
    metrics["test/count_conf"] = conf
    metrics["test/images"] = float(test_result.images)
    return EvalReport(metrics, conf, test_result.confusion, per_class, engine=engine.name, counts=counts)
