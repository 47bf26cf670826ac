"""The built-in synthetic hand generator as a dataset source."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import cv2
import yaml
from tqdm import tqdm

from fingercount.config import SyntheticSourceConfig
from fingercount.data import synthetic
from fingercount.data.sources.base import register_source
from fingercount.data.sources.local import read_yolo_folder
from fingercount.files import built_aside
from fingercount.labels import RawDataset

_COMPLETE = ".complete.json"


def write_synthetic(out: Path, spec: SyntheticSourceConfig | None = None, progress: bool = True) -> Path:
    """Write a YOLO folder (images/, labels/, data.yaml); built aside, then moved in place."""
    spec = spec or SyntheticSourceConfig()
    params = spec.model_dump(mode="json")
    images, seed, img_size = spec.images, spec.seed, spec.img_size
    max_hands, include_fist, hand_scale = spec.max_hands, spec.include_fist, spec.hand_scale
    with built_aside(out) as tmp:
        (tmp / "images").mkdir()
        (tmp / "labels").mkdir()
        offset = 0 if include_fist else 1
        width = max(5, len(str(images - 1)))
        for index in tqdm(range(images), desc="synthesising", unit="img", disable=not progress):
            sample = synthetic.render(seed, index, img_size, max_hands, include_fist, hand_scale)
            stem = f"synth_{seed}_{index:0{width}d}"
            # Encode, then write with Python: cv2.imwrite answers a full disk with False, not an error.
            _, jpeg = cv2.imencode(".jpg", sample.image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            (tmp / "images" / f"{stem}.jpg").write_bytes(jpeg.tobytes())
            (tmp / "labels" / f"{stem}.txt").write_text("\n".join(sample.yolo_lines(offset)) + "\n")
        names = synthetic.class_names(include_fist)
        (tmp / "data.yaml").write_text(yaml.safe_dump({"names": dict(enumerate(names)), "nc": len(names)}))
        (tmp / _COMPLETE).write_text(json.dumps(params, sort_keys=True))
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

    def __init__(self, cache_dir: Path, **settings: Any) -> None:
        """`settings`: the fields of `SyntheticSourceConfig` (its defaults for those left out)."""
        self.spec = SyntheticSourceConfig.model_validate(settings)
        self.params = self.spec.model_dump(mode="json")
        spec, scale = self.spec, "-".join(f"{v:g}" for v in self.spec.hand_scale)
        self.folder = Path(cache_dir) / (
            f"synthetic-s{spec.seed}-n{spec.images}-px{spec.img_size}-h{spec.max_hands}-f{int(spec.include_fist)}-r{scale}"
        )

    def load(self, progress: bool = True) -> RawDataset:
        if not is_complete(self.folder, self.params):
            write_synthetic(self.folder, self.spec, progress)
        dataset = read_yolo_folder(self.folder)
        dataset.description = {"source": "synthetic", **self.params}
        return dataset
