"""MLflow tracking overhead: the same tiny training with tracking on and off, in one run.

    python benchmarks/tracking_overhead.py [--repeats 2] [--epochs 3]

Tracking on = our one MLflow run (params, per-epoch batched metrics, artifacts) against the
embedded SQLite store; evaluation and registration are off in both arms, so the difference is
the tracking alone. Arms alternate to spread machine noise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from fingercount.config import load_training_config
from fingercount.settings import quiet_third_parties
from fingercount.training.trainer import TrainEnvironment, fit, model_source, prepare_dataset, train

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    quiet_third_parties()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "configs", root / "configs")
        os.chdir(root)
        config = load_training_config(Path("configs/test_config.yaml"))
        config = config.model_copy(
            update={
                "training": config.training.model_copy(update={"epochs": args.epochs}),
                "mlflow": config.mlflow.model_copy(update={"auto_register": False, "experiment_name": "overhead"}),
            }
        )
        env = TrainEnvironment(f"sqlite:///{root / 'mlruns.db'}", (root / "mlartifacts").as_uri(), progress=False)
        times: dict[str, list[float]] = {"off": [], "on": []}
        logging_seconds: list[float] = []
        data_yaml = prepare_dataset(config, progress=False).out / "data.yaml"

        def untracked() -> None:  # the fit step alone: no MLflow at all
            fit(config, data_yaml, model_source(config), root / "untracked", "run", progress=False)

        untracked()  # warm-up: imports, caches
        for _ in range(args.repeats):
            for arm in ("off", "on"):
                started = time.perf_counter()
                if arm == "off":
                    untracked()
                else:
                    logging_seconds.append(train(config, env, evaluate=False).fit.seconds["tracking"])
                times[arm].append(time.perf_counter() - started)
    off, on = statistics.median(times["off"]), statistics.median(times["on"])
    print(f"tracking overhead: test config, {args.epochs} epochs, {args.repeats} repeats per arm (median)")
    print(f"{'arm':<14} {'seconds':>8}")
    print(f"{'tracking off':<14} {off:>8.2f}")
    print(f"{'tracking on':<14} {on:>8.2f}")
    print(f"ratio on/off: {on / off:.3f}  (+{on - off:.2f} s per training)")
    print(f"per-epoch metric logging: {statistics.median(logging_seconds) * 1000 / args.epochs:.1f} ms per epoch")


if __name__ == "__main__":
    main()
