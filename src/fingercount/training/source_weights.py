"""Sources weighted per epoch (`training.source_weights`): how often each source's training images
are seen, without preparing the dataset again.

A prepared dataset of several sources names each image `SOURCE__…`. With weights, the training
reads a list of its training images instead of the folder: an image of a source with weight w is
listed ceil((i+1)·w) − ceil(i·w) times, i its place among that source's images by name — 3: each
three times; 1/3: every third image, from the first; 1.5: alternately twice and once. The list is
the same on every run, so a weighted recipe is as reproducible as the plain one. Validation and
test splits are never weighted.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from pathlib import Path

import yaml

from fingercount.data.sources.combined import SEPARATOR
from fingercount.errors import ConfigError
from fingercount.files import image_files


def source_of(image: Path) -> str | None:
    name, separator, _ = image.name.partition(SEPARATOR)
    return name if separator else None


def copies(index: int, weight: float) -> int:
    """How many times the `index`-th image of a source with `weight` is listed."""
    exact = Fraction(weight).limit_denominator(1000)  # 0.3333… is read as the third it means
    return math.ceil((index + 1) * exact) - math.ceil(index * exact)


def weighted_data_yaml(data_yaml: Path, weights: dict[str, float], out: Path) -> tuple[Path, dict[str, int]]:
    """A data.yaml in `out` whose training split is the weighted list; (its path, images listed per source)."""
    root = data_yaml.parent
    by_source: dict[str, list[Path]] = {}
    for image in image_files(root / "images" / "train"):
        by_source.setdefault(source_of(image) or "", []).append(image)
    unknown = sorted(set(weights) - set(by_source))
    if unknown:
        present = ", ".join(sorted(s for s in by_source if s)) or "none (the images carry no source prefix)"
        raise ConfigError(f"training.source_weights: no training images from {', '.join(unknown)}; sources: {present}")
    listed: list[Path] = []
    for source, members in by_source.items():
        weight = weights.get(source, 1.0)
        for index, image in enumerate(members):
            listed += [image.resolve()] * copies(index, weight)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train.txt").write_text("".join(f"{image}\n" for image in listed), encoding="utf-8")
    spec = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))  # the prepared one, paths made absolute
    spec["train"] = str((out / "train.txt").resolve())
    spec["val"], spec["test"] = (str((root / "images" / split).resolve()) for split in ("val", "test"))
    (out / "data.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out / "data.yaml", dict(Counter(source_of(image) or "" for image in listed))
