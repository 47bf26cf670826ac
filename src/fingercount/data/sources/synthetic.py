"""The built-in synthetic hand generator as a dataset source."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from collections.abc import Mapping
from typing import Any, ClassVar

import cv2
import yaml
from tqdm import tqdm

from fingercount.data import synthetic
from fingercount.data.sources.base import RawDataset, register_source
from fingercount.data.sources.local import read_yolo_folder

_COMPLETE = ".complete.json"


def generator_params(
    images: int, seed: int, img_size: int, max_hands: int, include_fist: bool, hand_scale: tuple[float, float]
) -> dict[str, Any]:
    """Everything that determines the generated images: the completeness marker and lineage."""
    return {
        "images": images,
        "seed": seed,
        "img_size": img_size,
        "max_hands": max_hands,
        "include_fist": include_fist,
        "hand_scale": list(hand_scale),
    }


def write_synthetic(
    out: Path,
    images: int,
    seed: int,
    img_size: int = 320,
    max_hands: int = 3,
    include_fist: bool = False,
    progress: bool = True,
    hand_scale: tuple[float, float] = synthetic.DEFAULT_HAND_SCALE,
) -> Path:
    """Write a YOLO folder (images/, labels/, data.yaml); built aside, then moved in place."""
    params = generator_params(images, seed, img_size, max_hands, include_fist, hand_scale)
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "images").mkdir(parents=True)
    (tmp / "labels").mkdir()
    offset = 0 if include_fist else 1
    width = max(5, len(str(images - 1)))
    for index in tqdm(range(images), desc="synthesising", unit="img", disable=not progress):
        sample = synthetic.render(seed, index, img_size, max_hands, include_fist, hand_scale)
        stem = f"synth_{seed}_{index:0{width}d}"
        cv2.imwrite(str(tmp / "images" / f"{stem}.jpg"), sample.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        (tmp / "labels" / f"{stem}.txt").write_text("\n".join(sample.yolo_lines(offset)) + "\n")
    names = synthetic.class_names(include_fist)
    (tmp / "data.yaml").write_text(yaml.safe_dump({"names": dict(enumerate(names)), "nc": len(names)}))
    (tmp / _COMPLETE).write_text(json.dumps(params, sort_keys=True))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def is_complete(out: Path, params: Mapping[str, Any]) -> bool:
    marker = out / _COMPLETE
    if not marker.is_file():
        return False
    try:
        same = bool(json.loads(marker.read_text()) == dict(params))
    except json.JSONDecodeError:
        return False
    return same and sum(1 for _ in (out / "images").glob("*.jpg")) == int(params["images"])


@register_source
class SyntheticSource:
    name: ClassVar[str] = "synthetic"

    def __init__(
        self,
        cache_dir: Path,
        images: int = 500,
        seed: int = 0,
        img_size: int = 320,
        max_hands: int = 3,
        include_fist: bool = False,
        hand_scale: tuple[float, float] = synthetic.DEFAULT_HAND_SCALE,
    ) -> None:
        self.params = generator_params(images, seed, img_size, max_hands, include_fist, hand_scale)
        scale = "-".join(f"{v:g}" for v in hand_scale)
        self.folder = (
            Path(cache_dir) / f"synthetic-s{seed}-n{images}-px{img_size}-h{max_hands}-f{int(include_fist)}-r{scale}"
        )

    def load(self, progress: bool = True) -> RawDataset:
        if not is_complete(self.folder, self.params):
            params = {**self.params, "hand_scale": tuple(self.params["hand_scale"])}
            write_synthetic(self.folder, progress=progress, **params)
        dataset = read_yolo_folder(self.folder)
        dataset.description = {"source": "synthetic", **self.params}
        return dataset
