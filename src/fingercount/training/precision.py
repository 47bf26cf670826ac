"""The serving precision, chosen by the count at registration.

Each precision the package can run (f32; INT8 when quantized; bf16 where the CPU has it) counts
the validation split through the OpenVINO engine serving runs; the fastest whose exact count
accuracy is within `tolerance` points of f32 becomes the version's default. A faster precision
that loses counts is refused, whatever its speed.
"""

from __future__ import annotations

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
    measured = {}
    for precision in candidates(package):
        engine = package.engine("openvino", threads, precision)
        correct, times = _count(engine, frames, conf)
        measured[precision] = {"count_accuracy": correct / max(1, len(frames)), "ms": statistics.median(times or [0])}
    return measured


def _count(engine: Engine, frames: list[tuple[np.ndarray | None, int]], conf: float) -> tuple[int, list[float]]:
    correct, times = 0, []
    for frame, truth in frames:
        if frame is None:
            continue
        started = time.perf_counter()
        found = engine.predict(frame, min(conf, PREDICT_FLOOR))
        times.append((time.perf_counter() - started) * 1000)
        correct += sum(d.fingers for d in found if d.confidence >= conf) == truth
    return correct, times


def choose(measured: dict[str, dict[str, float]], tolerance_points: float) -> str:
    """The fastest precision whose count accuracy is within `tolerance_points` of f32's (f32 if none)."""
    if "f32" not in measured:
        return "f32"
    floor = measured["f32"]["count_accuracy"] - tolerance_points / 100
    kept = [p for p, m in measured.items() if m["count_accuracy"] >= floor - 1e-9]
    return min(kept, key=lambda p: (measured[p]["ms"], p != "f32"))
