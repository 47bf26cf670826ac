"""Seconds per epoch: plain Ultralytics (its defaults, as a user would call it) vs `fingercount train`'s
fit step on the same prepared data and hyper-parameters, in one run, arms alternated.

    python benchmarks/training_speed.py [--epochs 2] [--fraction 0.3] [--repeats 1]

The data are the demo's (`configs/demo_config.yaml`: drawn hands + the three shared real sets,
160 px), prepared once. Arms:
- Ultralytics: `YOLO("yolo11n.yaml").train(...)` with the config's hyper-parameters and nothing
  else (it sets `workers=0` on a CPU, so every epoch decodes every JPEG again, and leaves torch on
  cpu_count - 1 threads);
- fingercount: our fit as the configs train (every core, `training.cache: false`);
- fingercount, cache: our fit with `training.cache: true` (decoded, resized images kept in RAM).
Seconds per epoch include each epoch's validation, as a user waits for it. A few epochs learn
nothing worth comparing: accuracy at equal epochs is the demo's figures in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from fingercount.config import TrainingConfig, load_training_config
from fingercount.demo import available_data
from fingercount.settings import quiet_third_parties
from fingercount.training.trainer import fit, model_source, prepare_dataset
from fingercount.training.yolo import train_args

REPO = Path(__file__).resolve().parents[1]


def epoch_timer() -> tuple[list[float], Any]:
    """Seconds of each epoch (training + validation), from Ultralytics' own callbacks."""
    seconds: list[float] = []
    started = [0.0]

    def start(_: Any) -> None:
        started[0] = time.perf_counter()

    def end(_: Any) -> None:
        seconds.append(time.perf_counter() - started[0])

    return seconds, {"on_train_epoch_start": start, "on_fit_epoch_end": end}


def plain_ultralytics(config: TrainingConfig, data_yaml: Path, project: Path, name: str) -> list[float]:
    from ultralytics import YOLO

    seconds, callbacks = epoch_timer()
    model = YOLO("yolo11n.yaml")
    for event, callback in callbacks.items():
        model.add_callback(event, callback)
    ours = train_args(config, data_yaml, project, name)
    keys = ("data", "imgsz", "epochs", "batch", "lr0", "lrf", "momentum", "weight_decay", "warmup_epochs",
            "optimizer", "close_mosaic", "fraction", "seed", "device", "project", "name")  # fmt: skip
    augmentation = config.augmentation.model_dump()
    model.train(**{key: ours[key] for key in keys}, **augmentation, exist_ok=True, verbose=False, plots=False)
    return seconds[: config.training.epochs]


def ours(config: TrainingConfig, data_yaml: Path, project: Path, name: str, cache: bool) -> list[float]:
    import ultralytics.models.yolo.model  # noqa: F401  (callbacks are added to every YOLO made below)
    from ultralytics.utils import callbacks as default_callbacks

    seconds, callbacks = epoch_timer()
    run = config.model_copy(update={"training": config.training.model_copy(update={"cache": cache})})
    added = []
    for event, callback in callbacks.items():
        default_callbacks.default_callbacks[event].append(callback)
        added.append((event, callback))
    try:
        fit(run, data_yaml, model_source(run), project, name, progress=False)
    finally:
        for event, callback in added:
            default_callbacks.default_callbacks[event].remove(callback)
    return seconds[: config.training.epochs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fraction", type=float, default=0.3, help="share of the training split each epoch uses")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    quiet_third_parties()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.chdir(REPO)  # the demo's data, prepared (and cached) where `make demo` keeps them
        config, data, _ = available_data(load_training_config(Path("configs/demo_config.yaml")))
        config = config.model_copy(
            update={
                "model": config.model.model_copy(update={"weights": None}),  # from scratch: the same for every arm
                "training": config.training.model_copy(update={"epochs": args.epochs, "fraction": args.fraction}),
            }
        )
        data_yaml = prepare_dataset(config, progress=False, data_config=data).out / "data.yaml"
        arms = {
            "Ultralytics defaults": lambda name: plain_ultralytics(config, data_yaml, root / "runs", name),
            "fingercount": lambda name: ours(config, data_yaml, root / "runs", name, cache=False),
            "fingercount, cache: true": lambda name: ours(config, data_yaml, root / "runs", name, cache=True),
        }
        seconds: dict[str, list[float]] = {arm: [] for arm in arms}
        for repeat in range(args.repeats):
            for arm, run in arms.items():
                seconds[arm] += run(f"{arm.split()[0]}-{len(seconds[arm])}-{repeat}")
    median = {arm: statistics.median(values) for arm, values in seconds.items()}
    print(f"training speed: the demo's data, 160 px, fraction {args.fraction}, {args.epochs} epochs x {args.repeats}")
    print(f"{'arm':<28} {'s/epoch':>8} {'vs Ultralytics':>15}")
    for arm, value in median.items():
        print(f"{arm:<28} {value:>8.1f} {median['Ultralytics defaults'] / value:>14.2f}x")


if __name__ == "__main__":
    main()
