"""Pascal VOC import: good files, and each kind of bad file listed with its reason, the rest kept."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from fingercount.data.prepare import prepare
from fingercount.data.sources.classes import CountedSource
from fingercount.data.sources.local import LocalSource
from tests.conftest import CONFIGS, REPO, run_cli

ROOMS = REPO.parent / "shared" / "datasets" / "hands-webcam-rooms"
RATIOS = {"train": 0.6, "val": 0.2, "test": 0.2}


def voc_xml(filename: str, size: tuple[int, int], objects: list[tuple[str, tuple[int, int, int, int]]]) -> str:
    parts = "".join(
        f"<object><name>{name}</name><difficult>0</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
        f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
        for name, (x1, y1, x2, y2) in objects
    )
    return (
        f"<annotation><filename>{filename}</filename><size><width>{size[0]}</width><height>{size[1]}</height>"
        f"<depth>3</depth></size>{parts}</annotation>"
    )


@pytest.fixture
def voc_folder(tmp_path: Path) -> Path:
    """Six good images (one with two hands) and one of each kind of bad file, as LabelImg writes them."""
    folder = tmp_path / "voc" / "images"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        cv2.imwrite(str(folder / f"good{i}.jpg"), rng.integers(0, 255, (60, 80, 3), np.uint8))
        hands = [(f"{i % 6}-hand", (10, 10, 40, 50))] + ([("2-hand", (45, 5, 75, 55))] if i == 0 else [])
        (folder / f"good{i}.xml").write_text(voc_xml(f"good{i}.jpg", (80, 60), hands))
    cv2.imwrite(str(folder / "broken.jpg"), rng.integers(0, 255, (60, 80, 3), np.uint8))
    (folder / "broken.xml").write_text("<annotation><filename>broken.jpg</filename><object>")  # cut off
    cv2.imwrite(str(folder / "outside.jpg"), rng.integers(0, 255, (60, 80, 3), np.uint8))
    (folder / "outside.xml").write_text(voc_xml("outside.jpg", (80, 60), [("3-hand", (50, 10, 120, 50))]))
    (folder / "orphan.xml").write_text(voc_xml("orphan.jpg", (80, 60), [("1-hand", (10, 10, 40, 50))]))
    cv2.imwrite(str(folder / "unlabelled.jpg"), rng.integers(0, 255, (60, 80, 3), np.uint8))
    return folder.parent


def test_voc_folder_is_detected_read_and_its_bad_files_listed(voc_folder: Path, tmp_path: Path) -> None:
    dataset = CountedSource(LocalSource(voc_folder), {}).load()  # as a config's or `data import`'s source
    assert dataset.description["format"] == "voc"
    result = prepare(dataset, tmp_path / "out", RATIOS, seed=1, progress=False)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    reasons = {item["file"]: item["reason"] for item in report["skipped"]}
    assert reasons == {
        "broken.jpg": "unreadable_label",
        "outside.jpg": "box_outside_image",
        "orphan.xml": "xml_without_image",
        "unlabelled.jpg": "unlabeled",
    }
    assert "malformed XML" in next(i["detail"] for i in report["skipped"] if i["file"] == "broken.jpg")
    assert report["kept"] == 6
    assert result.manifest["classes"] == ["0", "1", "2", "3", "4", "5"]  # `N-hand` read as counts
    labels = {p.stem: p.read_text().split("\n")[:-1] for p in (tmp_path / "out" / "labels").rglob("*.txt")}
    class_id, cx, cy, w, h = labels["good0"][0].split()
    assert class_id == "0"
    assert [float(cx), float(cy), float(w), float(h)] == pytest.approx([25 / 80, 30 / 60, 30 / 80, 40 / 60], abs=1e-6)
    assert sorted(line.split()[0] for line in labels["good0"]) == ["0", "2"]


def test_a_voc_folder_in_voc_s_own_layout(voc_folder: Path, tmp_path: Path) -> None:
    root = tmp_path / "VOC2012"
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    for path in (voc_folder / "images").glob("good*"):
        shutil.copy(path, root / ("Annotations" if path.suffix == ".xml" else "JPEGImages") / path.name)
    dataset = LocalSource(root, "voc").load()
    assert len(dataset.samples) == 6
    assert all(sample.boxes for sample in dataset.samples)


def test_cli_imports_the_shared_webcam_rooms_set_by_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    if not ROOMS.is_dir():
        pytest.skip(f"{ROOMS} is not here (the shared datasets sit beside the repository)")
    out = tmp_path / "rooms"
    args = ["data", "import", str(ROOMS), "--group", "^(.+)_pic", "--out", str(out), "-q",
            "-t", str(CONFIGS / "training_config.yaml")]  # fmt: skip
    code, printed, _ = run_cli(args, monkeypatch, capsys)
    assert code == 0, printed
    manifest = json.loads((out / "manifest.json").read_text())
    sessions = {
        split: {name.split("_pic")[0] if "_pic" in name else "(no session)" for name in info["files"]}
        for split, info in manifest["splits"].items()
    }
    assert sum(info["images"] for info in manifest["splits"].values()) == 1545  # every frame kept
    assert not sessions["train"] & sessions["val"]
    assert not sessions["train"] & sessions["test"]
    assert not sessions["val"] & sessions["test"]
    assert len(set().union(*sessions.values())) == 16  # 15 sessions and the frames without one
    report = json.loads((out / "report.json").read_text())
    assert report["split_unit"] == "1545 images by group (no group straddles splits)"
