"""What every source's class names become: finger counts ("0".."5"), and the sessions its files form.

A source's own names (words, `3-hand`, `fist`, `thumbs_up`…) are mapped once, as it loads, so that
sources merge by count and serving reads counts. A name the built-in mapping (`counting.py`)
does not understand needs an entry in the source's `class_map`, or preparation stops.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import ClassVar, Literal

from fingercount.counting import finger_count
from fingercount.data.sources.base import DatasetSource
from fingercount.errors import DatasetError
from fingercount.labels import RawDataset

SKIP = "skip"


def counts_for(names: list[str], class_map: dict[str, int | str]) -> dict[str, int | str]:
    """Each class name's count (or `skip`); a DatasetError naming every name that maps to nothing."""
    mapped: dict[str, int | str] = {}
    unmapped = []
    for name in names:
        value = class_map.get(name, finger_count(name))
        if value is None:
            unmapped.append(name)
        else:
            mapped[name] = value
    if unmapped:
        listed = ", ".join(repr(name) for name in unmapped)
        example = ", ".join(f"{name}: skip" for name in unmapped[:2])
        raise DatasetError(
            f"class names with no finger count: {listed}; give each a count 0-5 or skip in the source's "
            f"class_map (e.g. class_map: {{{example}}}; on `data import`: --class-map NAME=COUNT)"
        )
    return mapped


def to_counts(dataset: RawDataset, class_map: dict[str, int | str]) -> RawDataset:
    """`dataset` with its classes renamed to counts; an image holding a skipped class is listed
    (`skipped_class`), not trained on: its hand would be learnt as background."""
    counts = counts_for(dataset.class_names, class_map)
    names = sorted({str(value) for value in counts.values() if value != SKIP}, key=int)
    new_id = {
        old: names.index(str(counts[name])) for old, name in enumerate(dataset.class_names) if counts[name] != SKIP
    }
    skipped = {old: name for old, name in enumerate(dataset.class_names) if counts[name] == SKIP}
    samples = []
    for sample in dataset.samples:
        boxes = sample.boxes or ()
        held = sorted({skipped[box.class_id] for box in boxes if box.class_id in skipped})
        if held:
            problem = f"holds a box of {', '.join(held)}, a class mapped to skip"
            samples.append(replace(sample, boxes=None, problem=problem, problem_reason="skipped_class"))
        elif sample.boxes is not None:  # an id outside the classes stays out of range: reported, not lost
            sample_boxes = tuple(replace(box, class_id=new_id.get(box.class_id, -1)) for box in sample.boxes)
            samples.append(replace(sample, boxes=sample_boxes))
        else:
            samples.append(sample)
    renamed = {name: value for name, value in counts.items() if str(value) != name}
    description = {**dataset.description, **({"class_map": renamed} if renamed else {})}
    return RawDataset(names, samples, description, dataset.notes)


def with_groups(dataset: RawDataset, pattern: str) -> RawDataset:
    """Each file's group (session, person) from `pattern`'s first group, or its whole match."""
    compiled = re.compile(pattern)
    samples = []
    for sample in dataset.samples:
        match = compiled.search(sample.name)
        group = (match.group(1) if compiled.groups else match.group(0)) if match else None
        samples.append(replace(sample, group=group or f"(no match) {pattern}"))
    return RawDataset(dataset.class_names, samples, {**dataset.description, "group": pattern}, dataset.notes)


class CountedSource:
    """A source whose classes come out as counts, its labels checked by the teacher (`verify`), and
    its files in groups (`group`)."""

    name: ClassVar[str] = "counted"

    def __init__(
        self,
        source: DatasetSource,
        class_map: dict[str, int | str],
        group: str | None = None,
        verify: Literal["none", "teacher"] = "none",
        on_disagree: Literal["leave_out", "relabel"] = "leave_out",
        cache_dir: Path = Path("data/raw"),
        disagree_by: int = 2,
    ) -> None:
        self.source, self.class_map, self.group = source, class_map, group
        self.verify, self.on_disagree, self.disagree_by = verify, on_disagree, disagree_by
        self.cache_dir = Path(cache_dir)

    def load(self, progress: bool = True) -> RawDataset:
        dataset = to_counts(self.source.load(progress), self.class_map)
        if self.verify == "teacher":
            from fingercount.labeling.verify import verify_with_teacher

            dataset = verify_with_teacher(
                dataset, self.on_disagree, self.cache_dir, progress, disagree_by=self.disagree_by
            )
        return with_groups(dataset, self.group) if self.group else dataset
