"""Monitoring without labels, on the real teacher and real photos: what is judged, the agreement and
its interval, the baseline (own or inherited), the drift alarm, dropped and unreadable samples."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from fingercount.serving.metrics import ServingMetrics
from fingercount.serving.monitor import MIN_JUDGED, Monitor, baseline_of, judges, wilson
from fingercount.settings import Settings
from tests.conftest import real_photos


def test_wilson_interval_is_sound_at_the_edges() -> None:
    low, high = wilson(45, 50)
    assert 0.78 < low < 0.79
    assert 0.95 < high < 0.96
    assert wilson(0, 20)[0] == 0.0
    assert wilson(0, 20)[1] < 0.17
    assert wilson(20, 20)[1] == 1.0
    assert wilson(20, 20)[0] > 0.83


def test_baseline_pools_the_held_out_sets_by_judged_frames() -> None:
    metrics = {
        "eval/a/teacher_agreement": 0.9, "eval/a/teacher_judged": 90.0,
        "eval/b/teacher_agreement": 0.5, "eval/b/teacher_judged": 10.0,
        "eval/a/count_accuracy": 0.1, "test/count_accuracy": 0.2,
    }  # fmt: skip
    assert baseline_of(metrics) == pytest.approx(0.86)
    assert baseline_of({"test/count_accuracy": 0.9}) is None


def info(version: str, baseline: float | None) -> SimpleNamespace:
    metrics = {} if baseline is None else {"eval/x/teacher_agreement": baseline, "eval/x/teacher_judged": 50.0}
    return SimpleNamespace(version=version, metrics=metrics)


def settle(monitor: Monitor, offered: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        totals = monitor.status(None)["totals"]
        if totals["judged"] + totals["skipped"] + totals["dropped"] + totals["unreadable"] >= offered:
            return
        time.sleep(0.05)
    raise AssertionError(f"the monitor did not judge its samples: {monitor.status(None)['totals']}")


@pytest.fixture
def photos(real_hands: Path) -> list[tuple[np.ndarray, int]]:
    """Real photos with one raised-finger count each (the folder's)."""
    chosen = real_photos(per_count=6)
    frames = [(cv2.imread(str(path)), count) for count in sorted(chosen) for path in chosen[count]]
    return [(frame, count) for frame, count in frames if frame is not None]


def make_monitor(**env: str) -> Monitor:
    settings = Settings(_env_file=None, **{"MONITOR_SAMPLE": "1", "MONITOR_QUEUE": "1000", "MONITOR_CPU": "1", **env})  # type: ignore[call-arg]
    monitor = Monitor(settings, ServingMetrics())
    monitor.start()
    assert monitor.enabled, monitor.unavailable
    return monitor


def test_agreement_is_model_vs_teacher_on_frames_with_a_hand(photos: list[tuple[np.ndarray, int]]) -> None:
    monitor = make_monitor()
    try:
        for frame, count in photos:
            monitor.offer(frame, count, info("1", 0.9), blurred=False)  # the folder's count as the "model"
        monitor.offer(np.zeros((240, 320, 3), np.uint8), 0, info("1", 0.9), blurred=False)  # no hand: skipped
        monitor.offer(np.zeros((8, 8), np.float64), 3, info("1", 0.9), blurred=False)  # unreadable
        settle(monitor, len(photos) + 2)
        status = monitor.status("1", frames=True)
    finally:
        monitor.stop()
    judged = status["frames"]
    assert status["judged"] == len(judged) >= len(photos) - 3  # the teacher may miss a hand or two
    assert status["agreement"] == pytest.approx(np.mean([f["model_count"] == f["teacher_count"] for f in judged]))
    assert status["agreement"] > 0.6  # the teacher counts these folders' photos well
    low, high = status["interval"]
    assert low <= status["agreement"] <= high
    assert sum(sum(row.values()) for row in status["confusion"].values()) == len(judged)
    assert status["totals"]["skipped"] >= 1
    assert status["totals"]["unreadable"] == 1
    assert status["baseline"] == 0.9
    assert status["drift"] is None
    assert status["totals"]["teacher_ms"] > 0


def test_a_version_far_below_its_baseline_drifts_and_an_unmeasured_one_inherits_it(
    photos: list[tuple[np.ndarray, int]],
) -> None:
    monitor = make_monitor(MONITOR_ALERT="15")
    try:
        for frame, count in photos:
            monitor.offer(frame, count, info("1", 0.9), blurred=False)
        wrong = [(frame, (count + 2) % 6) for frame, count in photos]  # a version that miscounts every hand
        for frame, count in wrong:
            monitor.offer(frame, count, info("2", None), blurred=False)  # registered without teacher figures
        settle(monitor, 2 * len(photos))
        good, bad = monitor.status("1"), monitor.status("2")
    finally:
        monitor.stop()
    assert good["drift"] is None
    assert bad["judged"] >= MIN_JUDGED
    assert bad["baseline"] == 0.9
    assert bad["baseline_from"] == "held-out sets"
    assert bad["agreement"] < 0.2
    assert bad["drift"] is not None
    assert "points below the baseline 90%" in bad["drift"]
    assert monitor.drift("2") == bad["drift"]
    assert monitor.drift("1") is None


def test_a_busy_judge_drops_samples_and_never_blocks(photos: list[tuple[np.ndarray, int]]) -> None:
    monitor = make_monitor(MONITOR_QUEUE="1")
    try:
        started = time.perf_counter()
        for _ in range(5):
            for frame, count in photos:
                monitor.offer(frame, count, info("1", None), blurred=False)
        offered = 5 * len(photos)
        assert (time.perf_counter() - started) / offered < 0.001  # never waits for the teacher
        settle(monitor, offered)
        totals = monitor.status("1")["totals"]
    finally:
        monitor.stop()
    assert totals["sampled"] == offered
    assert totals["dropped"] > 0
    assert totals["judged"] + totals["skipped"] + totals["dropped"] == offered


def test_sampling_takes_one_frame_in_n_and_zero_turns_it_off(photos: list[tuple[np.ndarray, int]]) -> None:
    monitor = make_monitor(MONITOR_SAMPLE="4")
    try:
        for frame, count in photos[:20]:
            monitor.offer(frame, count, info("1", None), blurred=False)
        assert monitor.sampled == 5
    finally:
        monitor.stop()
    off = Monitor(Settings(_env_file=None, MONITOR_SAMPLE="0"), ServingMetrics())  # type: ignore[call-arg]
    off.start()
    off.offer(photos[0][0], 1, info("1", None), blurred=False)
    assert not off.enabled
    assert off.sampled == 0
    assert off.status(None)["reason"] == "MONITOR_SAMPLE=0"


def test_the_judge_keeps_to_its_share_of_a_core(photos: list[tuple[np.ndarray, int]]) -> None:
    """MONITOR_CPU=0.05: after each judged frame the judge rests 19 times as long; what comes meanwhile is dropped."""
    monitor = make_monitor(MONITOR_CPU="0.05", MONITOR_QUEUE="2")
    try:
        started = time.monotonic()
        while time.monotonic() - started < 3:
            monitor.offer(photos[0][0], photos[0][1], info("1", None), blurred=False)
            time.sleep(0.005)
        settle(monitor, monitor.sampled)
        totals = monitor.status("1")["totals"]
    finally:
        monitor.stop()
    busy = totals["teacher_ms"] * (totals["judged"] + totals["skipped"]) / 1000
    assert totals["dropped"] > 10 * (totals["judged"] + totals["skipped"])
    assert busy / 3 < 0.1, totals  # about 5 % of one core over the 3 s


@pytest.mark.parametrize(
    ("head", "independent", "says"),
    [
        ("classes", True, "the detector's counts"),
        ("landmarks", False, "not an accuracy"),
        ("arbitrated", False, "where the detector is unsure"),
        ("landmarks+photo", False, "wherever the detector finds none"),
        ("photo+landmarks", False, "wherever it finds a hand"),
        ("sure+photo", False, "wherever the detector is unsure and it finds a hand"),
    ],
)
def test_the_monitor_says_what_the_teacher_judges_under_each_head(head: str, independent: bool, says: str) -> None:
    judged = judges(head)
    assert judged["independent"] is independent
    assert says in judged["what"]
