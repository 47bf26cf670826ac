"""The campaign's written rule, applied by the report: a lever (or head) wins only if it beats the
control on every left-out source by more than the larger spread over the seeds."""

from __future__ import annotations

import json
from pathlib import Path

from fingercount.training.campaign import Lever, Plan, verdicts, verdicts_by_head


def plan_with(tmp_path: Path, accuracies: dict[tuple[str, str, int], dict[str, float]]) -> Plan:
    """Final results (two stages; heads as recorded) for (lever, source, seed) -> {head: accuracy}."""
    results = tmp_path / "results"
    results.mkdir()
    for (lever, source, seed), heads in accuracies.items():
        key = f"{lever}--{source}--seed{seed}--stage2"
        found = {"final": True, "heads": {head: {"accuracy": value} for head, value in heads.items()}}
        (results / f"{key}.json").write_text(json.dumps(found))
    return Plan(
        stages=[Path("stage1.yaml"), Path("stage2.yaml")], sources=["people", "rooms"], seeds=[1, 2],
        levers={"baseline": Lever(), "bigger": Lever()}, results=results, checkpoints=tmp_path / "checkpoints",
    )  # fmt: skip


def test_a_head_wins_only_beyond_the_spread_on_both_sources(tmp_path: Path) -> None:
    plan = plan_with(
        tmp_path,
        {
            ("baseline", "people", 1): {"classes": 0.20, "photo+landmarks": 0.70},
            ("baseline", "people", 2): {"classes": 0.22, "photo+landmarks": 0.69},
            ("baseline", "rooms", 1): {"classes": 0.57, "photo+landmarks": 0.95},
            ("baseline", "rooms", 2): {"classes": 0.60, "photo+landmarks": 0.94},
            # A lever better on people by less than its own spread, and worse on rooms beyond it.
            ("bigger", "people", 1): {"classes": 0.30},
            ("bigger", "people", 2): {"classes": 0.14},
            ("bigger", "rooms", 1): {"classes": 0.40},
            ("bigger", "rooms", 2): {"classes": 0.41},
        },
    )
    found = {line.split(":")[0]: line for line in verdicts(plan)}
    assert found["- baseline / photo+landmarks"].startswith(
        "- baseline / photo+landmarks: **wins** — people +48.5 points (spread 2.0)"
    )
    assert "rooms +36.0 points (spread 3.0)" in found["- baseline / photo+landmarks"]
    assert "does not win" in found["- bigger / classes"]
    assert "people +1.0 points (spread 16.0)" in found["- bigger / classes"]
    assert "- baseline / classes" not in found  # the control itself


def test_until_every_seed_has_run_only_a_loss_is_decided(tmp_path: Path) -> None:
    plan = plan_with(
        tmp_path,
        {
            ("baseline", "people", 1): {"classes": 0.20, "photo+landmarks": 0.70, "landmarks": 0.10},
            ("baseline", "people", 2): {"classes": 0.22, "photo+landmarks": 0.69, "landmarks": 0.11},
            ("baseline", "rooms", 1): {"classes": 0.57, "photo+landmarks": 0.95, "landmarks": 0.90},
        },
    )
    found = {line.split(":")[0]: line for line in verdicts(plan)}
    # Won on people, one seed of two on rooms: open.
    assert found["- baseline / photo+landmarks"].startswith("- baseline / photo+landmarks: open")
    assert "rooms +38.0 points (spread 0.0, 1 of 2 seeds)" in found["- baseline / photo+landmarks"]
    # Lost on people beyond the spread with every seed run: it cannot win, whatever rooms says.
    assert "does not win" in found["- baseline / landmarks"]
    assert "- bigger / classes" not in found  # nothing run


def test_a_lever_under_a_landmark_head_is_judged_against_the_baseline_under_that_head(tmp_path: Path) -> None:
    plan = plan_with(
        tmp_path,
        {
            ("baseline", "people", 1): {"classes": 0.20, "sure+photo": 0.76},
            ("baseline", "people", 2): {"classes": 0.22, "sure+photo": 0.77},
            ("baseline", "rooms", 1): {"classes": 0.57, "sure+photo": 0.94},
            ("baseline", "rooms", 2): {"classes": 0.60, "sure+photo": 0.93},
            # Far above the class control, level with the baseline under its own head on rooms.
            ("bigger", "people", 1): {"classes": 0.30, "sure+photo": 0.80},
            ("bigger", "people", 2): {"classes": 0.31, "sure+photo": 0.81},
            ("bigger", "rooms", 1): {"classes": 0.70, "sure+photo": 0.935},
            ("bigger", "rooms", 2): {"classes": 0.72, "sure+photo": 0.945},
        },
    )
    against_control = {line.split(":")[0]: line for line in verdicts(plan)}
    assert "- bigger / sure+photo" not in against_control  # it would win there only because the head does
    assert "**wins**" in against_control["- bigger / classes"]
    found = {line.split(":")[0]: line for line in verdicts_by_head(plan)}
    assert found["- bigger / sure+photo"].startswith("- bigger / sure+photo: does not win — people +4.0 points")
    assert "rooms +0.5 points (spread 1.0)" in found["- bigger / sure+photo"]
    assert not any(line.startswith("- baseline") for line in found.values())
