"""The serving precision is chosen by the count: the fastest that keeps it, never one that does not."""

from __future__ import annotations

from fingercount.training.precision import _alternated_times, choose


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


class Recorder:
    """Stands in for an engine: records the order of the calls the timing makes."""

    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    def predict(self, frame: object, conf: float) -> list[object]:
        self.calls.append(self.name)
        return []


def test_precisions_are_timed_in_turns_at_least_30_calls_each() -> None:
    calls: list[str] = []
    engines = {name: Recorder(name, calls) for name in ("f32", "bf16")}
    times = _alternated_times(engines, [object()] * 8, conf=0.25)  # type: ignore[arg-type]
    assert {name: len(t) for name, t in times.items()} == {"f32": 32, "bf16": 32}
    passes = [calls[i] for i in range(0, len(calls), 8)]
    assert passes == ["f32", "bf16", "bf16", "f32", "f32", "bf16", "bf16", "f32"]


def test_no_openvino_engine_means_nothing_timed() -> None:
    assert _alternated_times({}, [object()] * 8, conf=0.25) == {}  # type: ignore[arg-type]
