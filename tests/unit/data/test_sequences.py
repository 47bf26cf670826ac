"""Video-like sequences: neighbouring frames never straddle train and val/test; sources combine."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fingercount.data.prepare import GUARD_FRAMES, SEQUENCE_BLOCK, prepare
from fingercount.data.sources.combined import CombinedSource
from fingercount.labels import Box, RawDataset, RawSample, sequence_of

RATIOS = {"train": 0.7, "val": 0.15, "test": 0.15}


def frames(folder: Path, prefix: str, count: int, class_id: int, seed: int) -> list[RawSample]:
    """`count` distinct tiny frames named like a video: prefix_1.png, prefix_2.png, …"""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    samples = []
    for number in range(1, count + 1):
        path = folder / f"{prefix}_{number}.png"
        cv2.imwrite(str(path), rng.integers(0, 255, (8, 8, 3), dtype=np.uint8))
        samples.append(RawSample(path, path.name, (Box(class_id, 0.5, 0.5, 0.4, 0.4),), sequence=(prefix, number)))
    return samples


@pytest.fixture
def video_dataset(tmp_path: Path) -> RawDataset:
    samples = frames(tmp_path / "a", "one", 300, 0, seed=1) + frames(tmp_path / "b", "two", 240, 1, seed=2)
    return RawDataset(["1", "2"], samples, {"source": "test"})


def test_blocks_stay_in_one_split_and_eval_frames_have_no_training_neighbour(
    video_dataset: RawDataset, tmp_path: Path
) -> None:
    result = prepare(video_dataset, tmp_path / "out", RATIOS, seed=7, progress=False)
    split_of = {name: split for split, info in result.manifest["splits"].items() for name in info["files"]}
    for prefix in ("one", "two"):
        numbers = sorted(int(name.split("_")[1].split(".")[0]) for name in split_of if name.startswith(prefix))
        blocks: dict[int, set[str]] = {}
        for number in numbers:
            blocks.setdefault(number // SEQUENCE_BLOCK, set()).add(split_of[f"{prefix}_{number}.png"])
        assert all(len(splits) == 1 for splits in blocks.values()), "a block was split"
        for number in numbers:
            if split_of[f"{prefix}_{number}.png"] == "train":
                continue
            for step in range(-GUARD_FRAMES, GUARD_FRAMES + 1):
                assert split_of.get(f"{prefix}_{number + step}.png", "x") != "train"
    sizes = {split: info["images"] for split, info in result.manifest["splits"].items()}
    kept = sum(sizes.values())
    for split, ratio in RATIOS.items():
        assert abs(sizes[split] / kept - ratio) < 0.08, sizes  # blocks of 30 frames: near, not exact
    for count in ("1", "2"):  # every count is held out, not only some
        assert result.manifest["splits"]["test"]["class_counts"][count] > 0
    guarded = [s for s in result.skipped if s.reason == "split_guard"]
    assert guarded
    assert len(guarded) + kept == 540


def test_sequence_names() -> None:
    assert sequence_of("3__two_17.jpg") == ("3__two_", 17)
    assert sequence_of("IMG0042.png") == ("IMG", 42)
    assert sequence_of("hand.jpg") is None


class Fixed:
    name = "fixed"

    def __init__(self, dataset: RawDataset) -> None:
        self.dataset = dataset

    def load(self, progress: bool = True) -> RawDataset:
        return self.dataset


def test_combined_sources_merge_classes_by_name_and_prefix_names(tmp_path: Path) -> None:
    drawn = RawDataset(["1", "2"], frames(tmp_path / "d", "d", 2, 1, seed=3), {"source": "synthetic"})
    drawn.samples = [RawSample(s.image, s.name, s.boxes) for s in drawn.samples]  # drawn images: no sequence
    real = RawDataset(["0", "1", "2", "3"], frames(tmp_path / "r", "r", 2, 3, seed=4), {"source": "folders"})
    combined = CombinedSource({"synthetic": Fixed(drawn), "real": Fixed(real)}).load()  # type: ignore[dict-item]
    assert combined.class_names == ["0", "1", "2", "3"]
    by_name = {sample.name: sample for sample in combined.samples}
    assert by_name["synthetic__d_1.png"].boxes[0].class_id == 2  # type: ignore[index]  # "2" keeps its name
    assert by_name["real__r_1.png"].boxes[0].class_id == 3  # type: ignore[index]
    assert by_name["real__r_2.png"].sequence == ("real__r", 2)
    assert by_name["synthetic__d_1.png"].sequence is None
    assert set(combined.description["parts"]) == {"synthetic", "real"}
