"""Sources weighted per epoch: the list each training reads, and that Ultralytics reads every copy."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from fingercount.config import TrainingConfig
from fingercount.errors import ConfigError
from fingercount.training.source_weights import copies, weighted_data_yaml


def prepared(root: Path, train: dict[str, int]) -> Path:
    """A prepared dataset's layout: `count` real 32x32 images per source in train, one in val and test."""
    for split, sources in (("train", train), ("val", {"a": 1}), ("test", {"a": 1})):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for source, count in sources.items():
            for index in range(count):
                name = f"{source}__{index:03d}"
                cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), np.full((32, 32, 3), 90, np.uint8))
                (root / "labels" / split / f"{name}.txt").write_text("2 0.5 0.5 0.4 0.4\n")
    data = {"train": "images/train", "val": "images/val", "test": "images/test", "nc": 6,
            "names": {i: str(i) for i in range(6)}}  # fmt: skip
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    return root / "data.yaml"


@pytest.mark.parametrize(
    ("weight", "expected"),
    [
        (3, [3, 3, 3, 3]),
        (1, [1, 1, 1, 1]),
        (1 / 3, [1, 0, 0, 1, 0, 0]),
        (0.3333, [1, 0, 0, 1, 0, 0]),
        (1.5, [2, 1, 2, 1]),
    ],
)
def test_copies_follow_the_weight(weight: float, expected: list[int]) -> None:
    assert [copies(index, weight) for index in range(len(expected))] == expected


def test_the_list_weights_train_only_and_names_what_it_listed(tmp_path: Path) -> None:
    data_yaml = prepared(tmp_path / "data", {"a": 6, "b": 3, "c": 2})
    weighted, listed = weighted_data_yaml(data_yaml, {"a": 1 / 3, "b": 2}, tmp_path / "run")
    assert listed == {"a": 2, "b": 6, "c": 2}  # c not named: as it is
    lines = (tmp_path / "run" / "train.txt").read_text().splitlines()
    assert [Path(line).name for line in lines if "/a__" in line] == ["a__000.jpg", "a__003.jpg"]
    assert len(lines) == 10
    assert all(Path(line).is_absolute() for line in lines)
    spec = yaml.safe_load(weighted.read_text())
    assert spec["val"] == str((tmp_path / "data" / "images" / "val").resolve())
    assert spec["test"] == str((tmp_path / "data" / "images" / "test").resolve())
    assert spec["names"] == {i: str(i) for i in range(6)}


def test_a_source_with_no_training_images_is_named_with_those_there_are(tmp_path: Path) -> None:
    data_yaml = prepared(tmp_path / "data", {"a": 2, "b": 2})
    with pytest.raises(ConfigError, match=r"no training images from peopel; sources: a, b"):
        weighted_data_yaml(data_yaml, {"peopel": 3}, tmp_path / "run")


def test_ultralytics_reads_every_listed_copy(tmp_path: Path) -> None:
    from ultralytics.data.dataset import YOLODataset

    data_yaml = prepared(tmp_path / "data", {"a": 3, "b": 2})
    weighted, listed = weighted_data_yaml(data_yaml, {"a": 2, "b": 1 / 2}, tmp_path / "run")
    spec = yaml.safe_load(weighted.read_text())
    dataset = YOLODataset(spec["train"], imgsz=32, augment=False, data={"names": spec["names"], "channels": 3})
    assert len(dataset) == sum(listed.values()) == 7
    assert sorted(Path(f).name for f in dataset.im_files).count("a__001.jpg") == 2


def test_weights_in_a_config() -> None:
    config = TrainingConfig.model_validate({"training": {"source_weights": {"people": 3, "epsrc": "1/3"}}})
    assert config.training.source_weights == {"people": 3.0, "epsrc": pytest.approx(1 / 3)}
    for bad in (0, -1, "many", "1/0", True):
        with pytest.raises(ValidationError, match="is not a weight above 0"):
            TrainingConfig.model_validate({"training": {"source_weights": {"people": bad}}})
