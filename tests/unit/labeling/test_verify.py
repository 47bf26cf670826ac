"""Labels checked by the teacher on real shared photos: a planted wrong label is caught, the right
ones are kept, and the report says what was done with both counts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest

from fingercount.data.prepare import prepare
from fingercount.data.sources.classes import CountedSource, to_counts
from fingercount.data.sources.local import LocalSource
from fingercount.labeling.teacher import HandTeacher
from fingercount.labeling.verify import iou, verify_with_teacher
from fingercount.labels import RawDataset
from tests.unit.data.test_voc import ROOMS

RATIOS = {"train": 0.6, "val": 0.2, "test": 0.2}


@pytest.fixture(scope="module")
def rooms_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """Eight one-hand frames of the webcam-rooms set that the teacher counts as labelled (chosen by
    running it), copied with their XMLs; one of them gets a wrong label planted."""
    if not ROOMS.is_dir():
        pytest.skip(f"{ROOMS} is not here (the shared datasets sit beside the repository)")
    folder = tmp_path_factory.mktemp("rooms") / "images"
    folder.mkdir()
    dataset = to_counts(LocalSource(ROOMS).load(progress=False), {})
    chosen: list[str] = []
    with HandTeacher() as teacher:
        for sample in dataset.samples[::40]:
            if not sample.boxes or len(sample.boxes) != 1 or sample.boxes[0].class_id not in {1, 2, 3}:
                continue  # one to three fingers: a planted five is at least two off
            hands = teacher.label(cv2.imread(str(sample.image)))
            if len(hands) == 1 and hands[0].count == int(dataset.class_names[sample.boxes[0].class_id]):
                chosen.append(sample.image.name)
                shutil.copy(sample.image, folder / sample.image.name)
                shutil.copy(sample.image.with_suffix(".xml"), folder / sample.image.with_suffix(".xml").name)
            if len(chosen) == 8:
                break
    assert len(chosen) == 8, "the teacher agrees with far fewer webcam-rooms labels than it used to"
    planted = folder / Path(chosen[0]).with_suffix(".xml").name
    text = planted.read_text()
    label = text.split("<name>")[1].split("</name>")[0]
    planted.write_text(text.replace(f"<name>{label}</name>", "<name>5-hand</name>"))
    return folder.parent, chosen


def test_a_planted_wrong_label_is_left_out_and_listed_with_both_counts(
    rooms_sample: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, chosen = rooms_sample
    dataset = CountedSource(LocalSource(root), {}, verify="teacher", cache_dir=tmp_path / "cache").load(False)
    assert dataset.notes == [
        "teacher check: 8 hands checked, 7 agreed, 0 counted fewer than 2 off (kept), 1 left out (1 image), "
        "0 not seen by the teacher"
    ]
    prepare(dataset, tmp_path / "out", RATIOS, seed=1, progress=False)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [(item["file"], item["reason"]) for item in report["skipped"]] == [(chosen[0], "teacher_disagrees")]
    assert "labelled 5, teacher counts" in report["skipped"][0]["detail"]
    assert report["kept"] == 7
    assert report["notes"] == dataset.notes
    assert list((tmp_path / "cache").glob("teacher-hands-*.json")), "the teacher's hands are cached"


def test_relabel_gives_the_hand_the_teacher_s_count(rooms_sample: tuple[Path, list[str]], tmp_path: Path) -> None:
    root, chosen = rooms_sample
    counted = CountedSource(LocalSource(root), {})
    dataset: RawDataset = verify_with_teacher(counted.load(False), "relabel", tmp_path / "cache", progress=False)
    planted = next(sample for sample in dataset.samples if sample.name == chosen[0])
    assert planted.boxes is not None
    relabelled = dataset.description["verify"]["relabelled"]
    assert relabelled == [{"file": chosen[0], "box": 1, "label": 5, "teacher": relabelled[0]["teacher"]}]
    assert dataset.class_names[planted.boxes[0].class_id] == str(relabelled[0]["teacher"])
    assert relabelled[0]["teacher"] != 5


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
