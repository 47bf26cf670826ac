"""The serving precision, chosen by the count at registration.

Each precision the package can run (f32; INT8 when quantized; bf16 where the CPU has it) counts
the validation split through the OpenVINO engine serving runs; the fastest whose exact count
accuracy is within `tolerance` points of f32 becomes the version's default. A faster precision
that loses counts is refused, whatever its speed.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import numpy as np

from fingercount.inference import Engine
from fingercount.registry.package import ModelPackage
from fingercount.training.count_eval import split_truth
from fingercount.training.evaluate import PREDICT_FLOOR, read_data_yaml, read_image


def calibration_images(data_yaml: Path, count: int) -> list[Path]:
    """Up to `count` training images, spread evenly over the split (INT8 calibration)."""
    root, _ = read_data_yaml(data_yaml)
    images = sorted((root / "images" / "train").iterdir())
    step = max(1, len(images) // count)
    return images[::step][:count]


def bf16_available() -> bool:
    from fingercount.inference.openvino_core import openvino_core

    return "BF16" in openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def candidates(package: ModelPackage) -> list[str]:
    files = package.engine_files()
    if "openvino" not in files:
        return []
    return ["f32", *(["int8"] if "openvino_int8" in files else []), *(["bf16"] if bf16_available() else [])]


def measure(package: ModelPackage, data_yaml: Path, conf: float, threads: int) -> dict[str, dict[str, float]]:
    """Per precision: exact count accuracy on the validation split and the median engine ms per image."""
    truth = split_truth(data_yaml, "val")
    frames = [(read_image(path), count) for path, count in sorted(truth.items())]
    readable = [(frame, count) for frame, count in frames if frame is not None]
    engines = {precision: package.engine("openvino", threads, precision) for precision in candidates(package)}
    correct = {precision: _correct(engine, readable, conf) for precision, engine in engines.items()}
    times = _alternated_times(engines, [frame for frame, _ in readable], conf)
    accuracy = {precision: right / max(1, len(frames)) for precision, right in correct.items()}
    return {p: {"count_accuracy": accuracy[p], "ms": statistics.median(times[p] or [0.0])} for p in engines}


def _correct(engine: Engine, frames: list[tuple[np.ndarray, int]], conf: float) -> int:
    """Images counted right (this pass also warms the engine up: its first calls are not timed)."""
    correct = 0
    for frame, truth in frames:
        found = engine.predict(frame, min(conf, PREDICT_FLOOR))
        correct += sum(d.fingers for d in found if d.confidence >= conf) == truth
    return correct


MIN_TIMED_CALLS = 30  # per precision: a small validation split is timed over several passes


def _alternated_times(engines: dict[str, Engine], frames: list[np.ndarray], conf: float) -> dict[str, list[float]]:
    """Engine ms per image, the precisions taking turns pass by pass: a machine whose speed drifts
    (a shared host) slows them alike, and the choice does not follow the drift."""
    times: dict[str, list[float]] = {precision: [] for precision in engines}
    order = list(engines)
    for _ in range(math.ceil(MIN_TIMED_CALLS / len(frames)) if frames else 0):
        for precision in order:
            for frame in frames:
                started = time.perf_counter()
                engines[precision].predict(frame, min(conf, PREDICT_FLOOR))
                times[precision].append((time.perf_counter() - started) * 1000)
        order = order[1:] + order[:1]
    return times


def choose(measured: dict[str, dict[str, float]], tolerance_points: float) -> str:
    """The fastest precision whose count accuracy is within `tolerance_points` of f32's (f32 if none)."""
    if "f32" not in measured:
        return "f32"
    floor = measured["f32"]["count_accuracy"] - tolerance_points / 100
    kept = [p for p, m in measured.items() if m["count_accuracy"] >= floor - 1e-9]
    return min(kept, key=lambda p: (measured[p]["ms"], p != "f32"))
