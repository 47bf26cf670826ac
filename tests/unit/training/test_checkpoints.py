"""The shipped checkpoint matches its card, loads, and is what `model.weights: NAME` trains from."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from fingercount import checkpoints
from fingercount.config import TrainingConfig, load_training_config
from fingercount.errors import ConfigError
from fingercount.labeling.photo import PHOTO_RULE
from fingercount.training import campaign
from fingercount.training.yolo import model_source
from tests.conftest import CONFIGS, REPO, run_cli


def test_a_checkpoint_is_shipped_and_matches_its_card() -> None:
    names = checkpoints.shipped()
    assert names, "no checkpoint shipped in src/fingercount/checkpoints"
    for name in names:
        card = checkpoints.card(name)
        weights = checkpoints.FOLDER / f"{name}.pt"
        assert hashlib.sha256(weights.read_bytes()).hexdigest() == card["sha256"]
        assert {"command", "config", "data", "count_accuracy", "teacher_count_accuracy"} <= set(card)
        assert all(part["licence"] for part in card["data"])
        assert (checkpoints.FOLDER / "README.md").read_text().count(card["sha256"]) == 1


def test_the_shipped_checkpoint_loads_with_count_classes() -> None:
    from ultralytics import YOLO

    for name in checkpoints.shipped():
        model = YOLO(str(checkpoints.checkpoint_path(name)), task="detect")
        assert list(model.names.values()) == [str(count) for count in range(6)]


def test_model_weights_by_name_resolves_and_a_tampered_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = checkpoints.shipped()[0]
    config = TrainingConfig.model_validate({"model": {"weights": name}})
    assert Path(model_source(config)) == checkpoints.FOLDER / f"{name}.pt"
    for suffix in (".pt", ".json"):
        shutil.copy(checkpoints.FOLDER / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    with (tmp_path / f"{name}.pt").open("ab") as weights:
        weights.write(b"\0")
    monkeypatch.setattr(checkpoints, "FOLDER", tmp_path)
    with pytest.raises(ConfigError, match="sha256"):
        model_source(config)
    with pytest.raises(ConfigError, match="neither a file nor a shipped checkpoint"):
        model_source(TrainingConfig.model_validate({"model": {"weights": "no-such-checkpoint"}}))


def test_cli_lists_the_shipped_checkpoints(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, printed, _ = run_cli(["models", "checkpoints"], monkeypatch, capsys)
    assert code == 0
    assert all(name in printed for name in checkpoints.shipped())
    assert "make demo counts with the sure+photo head (count_sure 0.75)" in printed


def test_the_card_names_the_head_the_demo_serves() -> None:
    demo = load_training_config(CONFIGS / "demo_config.yaml")
    served = checkpoints.card(str(demo.model.weights))["served_by_demo"]
    assert (served["count_head"], served["count_sure"]) == (demo.evaluation.count_head, demo.evaluation.count_sure)
    assert set(served["count_accuracy"]) == set(demo.evaluation.sets)
    assert set(served["leave_out"]["accuracy"][served["count_head"]]) == {"people", "rooms"}
    assert served["leave_out"]["photo_rule"] == PHOTO_RULE  # counted by the whole-photo rule served


def test_the_cards_leave_out_figures_are_the_committed_campaign_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the card says of people and rooms never met is what `campaign report --card` computes
    from the committed results; a card left behind by a recount (a new whole-photo rule) fails here."""
    monkeypatch.chdir(REPO)  # the plan's folders are the repository's (every test runs in its own folder)
    demo = load_training_config(CONFIGS / "demo_config.yaml")
    kept = checkpoints.card(str(demo.model.weights))["served_by_demo"]["leave_out"]
    plan = campaign.load_plan(REPO / "benchmarks/never_met/plan.yaml")
    heads = [head for head in kept["accuracy"] if head != "teacher"]
    assert campaign.card_leave_out(plan, heads) == kept


def test_zero_epochs_takes_the_checkpoint_as_it_is(tmp_path: Path) -> None:
    """`training.epochs: 0` (the demo's first version): no training, the shipped file becomes best.pt."""
    from fingercount.training.trainer import fit

    name = checkpoints.shipped()[0]
    config = TrainingConfig.model_validate({"model": {"weights": name}, "training": {"epochs": 0}})
    fitted = fit(config, tmp_path / "unused.yaml", model_source(config), tmp_path, "run")
    assert fitted.weights == tmp_path / "run" / "weights" / "best.pt"
    assert hashlib.sha256(fitted.weights.read_bytes()).hexdigest() == checkpoints.card(name)["sha256"]
    assert fitted.class_names == [str(count) for count in range(6)]
    assert fitted.epochs_logged == []
