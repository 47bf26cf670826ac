"""Evaluation on the test split: detection metrics and the counting metrics users care about.

Counting treats a hand as one box: predictions use class-agnostic NMS, and the confidence
threshold for counting is chosen on the validation split, then applied unchanged to test.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fingercount.counting import finger_count
from fingercount.errors import DatasetError

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

    def to_dict(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "count_conf": self.count_conf,
            "count_confusion": self.confusion,
            "per_class_ap50_95": self.per_class_ap,
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
        ids = [int(line.split()[0]) for line in label.read_text().splitlines() if line.strip()]
        totals[image] = sum(finger_count(names[i]) or 0 for i in ids)
    return totals


def predicted_hands(model: Any, images: list[Path], imgsz: int, device: str | None) -> list[list[tuple[int, float]]]:
    """(count, confidence) per detected hand, class-agnostic NMS, above the lowest threshold."""
    hands = []
    names = model.names
    for result in model.predict(
        source=[str(p) for p in images], imgsz=imgsz, conf=PREDICT_FLOOR, agnostic_nms=True,
        device=device, stream=True, verbose=False, batch=16,
    ):  # fmt: skip
        boxes = result.boxes
        classes = boxes.cls.int().tolist() if boxes is not None else []
        confs = boxes.conf.tolist() if boxes is not None else []
        hands.append([(finger_count(str(names[c])) or 0, float(p)) for c, p in zip(classes, confs, strict=True)])
    return hands


def count_result(truth: list[int], hands: list[list[tuple[int, float]]], conf: float) -> CountResult:
    predicted = [sum(count for count, p in image if p >= conf) for image in hands]
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
    model: Any, data_yaml: Path, imgsz: int, device: str | None, split: str
) -> tuple[dict[str, float], dict[str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        result = model.val(
            data=str(data_yaml), split=split, imgsz=imgsz, batch=16, device=device, plots=False,
            verbose=False, project=tmp, name="val", agnostic_nms=False,
        )  # fmt: skip
    box = result.box
    precision, recall = float(box.mp), float(box.mr)
    metrics = {
        "mAP50": float(box.map50),
        "mAP50-95": float(box.map),
        "precision": precision,
        "recall": recall,
        "F1": 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0,
    }
    per_class = {str(model.names[int(c)]): float(ap) for c, ap in zip(result.ap_class_index, box.ap, strict=True)}
    return metrics, per_class


def evaluate(
    weights: Path, data_yaml: Path, imgsz: int, device: str | None = None, conf: float | None = None
) -> EvalReport:
    """Choose the counting threshold on val (unless given), then measure everything on test."""
    from ultralytics import YOLO

    root, names = read_data_yaml(data_yaml)
    model = YOLO(str(weights), task="detect")
    metrics: dict[str, float] = {}
    if conf is None:
        val_truth = true_counts(root, "val", names)
        conf, val_result = choose_threshold(
            list(val_truth.values()), predicted_hands(model, list(val_truth), imgsz, device)
        )
        metrics["val/count_accuracy"] = val_result.accuracy
        metrics["val/count_mae"] = val_result.mae
    test_truth = true_counts(root, "test", names)
    test_result = count_result(list(test_truth.values()), predicted_hands(model, list(test_truth), imgsz, device), conf)
    detection, per_class = detection_metrics(model, data_yaml, imgsz, device, "test")
    metrics.update({f"test/{key}": value for key, value in detection.items()})
    metrics.update({f"test/AP50-95/{name}": value for name, value in per_class.items()})
    metrics["test/count_accuracy"] = test_result.accuracy
    metrics["test/count_mae"] = test_result.mae
    metrics["test/count_conf"] = conf
    metrics["test/images"] = float(test_result.images)
    return EvalReport(metrics, conf, test_result.confusion, per_class)
