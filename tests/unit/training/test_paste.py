"""Hands cut out along the teacher's landmarks and pasted onto another source's photos: what the
training list gains, that every pasted hand is labelled where it is and covers no hand already
there, that the same seed makes the same photos, and the errors that say what is missing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from fingercount.config import PasteConfig, TrainingConfig
from fingercount.errors import ConfigError
from fingercount.labeling.teacher import HandTeacher
from fingercount.labeling.verify import iou
from fingercount.training.paste import pasted_data_yaml, read_labels
from fingercount.training.yolo import train_args
from tests.conftest import real_photos

NAMES = {i: str(i) for i in range(6)}


def prepared(root: Path, sources: list[str]) -> Path:
    """A prepared layout: source `hands` holds real photos labelled with the teacher's box and their
    count; source `room` holds plain 320x240 scenes with one small labelled hand-sized box."""
    for split in ("train", "val", "test"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    train = root / "images" / "train"
    if "hands" in sources:
        with HandTeacher() as teacher:
            for count, photos in real_photos(2).items():
                for index, photo in enumerate(photos[:1] if count > 3 else photos):
                    frame = cv2.imread(str(photo))
                    hands = teacher.label(frame)
                    assert hands, photo
                    x1, y1, x2, y2 = hands[0].box
                    height, width = frame.shape[:2]
                    name = f"hands__{count}_{index}"
                    cv2.imwrite(str(train / f"{name}.jpg"), frame)
                    centre = f"{(x1 + x2) / 2 / width} {(y1 + y2) / 2 / height}"
                    line = f"{count} {centre} {(x2 - x1) / width} {(y2 - y1) / height}\n"
                    (root / "labels" / "train" / f"{name}.txt").write_text(line)
    if "room" in sources:
        rng = np.random.default_rng(0)
        for index in range(4):
            scene = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (31, 31), 0)
            cv2.imwrite(str(train / f"room__{index}.jpg"), scene)
            (root / "labels" / "train" / f"room__{index}.txt").write_text("0 0.1 0.15 0.1 0.2\n")
    for split in ("val", "test"):
        cv2.imwrite(str(root / "images" / split / "room__x.jpg"), np.zeros((240, 320, 3), np.uint8))
        (root / "labels" / split / "room__x.txt").write_text("")
    spec = {"train": "images/train", "val": "images/val", "test": "images/test", "nc": 6, "names": NAMES}
    (root / "data.yaml").write_text(yaml.safe_dump(spec))
    return root / "data.yaml"


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory: pytest.TempPathFactory, real_hands: Path) -> Path:
    return prepared(tmp_path_factory.mktemp("paste") / "prepared", ["hands", "room"])


def test_pasted_hands_join_the_training_list_labelled_where_they_are(two_sources: Path, tmp_path: Path) -> None:
    root = two_sources.parent
    paste = PasteConfig(images=8, hands=(1, 2), size=(0.3, 0.5))
    data_yaml, written = pasted_data_yaml(two_sources, root, paste, 1, ["hands", "room"], tmp_path / "run", False)
    lines = (tmp_path / "run" / "train.txt").read_text().splitlines()
    originals = sorted(str(p.resolve()) for p in (root / "images" / "train").iterdir())
    assert 0 < written <= 8
    assert len(lines) == len(originals) + written
    assert sorted(lines[: len(originals)]) == originals  # what it trained on before, then the composites
    spec = yaml.safe_load(data_yaml.read_text())
    assert spec["val"] == str((root / "images" / "val").resolve())  # val and test untouched
    assert spec["names"] == NAMES
    donor_classes = {1, 2, 3, 4, 5}  # the real photos' counts; the rooms' box is class 0
    for line in lines[len(originals) :]:
        image = Path(line)
        assert image.name.startswith("pasted__")
        frame = cv2.imread(line)
        labels = read_labels(image.parent.parent / "labels" / f"{image.stem}.txt")
        assert len(labels) >= 2  # the background's own hand stays labelled, and at least one more
        assert labels[0][0] in {0, *donor_classes}  # the background's own label comes first
        assert {c for c, _ in labels[1:]} <= donor_classes
        boxes = [box for _, box in labels]
        for i, a in enumerate(boxes):
            assert all(iou(a, b) == 0.0 for b in boxes[i + 1 :]), "a pasted hand covers another"
        assert frame is not None
        assert frame.shape == (240, 320, 3)


def test_the_same_seed_pastes_the_same_photos(two_sources: Path, tmp_path: Path) -> None:
    root = two_sources.parent
    paste = PasteConfig(images=3)
    made = {}
    for run, seed in (("a", 1), ("b", 1), ("c", 2)):
        pasted_data_yaml(two_sources, root, paste, seed, ["hands", "room"], tmp_path / run, False)
        made[run] = [p.read_bytes() for p in sorted((tmp_path / run / "pasted" / "images").iterdir())]
    assert made["a"] == made["b"]
    assert made["a"] != made["c"]


def test_ultralytics_reads_the_composites_with_their_labels(two_sources: Path, tmp_path: Path) -> None:
    from ultralytics.data.dataset import YOLODataset

    data_yaml, written = pasted_data_yaml(
        two_sources, two_sources.parent, PasteConfig(images=4), 3, ["hands", "room"], tmp_path / "run", False
    )
    spec = yaml.safe_load(data_yaml.read_text())
    dataset = YOLODataset(spec["train"], imgsz=160, augment=False, data={"names": spec["names"], "channels": 3})
    pasted = [label for label in dataset.labels if Path(label["im_file"]).name.startswith("pasted__")]
    assert len(pasted) == written
    assert all(len(label["cls"]) >= 2 for label in pasted)


def test_one_source_has_no_other_room_to_paste_into(tmp_path: Path) -> None:
    data_yaml = prepared(tmp_path / "prepared", ["room"])
    with pytest.raises(ConfigError, match=r"another source's photo.*\['room'\], it needs two"):
        pasted_data_yaml(data_yaml, data_yaml.parent, PasteConfig(images=2), 1, ["room"], tmp_path / "run", False)


def test_paste_in_a_config_is_checked_and_never_reaches_ultralytics(tmp_path: Path) -> None:
    config = TrainingConfig.model_validate({"augmentation": {"paste": {"images": 500, "size": [0.1, 0.3]}}})
    assert config.augmentation.paste.images == 500
    args = train_args(config, tmp_path / "data.yaml", tmp_path, "run")
    assert "paste" not in args  # Ultralytics refuses a key it does not know
    assert args["mosaic"] == config.augmentation.mosaic
    for bad, message in (({"hands": [2, 1]}, "hands"), ({"size": [0.5, 0.2]}, "size"), ({"images": -1}, "images")):
        with pytest.raises(ValidationError, match=message):
            TrainingConfig.model_validate({"augmentation": {"paste": bad}})
