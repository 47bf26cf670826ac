"""A cheaper landmark look on a stream: track each hand from the last frame instead of looking afresh.

    python benchmarks/stream_tracking.py [--config configs/real_hands_data.yaml] [--limit N] [--every K]

On a frame the detector is unsure of, the served heads ask MediaPipe's whole hand landmarker (a palm
detector, then the landmark network on each palm's crop: 20-30 ms on this CPU). MediaPipe's own video
mode skips the palm detector while it tracks: the landmark network alone, on a square aligned to where
the hand was in the last frame. This measures that idea on the consecutive frames of the real sets
(the rooms sessions and the EPSRC sequences, in order): per frame, the whole-frame chain `photo_hands`
serves, against a tracker that looks afresh on the first frame, every K-th frame, and wherever a tracked
hand's presence falls under 0.5, and otherwise runs the network once per hand (`passes` 2: a second
time on the square its first landmarks give). Counted against the label, the hands' sum.
"""

from __future__ import annotations

import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from direct_landmarks import aligned_square
from finger_rule import sampled_truth, source_arguments

if TYPE_CHECKING:
    from fingercount.labeling.teacher import HandTeacher
    from fingercount.labeling.without_palm import LandmarkNetwork

POLICIES = ((1.6, 1), (1.6, 2), (2.0, 1))  # (the square, x the landmarks' extent; network passes a hand)
SOURCES = ("rooms", "epsrc")  # the sets whose files are consecutive frames


def sequences(truth: list[tuple[Path, int]]) -> list[list[tuple[Path, int]]]:
    """The photos grouped by sequence (the folder and the name before its trailing number), in order."""
    groups: dict[str, list[tuple[int, Path, int]]] = defaultdict(list)
    for path, count in truth:
        match = re.match(r"(.*?)(\d+)$", path.stem)
        group, number = (match.group(1), int(match.group(2))) if match else (path.stem, 0)
        groups[f"{path.parent}/{group}"].append((number, path, count))
    return [[(path, count) for _, path, count in sorted(frames)] for frames in groups.values()]


class Tracker:
    """The last frame's hands (21 image landmarks each), looked for again by the landmark network alone."""

    def __init__(self, teacher: HandTeacher, network: LandmarkNetwork, scale: float, passes: int, every: int) -> None:
        self.teacher, self.network, self.scale, self.passes, self.every = teacher, network, scale, passes, every
        self.last: list[np.ndarray] = []
        self.frames = self.fresh = 0

    def count(self, bgr: np.ndarray) -> int:
        import cv2

        from fingercount.labeling.photo import photo_hands

        self.frames += 1
        if self.last and self.frames % self.every:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            followed = [found for hand in self.last if (found := self._follow(rgb, hand)) is not None]
            if len(followed) == len(self.last):
                self.last = [points for _, points in followed]
                return sum(count for count, _ in followed)
        self.fresh += 1  # the first frame, every K-th, or a hand lost: look afresh
        found = self.teacher.label_with_landmarks(bgr)
        self.last = [image for _, image, _ in found]
        return (
            sum(hand.count for hand, _, _ in found) if found else sum(h.count for h in photo_hands(self.teacher, bgr))
        )

    def _follow(self, rgb: np.ndarray, points: np.ndarray) -> tuple[int, np.ndarray] | None:
        """The hand last seen at `points`, looked for by the network alone: its count and landmarks, or None."""
        from fingercount.labeling.fingers import count_raised

        for _ in range(self.passes):
            presence, world, points = self.network.look(rgb, *aligned_square(points, self.scale))
            if presence < self.teacher.min_score:
                return None
        return count_raised(world), points

    def start(self) -> None:
        """A new sequence: nothing to follow."""
        self.last, self.frames = [], 0


def main() -> None:
    import argparse

    import cv2

    from fingercount.labeling.photo import photo_hands
    from fingercount.labeling.teacher import HandTeacher, model_path
    from fingercount.labeling.without_palm import LandmarkNetwork

    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--every", type=int, default=10, help="look afresh every K-th frame (default 10)")
    known, sys.argv[1:] = extra.parse_known_args()
    data, limit = source_arguments(__doc__)
    network = LandmarkNetwork(model_path())
    print("| source | frames | how | right | agrees with the chain | ms a frame | against the chain | fresh looks |")
    print("|---|---|---|---|---|---|---|---|")
    with HandTeacher() as teacher:
        for source in SOURCES:
            runs = sequences(sampled_truth(data, source, 0))
            trackers = {policy: Tracker(teacher, network, *policy, known.every) for policy in POLICIES}
            seconds: dict[object, float] = defaultdict(float)
            right: dict[object, int] = defaultdict(int)
            counts: dict[object, list[int]] = defaultdict(list)
            looks = [("chain", lambda b: sum(h.count for h in photo_hands(teacher, b)))]
            looks += [(policy, tracker.count) for policy, tracker in trackers.items()]
            for run in runs:
                for tracker in trackers.values():
                    tracker.start()
                for path, truth in run[: limit - len(counts["chain"])] if limit else run:
                    bgr = cv2.imread(str(path))
                    for how, look in looks:
                        started = time.perf_counter()
                        counted = look(bgr)
                        seconds[how] += time.perf_counter() - started
                        right[how] += counted == truth
                        counts[how].append(counted)
            n = len(counts["chain"])
            for how in ["chain", *POLICIES]:
                agree = sum(a == b for a, b in zip(counts[how], counts["chain"], strict=True))
                name = "chain (`photo_hands`)" if how == "chain" else f"tracked, square {how[0]}x, {how[1]} pass(es)"
                fresh = "all" if how == "chain" else trackers[how].fresh
                print(
                    f"| {source} | {n} | {name} | {100 * right[how] / n:.1f} % | {100 * agree / n:.1f} % "
                    f"| {1000 * seconds[how] / n:.1f} | {seconds[how] / seconds['chain']:.2f}x | {fresh} |"
                )


if __name__ == "__main__":
    main()
