"""Training speed on a CPU: one thread vs every core (f32), and bf16 vs f32 — all in one run.

    python benchmarks/training_threads.py [--epochs 3] [--images 160] [--size 160]

Ultralytics' `select_device` leaves torch on `cpu_count - 1` threads (one of two cores on a
2-core machine); `training.threads` (default: every core) sets them again once Ultralytics has
chosen. `training.amp: bf16` (opt-in) trains in bf16, fast on a CPU with AMX or AVX512-BF16. This
times the fit step alone (no MLflow) on synthetic data for each arm, the arms alternated, and
prints seconds per epoch and the speed-ups (what bf16 does to accuracy: the demo's figures in
docs/benchmarks.md — a few epochs here train nothing worth comparing).
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
from fingercount.training.yolo import cpu_has_native_bf16

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
        arms = {"1 thread, f32": (1, False), f"{cores} threads, f32": (cores, False)}
        if cpu_has_native_bf16():
            arms[f"{cores} threads, bf16"] = (cores, "bf16")
        seconds: dict[str, list[float]] = {arm: [] for arm in arms}
        for repeat in range(args.repeats + 1):  # the first round warms caches and is not counted
            for arm, (threads, amp) in arms.items():
                run = config.model_copy(
                    update={
                        "dataset": config.dataset.model_copy(update={"img_size": args.size}),
                        "training": config.training.model_copy(
                            update={"epochs": args.epochs, "threads": threads, "amp": amp}
                        ),
                    }
                )
                started = time.perf_counter()
                fit(run, data_yaml, model_source(run), root / "runs", f"r{repeat}-{threads}-{amp}", progress=False)
                if repeat:
                    seconds[arm].append((time.perf_counter() - started) / args.epochs)
    median = {arm: statistics.median(times) for arm, times in seconds.items()}
    print(f"fit: {args.images} synthetic images at {args.size} px, {args.epochs} epochs, median of {args.repeats}")
    print(f"{'arm':<20} {'s/epoch':>8}")
    for arm, value in median.items():
        print(f"{arm:<20} {value:>8.2f}")
    f32 = median[f"{cores} threads, f32"]
    print(f"speed-up all/1 thread (f32): {median['1 thread, f32'] / f32:.2f}x on {cores} cores")
    if f"{cores} threads, bf16" in median:
        print(f"speed-up bf16/f32 ({cores} threads): {f32 / median[f'{cores} threads, bf16']:.2f}x")
    else:
        print("bf16: not measured, this CPU has no AMX or AVX512-BF16 (bf16 would be emulated, slower than f32)")


if __name__ == "__main__":
    main()
