"""Several sources prepared as one dataset: classes merged by name, image names prefixed by source."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from fingercount.counting import finger_count
from fingercount.data.sources.base import DatasetSource
from fingercount.labels import RawDataset, RawSample

SEPARATOR = "__"


def _class_order(name: str) -> tuple[int, str]:
    count = finger_count(name)
    return (count if count is not None else 99, name)


class CombinedSource:
    name: ClassVar[str] = "combined"

    def __init__(self, parts: dict[str, DatasetSource]) -> None:
        self.parts = parts

    def load(self, progress: bool = True) -> RawDataset:
        loaded = {label: source.load(progress) for label, source in self.parts.items()}
        names = sorted({name for dataset in loaded.values() for name in dataset.class_names}, key=_class_order)
        samples: list[RawSample] = []
        for label, dataset in loaded.items():
            remap = {old: names.index(name) for old, name in enumerate(dataset.class_names)}
            for sample in dataset.samples:
                boxes = None
                if sample.boxes is not None:  # an id outside the source's classes is kept as -1: reported, not lost
                    boxes = tuple(replace(box, class_id=remap.get(box.class_id, -1)) for box in sample.boxes)
                sequence = (f"{label}{SEPARATOR}{sample.sequence[0]}", sample.sequence[1]) if sample.sequence else None
                group = f"{label}{SEPARATOR}{sample.group}" if sample.group else None
                samples.append(
                    replace(
                        sample, name=f"{label}{SEPARATOR}{sample.name}", boxes=boxes, sequence=sequence, group=group
                    )
                )
        description = {"source": "combined", "parts": {label: dataset.description for label, dataset in loaded.items()}}
        notes = [f"{label}: {note}" for label, dataset in loaded.items() for note in dataset.notes]
        return RawDataset(names, samples, description, notes)
