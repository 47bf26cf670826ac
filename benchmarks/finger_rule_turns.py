"""Does the finger rule's plane carry to a hand turned side-on? The candidates of `finger_rule.py`,
on every usable photo of each real source, with each hand turned away from the camera.

    python benchmarks/finger_rule_turns.py [--config configs/real_hands_data.yaml] [--limit N]

The shared sets' hands mostly face the camera; the review's are often side-on. The world plane's
measures are angles and length ratios between 3-D points, so turning a hand moves none of them (the
landmark model's errors aside); the image plane measures the same in the picture, where a turned
palm narrows. Each hand's world landmarks are turned about its centre, about the camera's vertical
axis (yaw) and its horizontal one (pitch), both ways, and dropped onto the picture (x, y; orthographic):
the world candidates count the turned 3-D points, the image candidates their picture. Thumb lines
are fitted on the other sources' photos as they are (`finger_rule.candidates`), as the verdict's were.
The rule that reads the table is in docs/benchmarks.md ("Does the verdict's plane carry to a hand
turned side-on?"); the last line printed applies it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import finger_rule
from finger_rule import Hand, Photo, candidates, mean_right, photos_of, right, source_arguments

PLANES = {"world": ("world", "world + thumb line", "world + thumb line+straightness"),
          "image": ("image", "image + thumb line", "image + thumb line+straightness")}  # fmt: skip
Judged = dict[str, dict[str, dict[str, list[bool]]]]  # turn -> rule -> left-out source -> each photo right
DEGREES = 45.0  # each turn, fixed with the rule before the first run: half-way to side-on
AS_THEY_ARE = "as they are"  # the landmark model's own landmarks, both planes, as the verdict counted them


def main() -> None:
    from fingercount.training.leave_out import real_sources

    data, limit = source_arguments(__doc__)
    sources = {name: photos_of(data, name, limit) for name in real_sources(data)}
    turns = {"0°": (None, 0.0)} | {
        f"{axis} {angle:+g}°": (axis, angle) for axis in ("yaw", "pitch") for angle in (DEGREES, -DEGREES)
    }
    ours = {rule for plane in PLANES.values() for rule in plane}
    judged: Judged = {}
    for left_out, photos in sources.items():
        train = [photo for other in sources if other != left_out for photo in sources[other]]
        rules = {rule: counter for rule, counter in candidates(train).items() if rule in ours}
        for rule, counter in rules.items():
            judged.setdefault(AS_THEY_ARE, {}).setdefault(rule, {})[left_out] = right(photos, counter)
        for turn, (axis, angle) in turns.items():
            turned = [(count, [turned_hand(hand, axis, angle) for hand in hands]) for count, hands in photos]
            for rule, counter in rules.items():
                judged.setdefault(turn, {}).setdefault(rule, {})[left_out] = right(turned, counter)
    print(f"the picture of the world landmarks at 0° against the real image landmarks: {agreement(sources)}\n")
    print(table(sources, judged))
    print(verdict(judged, [turn for turn in turns if turn != "0°"]))


def turned_hand(hand: Hand, axis: str | None, degrees: float) -> Hand:
    """The hand's world landmarks turned about their centre, and their picture (x, y) as the image plane."""
    world = hand[0]
    if axis is not None:
        a = np.radians(degrees)
        c, s = np.cos(a), np.sin(a)
        yaw, pitch = [[c, 0, s], [0, 1, 0], [-s, 0, c]], [[1, 0, 0], [0, c, -s], [0, s, c]]
        rotation = np.array(yaw if axis == "yaw" else pitch)
        centre = world.mean(0)
        world = (world - centre) @ rotation.T + centre
    return world, world[:, :2]


def agreement(sources: dict[str, list[Photo]]) -> str:
    """How often the image rule counts a hand's untouched world landmarks, dropped onto the picture, as it
    counts the landmark model's own image landmarks: the world frame is the camera's if they mostly agree."""
    from fingercount.labeling.fingers import count_raised, count_raised_in_image

    parts = []
    for name, photos in sources.items():
        hands = [hand for _, found in photos for hand in found]
        same = sum(count_raised(np.c_[w[:, :2], np.zeros(21)]) == count_raised_in_image(i) for w, i in hands)
        parts.append(f"{name} {same}/{len(hands)} hands ({100 * same / max(1, len(hands)):.1f} %)")
    return ", ".join(parts)


def mean_over(judged: Judged, turns: list[str], rule: str) -> dict[str, list[bool]]:
    """One rule's photos over the turns, pooled: each turn's photos counted once per turn."""
    sources = judged[turns[0]][rule]
    return {name: [right for turn in turns for right in judged[turn][rule][name]] for name in sources}


def table(sources: dict[str, list[Photo]], judged: Judged) -> str:
    names = list(sources)
    lines = ["| rule | turn | " + " | ".join(f"{n} ({len(sources[n])})" for n in names) + " | mean |",
             "|" + "---|" * (len(names) + 3)]  # fmt: skip
    for rule in (rule for plane in PLANES.values() for rule in plane):
        for turn, by_rule in judged.items():
            by_source = by_rule[rule]
            cells = " | ".join(f"{100 * np.mean(by_source[n]):.1f} %" for n in names)
            lines.append(f"| {rule} | {turn} | {cells} | {mean_right(by_source):.1f} % |")
    return "\n".join(lines)


def verdict(judged: Judged, turns: list[str]) -> str:
    """The written rule: `image` as the photos are, less what the turns cost it (its picture of the world
    landmarks at 0° against the four turns pooled), must count at least as many photos right as world +
    thumb line on every source; else the world plane's candidates alone decide (by
    `finger_rule.verdict`, on the photos as they are)."""
    as_they_are, untouched = judged[AS_THEY_ARE], judged["0°"]
    image, world = mean_over(judged, turns, "image"), as_they_are["world + thumb line"]
    behind = []
    for name in world:
        cost = 100 * (np.mean(untouched["image"][name]) - np.mean(image[name]))
        turned = 100 * np.mean(as_they_are["image"][name]) - cost
        if turned < 100 * np.mean(world[name]):
            behind.append(f"{name} {turned:.1f} against {100 * np.mean(world[name]):.1f} %")
    if not behind:
        return "verdict: `image` carries to turned hands; the finger rule's verdict stands"
    world_only = {rule: as_they_are[rule] for rule in PLANES["world"]}
    return f"`image` turned falls behind world + thumb line ({'; '.join(behind)}): the world plane decides; " + (
        finger_rule.verdict(world_only)
    )


if __name__ == "__main__":
    main()
