"""The demo with real photos configured trains on them; without them it says so and goes on."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fingercount.config import load_training_config
from fingercount.demo import available_data
from tests.conftest import CONFIGS, REAL_HANDS, real_photos

pytestmark = pytest.mark.slow


def demo_workspace(root: Path, real_folder: Path) -> Path:
    """configs/ with the CI demo config pointed at drawn hands + a real-photo folder."""
    shutil.copytree(CONFIGS, root / "configs")
    data = yaml.safe_load((CONFIGS / "test_config_data.yaml").read_text())
    data["extra_sources"] = [{"type": "folders", "name": "real", "folders": {"path": str(real_folder)}}]
    (root / "configs" / "demo_real_data.yaml").write_text(yaml.safe_dump(data))
    config = yaml.safe_load((CONFIGS / "demo_ci_config.yaml").read_text())
    config["dataset"]["config"] = "configs/demo_real_data.yaml"
    config["evaluation"] = {"sets": {"real-heldout": {"split": "test", "source": "real"}}, "teacher": True}
    config["mlflow"]["promotion_metric"] = "eval/real-heldout/count_accuracy"
    config["training"]["source_weights"] = {"real": 2}  # as the demo weights its real sets
    path = root / "configs" / "demo_real.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_demo_trains_on_real_photos_when_configured(tmp_path: Path, real_hands: Path) -> None:
    photos = tmp_path / "photos"
    for count, paths in real_photos(per_count=6).items():
        (photos / str(count)).mkdir(parents=True)
        for path in paths:
            shutil.copy(path, photos / str(count) / path.name)
    root = tmp_path / "clone"
    root.mkdir()
    config = demo_workspace(root, photos)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODEL_"))}
    done = subprocess.run(
        [sys.executable, "-m", "fingercount", "demo", "--config", str(config), "--no-serve"],
        cwd=root, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "drawn hands + real photos (real, boxed by the teacher)" in done.stdout
    assert "2/4 registry: the shipped checkpoint" in done.stdout
    assert "3/4 fine-tune (2 epochs from it on the same data)" in done.stdout  # --no-serve: here, then gated
    assert done.stdout.count("real-heldout: exact finger-count accuracy") == 2  # the checkpoint, the fine-tune
    assert "note:" not in done.stdout
    assert "hand-landmark teacher:" in done.stdout
    manifest = json.loads((root / "data" / "test-prepared" / "manifest.json").read_text())
    train_files = manifest["splits"]["train"]["files"]
    assert sum(name.startswith("real__") for name in train_files) >= 15  # 60 % of 30 photos
    assert any(name.startswith("real__") for name in manifest["splits"]["test"]["files"])
    assert manifest["source"]["parts"]["real"]["teacher"]["model_sha256"]
    (listed,) = root.glob("experiments/fingercount-demo-ci/*/data/train.txt")  # the fine-tune's weighted list
    names = [Path(line).name for line in listed.read_text().splitlines()]
    real = [name for name in train_files if name.startswith("real__")]
    assert sorted(name for name in names if name.startswith("real__")) == sorted(real * 2)
    assert len(names) == len(train_files) + len(real)


def test_demo_without_real_photos_drops_them_and_says_so(tmp_path: Path) -> None:
    config_path = demo_workspace(tmp_path, tmp_path / "not-here")
    config = load_training_config(config_path)
    config = config.model_copy(
        update={"dataset": config.dataset.model_copy(update={"config": tmp_path / "configs/demo_real_data.yaml"})}
    )
    usable, data, notes = available_data(config)
    assert data.extra_sources == []
    assert len(notes) == 1
    assert "not-here is not on this machine" in notes[0]
    assert usable.evaluation.sets == {}
    assert usable.training.source_weights == {}  # else: "no training images from real"
    assert usable.mlflow.promotion_metric == "test/count_accuracy"


def test_shipped_demo_points_at_the_shared_real_photos() -> None:
    shared = REAL_HANDS.parent
    for name in ("demo_config.yaml", "demo_scratch_config.yaml"):
        config = load_training_config(CONFIGS / name)
        data = yaml.safe_load((CONFIGS / config.dataset.config.name).read_text())
        for source in data["extra_sources"]:
            path = (source.get("folders") or source.get("local"))["path"]
            assert (CONFIGS.parent / path).resolve().parent == shared.resolve(), path
            assert (CONFIGS.parent / path).is_dir() or not shared.is_dir(), path  # a clone without them builds them
        assert config.evaluation.teacher
