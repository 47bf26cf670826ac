"""Count-only evaluation: where the truth comes from, and the metrics computed by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from fingercount.errors import DatasetError
from fingercount.training.count_eval import report, truth_from_path


def test_report_matches_a_hand_computation() -> None:
    truth = [1, 1, 2, 3, 5, 5]
    predicted = [1, 2, 2, -1, 5, 4]  # -1: no hand found (counts as 0)
    result = report(truth, predicted)
    assert result.images == 6
    assert result.accuracy == pytest.approx(3 / 6)
    assert result.mae == pytest.approx((0 + 1 + 0 + 3 + 0 + 1) / 6)
    assert result.no_hand == pytest.approx(1 / 6)
    assert result.per_count == {"1": 0.5, "2": 1.0, "3": 0.0, "5": 0.5}
    assert result.confusion == {"1": {"1": 1, "2": 1}, "2": {"2": 1}, "3": {"0": 1}, "5": {"4": 1, "5": 1}}
    metrics = result.metrics("eval/real")
    assert metrics["eval/real/count_accuracy"] == pytest.approx(0.5)
    assert metrics["eval/real/count_accuracy/3"] == 0.0
    assert metrics["eval/real/images"] == 6


def test_truth_from_count_folders(tmp_path: Path) -> None:
    for count, names in {"0": ["fist.jpg"], "3": ["a.png", "b.jpg"], "notes": ["x.jpg"]}.items():
        (tmp_path / count).mkdir()
        for name in names:
            (tmp_path / count / name).write_bytes(b"")
    truth = truth_from_path(tmp_path)
    assert {path.name: count for path, count in truth.items()} == {"fist.jpg": 0, "a.png": 3, "b.jpg": 3}


def test_truth_from_a_yolo_folder(synthetic_folder: Path) -> None:
    truth = truth_from_path(synthetic_folder)
    assert len(truth) == 30
    image, total = next(iter(truth.items()))
    lines = (synthetic_folder / "labels" / f"{image.stem}.txt").read_text().splitlines()
    assert total == sum(int(line.split()[0]) + 1 for line in lines)  # classes "1".."5" at ids 0..4


def test_truth_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such folder"):
        truth_from_path(tmp_path / "missing")
    (tmp_path / "photos").mkdir()
    with pytest.raises(DatasetError, match="expected count folders"):
        truth_from_path(tmp_path / "photos")
