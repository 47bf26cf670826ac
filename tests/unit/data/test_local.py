"""Importing YOLO folders and COCO files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fingercount.data.prepare import load_manifest, prepare
from fingercount.data.sources.local import LocalSource, read_yolo_folder
from fingercount.errors import DatasetError
from tests.conftest import CONFIGS, run_cli


def yolo_to_coco(folder: Path, target: Path) -> Path:
    """Convert a synthetic YOLO folder into a COCO file the way an annotation tool exports it."""
    dataset = read_yolo_folder(folder)
    images, annotations = [], []
    for image_id, sample in enumerate(sorted(dataset.samples, key=lambda s: s.name), start=1):
        images.append({"id": image_id, "file_name": sample.name, "width": 128, "height": 128})
        for box in sample.boxes or ():
            w, h = box.w * 128, box.h * 128
            bbox = [box.cx * 128 - w / 2, box.cy * 128 - h / 2, w, h]
            annotations.append(
                {"id": len(annotations) + 1, "image_id": image_id, "category_id": box.class_id + 10, "bbox": bbox}
            )
    categories = [{"id": index + 10, "name": name} for index, name in enumerate(dataset.class_names)]
    target.mkdir()
    (target / "images").symlink_to(folder / "images")
    path = target / "annotations.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def test_coco_and_yolo_import_give_the_same_dataset(synthetic_folder: Path, tmp_path: Path) -> None:
    coco = yolo_to_coco(synthetic_folder, tmp_path / "coco")
    ratios = {"train": 0.8, "val": 0.1, "test": 0.1}
    from_yolo = prepare(LocalSource(synthetic_folder).load(), tmp_path / "a", ratios, 1, progress=False)
    from_coco = prepare(LocalSource(coco).load(), tmp_path / "b", ratios, 1, progress=False)
    assert from_coco.manifest["classes"] == ["1", "2", "3", "4", "5"]
    assert from_coco.manifest["content_hash"] == from_yolo.manifest["content_hash"]
    assert from_coco.manifest["splits"] == from_yolo.manifest["splits"]


def test_malformed_coco_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"images": []}')
    with pytest.raises(DatasetError, match="not a COCO detection file"):
        LocalSource(path).load()


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file or folder"):
        LocalSource(tmp_path / "nowhere").load()


def test_cli_import_and_stats(
    synthetic_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "prepared"
    args = [
        "data",
        "import",
        str(synthetic_folder),
        "--out",
        str(out),
        "-q",
        "-t",
        str(CONFIGS / "training_config.yaml"),
    ]
    code, printed, _ = run_cli(args, monkeypatch, capsys)
    assert code == 0
    assert "train 24, val 3, test 3; skipped 0" in printed
    assert load_manifest(out)["splits"]["train"]["images"] == 24
    code, printed, _ = run_cli(["data", "stats", str(out)], monkeypatch, capsys)
    assert code == 0
    assert "train       24      " in printed


def test_cli_import_works_from_any_folder(
    synthetic_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No configs/ where it runs: `data import` needs none (the built-in split is the shipped config's)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, printed, err = run_cli(
        ["data", "import", str(synthetic_folder), "--out", "prepared", "-q"], monkeypatch, capsys
    )
    assert code == 0, err
    assert "train 24, val 3, test 3; skipped 0" in printed
    with_configs = tmp_path / "with-configs"
    args = ["data", "import", str(synthetic_folder), "--out", str(with_configs), "-q",
            "-t", str(CONFIGS / "training_config.yaml"), "-c", str(CONFIGS / "config.yaml")]  # fmt: skip
    assert run_cli(args, monkeypatch, capsys)[0] == 0
    assert load_manifest(elsewhere / "prepared")["splits"] == load_manifest(with_configs)["splits"]


@pytest.mark.parametrize(
    ("command", "flag"),
    [(["train"], "--training-config"), (["data", "prepare"], "--config"), (["teach", "mine"], "--config")],
)
def test_cli_a_needed_default_config_missing_is_one_line_naming_the_flag(
    command: list[str], flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(command, monkeypatch, capsys)
    assert code != 0
    assert err.count("\n") == 1, err
    assert err.startswith("error: configs/"), err
    assert f"pass {flag} PATH" in err
