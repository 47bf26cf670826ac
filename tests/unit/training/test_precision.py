"""The serving precision is chosen by the count: the fastest that keeps it, never one that does not."""

from __future__ import annotations

from fingercount.training.precision import choose


def measured(**precisions: tuple[float, float]) -> dict[str, dict[str, float]]:
    return {name: {"count_accuracy": accuracy, "ms": ms} for name, (accuracy, ms) in precisions.items()}


def test_a_faster_precision_that_loses_counts_is_refused() -> None:
    # INT8 is twice as fast but loses 1 point of exact count accuracy: over the 0.5-point tolerance.
    assert choose(measured(f32=(0.800, 10.0), int8=(0.790, 5.0)), tolerance_points=0.5) == "f32"


def test_the_fastest_precision_within_the_tolerance_wins() -> None:
    results = measured(f32=(0.800, 10.0), int8=(0.796, 5.0), bf16=(0.800, 7.0))
    assert choose(results, tolerance_points=0.5) == "int8"
    assert choose(results, tolerance_points=0.0) == "bf16"  # int8 lost 0.4 points: refused at zero tolerance


def test_f32_stays_when_nothing_is_faster() -> None:
    assert choose(measured(f32=(0.5, 4.0), int8=(0.5, 7.0)), tolerance_points=0.5) == "f32"
    assert choose(measured(int8=(0.9, 1.0)), tolerance_points=0.5) == "f32"  # no baseline: no choice
