"""A fourth look: the landmark network without its palm detector, where the whole-photo chain finds no
hand — judged by the rule written before its runs (docs/benchmarks.md, "A fourth look").

    python benchmarks/direct_landmarks.py [--config configs/real_hands_data.yaml] [--limit N]

MediaPipe's HandLandmarker is two networks: a palm detector, then a landmark network on a 224 px crop
around each palm. A hand whose palm runs off the frame gives no palm, so no hand. The landmark network
alone (`labeling/without_palm.py`: `hand_landmarks_detector.tflite` inside the pinned task, by OpenVINO)
returns 21 landmarks and a hand-presence score on any crop. Candidates, on the photos where the chain
(`photo_hands`: the whole photo, then inside a border) finds none:

- `direct`: the network on the photo padded to a square, at 0, 90, 180 and 270 degrees; the turn of
  highest presence; a hand where it is at least 0.5; counted by today's finger rule.
- `direct+refine`: `direct`, then once more on a square aligned to that hand (wrist to middle-finger
  base pointing up, 1.5x the landmarks' extent): its count where its presence is at least 0.5.

Judged where a look can lose: the served heads recomputed from the campaign's final runs' records
(`campaign.heads`), and hand-free squares cut from the rooms and EPSRC frames away from every hand the
chain finds. The chain's hands are cached in `data/cache/direct_landmarks/`.
"""

from __future__ import annotations

import json
import pickle
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finger_rule import sampled_truth, source_arguments
from serving import REPO

from fingercount.labeling.teacher import MIN_SCORE as MIN_PRESENCE
from fingercount.labeling.teacher import model_path
from fingercount.labeling.without_palm import LandmarkNetwork

CACHE = REPO / "data" / "cache" / "direct_landmarks"
RESULTS = REPO / "benchmarks" / "never_met" / "results"
REFINE_SCALE = 1.5
SERVED_HEADS = ("sure+photo", "photo+landmarks")
# A hand-free square: away from every hand the chain finds, each box grown by half its size a side.
CLEAR = 0.5
MIN_SQUARE = 0.4  # of the frame's shorter side
Look = tuple[int, float]  # the count (-1: no hand), the presence


def direct(network: LandmarkNetwork, bgr: np.ndarray) -> tuple[Look, Look]:
    """(`direct`, `direct+refine`) on one photo; `direct` is what `photo_hands` ships."""
    import cv2

    from fingercount.labeling.fingers import count_raised

    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    presence, world, points = network.surest(rgb)
    if presence < MIN_PRESENCE:
        return (-1, presence), (-1, presence)
    first = (count_raised(world), presence)
    again, world, _ = network.look(rgb, *aligned_square(points, REFINE_SCALE))
    return first, ((count_raised(world), again) if again >= MIN_PRESENCE else first)


def aligned_square(points: np.ndarray, scale: float) -> tuple[float, tuple[float, float, float]]:
    """A hand's square for `LandmarkNetwork.look` from its 21 image landmarks: the turn that points the
    wrist -> middle-finger base line up, and the square centred on the turned landmarks, `scale` x
    their longer extent."""
    up = points[9] - points[0]
    degrees = float(np.degrees(np.arctan2(up[0], -up[1])))
    radians = np.radians(degrees)
    rotation = np.array([[np.cos(radians), np.sin(radians)], [-np.sin(radians), np.cos(radians)]])
    turned = points @ rotation.T
    low, high = turned.min(axis=0), turned.max(axis=0)
    centre_x, centre_y = (low + high) / 2 @ rotation  # rotation is orthonormal: its inverse is its transpose
    return degrees, (float(centre_x), float(centre_y), scale * float(max(high - low)))


def chain_of(data: Any, name: str, limit: int) -> list[tuple[Path, int, int, list[tuple[float, ...]]]]:
    """Each usable photo of a source: its path, its label, the chain's total (-1: no hand) and boxes."""
    import cv2
    from tqdm import tqdm

    from fingercount.labeling.photo import photo_hands
    from fingercount.labeling.teacher import HandTeacher

    truth = sampled_truth(data, name, limit)
    cached = CACHE / f"{name}-{len(truth)}-chain.pkl"
    if cached.is_file():
        return pickle.loads(cached.read_bytes())  # written by this script; delete it to look again
    rows = []
    with HandTeacher() as teacher:
        for path, count in tqdm(truth, desc=f"chain on {name}", unit="photo"):
            bgr = cv2.imread(str(path))
            hands = photo_hands(teacher, bgr, without_palm=False) if bgr is not None else []
            rows.append((path, count, sum(h.count for h in hands) if hands else -1, [h.box for h in hands]))
    CACHE.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(pickle.dumps(rows))
    return rows


def hand_free_square(shape: tuple[int, ...], boxes: list[tuple[float, ...]]) -> tuple[int, int, int] | None:
    """The largest square (left, top, side) clear of every box grown by CLEAR, or None."""
    height, width = shape[:2]
    grown = [
        (x1 - CLEAR * (x2 - x1), y1 - CLEAR * (y2 - y1), x2 + CLEAR * (x2 - x1), y2 + CLEAR * (y2 - y1))
        for x1, y1, x2, y2 in boxes
    ]
    shorter = min(height, width)
    for side in range(shorter, int(MIN_SQUARE * shorter) - 1, -16):
        for top in range(0, height - side + 1, 16):
            for left in range(0, width - side + 1, 16):
                if all(left >= x2 or left + side <= x1 or top >= y2 or top + side <= y1 for x1, y1, x2, y2 in grown):
                    return left, top, side
    return None


