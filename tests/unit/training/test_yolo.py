"""Config → Ultralytics: every key takes effect, nothing is silently ignored, offline is clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from fingercount.config import TrainingConfig, load_training_config
from fingercount.errors import ConfigError
from fingercount.training.yolo import model_source, quiet_ultralytics, train_args
from tests.conftest import CONFIGS


def config_with(**sections: dict[str, object]) -> TrainingConfig:
    base = load_training_config(CONFIGS / "training_config.yaml").model_dump()
    for section, values in sections.items():
        base[section] = {**base[section], **values} if isinstance(base[section], dict) else values
    return TrainingConfig.model_validate(base)


def test_scratch_uses_the_architecture_yaml() -> None:
    for arch in ("yolo11n", "yolo11s", "yolo11x"):
        assert model_source(config_with(model={"architecture": arch})) == f"{arch}.yaml"


def test_offline_pretrained_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("YOLO_OFFLINE", "true")
    with pytest.raises(ConfigError) as info:
        model_source(config_with(model={"pretrained": True}))
    message = str(info.value)
    assert "yolo11n.pt" in message
    assert "model.pretrained: false" in message
    assert "model.weights" in message


def test_local_weights_are_used(tmp_path: Path) -> None:
    weights = tmp_path / "mine.pt"
    weights.write_bytes(b"x")
    assert model_source(config_with(model={"pretrained": True, "weights": str(weights)})) == str(weights)
    with pytest.raises(ConfigError, match="is neither a file nor a shipped checkpoint"):
        model_source(config_with(model={"weights": str(tmp_path / "missing.pt")}))


def test_every_training_and_augmentation_key_reaches_ultralytics(tmp_path: Path) -> None:
    config = load_training_config(CONFIGS / "training_config.yaml")
    args = train_args(config, tmp_path / "data.yaml", tmp_path, "run")
    renamed = {"batch_size": "batch"}
    # threads: our callback sets them; source_weights: fit writes the list Ultralytics reads (test_source_weights)
    for key, value in config.training.model_dump(exclude={"threads", "source_weights"}).items():
        assert args[renamed.get(key, key)] == value, key
    # paste: done before the training, into the list Ultralytics reads (test_paste)
    for key, value in config.augmentation.model_dump(exclude={"paste"}).items():
        assert args[key] == value, key
    assert args["imgsz"] == config.dataset.img_size
    assert args["seed"] == config.dataset.seed
    assert args["device"] is None  # auto
    assert Path(args["project"]).is_absolute()


def test_auto_optimizer_refuses_an_explicit_lr0(tmp_path: Path) -> None:
    base = (CONFIGS / "test_config.yaml").read_text().replace("optimizer: SGD", "optimizer: auto")
    path = tmp_path / "c.yaml"
    path.write_text(base)
    with pytest.raises(ConfigError, match=r"optimizer 'auto' .* ignore the lr0"):
        load_training_config(path)  # refused when the config is read, before any work


def test_auto_optimizer_without_explicit_lr_is_fine(tmp_path: Path) -> None:
    base = (CONFIGS / "test_config.yaml").read_text().replace("optimizer: SGD", "optimizer: auto")
    base = base.replace("  lr0: 0.01\n", "")
    path = tmp_path / "c.yaml"
    path.write_text(base)
    assert train_args(load_training_config(path), tmp_path / "d.yaml", tmp_path, "r")["optimizer"] == "auto"


def test_device_ids_pass_through(tmp_path: Path) -> None:
    assert train_args(config_with(device="0,1"), tmp_path / "d.yaml", tmp_path, "r")["device"] == "0,1"
    assert train_args(config_with(device="cpu"), tmp_path / "d.yaml", tmp_path, "r")["device"] == "cpu"


def test_integrations_are_off_without_touching_the_settings_file() -> None:
    from ultralytics.utils import SETTINGS

    settings_file = Path(SETTINGS.file)
    before = settings_file.read_bytes() if settings_file.exists() else None
    quiet_ultralytics()
    assert SETTINGS["mlflow"] is False
    after = settings_file.read_bytes() if settings_file.exists() else None
    assert before == after


def test_use_threads_sets_torch_back_to_every_core() -> None:
    import os

    import torch

    from fingercount.training.yolo import UseThreads

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # what Ultralytics' select_device leaves on a 2-core machine
        UseThreads(None)(object())
        assert torch.get_num_threads() == (os.cpu_count() or 1)
        UseThreads(1)(object())
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_epoch_progress_counts_epochs_once() -> None:
    from types import SimpleNamespace

    from fingercount.training.yolo import EpochProgress

    trainer = SimpleNamespace(
        tloss=None,
        label_loss_items=lambda loss, prefix: {"train/box_loss": 1.5, "train/cls_loss": 2.0},
        metrics={"metrics/mAP50(B)": 0.4},
    )
    progress = EpochProgress(2, enabled=False)
    for _ in range(3):  # two epochs, then Ultralytics' extra call for the final validation
        progress(trainer)
    assert progress.done == 2
    progress.close()

    reports: list[dict[str, object]] = []
    resumed = EpochProgress(5, enabled=False, report=reports.append)
    for _ in range(3):  # resumed after three epochs: two left, then the extra call
        resumed(SimpleNamespace(**vars(trainer), start_epoch=3))
    assert [report["epoch"] for report in reports] == [4, 5]
    resumed.close()
