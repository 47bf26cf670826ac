"""`fingercount data label`: count folders -> YOLO dataset; disagreeing and handless photos listed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from fingercount.data.sources.local import read_yolo_folder
from tests.conftest import real_photos, run_cli


@pytest.fixture
def count_folders(tmp_path: Path, real_hands: Path) -> Path:
    """1/ and 2/ with matching photos, a "five" photo filed under 2/, a blank and a corrupt file under 3/."""
    photos = real_photos(per_count=2)
    src = tmp_path / "src"
    for count in (1, 2, 3):
        (src / str(count)).mkdir(parents=True)
    for count in (1, 2):
        for photo in photos[count]:
            shutil.copy(photo, src / str(count) / photo.name)
    shutil.copy(photos[5][0], src / "2" / "misfiled.jpg")
    cv2.imwrite(str(src / "3" / "wall.jpg"), np.full((240, 320, 3), 120, np.uint8))
    (src / "3" / "broken.jpg").write_bytes(b"not a jpeg")
    return src


def test_label_lists_mismatch_no_hand_and_corrupt(
    count_folders: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "labelled"
    code, stdout, _ = run_cli(["data", "label", str(count_folders), "--out", str(out), "-q"], monkeypatch, capsys)
    assert code == 0, stdout
    report = json.loads((out / "report.json").read_text())
    listed = {item["file"]: item for item in report["listed"]}
    assert listed["2/misfiled.jpg"]["reason"] == "count_mismatch"
    assert listed["2/misfiled.jpg"]["teacher_counts"] == [5]
    assert listed["2/misfiled.jpg"]["action"] == "skipped"
    assert listed["3/wall.jpg"]["reason"] == "no_hand"
    assert listed["3/broken.jpg"]["reason"] == "corrupt_image"
    assert report["kept"] == 4
    assert report["teacher"]["model_sha256"]
    assert "kept 4" in stdout
    dataset = read_yolo_folder(out)
    assert dataset.class_names == ["0", "1", "2", "3", "4", "5"]
    by_name = {sample.name: sample for sample in dataset.samples}
    assert sorted(by_name) == sorted(f"{c}__{p.name}" for c, ps in real_photos(2).items() if c in (1, 2) for p in ps)
    for name, sample in by_name.items():
        assert sample.boxes is not None
        assert len(sample.boxes) == 1
        assert sample.boxes[0].class_id == int(name[0]), "the folder is the truth"
        assert 0.1 < sample.boxes[0].w < 0.9


def test_keep_uses_the_folder_count(
    count_folders: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "kept"
    args = ["data", "label", str(count_folders), "--out", str(out), "--on-mismatch", "keep", "-q"]
    assert run_cli(args, monkeypatch, capsys)[0] == 0
    assert (out / "labels" / "2__misfiled.txt").read_text().split()[0] == "2"
    report = json.loads((out / "report.json").read_text())
    assert {item["file"]: item["action"] for item in report["listed"]}[
        "2/misfiled.jpg"
    ] == "kept with the folder's count"


def test_label_refuses_a_folder_without_photos_and_keeps_other_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(
        ["data", "label", str(tmp_path / "empty"), "--out", str(tmp_path / "o")], monkeypatch, capsys
    )
    assert code == 1
    assert "no photos found" in err
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("mine")
    code, _, err = run_cli(["data", "label", str(tmp_path), "--out", str(precious)], monkeypatch, capsys)
    assert code == 1
    assert "not a labelled dataset" in err
    assert (precious / "notes.txt").read_text() == "mine"