def served_heads(looks: dict[str, dict[str, int]]) -> dict[tuple[str, str], dict[str, list[float]]]:
    """Each final run's served heads recomputed with each look's whole-photo counts: per (lever,
    source), per look and head, the accuracies over seeds."""
    from fingercount.training.campaign import heads

    table: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(RESULTS.glob("*.json")):
        found = json.loads(path.read_text())
        if "teacher_photos" not in found:
            continue
        for look, counts in looks.items():
            whole = {photo: counts[f"{found['source']}/{photo}"] for photo in found["teacher_photos"]}
            counted = heads(found["boxes"], whole, found["count_conf"])
            for head in SERVED_HEADS:
                table[(found["lever"], found["source"])][f"{look}|{head}"].append(counted[head]["accuracy"])
    return table


def main() -> None:
    import cv2
    from tqdm import tqdm

    from fingercount.labeling.photo import photo_hands
    from fingercount.labeling.teacher import HandTeacher
    from fingercount.training.leave_out import photo_root, real_sources

    data, limit = source_arguments(__doc__)
    network = LandmarkNetwork(model_path())
    looks: dict[str, dict[str, int]] = {"chain": {}, "direct": {}, "direct+refine": {}}
    print("| source | photos | chain: right | no hand | direct: found, right | direct+refine: right ", end="")
    print("| chain+direct | chain+direct+refine |")
    print("|---|---|---|---|---|---|---|---|")
    chains = {}
    seconds: list[float] = []
    for name in real_sources(data):
        rows = chains[name] = chain_of(data, name, limit)
        root = photo_root([path for path, *_ in rows])
        right = dict.fromkeys(looks, 0)
        found = 0
        for path, label, total, _ in tqdm(rows, desc=f"direct on {name}", unit="photo", leave=False):
            counts = {"chain": total, "direct": total, "direct+refine": total}
            if total < 0:
                start = time.perf_counter()
                (plain, _), (refined, _) = direct(network, cv2.imread(str(path)))
                seconds.append(time.perf_counter() - start)
                counts.update({"direct": plain, "direct+refine": refined})
                found += plain >= 0
            for look, count in counts.items():
                looks[look][f"{name}/{path.resolve().relative_to(root).as_posix()}"] = count
                right[look] += max(count, 0) == label  # no hand reads 0, as `report` counts (a fist)
        missed = sum(total < 0 for _, _, total, _ in rows)
        share = {look: f"{100 * right[look] / len(rows):.1f} %" for look in looks}
        gained = {look: right[look] - right["chain"] for look in looks}
        print(f"| {name} | {len(rows)} | {share['chain']} | {missed} | {found}, {gained['direct']} ", end="")
        print(f"| {gained['direct+refine']} | {share['direct']} | {share['direct+refine']} |")
    if seconds:
        median = 1000 * float(np.median(seconds))
        print(f"\nboth candidates on a photo the chain misses: {median:.1f} ms median ({len(seconds)} photos)")

    print("\n| lever | left out | look | " + " | ".join(f"{head}: mean (spread)" for head in SERVED_HEADS) + " |")
    print("|---|---|---|" + "---|" * len(SERVED_HEADS))
    for (lever, source), arms in sorted(served_heads(looks).items()):
        for look in looks:
            cells = []
            for head in SERVED_HEADS:
                values = arms[f"{look}|{head}"]
                cells.append(
                    f"{100 * np.mean(values):.1f} % ({100 * (max(values) - min(values)):.1f}, n={len(values)})"
                )
            print(f"| {lever} | {source} | {look} | " + " | ".join(cells) + " |")

    print("\n| hand-free squares | squares | chain gives a hand | direct gives a hand |")
    print("|---|---|---|---|")
    with HandTeacher() as teacher:
        for name in ("rooms", "epsrc"):
            squares = chain_hands = direct_hands = 0
            false_hands: list[str] = []
            for path, _, total, boxes in tqdm(
                chains[name], desc=f"hand-free squares of {name}", unit="frame", leave=False
            ):
                bgr = cv2.imread(str(path))
                square = hand_free_square(bgr.shape, boxes) if total >= 0 and bgr is not None else None
                if square is None:
                    continue
                left, top, side = square
                crop = np.ascontiguousarray(bgr[top : top + side, left : left + side])
                squares += 1
                if photo_hands(teacher, crop, without_palm=False):
                    chain_hands += 1
                elif direct(network, crop)[0][0] >= 0:
                    direct_hands += 1
                    false_hands.append(f"{path.name} {square}")  # named, not written: crops of faces stay off the disk
            print(
                f"| {name} | {squares} | {chain_hands} ({100 * chain_hands / max(squares, 1):.1f} %) "
                f"| +{direct_hands} (+{100 * direct_hands / max(squares, 1):.1f} points) |"
            )
            for where in false_hands:
                print(f"  a hand without the palm detector in {where} (left, top, side)")


if __name__ == "__main__":
    main()
