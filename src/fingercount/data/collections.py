"""Collections: frames a user shows the dashboard, stored as a YOLO dataset the trainer can read.

```
<collections dir>/<name>/images/c<count>_h<take>_<n>.jpg   the frame (faces blurred when preprocessing is on)
<collections dir>/<name>/labels/….txt                      one box: the teacher's, with the user's count
<collections dir>/<name>/frames/….json                     count, teacher count, box, size, time
<collections dir>/<name>/data.yaml                         class names "0".."5"
```
A *take* is a run of frames of one count with no pause over TAKE_GAP seconds (one held key):
its frames are near-identical, so they form one sequence (`sequence_of`) and preparation keeps
them in one split. Every write is complete or absent: files are written aside and renamed, the
JSON record last.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from fingercount.errors import ConfigError, DatasetError, NotFoundError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
FRAME_ID = re.compile(r"^c([0-5])_h(\d{5})_(\d{6})$")
TAKE_GAP = 2.0  # seconds
CLASS_NAMES = [str(count) for count in range(6)]
# Two frames whose 32x32 grey thumbnails differ by less than this (mean absolute, 0-255) are the
# same picture: a held key on a still hand would otherwise store the same frame many times.
NEAR_DUPLICATE = 3.0


@dataclass(frozen=True)
class Frame:
    id: str
    count: int
    teacher_count: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels
    width: int
    height: int
    created: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Stored:
    hashes: set[str] = field(default_factory=set)  # sha256 of every stored image
    take: int = 0  # the highest take number used
    number: int = 0  # the highest frame number used


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ConfigError(f"collection name {name!r} is not allowed: use 1-64 letters, digits, '-' or '_' (no paths)")
    return name


def _thumbnail(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    return cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


class Collections:
    """All collections under one folder; safe to use from the server's worker threads."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._last: dict[str, tuple[np.ndarray, int, float, int]] = {}  # name -> (thumbnail, count, time, take)
        self._stored: dict[str, _Stored] = {}  # name -> what is on disk, read once per collection

    def path(self, name: str) -> Path:
        return self.root / check_name(name)

    def existing(self, name: str) -> Path:
        folder = self.path(name)
        if not (folder / "data.yaml").is_file():
            raise NotFoundError(f"no collection named {name!r}")
        return folder

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "data.yaml").is_file() and NAME.match(p.name))

    def frames(self, name: str) -> list[Frame]:
        folder = self.existing(name)
        found = []
        for record in sorted((folder / "frames").glob("*.json")):
            data = json.loads(record.read_text(encoding="utf-8"))
            found.append(Frame(**{**data, "box": tuple(data["box"])}))
        return found

    def summary(self, name: str) -> dict[str, Any]:
        frames = self.frames(name)
        counts = {label: 0 for label in CLASS_NAMES}
        for frame in frames:
            counts[str(frame.count)] += 1
        return {"name": name, "frames": len(frames), "counts": counts}

    def image(self, name: str, frame_id: str) -> Path:
        if not FRAME_ID.match(frame_id):
            raise NotFoundError(f"no frame {frame_id!r} in collection {name!r}")
        path = self.existing(name) / "images" / f"{frame_id}.jpg"
        if not path.is_file():
            raise NotFoundError(f"no frame {frame_id!r} in collection {name!r}")
        return path

    def add(
        self, name: str, image: np.ndarray, count: int, teacher_count: int, box: tuple[float, float, float, float]
    ) -> Frame | None:
        """Store one frame with its box; None if it is a near-duplicate of the last one stored."""
        if not 0 <= count <= 5:
            raise ConfigError(f"count must be 0-5 raised fingers, got {count}")
        height, width = image.shape[:2]
        x1, y1, x2, y2 = box
        if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
            raise DatasetError(f"the hand's box {box} is outside the {width}x{height} frame")
        thumbnail = _thumbnail(image)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise DatasetError("the frame could not be encoded as JPEG")
        digest = hashlib.sha256(encoded.tobytes()).hexdigest()
        with self._lock:
            folder = self._create(name)
            last, now = self._last.get(name), time.time()
            if last is not None and float(np.abs(last[0] - thumbnail).mean()) < NEAR_DUPLICATE:
                return None
            stored = self._on_disk(name, folder)
            if digest in stored.hashes:  # the very same picture (a looping video): training would drop it anyway
                return None
            same_take = last is not None and last[1] == count and now - last[2] <= TAKE_GAP
            take = last[3] if same_take and last is not None else stored.take + 1
            stored.take, stored.number = max(stored.take, take), stored.number + 1
            frame_id = f"c{count}_h{take:05d}_{stored.number:06d}"
            frame = Frame(frame_id, count, teacher_count, box, width, height, now)
            cx, cy, w, h = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height
            _write(folder / "images" / f"{frame.id}.jpg", encoded.tobytes())
            _write(folder / "labels" / f"{frame.id}.txt", f"{count} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n".encode())
            _write(folder / "frames" / f"{frame.id}.json", json.dumps(frame.to_dict()).encode())
            self._last[name] = (thumbnail, count, now, take)
            stored.hashes.add(digest)
        return frame

    def delete(self, name: str, frame_id: str) -> None:
        image = self.image(name, frame_id)
        folder = image.parent.parent
        with self._lock:
            digest = hashlib.sha256(image.read_bytes()).hexdigest()
            (folder / "frames" / f"{frame_id}.json").unlink(missing_ok=True)  # the record first: never half-listed
            (folder / "labels" / f"{frame_id}.txt").unlink(missing_ok=True)
            image.unlink(missing_ok=True)
            self._last.pop(name, None)
            if name in self._stored:
                self._stored[name].hashes.discard(digest)  # numbers are never reused

    def _on_disk(self, name: str, folder: Path) -> _Stored:
        """Hashes and highest take and frame number of a collection: read once, then kept up to date."""
        if name not in self._stored:
            stored = _Stored()
            for path in (folder / "images").glob("c*.jpg"):
                stored.hashes.add(hashlib.sha256(path.read_bytes()).hexdigest())
                match = FRAME_ID.match(path.stem)
                if match:
                    stored.take = max(stored.take, int(match.group(2)))
                    stored.number = max(stored.number, int(match.group(3)))
            self._stored[name] = stored
        return self._stored[name]

    def _create(self, name: str) -> Path:
        folder = self.path(name)
        if not (folder / "data.yaml").is_file():
            for part in ("images", "labels", "frames"):
                (folder / part).mkdir(parents=True, exist_ok=True)
            names = {"names": dict(enumerate(CLASS_NAMES)), "nc": len(CLASS_NAMES)}
            _write(folder / "data.yaml", yaml.safe_dump(names).encode())
        return folder


def _write(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    partial.replace(path)
