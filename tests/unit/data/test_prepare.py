"""Validation, the report of skipped files, and reproducible stratified splits."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fingercount.config import SyntheticSourceConfig
from fingercount.data.prepare import SPLITS, prepare
from fingercount.data.sources.local import read_yolo_folder
from fingercount.data.sources.synthetic import write_synthetic
from fingercount.errors import DatasetError

RATIOS = {"train": 0.7, "val": 0.15, "test": 0.15}


def copy_in_order(source: Path, target: Path, reverse: bool) -> Path:
    """Copy a YOLO folder file by file in a chosen order (listing and creation order differ)."""
    target.mkdir(parents=True)
    shutil.copy(source / "data.yaml", target / "data.yaml")
    for sub in ("images", "labels"):
        (target / sub).mkdir()
        for path in sorted((source / sub).iterdir(), reverse=reverse):
            shutil.copy(path, target / sub / path.name)
    return target


def manifest_bytes(folder: Path) -> bytes:
    return (folder / "manifest.json").read_bytes()


def test_same_input_and_seed_give_identical_manifests(synthetic_folder: Path, tmp_path: Path) -> None:
    forward = copy_in_order(synthetic_folder, tmp_path / "a", reverse=False)
    backward = copy_in_order(synthetic_folder, tmp_path / "b", reverse=True)
    prepare(read_yolo_folder(forward), tmp_path / "out1", RATIOS, seed=42, progress=False)
    prepare(read_yolo_folder(forward), tmp_path / "out2", RATIOS, seed=42, progress=False)
    prepare(read_yolo_folder(backward), tmp_path / "out3", RATIOS, seed=42, progress=False)
    assert manifest_bytes(tmp_path / "out1") == manifest_bytes(tmp_path / "out2") == manifest_bytes(tmp_path / "out3")


def test_another_seed_gives_other_splits(synthetic_folder: Path, tmp_path: Path) -> None:
    a = prepare(read_yolo_folder(synthetic_folder), tmp_path / "a", RATIOS, seed=1, progress=False).manifest
    b = prepare(read_yolo_folder(synthetic_folder), tmp_path / "b", RATIOS, seed=2, progress=False).manifest
    assert a["splits"]["train"]["files"] != b["splits"]["train"]["files"]
    assert a["content_hash"] == b["content_hash"]  # same data, other split
    assert a["split_hash"] != b["split_hash"]


@pytest.mark.parametrize(
    "ratios", [RATIOS, {"train": 0.8, "val": 0.1, "test": 0.1}, {"train": 0.5, "val": 0.5, "test": 0}]
)
def test_splits_are_disjoint_complete_and_sized(
    synthetic_folder: Path, tmp_path: Path, ratios: dict[str, float]
) -> None:
    manifest = prepare(read_yolo_folder(synthetic_folder), tmp_path / "out", ratios, seed=0, progress=False).manifest
    files = [set(manifest["splits"][name]["files"]) for name in SPLITS]
    assert sum(len(f) for f in files) == 30
    assert len(set.union(*files)) == 30  # no image in two splits
    for name, names in zip(SPLITS, files, strict=True):
        assert abs(len(names) - ratios[name] * 30) <= 1
        on_disk = {p.name for p in (tmp_path / "out" / "images" / name).iterdir()}
        assert on_disk == names
        labels = {p.stem for p in (tmp_path / "out" / "labels" / name).iterdir()}
        assert labels == {Path(n).stem for n in names}


def test_output_is_cleaned_between_runs(synthetic_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    prepare(read_yolo_folder(synthetic_folder), out, RATIOS, seed=1, progress=False)
    (out / "images" / "train" / "stale.jpg").write_bytes(b"old")
    prepare(read_yolo_folder(synthetic_folder), out, RATIOS, seed=2, progress=False)
    assert not (out / "images" / "train" / "stale.jpg").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_refuses_to_replace_a_foreign_folder(synthetic_folder: Path, tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not a prepared dataset"):
        prepare(read_yolo_folder(synthetic_folder), tmp_path, RATIOS, seed=1, progress=False)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def make_broken_dataset(root: Path) -> Path:
    write_synthetic(root, SyntheticSourceConfig(images=8, seed=9, img_size=96), progress=False)
    images, labels = root / "images", root / "labels"
    names = sorted(p.stem for p in images.iterdir())
    (images / f"{names[0]}.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")  # corrupt image
    (labels / f"{names[1]}.txt").write_text("9 0.5 0.5 0.2 0.2\n")  # class out of range
    (labels / f"{names[2]}.txt").write_text("0 0.95 0.5 0.3 0.2\n")  # box leaves the image
    (labels / f"{names[3]}.txt").write_text("")  # empty label file
    (labels / f"{names[4]}.txt").unlink()  # image without label
    (labels / f"{names[5]}.txt").write_text("0 0.5 half 0.2 0.2\n")  # unparseable
    return root


def test_bad_files_are_skipped_and_reported(tmp_path: Path) -> None:
    root = make_broken_dataset(tmp_path / "raw")
    result = prepare(read_yolo_folder(root), tmp_path / "out", RATIOS, seed=0, progress=False)
    names = sorted(p.name for p in (root / "images").iterdir())
    reasons = {item.file: item.reason for item in result.skipped}
    assert reasons == {
        names[0]: "corrupt_image",
        names[1]: "class_out_of_range",
        names[2]: "box_outside_image",
        names[3]: "empty_label",
        names[4]: "unlabeled",
        names[5]: "unreadable_label",
    }
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert {item["file"]: item["reason"] for item in report["skipped"]} == reasons
    kept = sum(info["images"] for info in result.manifest["splits"].values())
    assert kept == report["kept"] == 2


def test_duplicate_images_are_kept_once(synthetic_folder: Path, tmp_path: Path) -> None:
    root = copy_in_order(synthetic_folder, tmp_path / "raw", reverse=False)
    first = sorted((root / "images").iterdir())[0]
    shutil.copy(first, root / "images" / "zz_copy.jpg")
    shutil.copy(root / "labels" / f"{first.stem}.txt", root / "labels" / "zz_copy.txt")
    result = prepare(read_yolo_folder(root), tmp_path / "out", RATIOS, seed=0, progress=False)
    assert [(s.file, s.reason) for s in result.skipped] == [("zz_copy.jpg", "duplicate_image")]


def test_nothing_usable_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    root = write_synthetic(tmp_path / "raw", SyntheticSourceConfig(images=3, seed=1, img_size=96), progress=False)
    for label in (root / "labels").iterdir():
        label.write_text("")
    with pytest.raises(DatasetError, match="no usable images"):
        prepare(read_yolo_folder(root), tmp_path / "out", RATIOS, seed=0, progress=False)
    assert not (tmp_path / "out").exists()


def test_preparation_blurs_faces_before_writing(tmp_path: Path) -> None:
    import cv2
    from skimage import data

    from fingercount.preprocessing import build_pipeline

    root = write_synthetic(tmp_path / "raw", SyntheticSourceConfig(images=6, seed=4, img_size=128), progress=False)
    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(root / "images" / "astronaut.png"), face)
    (root / "labels" / "astronaut.txt").write_text("0 0.5 0.8 0.2 0.2\n")
    # 0.5, not the default 0.2: at 0.2 about 1% of synthetic palms pass for faces (docs/benchmarks.md).
    pipeline = build_pipeline([("face_blur", {"threshold": 0.5})])
    result = prepare(read_yolo_folder(root), tmp_path / "out", RATIOS, seed=0, progress=False, pipeline=pipeline)
    assert result.manifest["preprocessing"] == ["face_blur"]
    written = next((tmp_path / "out" / "images").rglob("astronaut.png"))
    assert not np.array_equal(cv2.imread(str(written)), face)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["preprocessing"] == {"steps": ["face_blur"], "images_changed": 1}
    # Faceless images are written byte for byte.
    for image in (root / "images").glob("synth_*.jpg"):
        assert next((tmp_path / "out" / "images").rglob(image.name)).read_bytes() == image.read_bytes()
