"""Real hand photos labelled by the hand-landmark teacher, as a dataset source.

The labelled dataset is cached under the data folder, keyed by the photos' content, the teacher
and the settings, so preparing again does not run the teacher again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from fingercount.data.sources.base import register_source
from fingercount.data.sources.local import read_yolo_folder
from fingercount.errors import DatasetError
from fingercount.labels import RawDataset, sequence_of


@register_source
class FoldersSource:
    name: ClassVar[str] = "folders"

    def __init__(self, cache_dir: Path, path: Path, on_mismatch: str = "keep", sequences: bool = True) -> None:
        self.cache_dir = Path(cache_dir)
        self.path = Path(path)
        self.on_mismatch = on_mismatch
        self.sequences = sequences

    def load(self, progress: bool = True) -> RawDataset:
        from fingercount.labeling.folders import REPORT, folder_fingerprint, label_folder
        from fingercount.labeling.teacher import MODEL_SHA256, RULE_VERSION

        if not self.path.is_dir():
            raise DatasetError(f"{self.path}: no such folder of hand photos")
        key = hashlib.sha256(
            f"{folder_fingerprint(self.path)}:{MODEL_SHA256}:{RULE_VERSION}:{self.on_mismatch}".encode()
        ).hexdigest()[:16]
        folder = self.cache_dir / f"labelled-{self.path.name}-{key}"
        if not (folder / REPORT).is_file():
            label_folder(self.path, folder, self.on_mismatch, progress)  # type: ignore[arg-type]
        dataset = read_yolo_folder(folder)
        if self.sequences:
            dataset.samples = [replace(sample, sequence=sequence_of(sample.name)) for sample in dataset.samples]
        report = json.loads((folder / REPORT).read_text())
        dataset.description = {
            "source": "folders",
            "path_name": self.path.name,
            "on_mismatch": self.on_mismatch,
            "teacher": report["teacher"],
            "teacher_agreement": report["teacher_agreement"],
            "labelled": key,
        }
        return dataset
