"""Choose between recipes on the validation split: each trained best.pt counted as served, per source.

    python benchmarks/recipe_choice.py --data data/real-hands-prepared/data.yaml \\
        src/fingercount/checkpoints/fingercount-hands-n160.pt:160 experiments/.../weights/best.pt:224

For each model (PATH:IMGSZ): the threshold that counts most of the val split's real photos right
(drawn hands left out), then exact count accuracy per source on val (to choose on) and test (to
report) at that threshold. The same data and split for every model: train them on the same
prepared data and seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fingercount.errors import DatasetError
from fingercount.inference.engines import UltralyticsEngine
from fingercount.training.count_eval import split_truth
from fingercount.training.evaluate import predicted_hands

THRESHOLDS = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6)
DRAWN = "synthetic"


def total(hands: list[tuple[int, float]], conf: float) -> int:
    kept = [fingers for fingers, score in hands if score >= conf]
    return sum(kept) if kept else -1


def counted(
    weights: Path, imgsz: int, data: Path, sources: list[str]
) -> tuple[float, int, int, dict[tuple[str, str], tuple[int, float]]]:
    """`weights` counted as served on val and test, per source: (the threshold that counts most of
    the val split's real photos right, how many it counts right, of how many, {(split, source):
    (photos, accuracy at that threshold)})."""
    engine = UltralyticsEngine(weights, imgsz, [str(i) for i in range(6)], threads=2)
    right: dict[tuple[str, str], tuple[int, list[list[bool]]]] = {}
    for split in ("val", "test"):
        for source in sources:
            try:
                truth = split_truth(data, split, source)
            except DatasetError:
                continue
            photos = sorted(truth)
            hands = predicted_hands(engine, photos, min(THRESHOLDS))
            right[(split, source)] = (
                len(photos),
                [[total(h, conf) == truth[p] for h, p in zip(hands, photos, strict=True)] for conf in THRESHOLDS],
            )
    real_val = [
        sum(sum(rows[i]) for (split, source), (_, rows) in right.items() if split == "val" and source != DRAWN)
        for i in range(len(THRESHOLDS))
    ]
    best = max(range(len(THRESHOLDS)), key=lambda i: real_val[i])
    images = sum(n for (split, source), (n, _) in right.items() if split == "val" and source != DRAWN)
    accuracy = {key: (n, sum(rows[best]) / n) for key, (n, rows) in right.items()}
    return THRESHOLDS[best], real_val[best], images, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="PATH:IMGSZ of a best.pt")
    parser.add_argument("--data", type=Path, default=Path("data/real-hands-prepared/data.yaml"))
    parser.add_argument("--sources", default="epsrc,rooms,people,synthetic")
    args = parser.parse_args()
    for spec in args.models:
        weights, imgsz = spec.rsplit(":", 1)
        chosen, right, images, accuracy = counted(Path(weights), int(imgsz), args.data, args.sources.split(","))
        print(f"{weights} at {imgsz} px: threshold {chosen}, val real photos right {right} of {images}")
        for (split, source), (n, share) in accuracy.items():
            print(f"  {split:<5} {source:<10} {n:>5} photos  {share:6.1%}")


if __name__ == "__main__":
    main()
