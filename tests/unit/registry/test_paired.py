"""The gate's paired test: McNemar's exact test on the photos two versions were both counted on."""

from __future__ import annotations

import pytest

from fingercount.registry.paired import decide, mcnemar_p, outcomes


def test_mcnemar_exact_p_values() -> None:
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(5, 5) == 1.0
    assert mcnemar_p(0, 6) == pytest.approx(2 / 64)  # six disagreements, all one way
    assert mcnemar_p(1, 9) == pytest.approx(2 * 11 / 1024)
    assert mcnemar_p(9, 1) == mcnemar_p(1, 9)


def sets(**right: list[bool]) -> dict[str, dict[str, bool]]:
    return {name: {f"{name}/{i}.jpg": ok for i, ok in enumerate(values)} for name, values in right.items()}


def test_a_tie_keeps_the_serving_version() -> None:
    current = sets(people=[True] * 30 + [False] * 20)
    candidate = sets(people=[False] * 5 + [True] * 25 + [True] * 5 + [False] * 15)  # 5 won, 5 lost: 30 = 30
    promoted, why = decide(current, candidate)  # type: ignore[misc]
    assert not promoted
    assert why.startswith("not better (a tie): McNemar on 50 held-out photos of people")


def test_a_few_photos_better_is_noise() -> None:
    current = sets(people=[True] * 30 + [False] * 20)
    candidate = sets(people=[True] * 30 + [True] * 3 + [False] * 17)
    promoted, why = decide(current, candidate)  # type: ignore[misc]
    assert not promoted
    assert "less than the noise" in why


def test_better_beyond_noise_is_promoted_unless_a_set_is_worse() -> None:
    current = sets(people=[True] * 10 + [False] * 40, rooms=[True] * 50)
    candidate = sets(people=[True] * 10 + [True] * 30 + [False] * 10, rooms=[True] * 50)
    promoted, why = decide(current, candidate)  # type: ignore[misc]
    assert promoted, why
    assert why.startswith("better beyond noise: McNemar on 100 held-out photos")
    worse_rooms = sets(people=[True] * 10 + [True] * 30 + [False] * 10, rooms=[False] * 12 + [True] * 38)
    promoted, why = decide(current, worse_rooms)  # type: ignore[misc]
    assert not promoted
    assert why.startswith("worse beyond noise on rooms")


def test_no_shared_photos_leaves_it_to_the_metric() -> None:
    assert decide(sets(people=[True]), sets(rooms=[True])) is None


def test_outcomes_read_a_sets_report() -> None:
    report = {
        "people": {"model": {"accuracy": 0.5, "photos": {"a.jpg": [2, 2], "b.jpg": [3, 1]}}},
        "old": {"model": {}},
    }
    assert outcomes(report) == {"people": {"a.jpg": True, "b.jpg": False}}
