"""What each count head costs a served request: the shipped checkpoint registered once per head
(`evaluation.count_head`), each served in turn, rounds alternated, the `classes` head the baseline.

    python benchmarks/count_heads.py [--requests 100] [--rounds 2] [--heads classes,landmarks,...] [--frame empty]

The frame is a real webcam photo with one hand at 640x480 (what the Live page sends); `--frame empty`:
the same photo with its hands painted out (cv2.inpaint over its labelled boxes), the stream of
someone not showing a hand, where a head asks the landmark model most (twice: the frame, then the
frame inside a border). Prints, per
head, /predict p50 and p95 at concurrency 1 and WebSocket frames/s, and each against `classes`
(issue 39's bound for a served head: p50 at most 1.3x, at least 60 frames/s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import REPO, http_latencies, percentile, real_frame, served, websocket_fps

MODEL = "yolov11-finger-counting"
CHECKPOINT = "fingercount-hands-n160-balanced"  # what `make demo` serves


def empty_frame() -> bytes:
    """`real_frame()` with every labelled hand painted out of the photo: a room and a face, no hand."""
    import xml.etree.ElementTree as ET

    import cv2
    import numpy as np

    photos = sorted((REPO.parent / "shared/datasets/hands-webcam-rooms").rglob("*.jpg"))
    photo = photos[len(photos) // 2]  # the photo real_frame() sends
    image = cv2.imread(str(photo))
    mask = np.zeros(image.shape[:2], np.uint8)
    for box in ET.parse(photo.with_suffix(".xml")).getroot().iter("bndbox"):
        x1, y1, x2, y2 = (int(float(box.findtext(k) or 0)) for k in ("xmin", "ymin", "xmax", "ymax"))
        grow = (x2 - x1) // 5  # the fingertips beyond a tight box
        mask[max(y1 - grow, 0) : y2 + grow, max(x1 - grow, 0) : x2 + grow] = 255
    ok, encoded = cv2.imencode(".jpg", cv2.resize(cv2.inpaint(image, mask, 9, cv2.INPAINT_TELEA), (640, 480)),
                               [cv2.IMWRITE_JPEG_QUALITY, 90])  # fmt: skip
    assert ok
    return encoded.tobytes()


def local_store(root: Path) -> tuple[str, Any, Any]:
    """A registry under `root` (the working folder from here on): (URI, its TrainEnvironment, the test
    recipe to register versions from)."""
    from fingercount.config import load_training_config
    from fingercount.training.trainer import TrainEnvironment

    shutil.copytree(REPO / "configs", root / "configs")
    os.chdir(root)
    uri = f"sqlite:///{root / 'mlruns.db'}"
    env = TrainEnvironment(uri, (root / "mlartifacts").as_uri(), model_cache=root / "cache", progress=False)
    return uri, env, load_training_config(Path("configs/test_config.yaml"))


def register_heads(root: Path, heads: list[str], sure: float) -> tuple[str, dict[str, str]]:
    """The checkpoint registered as it is once per head, in a store under `root`: (URI, head -> version)."""
    from fingercount.training.trainer import train

    uri, env, base = local_store(root)
    versions = {}
    for head in heads:
        config = base.model_copy(
            update={
                "model": base.model.model_copy(update={"weights": CHECKPOINT}),
                "dataset": base.dataset.model_copy(update={"img_size": 160}),
                "training": base.training.model_copy(update={"epochs": 0}),
                "export": base.export.model_copy(update={"int8": False}),
                "evaluation": base.evaluation.model_copy(update={"count_head": head, "count_sure": sure}),
                "mlflow": base.mlflow.model_copy(update={"experiment_name": "count-head-benchmark"}),
            }
        )
        versions[head] = str(train(config, env).model_version)
    return uri, versions


def measure(uri: str, work: Path, version: str, image: bytes, requests: int) -> dict[str, float]:
    with served(uri, work, MODEL, version) as (base, state):
        assert state["model"]["version"] == version
        http_latencies(base, image, 10, 1)  # warm-up: each serving thread makes its landmark model
        latencies = http_latencies(base, image, requests, 1)
        fps = websocket_fps(base, image, requests)
    return {"p50": statistics.median(latencies), "p95": percentile(latencies, 0.95), "fps": fps}


def alternated(
    uri: str, work: Path, versions: dict[str, str], image: bytes, requests: int, rounds: int
) -> dict[str, dict[str, float]]:
    """Each arm's version served in turn, rounds alternated (the first arm is the baseline): the
    median over rounds of each arm's p50, p95 and WebSocket frames/s."""
    arms = list(versions)
    runs: dict[str, list[dict[str, float]]] = {arm: [] for arm in arms}
    for round_ in range(rounds):
        for arm in arms if round_ % 2 == 0 else arms[::-1]:
            runs[arm].append(measure(uri, work, versions[arm], image, requests))
    return {
        arm: {key: statistics.median(run[key] for run in runs[arm]) for key in ("p50", "p95", "fps")} for arm in arms
    }


COLUMNS = f"{'p50 ms':>8} {'p95 ms':>8} {'WS frames/s':>12} {'p50 / base':>11} {'fps / base':>11}"


def cells(arm: dict[str, float], base: dict[str, float]) -> str:
    """An arm's figures under COLUMNS, its ratios against the baseline arm's."""
    return (
        f"{arm['p50']:>8.2f} {arm['p95']:>8.2f} {arm['fps']:>12.1f} "
        f"{arm['p50'] / base['p50']:>10.2f}x {arm['fps'] / base['fps']:>10.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--heads", default="classes,landmarks,arbitrated,landmarks+photo,photo+landmarks,sure+photo")
    parser.add_argument("--sure", type=float, default=0.75, help="count_sure of arbitrated and sure+photo (the demo's)")
    parser.add_argument("--frame", choices=("hand", "empty"), default="hand", help="a one-hand frame, or no hand")
    args = parser.parse_args()

    from fingercount.settings import quiet_third_parties

    quiet_third_parties()
    heads = args.heads.split(",")
    if heads[0] != "classes":
        heads = ["classes", *(h for h in heads if h != "classes")]  # the baseline
    image = real_frame() if args.frame == "hand" else empty_frame()
    work = Path(tempfile.mkdtemp(prefix="fc-heads-bench-"))
    uri, versions = register_heads(work, heads, args.sure)
    medians = alternated(uri, work, versions, image, args.requests, args.rounds)
    shutil.rmtree(work, ignore_errors=True)

    what = "one-hand webcam photo" if args.frame == "hand" else "webcam photo with its hands painted out"
    print(f"count heads: {what} at 640x480, {args.requests} requests x {args.rounds} rounds, medians; base: classes")
    print(f"{'head':<18} {COLUMNS}")
    for head in heads:
        print(f"{head:<18} {cells(medians[head], medians['classes'])}")
    print("bound for a served head (issue 39): p50 <= 1.3x classes, WebSocket >= 60 frames/s at 640 px")


if __name__ == "__main__":
    main()
