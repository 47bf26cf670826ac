"""Counting metrics and the choice of the counting threshold."""

from __future__ import annotations

import pytest

from fingercount.training.evaluate import choose_threshold, count_result


def test_count_result() -> None:
    truth = [3, 5, 2]
    hands = [[(3, 0.9)], [(2, 0.8), (3, 0.3)], [(2, 0.7), (4, 0.2)]]
    result = count_result(truth, hands, conf=0.25)
    # predicted: 3, 5, 2 → all exact
    assert result.accuracy == 1.0
    assert result.mae == 0.0
    assert result.confusion == {"2": {"2": 1}, "3": {"3": 1}, "5": {"5": 1}}
    strict = count_result(truth, hands, conf=0.5)
    # predicted: 3, 2, 2
    assert strict.accuracy == pytest.approx(2 / 3)
    assert strict.mae == pytest.approx(1.0)
    assert strict.confusion["5"] == {"2": 1}


def test_threshold_is_chosen_for_exact_counts() -> None:
    truth = [3, 2]
    hands = [[(3, 0.6), (1, 0.3)], [(2, 0.7), (2, 0.1)]]
    conf, result = choose_threshold(truth, hands)
    assert 0.3 < conf <= 0.6
    assert result.accuracy == 1.0
