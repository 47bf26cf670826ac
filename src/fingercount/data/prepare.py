"""Validate, convert and split a raw dataset into a prepared YOLO dataset.

The output folder is built aside and swapped in at the end, so a crash or Ctrl-C never leaves a
half-written dataset, and nothing from an earlier run leaks between splits. The split depends
only on file contents and the seed (not on names, listing order or the machine).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from tqdm import tqdm

from fingercount.errors import DatasetError
from fingercount.files import built_aside
from fingercount.labels import Box, RawDataset, RawSample
from fingercount.preprocessing import Pipeline

SPLITS = ("train", "val", "test")
MANIFEST = "manifest.json"
REPORT = "report.json"
# Sequences (video-like frames) are split in blocks of this many frame numbers, and a val/test
# frame this close to a training frame is left out.
SEQUENCE_BLOCK = 30
GUARD_FRAMES = 2
# Labels a few thousandths outside the image are rounding, not errors; they are clipped.
_EDGE_TOLERANCE = 0.005


@dataclass(frozen=True)
class ValidSample:
    sample: RawSample
    image_bytes: bytes
    boxes: tuple[Box, ...]
    image_hash: str
    label_text: str

    @property
    def label_hash(self) -> str:
        return hashlib.sha256(self.label_text.encode()).hexdigest()

    @property
    def stratum(self) -> str:
        return ",".join(sorted(str(box.class_id) for box in self.boxes))


@dataclass
class Skipped:
    file: str
    reason: str
    detail: str = ""


@dataclass
class PrepareResult:
    out: Path
    manifest: dict[str, Any]
    skipped: list[Skipped] = field(default_factory=list)


def _check_boxes(boxes: tuple[Box, ...], n_classes: int) -> tuple[tuple[Box, ...], Skipped | None]:
    clipped = []
    for box in boxes:
        if not 0 <= box.class_id < n_classes:
            return (), Skipped("", "class_out_of_range", f"class id {box.class_id} not in 0..{n_classes - 1}")
        x1, y1 = box.cx - box.w / 2, box.cy - box.h / 2
        x2, y2 = box.cx + box.w / 2, box.cy + box.h / 2
        if box.w <= 0 or box.h <= 0:
            return (), Skipped("", "empty_box", f"box has no area: {box}")
        if min(x1, y1) < -_EDGE_TOLERANCE or max(x2, y2) > 1 + _EDGE_TOLERANCE:
            return (), Skipped("", "box_outside_image", f"box ({x1:.3f},{y1:.3f})-({x2:.3f},{y2:.3f}) leaves the image")
        x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, 1.0), min(y2, 1.0)
        clipped.append(Box(box.class_id, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1))
    return tuple(clipped), None


def validate(sample: RawSample, n_classes: int) -> ValidSample | Skipped:
    """A usable sample, or why it is skipped. Never raises for bad data."""
    if sample.problem:
        return Skipped(sample.name, sample.problem_reason, sample.problem)
    if sample.boxes is None:
        return Skipped(sample.name, "unlabeled", "no label file or annotation for this image")
    if not sample.boxes:
        return Skipped(sample.name, "empty_label", "the label has no boxes")
    try:
        data = sample.image.read_bytes()
    except OSError as exc:
        return Skipped(sample.name, "unreadable_image", str(exc))
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if decoded is None or decoded.size == 0:
        return Skipped(sample.name, "corrupt_image", "the file does not decode as an image")
    boxes, problem = _check_boxes(sample.boxes, n_classes)
    if problem:
        problem.file = sample.name
        return problem
    label = "".join(f"{b.class_id} {b.cx:.6f} {b.cy:.6f} {b.w:.6f} {b.h:.6f}\n" for b in boxes)
    return ValidSample(sample, data, boxes, hashlib.sha256(data).hexdigest(), label)


def assign_splits(
    samples: list[ValidSample], ratios: dict[str, float], seed: int
) -> tuple[dict[str, list[ValidSample]], list[Skipped]]:
    """Stratified, seeded, order-independent split; each split near its ratio.

    The unit dealt out is a whole group (a session or person, the source's `group` pattern), else a
    block of SEQUENCE_BLOCK neighbouring frames of a sequence (near-identical video frames must not
    straddle train and test), else an image. Units are grouped by class
    composition, shuffled by a seeded hash of their content, then dealt out in that order to
    whichever split is furthest below its target share. Frames of a val/test block within
    GUARD_FRAMES of a train frame are left out (listed), so no test frame has a training neighbour.
    """
    units: dict[tuple[str, ...], list[ValidSample]] = {}
    for item in samples:
        sequence, group = item.sample.sequence, item.sample.group
        if group is not None:
            key: tuple[str, ...] = ("group", group)
        elif sequence:
            key = (sequence[0], str(sequence[1] // SEQUENCE_BLOCK))
        else:
            key = (item.image_hash,)
        units.setdefault(key, []).append(item)

    def shuffle_key(unit: list[ValidSample]) -> tuple[str, str]:
        content = ":".join(sorted(f"{i.image_hash}:{i.label_hash}" for i in unit))
        stratum = Counter(i.stratum for i in unit).most_common(1)[0][0]
        return stratum, hashlib.sha256(f"{seed}:{content}".encode()).hexdigest()

    splits: dict[str, list[ValidSample]] = {name: [] for name in SPLITS}
    # Blocks are dealt with their own tallies per class composition: dealt beside single images,
    # a 30-frame block would rarely be the one that fits a small val/test deficit.
    tallies: dict[str, dict[str, int]] = {}
    for unit in sorted(units.values(), key=shuffle_key):
        if unit[0].sample.group is not None:
            family = "group"  # few and large: dealt by size alone, not per class composition
        elif unit[0].sample.sequence:
            family = f"block:{shuffle_key(unit)[0]}"
        else:
            family = "image"
        tally = tallies.setdefault(family, {"dealt": 0, **{name: 0 for name in SPLITS}})
        tally["dealt"] += len(unit)
        chosen = max(SPLITS, key=lambda name: ratios[name] * tally["dealt"] - tally[name])
        tally[chosen] += len(unit)
        splits[chosen].extend(unit)
    return _guard_sequences(splits)


def _guard_sequences(splits: dict[str, list[ValidSample]]) -> tuple[dict[str, list[ValidSample]], list[Skipped]]:
    train_frames = {i.sample.sequence for i in splits["train"] if i.sample.sequence}
    guarded: list[Skipped] = []
    for split in ("val", "test"):
        kept = []
        for item in splits[split]:
            sequence = item.sample.sequence
            near = sequence and any(
                (sequence[0], sequence[1] + step) in train_frames
                for step in range(-GUARD_FRAMES, GUARD_FRAMES + 1)
                if step
            )
            if near:
                guarded.append(Skipped(item.sample.name, "split_guard", f"{split} frame next to a training frame"))
            else:
                kept.append(item)
        splits[split] = kept
    return splits, guarded


def _safe_to_replace(out: Path) -> bool:
    return not out.exists() or (out.is_dir() and (not any(out.iterdir()) or (out / MANIFEST).is_file()))


def preprocess(item: ValidSample, pipeline: Pipeline) -> tuple[ValidSample, bool]:
    """Run the preprocessing steps; re-encode only if a step changed the pixels."""
    frame = cv2.imdecode(np.frombuffer(item.image_bytes, np.uint8), cv2.IMREAD_UNCHANGED)
    assert frame is not None  # validate() decoded it already
    processed = pipeline(frame)
    if processed is frame:
        return item, False
    suffix = Path(item.sample.name).suffix.lower() or ".jpg"
    ok, encoded = cv2.imencode(suffix if suffix in {".png", ".bmp", ".webp", ".tif", ".tiff"} else ".jpg", processed)
    if not ok:
        raise DatasetError(f"{item.sample.name}: could not re-encode the preprocessed image")
    data = encoded.tobytes()
    return replace(item, image_bytes=data, image_hash=hashlib.sha256(data).hexdigest()), True


def prepare(
    dataset: RawDataset,
    out: Path,
    ratios: dict[str, float],
    seed: int,
    progress: bool = True,
    pipeline: Pipeline | None = None,
) -> PrepareResult:
    out = Path(out)
    if not _safe_to_replace(out):
        raise DatasetError(f"{out}: exists and is not a prepared dataset (no {MANIFEST}); choose another --out")
    if not dataset.class_names:
        raise DatasetError("the dataset defines no classes")
    n_classes = len(dataset.class_names)
    valid: list[ValidSample] = []
    skipped: list[Skipped] = []
    seen: dict[str, str] = {}
    changed = 0
    for sample in tqdm(
        sorted(dataset.samples, key=lambda s: s.name), desc="validating", unit="img", disable=not progress
    ):
        result = validate(sample, n_classes)
        if isinstance(result, Skipped):
            skipped.append(result)
        elif result.image_hash in seen:  # the same photo in two splits would leak test data
            skipped.append(Skipped(sample.name, "duplicate_image", f"same content as {seen[result.image_hash]}"))
        else:
            seen[result.image_hash] = sample.name  # duplicates are judged on the original bytes
            if pipeline:
                result, was_changed = preprocess(result, pipeline)
                changed += was_changed
            valid.append(result)
    if not valid:
        raise DatasetError(f"no usable images: all {len(dataset.samples)} were skipped (first: {_first(skipped)})")
    splits, guarded = assign_splits(valid, ratios, seed)
    skipped.extend(guarded)
    with built_aside(out) as tmp:
        manifest = _write(tmp, dataset, splits, ratios, seed, progress, pipeline.names if pipeline else [])
        report = {
            "source": dataset.description,
            "split_unit": split_unit(valid),
            "notes": dataset.notes,
            "skipped": [vars(s) for s in skipped],
            "kept": sum(len(items) for items in splits.values()),
            "preprocessing": {"steps": pipeline.names if pipeline else [], "images_changed": changed},
        }
        (tmp / REPORT).write_text(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False))
    return PrepareResult(out, manifest, skipped)


def split_unit(samples: list[ValidSample]) -> str:
    """What kept images together in the split, in words (report.json says it)."""
    grouped = sum(item.sample.group is not None for item in samples)
    sequenced = sum(item.sample.group is None and item.sample.sequence is not None for item in samples)
    alone = len(samples) - grouped - sequenced
    parts = [
        *([f"{grouped} images by group (no group straddles splits)"] if grouped else []),
        *([f"{sequenced} frames in blocks of {SEQUENCE_BLOCK} per sequence"] if sequenced else []),
        *([f"{alone} images at random (nothing groups them)"] if alone else []),
    ]
    return "; ".join(parts)


def _first(skipped: list[Skipped]) -> str:
    return f"{skipped[0].file}: {skipped[0].reason}" if skipped else "none"


def _write(
    root: Path,
    dataset: RawDataset,
    splits: dict[str, list[ValidSample]],
    ratios: dict[str, float],
    seed: int,
    progress: bool,
    steps: list[str],
) -> dict[str, Any]:
    names = dataset.class_names
    bar = tqdm(total=sum(len(v) for v in splits.values()), desc="writing", unit="img", disable=not progress)
    entries: list[str] = []
    split_info: dict[str, Any] = {}
    for split, items in splits.items():
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        classes: Counter[str] = Counter()
        for item in items:
            name = item.sample.name
            (root / "images" / split / name).write_bytes(item.image_bytes)
            (root / "labels" / split / f"{Path(name).stem}.txt").write_text(item.label_text)
            classes.update(names[box.class_id] for box in item.boxes)
            entries.append(f"{split}\t{name}\t{item.image_hash}\t{item.label_hash}")
            bar.update()
        split_info[split] = {
            "images": len(items),
            "boxes": sum(classes.values()),
            "class_counts": {n: classes[n] for n in names},
            "files": sorted(item.sample.name for item in items),
        }
    bar.close()
    content = sorted(line.split("\t", 1)[1].split("\t", 1)[1] for line in entries)
    manifest = {
        "format": "fingercount-manifest/1",
        "classes": names,
        "source": {k: v for k, v in dataset.description.items() if k != "path"},
        "seed": seed,
        "split_ratios": ratios,
        "preprocessing": steps,
        "content_hash": hashlib.sha256("\n".join(content).encode()).hexdigest(),
        "split_hash": hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest(),
        "splits": split_info,
    }
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    data_yaml = {
        "train": "images/train",
        "val": "images/val",
        "test": "images/test",
        "nc": len(names),
        "names": dict(enumerate(names)),
    }
    (root / "data.yaml").write_text(yaml.safe_dump(data_yaml, sort_keys=False, allow_unicode=True))
    return manifest


def load_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{folder}: not a prepared dataset (no {MANIFEST}); run `fingercount data prepare`")
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result
