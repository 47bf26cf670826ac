"""Class names to counts: the usual spellings, a source's class_map, skip, and the unmapped-name error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fingercount.config import load_data_config
from fingercount.data.prepare import prepare
from fingercount.data.sources.classes import to_counts, with_groups
from fingercount.data.sources.local import LocalSource
from fingercount.errors import ConfigError, DatasetError
from fingercount.labels import Box, RawDataset, RawSample
from tests.conftest import REPO

PEOPLE = REPO.parent / "shared" / "datasets" / "hands-many-people"


def dataset(names: list[str], boxes: list[list[int]]) -> RawDataset:
    samples = [
        RawSample(Path(f"img{i}.jpg"), f"img{i}.jpg", tuple(Box(c, 0.5, 0.5, 0.2, 0.2) for c in ids))
        for i, ids in enumerate(boxes)
    ]
    return RawDataset(names, samples, {"source": "test"})


def test_word_names_become_counts_and_boxes_follow_them() -> None:
    mapped = to_counts(dataset(["five", "four", "one", "three", "two"], [[0], [2, 4], [1, 3]]), {})
    assert mapped.class_names == ["1", "2", "3", "4", "5"]
    assert [[mapped.class_names[b.class_id] for b in s.boxes or ()] for s in mapped.samples] == [
        ["5"],
        ["1", "2"],
        ["4", "3"],
    ]
    assert mapped.description["class_map"] == {"five": 5, "four": 4, "one": 1, "three": 3, "two": 2}


def test_class_map_names_what_the_built_in_mapping_does_not_and_skip_leaves_images_out() -> None:
    source = dataset(["open_palm", "thumbs_up", "fist"], [[0], [1, 0], [2]])
    mapped = to_counts(source, {"open_palm": 5, "thumbs_up": "skip"})
    assert mapped.class_names == ["0", "5"]
    first, second, third = mapped.samples
    assert first.boxes == (Box(1, 0.5, 0.5, 0.2, 0.2),)
    assert second.boxes is None
    assert second.problem_reason == "skipped_class"
    assert "thumbs_up" in (second.problem or "")
    assert third.boxes == (Box(0, 0.5, 0.5, 0.2, 0.2),)


def test_every_unmapped_name_is_listed_in_one_error_with_the_key_to_set() -> None:
    with pytest.raises(DatasetError) as error:
        to_counts(dataset(["3", "thumbs_up", "ok_sign", "hand"], [[0]]), {})
    message = str(error.value)
    assert "\n" not in message
    assert all(name in message for name in ("'thumbs_up'", "'ok_sign'", "'hand'"))
    assert "class_map" in message
    assert "'3'" not in message


def test_a_class_map_count_out_of_range_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"source": {"type": "synthetic", "class_map": {"six": 6}}}))
    with pytest.raises(ConfigError, match=r"source\.class_map\.six"):
        load_data_config(path)


def test_groups_come_from_the_pattern_and_what_does_not_match_is_one_group() -> None:
    names = ["12.5_pic001.jpg", "12.5_pic002.jpg", "7.1_pic001.jpg", "pic00042.jpg"]
    samples = [RawSample(Path(n), n, (Box(0, 0.5, 0.5, 0.2, 0.2),)) for n in names]
    grouped = with_groups(RawDataset(["1"], samples), "^(.+)_pic")
    assert [s.group for s in grouped.samples][:3] == ["12.5", "12.5", "7.1"]
    assert grouped.samples[3].group == "(no match) ^(.+)_pic"


def test_the_shared_many_people_set_imports_with_its_word_names(tmp_path: Path) -> None:
    if not PEOPLE.is_dir():
        pytest.skip(f"{PEOPLE} is not here (the shared datasets sit beside the repository)")
    assert yaml.safe_load((PEOPLE / "data.yaml").read_text())["names"][0] == "five"
    mapped = to_counts(LocalSource(PEOPLE).load(progress=False), {})
    result = prepare(mapped, tmp_path / "out", {"train": 0.8, "val": 0.1, "test": 0.1}, 1, progress=False)
    boxes = {name: sum(s["class_counts"][name] for s in result.manifest["splits"].values()) for name in "12345"}
    assert boxes == {"1": 73, "2": 104, "3": 62, "4": 71, "5": 241}  # the README's table, by count
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "at random (nothing groups them)" in report["split_unit"]
