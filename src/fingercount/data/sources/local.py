"""Import a local dataset: a YOLO folder (images/ + labels/ [+ data.yaml]), a COCO JSON file, or a
Pascal VOC folder (an XML per image; `voc.py`)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import yaml

from fingercount.data.sources.base import register_source
from fingercount.data.sources.voc import read_voc_folder, voc_folders
from fingercount.errors import DatasetError
from fingercount.files import image_files
from fingercount.labels import Box, RawDataset, RawSample, sequence_of


def _unique_names(paths: list[Path], root: Path) -> list[str]:
    """Flat file names; directories are folded into the name only where stems collide."""
    stems = Counter(p.name for p in paths)
    names = []
    for path in paths:
        if stems[path.name] == 1:
            names.append(path.name)
        else:
            names.append("__".join(path.relative_to(root).parts))
    return names


def _names_from_yaml(path: Path) -> list[str] | None:
    if not path.is_file():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise DatasetError(f"{path}: invalid YAML: {exc}") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        return [str(names[key]) for key in sorted(names)]
    if isinstance(names, list):
        return [str(name) for name in names]
    return None


def parse_yolo_label(text: str) -> tuple[tuple[Box, ...], str | None]:
    boxes = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 5:
            return (), f"line {number}: expected 5 values (class cx cy w h), got {len(parts)}"
        try:
            class_id = int(parts[0])
            cx, cy, w, h = (float(value) for value in parts[1:])
        except ValueError:
            return (), f"line {number}: not numbers: {line.strip()!r}"
        boxes.append(Box(class_id, cx, cy, w, h))
    return tuple(boxes), None


def read_yolo_folder(root: Path) -> RawDataset:
    images_dir = root / "images" if (root / "images").is_dir() else root
    images = image_files(images_dir)
    if not images:
        raise DatasetError(f"{root}: no images found (expected images/ with .jpg/.png files)")
    names = _names_from_yaml(root / "data.yaml")
    if names is None and (root / "classes.txt").is_file():
        names = [line.strip() for line in (root / "classes.txt").read_text().splitlines() if line.strip()]
    samples = []
    highest = -1
    for image, name in zip(images, _unique_names(images, images_dir), strict=True):
        relative = image.relative_to(images_dir).with_suffix(".txt")
        label = (root / "labels" / relative) if images_dir != root else image.with_suffix(".txt")
        if not label.is_file():
            samples.append(RawSample(image, name, None))
            continue
        boxes, problem = parse_yolo_label(label.read_text(encoding="utf-8", errors="replace"))
        highest = max([highest, *(box.class_id for box in boxes)])
        samples.append(RawSample(image, name, boxes, problem))
    if names is None:  # without names, ids are the names ("0", "1", …) and the report says so
        names = [str(i) for i in range(highest + 1)]
    return RawDataset(names, samples, {"source": "local", "format": "yolo", "path": str(root)})


def read_coco(json_path: Path) -> RawDataset:
    try:
        data: dict[str, Any] = json.loads(json_path.read_text(encoding="utf-8"))
        categories = sorted(data["categories"], key=lambda c: c["id"])
        images = data["images"]
        annotations = data.get("annotations", [])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DatasetError(f"{json_path}: not a COCO detection file ({exc})") from None
    class_of = {category["id"]: index for index, category in enumerate(categories)}
    by_image: dict[Any, list[dict[str, Any]]] = {}
    for annotation in annotations:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    base = json_path.parent / "images" if (json_path.parent / "images").is_dir() else json_path.parent
    paths = [base / image["file_name"] for image in images]
    samples = []
    for image, path, name in zip(images, paths, _unique_names(paths, base), strict=True):
        found = by_image.get(image["id"])
        if not found:
            samples.append(RawSample(path, name, None))
            continue
        boxes, problem = _coco_boxes(image, found, class_of)
        samples.append(RawSample(path, name, boxes, problem))
    names = [str(category["name"]) for category in categories]
    return RawDataset(names, samples, {"source": "local", "format": "coco", "path": str(json_path)})


def _coco_boxes(
    image: dict[str, Any], annotations: list[dict[str, Any]], class_of: dict[Any, int]
) -> tuple[tuple[Box, ...], str | None]:
    try:
        width, height = float(image["width"]), float(image["height"])
        boxes = []
        for annotation in annotations:
            if annotation["category_id"] not in class_of:
                return (), f"unknown category id {annotation['category_id']}"
            x, y, w, h = (float(v) for v in annotation["bbox"])
            class_id = class_of[annotation["category_id"]]
            boxes.append(Box(class_id, (x + w / 2) / width, (y + h / 2) / height, w / width, h / height))
    except (KeyError, ValueError, TypeError, ZeroDivisionError) as exc:
        return (), f"malformed COCO annotation ({exc!r})"
    return tuple(boxes), None


@register_source
class LocalSource:
    name: ClassVar[str] = "local"

    def __init__(self, path: Path, format: str = "auto", sequences: bool = False) -> None:  # noqa: A002
        self.path = Path(path)
        self.format = format  # the config key's name
        self.sequences = sequences

    def load(self, progress: bool = True) -> RawDataset:
        if not self.path.exists():
            raise DatasetError(f"{self.path}: no such file or folder")
        if self.format == "coco" or (self.format == "auto" and self.path.suffix.lower() == ".json"):
            return read_coco(self.path)
        if not self.path.is_dir():
            raise DatasetError(f"{self.path}: expected a YOLO folder, a Pascal VOC folder or a COCO .json file")
        is_voc = self.format == "voc" or (
            self.format == "auto" and not (self.path / "labels").is_dir() and voc_folders(self.path) is not None
        )
        dataset = read_voc_folder(self.path) if is_voc else read_yolo_folder(self.path)
        if self.sequences:
            dataset.samples = [replace(sample, sequence=sequence_of(sample.name)) for sample in dataset.samples]
        return dataset
