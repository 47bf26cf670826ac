"""How the count holds when real photos move away from the training set: model vs teacher.

    python benchmarks/real_hands_robustness.py --model models:/yolov11-finger-counting@production \
        --data data/demo-prepared/data.yaml --source real

Takes the held-out real photos (the test split's images of one source, or count folders via
--counts) and counts them as they are and under changes a new user brings: the other hand, a
smaller hand (further from the camera, on a busy background), another light, another colour
cast, a tilted camera. Prints exact count accuracy for the model and for the hand-landmark
teacher on the same images. A proxy only: other people in other rooms remain the real test.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from fingercount.training.count_eval import model_counts, report, split_truth, teacher_counts, truth_from_path

Change = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def smaller_on_clutter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The photo at 60 % in a random place on a cluttered background (blurred noise blobs)."""
    height, width = image.shape[:2]
    clutter = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (0, 0), 6)
    clutter = cv2.normalize(clutter, None, 0, 255, cv2.NORM_MINMAX)
    small = cv2.resize(image, (int(width * 0.6), int(height * 0.6)), interpolation=cv2.INTER_AREA)
    y, x = rng.integers(0, height - small.shape[0]), rng.integers(0, width - small.shape[1])
    clutter[y : y + small.shape[0], x : x + small.shape[1]] = small
    return clutter


def colour_cast(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + int(rng.choice([-12, 12]))) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] * 1.4, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


def tilted(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), float(rng.choice([-20, 20])), 1.0)
    return cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)


CHANGES: dict[str, Change] = {
    "as photographed": lambda image, rng: image,
    "other hand (mirrored)": lambda image, rng: cv2.flip(image, 1),
    "smaller, cluttered background": smaller_on_clutter,
    "dim light (x0.45)": lambda image, rng: cv2.convertScaleAbs(image, alpha=0.45),
    "bright light (x1.6)": lambda image, rng: cv2.convertScaleAbs(image, alpha=1.6),
    "colour cast (hue +-12, sat x1.4)": colour_cast,
    "camera tilted 20 degrees": tilted,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="best.pt, or models:/NAME@ALIAS (needs MLFLOW_TRACKING_URI)")
    parser.add_argument("--data", type=Path, help="a prepared data.yaml")
    parser.add_argument("--split", default="test", help="with --data: val to choose a recipe, test to report")
    parser.add_argument("--source", help="with --data: only this source's images (e.g. real)")
    parser.add_argument("--counts", type=Path, help="count folders instead of --data")
    args = parser.parse_args()
    from fingercount.cli.evaluate import model_engine

    _, engine, stored_conf = model_engine(args.model, "auto", imgsz=160)
    imgsz, conf = engine.imgsz, 0.25 if stored_conf is None else stored_conf
    truth = truth_from_path(args.counts) if args.counts else split_truth(args.data, args.split, args.source)
    photos, true = list(truth), list(truth.values())
    print(f"{len(photos)} photos; model {args.model} at {imgsz} px, counting threshold {conf:g}")
    print(f"{'change':<34} {'model':>7} {'teacher':>8} {'model - teacher':>16}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, change in CHANGES.items():
            rng = np.random.default_rng(0)
            changed = []
            for index, photo in enumerate(photos):
                path = Path(tmp) / f"{index}.png"
                cv2.imwrite(str(path), change(cv2.imread(str(photo)), rng))
                changed.append(path)
            ours = report(true, model_counts(engine, changed, conf)).accuracy
            theirs = report(true, teacher_counts(changed)).accuracy
            print(f"{name:<34} {ours:>7.1%} {theirs:>8.1%} {ours - theirs:>+16.1%}", flush=True)


if __name__ == "__main__":
    main()
