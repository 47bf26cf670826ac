"""Training threads: the same fit with one thread and with every core, in one run.

    python benchmarks/training_threads.py [--epochs 3] [--images 160] [--size 160]

Ultralytics' `select_device` leaves torch on `cpu_count - 1` threads (one of two cores on a
2-core machine); `training.threads` (default: every core) sets them again once Ultralytics has
chosen. This times the fit step alone (no MLflow) on synthetic data for 1 thread and for all,
the arms alternated, and prints seconds per epoch and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from fingercount.config import TrainingConfig, load_data_config, load_training_config
from fingercount.settings import quiet_third_parties
from fingercount.training.trainer import fit, model_source, prepare_dataset

REPO = Path(__file__).resolve().parents[1]


def synthetic_dataset(images: int, size: int) -> tuple[TrainingConfig, Path]:
    """The test config and its synthetic data at `images` x `size` px, prepared in the current folder."""
    config = load_training_config(Path("configs/test_config.yaml"))
    data = load_data_config(config.dataset.config)
    synthetic = data.source.synthetic.model_copy(update={"images": images, "img_size": size})
    data = data.model_copy(update={"source": data.source.model_copy(update={"synthetic": synthetic})})
    return config, prepare_dataset(config, progress=False, data_config=data).out / "data.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=160)
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    quiet_third_parties()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "configs", root / "configs")
        os.chdir(root)
        config, data_yaml = synthetic_dataset(args.images, args.size)
        seconds: dict[int, list[float]] = {1: [], cores: []}
        for repeat in range(args.repeats + 1):  # the first round warms caches and is not counted
            for threads in seconds:
                run = config.model_copy(
                    update={
                        "dataset": config.dataset.model_copy(update={"img_size": args.size}),
                        "training": config.training.model_copy(update={"epochs": args.epochs, "threads": threads}),
                    }
                )
                started = time.perf_counter()
                fit(run, data_yaml, model_source(run), root / "runs", f"t{threads}-{repeat}", progress=False)
                if repeat:
                    seconds[threads].append((time.perf_counter() - started) / args.epochs)
    one, every = statistics.median(seconds[1]), statistics.median(seconds[cores])
    print(f"fit: {args.images} synthetic images at {args.size} px, {args.epochs} epochs, median of {args.repeats}")
    print(f"{'threads':<10} {'s/epoch':>8}")
    print(f"{1:<10} {one:>8.2f}")
    print(f"{cores:<10} {every:>8.2f}")
    print(f"speed-up all/1: {one / every:.2f}x on {cores} cores")


if __name__ == "__main__":
    main()
