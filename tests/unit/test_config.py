"""Bad configs: one clear line naming file and key, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from fingercount.config import load_training_config
from tests.conftest import CONFIGS, run_cli

VALID = (CONFIGS / "training_config.yaml").read_text()


@pytest.mark.parametrize("name", ["training_config.yaml", "test_config.yaml"])
def test_shipped_configs_are_valid(name: str) -> None:
    config = load_training_config(CONFIGS / name)
    assert config.dataset.split_ratios.as_dict()["train"] > 0


def test_defaults_follow_the_seed_schema() -> None:
    config = load_training_config(CONFIGS / "training_config.yaml")
    assert config.dataset.split_ratios.as_dict() == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert (config.dataset.seed, config.dataset.img_size) == (42, 640)
    assert config.mlflow.experiment_name == "yolov11-finger-counting"
    assert config.mlflow.auto_promote_stage == "Staging"


BAD_CONFIGS = {
    "unknown_key": (VALID.replace("  epochs: 100", "  epochs: 100\n  epoch: 3"), "training.epoch: unknown key"),
    "ratios": (VALID.replace("test: 0.1}", "test: 0.3}"), "dataset.split_ratios: train + val + test must sum to 1"),
    "architecture": (VALID.replace("architecture: yolo11n", "architecture: yolo12q"), "model.architecture: unknown"),
    "negative_epochs": (VALID.replace("epochs: 100", "epochs: -3"), "training.epochs:"),
    "no_training_no_weights": (VALID.replace("epochs: 100", "epochs: 0"), "set model.weights to them"),
    "wrong_type": (VALID.replace("batch_size: 16", "batch_size: sixteen"), "training.batch_size:"),
    "invalid_yaml": (VALID.replace("model:", "model: [unclosed"), "invalid YAML"),
    "duplicate_key": (VALID + "\ndevice: cpu\n", "duplicate key 'device'"),
    "not_a_mapping": ("- just\n- a list\n", "top level must be a mapping"),
    "img_size": (VALID.replace("img_size: 640", "img_size: 100"), "dataset.img_size: must be a multiple of 32"),
    "device": (VALID.replace("device: auto", "device: gpu-please"), "device:"),
    "optimizer": (VALID.replace("optimizer: SGD", "optimizer: Adagrad"), "training.optimizer:"),
    "eval_set_kind": (VALID + "\nevaluation: {sets: {real: {}}}\n", "evaluation.sets.real: give either path or split"),
    "eval_set_name": (VALID + "\nevaluation: {sets: {'a/b': {split: test}}}\n", "evaluation.sets.a/b"),
    "eval_set_source": (
        VALID + "\nevaluation: {sets: {r: {path: x, source: real}}}\n",
        "source selects images of a split: give split too",
    ),
    "threads": (VALID.replace("fraction: 1.0", "fraction: 1.0\n  threads: 0"), "training.threads:"),
    "amp": (VALID.replace("  amp: true", "  amp: fp8"), "training.amp:"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_is_one_line_exit_2(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text, expected = BAD_CONFIGS[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    code, _, err = run_cli(
        ["data", "prepare", "-t", str(path), "-c", str(CONFIGS / "config.yaml")], monkeypatch, capsys
    )
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {path}: ")
    assert expected in lines[0]
    assert "Traceback" not in err


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    code, _, err = run_cli(["data", "prepare", "-t", str(missing)], monkeypatch, capsys)
    assert code == 2
    assert err.strip() == f"error: {missing}: file not found"


def test_a_relative_path_not_found_names_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan names its stages' configs relative to the working folder: run from elsewhere, the error says where
    it looked."""
    monkeypatch.chdir(tmp_path)
    plan = CONFIGS.parent / "benchmarks/never_met/plan.yaml"
    code, _, err = run_cli(["campaign", "report", str(plan)], monkeypatch, capsys)
    assert code == 2
    assert err.strip() == (
        "error: configs/real_hands_balanced.yaml: file not found "
        f"(a relative path is read from the working folder, {tmp_path})"
    )


def test_demo_configs_are_valid() -> None:
    from fingercount.config import load_data_config

    scratch = load_training_config(CONFIGS / "demo_scratch_config.yaml")
    assert scratch.model.weights is None
    assert scratch.evaluation.sets["real-heldout"].source == "real"
    assert scratch.mlflow.promotion_metric == "eval/real-heldout/count_accuracy"
    data = load_data_config(CONFIGS / scratch.dataset.config.name)
    assert [source.label for source in data.extra_sources] == ["real"]
    for name in ("demo_config.yaml", "real_hands.yaml"):  # the demo fine-tunes what the full recipe made
        config = load_training_config(CONFIGS / name)
        data = load_data_config(CONFIGS / config.dataset.config.name)
        assert [source.label for source in data.extra_sources] == ["epsrc", "rooms", "people"]
        assert {spec.source for spec in config.evaluation.sets.values()} == {"epsrc", "rooms", "people"}
        assert config.mlflow.promotion_metric == "eval/people-heldout/count_accuracy"
    assert load_training_config(CONFIGS / "demo_config.yaml").model.weights == "fingercount-hands-n160-balanced"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("source:\n  type: folders\n", "source.folders.path is not set"),
        ("extra_sources: [{type: synthetic}]\n", "sources need distinct names"),
        ("extra_sources: [{type: folders, name: 'real photos', folders: {path: x}}]\n", "extra_sources.0.name"),
    ],
)
def test_bad_sources(
    text: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "data.yaml"
    path.write_text(text)
    code, _, err = run_cli(["data", "prepare", "-c", str(path)], monkeypatch, capsys)
    assert code == 2
    assert expected in err


def test_bad_data_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "data.yaml"
    path.write_text("source:\n  type: local\n")
    code, _, err = run_cli(["data", "prepare", "-c", str(path)], monkeypatch, capsys)
    assert code == 2
    assert "source.local.path is not set" in err
