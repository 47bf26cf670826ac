"""A second pass on each hand found: the landmark network again, on the square the hand's own landmarks
give — judged by the rule written before its first run (docs/benchmarks.md, "A second pass on each hand
found").

    python benchmarks/second_pass.py [--config configs/real_hands_data.yaml] [--limit N]

Every usable photo of the three real sources, its hands as the whole-photo chain finds them (cached by
`finger_rule.py`, which looks as `photo_hands` does), each hand looked at once more by the landmark
network alone (`LandmarkNetwork.look` on `aligned_square(landmarks, 1.6)`) and counted by that look
where its presence is at least 0.5. Both finger rules (`world`, today's; `image`, the rule's verdict)
against the chain, photo by photo (McNemar), then the served heads recomputed from the campaign's
records with each look's whole-photo counts (`direct_landmarks.served_heads`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from direct_landmarks import SERVED_HEADS, aligned_square, served_heads
from finger_rule import Hand, Photo, photos_of, rule_fingers, sampled_truth, source_arguments

if TYPE_CHECKING:
    from fingercount.labeling.without_palm import LandmarkNetwork

SCALE = 1.6  # the square, x the landmarks' longer extent
RULES = ("world", "image")


def second_pass(network: LandmarkNetwork, rgb: np.ndarray, hand: Hand, min_score: float) -> Hand:
    """The hand looked at again on its own square: its new landmarks where the network is sure of a hand."""
    _, image = hand
    presence, world, again = network.look(rgb, *aligned_square(image, SCALE))
    return (world, again) if presence >= min_score else hand


def total(hands: list[Hand], rule: str) -> int:
    """The photo's count by a finger rule (-1: no hand)."""
    return sum(sum(rule_fingers(hand, rule)) for hand in hands) if hands else -1


def main() -> None:
    import cv2
    from tqdm import tqdm

    from fingercount.labeling.teacher import MIN_SCORE, model_path
    from fingercount.labeling.without_palm import LandmarkNetwork
    from fingercount.registry.paired import mcnemar_p
    from fingercount.training.leave_out import photo_root, real_sources

    data, limit = source_arguments(__doc__)
    network = LandmarkNetwork(model_path())
    looks: dict[str, dict[str, int]] = {f"{look}|{rule}": {} for look in ("chain", "second pass") for rule in RULES}
    seconds: list[float] = []
    print("| source | photos | rule | chain: right | second pass: right | gained / lost, McNemar p |")
    print("|---|---|---|---|---|---|")
    for name in real_sources(data):
        truth = sampled_truth(data, name, limit)
        photos: list[Photo] = photos_of(data, name, limit)  # in `truth`'s order
        root = photo_root([path for path, _ in truth])
        right: dict[str, list[bool]] = {key: [] for key in looks}
        for (path, label), (_, hands) in tqdm(
            list(zip(truth, photos, strict=True)), desc=f"second pass on {name}", unit="photo", leave=False
        ):
            rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            started = time.perf_counter()
            again = [second_pass(network, rgb, hand, MIN_SCORE) for hand in hands]
            if hands:
                seconds.append((time.perf_counter() - started) / len(hands))
            key = f"{name}/{path.resolve().relative_to(root).as_posix()}"
            for rule in RULES:
                for look, found in (("chain", hands), ("second pass", again)):
                    count = total(found, rule)
                    looks[f"{look}|{rule}"][key] = count
                    right[f"{look}|{rule}"].append(count == label)
        for rule in RULES:
            before, after = right[f"chain|{rule}"], right[f"second pass|{rule}"]
            lost = sum(b and not a for b, a in zip(before, after, strict=True))
            gained = sum(a and not b for b, a in zip(before, after, strict=True))
            print(
                f"| {name} | {len(truth)} | {rule} | {100 * np.mean(before):.1f} % | {100 * np.mean(after):.1f} % "
                f"| +{gained} / -{lost}, p {mcnemar_p(lost, gained):.2f} |"
            )
    print(f"\nthe second pass, a hand: {1000 * float(np.median(seconds)):.1f} ms median ({len(seconds)} photos)")

    print("\n| lever | left out | look | " + " | ".join(f"{head}: mean (spread)" for head in SERVED_HEADS) + " |")
    print("|---|---|---|" + "---|" * len(SERVED_HEADS))
    for (lever, source), arms in sorted(served_heads(looks).items()):
        for look in looks:
            cells = [
                f"{100 * np.mean(values):.1f} % ({100 * (max(values) - min(values)):.1f})"
                for values in (arms[f"{look}|{head}"] for head in SERVED_HEADS)
            ]
            print(f"| {lever} | {source} | {look} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
