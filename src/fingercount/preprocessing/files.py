"""`fingercount blur`: run the face-blur step over an image or a folder of images."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from fingercount.errors import DatasetError, FingercountError
from fingercount.files import image_files
from fingercount.preprocessing.face_blur import FaceBlur


@dataclass(frozen=True)
class BlurOutcome:
    source: Path
    target: Path | None
    faces: int
    error: str | None = None


def _targets(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    if src.is_file():
        return [(src, dst / src.name if dst.is_dir() else dst)]
    if src.is_dir():
        images = image_files(src)
        return [(image, dst / image.relative_to(src)) for image in images]
    raise DatasetError(f"{src}: no such file or folder")


def blur_one(source: Path, target: Path, blur: FaceBlur) -> BlurOutcome:
    data = source.read_bytes()
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if frame is None:
        return BlurOutcome(source, None, 0, "not a decodable image")
    try:
        dets = blur.detect(frame)
    except FingercountError as exc:
        return BlurOutcome(source, None, 0, str(exc))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if len(dets) == 0:  # nothing to hide: the file is copied byte for byte
        shutil.copyfile(source, partial)
    else:
        ok, encoded = cv2.imencode(target.suffix or ".png", blur.anonymise(frame, dets))
        if not ok:
            return BlurOutcome(source, None, len(dets), f"cannot encode as {target.suffix}")
        partial.write_bytes(encoded.tobytes())
    partial.replace(target)
    return BlurOutcome(source, target, len(dets))


def blur_files(src: Path, dst: Path, blur: FaceBlur, progress: bool = True) -> list[BlurOutcome]:
    pairs = _targets(src, dst)
    if src.is_dir() and dst.resolve() == src.resolve():
        raise DatasetError(f"{dst}: choose an output folder other than the input")
    return [blur_one(s, t, blur) for s, t in tqdm(pairs, desc="blurring", unit="img", disable=not progress)]
