"""The finger rule judged leave-one-source-out: does a thumb fitted on two real sources, or the rule in
the image plane, count the third source's whole photos right more often than today's rule?

    python benchmarks/finger_rule.py [--config configs/real_hands_data.yaml] [--limit N]

The hand-landmark model looks once at every usable photo of each real source (and where it finds no
hand, again inside a border, then by the landmark network alone, as `photo_hands` does; the table of
docs/benchmarks.md was counted before the last look); each hand's 21 landmarks, in metres (world)
and in pixels (image), are kept in `data/cache/` so a later run only judges. Candidates:

- `world` (today's rule, `labeling/fingers.py`), and `image`: the same rule in the image plane;
- `+ thumb line`: the four long fingers by the rule, the thumb by a logistic line over the rule's own
  thumb measures (its direction across the palm, its reach in palm widths; `+ straightness`: and the
  cos of its bend), fitted on the one-hand photos of the *other* two sources where the photo's count
  says what the thumb is (the count minus the long fingers the rule reads is 0 or 1).
- `world + finger lines`: every finger by a line (one shared by the four long fingers over three
  measures each, one for the thumb), fitted on the other sources' one-hand photos by the chance that
  five independent fingers sum to the photo's count.

Each left-out source's photos are counted whole (the hands' sum against the label; no hand found is
wrong) and paired against `world` photo by photo (McNemar). The rule that decides what ships is in
docs/benchmarks.md ("The finger rule, judged leave-one-source-out"); the last line printed is its
verdict (`verdict`); `finger_rule_turns.py` then asks whether that verdict's plane carries to hands
turned side-on, and its last line is the decision. The rule also labels training data, so a winner
ships only when the leave-out campaign has run.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import REPO

Hand = tuple[np.ndarray, np.ndarray]  # world (21, 3) metres, image (21, 2) pixels
Photo = tuple[int, list[Hand]]  # the label's count, the hands found
CACHE = REPO / "data" / "cache" / "finger_rule"
THUMB_FEATURES = {"line": 2, "line+straightness": 3}
# The written rule's order for a tie (a mean within TIE points of the best): the world plane before the
# image plane, fewer measures first. `world + finger lines` has a rule of its own (`verdict`).
SIMPLER_FIRST = (
    "world + thumb line",
    "world + thumb line+straightness",
    "image",
    "image + thumb line",
    "image + thumb line+straightness",
)
TIE = 0.5
FINGER_LINES = "world + finger lines"


def main() -> None:
    from fingercount.training.leave_out import real_sources

    data, limit = source_arguments(__doc__)
    sources = {name: photos_of(data, name, limit) for name in real_sources(data)}
    judged = judge(sources)
    print(table(sources, judged))
    print(verdict(judged))


def source_arguments(description: str | None) -> tuple[Any, int]:
    """`--config` (the recipe's data, whose real sources are judged) and `--limit`: the loaded config and the limit."""
    from fingercount.config import load_data_config

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=REPO / "configs/real_hands_data.yaml")
    parser.add_argument("--limit", type=int, default=0, help="at most this many photos a source (0: all)")
    args = parser.parse_args()
    return load_data_config(args.config), args.limit


