"""A killed run whose training has no epoch left is taken as it is when resumed: Ultralytics refuses
to resume it ("training to N epochs is finished"), which would fail the run and lose its training."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fingercount.training.trainer import fit, training_finished
from tests.unit.training.test_yolo import config_with

KILLED_AFTER_ITS_LAST_SAVE = {"epoch": 2, "optimizer": {"state": {}}, "train_args": {"epochs": 3}}
STRIPPED_AT_ITS_END = {"epoch": -1, "optimizer": None, "train_args": {"epochs": 3}}
MIDWAY = {"epoch": 1, "optimizer": {"state": {}}, "train_args": {"epochs": 3}}


def test_a_checkpoint_is_finished_when_no_epoch_is_left() -> None:
    assert training_finished(KILLED_AFTER_ITS_LAST_SAVE, 3)
    assert training_finished(STRIPPED_AT_ITS_END, 3)
    assert not training_finished(MIDWAY, 3)
    assert not training_finished({**MIDWAY, "train_args": {}}, 3)  # the config's epochs where it keeps none
    assert training_finished({**MIDWAY, "train_args": {}}, 2)


@pytest.mark.parametrize("state", [KILLED_AFTER_ITS_LAST_SAVE, STRIPPED_AT_ITS_END], ids=["unstripped", "stripped"])
def test_resuming_a_finished_training_trains_nothing_and_keeps_its_weights(tmp_path: Path, state: dict) -> None:
    from ultralytics import YOLO

    weights = tmp_path / "run" / "weights"
    weights.mkdir(parents=True)
    torch.save({"model": YOLO("yolo11n.yaml").model, **state}, weights / "last.pt")
    torch.save({"model": YOLO("yolo11n.yaml").model, **state}, weights / "best.pt")
    config = config_with(training={"epochs": 3})
    fitted = fit(config, tmp_path / "data.yaml", str(weights / "last.pt"), tmp_path, "run", progress=False, resume=True)
    assert fitted.weights == weights / "best.pt"
    assert fitted.seconds["train"] == 0.0
    assert fitted.save_dir == tmp_path / "run"
