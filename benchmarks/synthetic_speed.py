"""Synthetic generator throughput on one core (target: >= 100 images/s at 320 px).

python benchmarks/synthetic_speed.py [--images 300] [--size 320]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2

from fingercount.config import SyntheticSourceConfig
from fingercount.data import synthetic
from fingercount.data.sources.synthetic import write_synthetic

TARGET = 100.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--size", type=int, default=320)
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one core, as the target says

    start = time.perf_counter()
    for index in range(args.images):
        synthetic.render(0, index, args.size, 3)
    render_rate = args.images / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_synthetic(Path(tmp) / "ds", SyntheticSourceConfig(images=args.images, img_size=args.size), progress=False)
        write_rate = args.images / (time.perf_counter() - start)

    print(f"synthetic generator, {args.images} images at {args.size} px, 1 thread")
    print(f"{'stage':<28} {'images/s':>9} {'vs target':>10}")
    print(f"{'render (in memory)':<28} {render_rate:>9.1f} {render_rate / TARGET:>9.2f}x")
    print(f"{'render + JPEG + label file':<28} {write_rate:>9.1f} {write_rate / TARGET:>9.2f}x")


if __name__ == "__main__":
    main()