def sampled_truth(data: Any, name: str, limit: int) -> list[tuple[Path, int]]:
    """A source's usable photos with their counts, sorted; at most `limit`, spread evenly (0: all)."""
    from fingercount.training.leave_out import source_truth

    truth = sorted(source_truth(data, name).items())
    return truth[:: max(1, len(truth) // limit)][:limit] if limit else truth


def photos_of(data: object, name: str, limit: int) -> list[Photo]:
    """Each usable photo of a source: its count and the landmark model's hands (cached)."""
    import cv2
    from tqdm import tqdm

    from fingercount.labeling.photo import PHOTO_BORDER
    from fingercount.labeling.teacher import HandTeacher, model_path
    from fingercount.labeling.without_palm import LandmarkNetwork

    truth = sampled_truth(data, name, limit)
    cached = CACHE / f"{name}-{len(truth)}-without-palm.pkl"
    if cached.is_file():
        return pickle.loads(cached.read_bytes())  # written by this script; delete it to look again
    photos: list[Photo] = []
    network = LandmarkNetwork(model_path())
    with HandTeacher() as teacher:
        for path, count in tqdm(truth, desc=f"landmarks of {name}", unit="photo"):
            bgr = cv2.imread(str(path))
            found = teacher.label_with_landmarks(bgr) if bgr is not None else []
            if bgr is not None and not found:  # a second look inside a border, as `photo_hands` does
                pad = int(PHOTO_BORDER * max(bgr.shape[:2]))
                framed = cv2.copyMakeBorder(bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
                found = [hand for hand in teacher.label_with_landmarks(framed) if _inside(hand[0].box, pad, bgr)]
            hands = [(world, image) for _, image, world in found]
            if bgr is not None and not hands:  # last, the landmark network alone, as `photo_hands` does
                presence, world, image = network.surest(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                hands = [(world, image)] if presence >= teacher.min_score else []
            photos.append((count, hands))
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(pickle.dumps(photos))
    return photos


def _inside(box: tuple[float, ...], pad: int, bgr: np.ndarray) -> bool:
    x1, y1, x2, y2 = box
    height, width = bgr.shape[:2]
    return min(x2 - pad, width) > max(x1 - pad, 0) and min(y2 - pad, height) > max(y1 - pad, 0)


def thumb_measures(points: np.ndarray) -> np.ndarray:
    """The rule's own thumb measures on 21 landmarks (any plane: direction across the palm, reach in
    palm widths), and the cos of the thumb's bend at its middle joint (1: straight)."""
    from fingercount.labeling.fingers import thumb_measures as rule_measures
    from fingercount.labeling.fingers import unit

    direction, reach = rule_measures(points)
    straight = float(np.dot(unit(points[3] - points[2]), unit(points[4] - points[3])))
    return np.array([direction, reach, straight])


def plane(hand: Hand, name: str) -> np.ndarray:
    world, image = hand
    return world if name == "world" else np.c_[image, np.zeros(21)]


def rule_fingers(hand: Hand, name: str) -> tuple[bool, ...]:
    from fingercount.labeling.fingers import raised_fingers

    return raised_fingers(plane(hand, name))


class ThumbLine:
    """A logistic line over the first `features` thumb measures, fitted by Newton's method (standardised,
    a small ridge so a separable sample stays finite)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, ridge: float = 1e-2) -> None:
        self.mean, self.scale = x.mean(0), x.std(0) + 1e-9
        z = np.c_[np.ones(len(x)), (x - self.mean) / self.scale]
        w = np.zeros(z.shape[1])
        for _ in range(50):
            p = _sigmoid(z @ w)
            gradient = z.T @ (p - y) + ridge * w
            hessian = (z * (p * (1 - p))[:, None]).T @ z + ridge * np.eye(len(w))
            step = np.linalg.solve(hessian, gradient)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        self.w = w

    def raised(self, x: np.ndarray) -> bool:
        return bool(np.r_[1.0, (x - self.mean) / self.scale] @ self.w > 0)


def thumb_samples(photos: list[Photo], name: str, features: int) -> tuple[np.ndarray, np.ndarray]:
    """One-hand photos whose count says what the thumb is: (measures, raised)."""
    x, y = [], []
    for count, hands in photos:
        if len(hands) != 1:
            continue
        thumb = count - sum(rule_fingers(hands[0], name)[1:])
        if thumb in (0, 1):
            x.append(thumb_measures(plane(hands[0], name))[:features])
            y.append(float(thumb))
    return np.array(x), np.array(y)


def finger_measures(points: np.ndarray) -> np.ndarray:
    """(4, 3): for each long finger, the rule's measure (cos of its outer part against the palm's axis),
    the cos of its first bone against the same axis, and its tip's reach from the wrist in
    knuckle-to-wrist lengths."""
    from fingercount.labeling.fingers import LONG_FINGERS, unit

    rows = []
    for knuckle, middle, _, tip in LONG_FINGERS:
        axis = unit(points[knuckle] - points[0])
        outer = float(np.dot(unit(points[tip] - points[middle]), axis))
        first = float(np.dot(unit(points[middle] - points[knuckle]), axis))
        length = float(np.linalg.norm(points[knuckle] - points[0])) or 1e-6
        reach = float(np.linalg.norm(points[tip] - points[0])) / length
        rows.append((outer, first, reach))
    return np.array(rows)


class FingerLines:
    """Every finger by a logistic line: one shared by the four long fingers over `finger_measures`, one
    for the thumb over its direction and reach. Fitted on one-hand photos by the chance that five
    independent fingers sum to the photo's count (no photo says which fingers are up)."""

    def __init__(self, photos: list[Photo], ridge: float = 1e-2) -> None:
        from scipy.optimize import minimize

        hands = [(hands[0], count) for count, hands in photos if len(hands) == 1 and 0 <= count <= 5]
        long = np.stack([finger_measures(world) for (world, _), _ in hands])  # (n, 4, 3)
        thumb = np.stack([thumb_measures(world)[:2] for (world, _), _ in hands])  # (n, 2)
        counts = np.array([count for _, count in hands])
        self.long_mean, self.long_scale = long.reshape(-1, 3).mean(0), long.reshape(-1, 3).std(0) + 1e-9
        self.thumb_mean, self.thumb_scale = thumb.mean(0), thumb.std(0) + 1e-9
        zl, zt = (long - self.long_mean) / self.long_scale, (thumb - self.thumb_mean) / self.thumb_scale

        def loss(w: np.ndarray) -> float:
            p = np.c_[_sigmoid(w[4] + zt @ w[5:]), _sigmoid(w[0] + zl @ w[1:4])]  # (n, 5)
            chance = np.zeros((len(counts), 6))
            chance[:, 0] = 1.0
            for finger in range(5):  # the distribution of the sum, one finger at a time
                up = p[:, finger : finger + 1]
                chance[:, 1:] = chance[:, 1:] * (1 - up) + chance[:, :-1] * up
                chance[:, 0] *= 1 - up[:, 0]
            return float(-np.log(chance[np.arange(len(counts)), counts] + 1e-12).sum() + ridge * (w @ w))

        start = np.array([0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0])  # raised when the rule's own measures are high
        self.w = minimize(loss, start, method="L-BFGS-B").x

    def raised(self, world: np.ndarray) -> tuple[bool, ...]:
        zl = (finger_measures(world) - self.long_mean) / self.long_scale
        zt = (thumb_measures(world)[:2] - self.thumb_mean) / self.thumb_scale
        thumb = self.w[4] + zt @ self.w[5:] > 0
        return (bool(thumb), *(bool(v > 0) for v in self.w[0] + zl @ self.w[1:4]))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


Counter = Callable[[Hand], int]


def candidates(train: list[Photo]) -> dict[str, Counter]:
    """Every candidate rule, its thumb lines fitted on `train` (the other sources' photos)."""
    rules: dict[str, Counter] = {}
    for name in ("world", "image"):
        rules[name] = lambda hand, name=name: sum(rule_fingers(hand, name))
        for label, features in THUMB_FEATURES.items():
            line = ThumbLine(*thumb_samples(train, name, features))

            def count(hand: Hand, name: str = name, line: ThumbLine = line, features: int = features) -> int:
                thumb = line.raised(thumb_measures(plane(hand, name))[:features])
                return int(thumb) + sum(rule_fingers(hand, name)[1:])

            rules[f"{name} + thumb {label}"] = count
    lines = FingerLines(train)
    rules["world + finger lines"] = lambda hand: sum(lines.raised(hand[0]))
    return rules


def right(photos: list[Photo], counter: Counter) -> list[bool]:
    return [bool(hands) and sum(counter(hand) for hand in hands) == count for count, hands in photos]


Judged = dict[str, dict[str, list[bool]]]  # rule -> left-out source -> each photo right


def judge(sources: dict[str, list[Photo]]) -> Judged:
    """Every candidate on each source left out, its lines fitted on the other sources."""
    judged: Judged = {}
    for left_out in sources:
        train = [photo for other in sources if other != left_out for photo in sources[other]]
        for rule, counter in candidates(train).items():
            judged.setdefault(rule, {})[left_out] = right(sources[left_out], counter)
    return judged


def beats(ours: dict[str, list[bool]], base: dict[str, list[bool]]) -> bool:
    """The written rule's test: more photos right than `base` on every left-out source, and none worse
    by McNemar's paired test (which more photos right implies)."""
    for name, right_here in ours.items():
        lost = sum(b and not o for b, o in zip(base[name], right_here, strict=True))
        gained = sum(o and not b for b, o in zip(base[name], right_here, strict=True))
        if gained <= lost:
            return False
    return True


def mean_right(by_source: dict[str, list[bool]]) -> float:
    return float(np.mean([100 * np.mean(right_here) for right_here in by_source.values()]))


def verdict(judged: Judged) -> str:
    """The rule written before the runs (docs/benchmarks.md), applied: the candidates that beat `world`;
    among them the highest mean, a mean within TIE points going to the simpler (SIMPLER_FIRST).
    `world + finger lines` replaces a `world + thumb line` winner only if it beats it too."""
    winners = [rule for rule in SIMPLER_FIRST if rule in judged and beats(judged[rule], judged["world"])]
    if not winners:
        return "verdict: no candidate beats `world` on every source; the rule stays"
    best = max(mean_right(judged[rule]) for rule in winners)
    chosen = next(rule for rule in winners if mean_right(judged[rule]) >= best - TIE)
    why = f"beats `world` on every source: {', '.join(winners)}; the highest mean {best:.1f} %"
    if chosen == SIMPLER_FIRST[0] and FINGER_LINES in judged:
        lines = judged[FINGER_LINES]
        if beats(lines, judged["world"]) and beats(lines, judged[chosen]):
            return f"verdict: `{FINGER_LINES}` (beats `world` and `{chosen}` on every source)"
    return f"verdict: `{chosen}` ({why}, ties within {TIE} points to the simpler)"


def table(sources: dict[str, list[Photo]], judged: Judged) -> str:
    from fingercount.registry.paired import mcnemar_p

    names = list(sources)
    today = judged["world"]
    head = "| rule | " + " | ".join(f"{n} ({len(sources[n])})" for n in names) + " | mean |"
    lines = [head, "|" + "---|" * (len(names) + 2)]
    for rule, by_source in judged.items():
        cells = []
        for name in names:
            ours, base = by_source[name], today[name]
            cell = f"{100 * np.mean(ours):.1f} %"
            if rule != "world":
                b = sum(x and not y for x, y in zip(base, ours, strict=True))
                c = sum(y and not x for x, y in zip(base, ours, strict=True))
                cell += f" (+{c}/-{b}, p {mcnemar_p(b, c):.2f})"
            cells.append(cell)
        mean = np.mean([100 * np.mean(by_source[name]) for name in names])
        lines.append(f"| {rule} | " + " | ".join(cells) + f" | {mean:.1f} % |")
    no_hand = ", ".join(f"{n} {100 * np.mean([not h for _, h in sources[n]]):.1f} %" for n in names)
    return "\n".join([*lines, "", f"no hand found (every rule): {no_hand}"])


if __name__ == "__main__":
    main()
