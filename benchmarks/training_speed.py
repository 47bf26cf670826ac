"""Seconds per epoch: plain Ultralytics (its defaults, as a user would call it) vs `fingercount train`'s
fit step on the same prepared data and hyper-parameters, in one run, arms alternated.

    python benchmarks/training_speed.py [--epochs 2] [--fraction 0.3] [--repeats 1]
    python benchmarks/training_speed.py --from-checkpoint --epochs 5 --fraction 1 --no-cache-arm --count
        # the demo's fine-tune as configured, both arms counted on the held-out photos

The data are the demo's (`configs/demo_config.yaml`: drawn hands + the three shared real sets,
160 px), prepared once. Arms:
- Ultralytics: `YOLO("yolo11n.yaml").train(...)` with the config's hyper-parameters and nothing
  else (it sets `workers=0` on a CPU, so every epoch decodes every JPEG again, and leaves torch on
  cpu_count - 1 threads);
- fingercount: our fit as the configs train (every core, `training.cache: false`);
- fingercount, cache: our fit with `training.cache: true` (decoded, resized images kept in RAM).
Seconds per epoch include each epoch's validation, as a user waits for it. From scratch, a few
epochs learn nothing worth comparing; `--from-checkpoint` trains what the demo trains (its fine-tune
of the shipped checkpoint) and `--count` counts each arm's best.pt on the val and test photos per
source (benchmarks/recipe_choice.py: the threshold chosen on val), to show equal speed-ups learn
the same.
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
from fingercount.training.trainer import fit, prepare_dataset
from fingercount.training.yolo import model_source, train_args

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
    model = YOLO(model_source(config))
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
    parser.add_argument(
        "--from-checkpoint", action="store_true",
        help="start every arm from the demo config's weights (the shipped checkpoint), not from scratch",
    )  # fmt: skip
    parser.add_argument("--no-cache-arm", action="store_true", help="leave out the `training.cache: true` arm")
    parser.add_argument("--count", action="store_true", help="count each arm's best.pt per source on val and test")
    args = parser.parse_args()
    quiet_third_parties()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.chdir(REPO)  # the demo's data, prepared (and cached) where `make demo` keeps them
        config, data, _ = available_data(load_training_config(Path("configs/demo_config.yaml")))
        weights = config.model.weights if args.from_checkpoint else None  # else from scratch, the same for every arm
        config = config.model_copy(
            update={
                "model": config.model.model_copy(update={"weights": weights}),
                "training": config.training.model_copy(update={"epochs": args.epochs, "fraction": args.fraction}),
            }
        )
        data_yaml = prepare_dataset(config, progress=False, data_config=data).out / "data.yaml"
        arms = {
            "Ultralytics defaults": lambda name: plain_ultralytics(config, data_yaml, root / "runs", name),
            "fingercount": lambda name: ours(config, data_yaml, root / "runs", name, cache=False),
            "fingercount, cache: true": lambda name: ours(config, data_yaml, root / "runs", name, cache=True),
        }
        if args.no_cache_arm:
            del arms["fingercount, cache: true"]
        seconds: dict[str, list[float]] = {arm: [] for arm in arms}
        trained: dict[str, Path] = {}
        for repeat in range(args.repeats):
            for arm, run in arms.items():
                name = f"{arm.split()[0].strip(',')}-{len(seconds[arm])}-{repeat}"
                seconds[arm] += run(name)
                trained.setdefault(arm, root / "runs" / name / "weights" / "best.pt")
        counts = (
            {arm: count(path, config.dataset.img_size, data_yaml) for arm, path in trained.items()}
            if args.count
            else {}
        )
    median = {arm: statistics.median(values) for arm, values in seconds.items()}
    start = f"from {weights}" if weights else "from scratch"
    print(
        f"training speed: the demo's data, 160 px, {start}, fraction {args.fraction}, "
        f"{args.epochs} epochs x {args.repeats}"
    )
    print(f"{'arm':<28} {'s/epoch':>8} {'vs Ultralytics':>15}")
    for arm, value in median.items():
        print(f"{arm:<28} {value:>8.1f} {median['Ultralytics defaults'] / value:>14.2f}x")
    for arm, lines in counts.items():
        print(f"{arm} (first repeat's best.pt), counted as served:")
        print("\n".join(lines))


def count(weights: Path, imgsz: int, data_yaml: Path) -> list[str]:
    """Lines of per-source count accuracy of `weights` on val and test (recipe_choice.counted)."""
    from recipe_choice import counted

    chosen, right, images, accuracy = counted(weights, imgsz, data_yaml, ["epsrc", "rooms", "people", "synthetic"])
    lines = [f"  threshold {chosen} (chosen on val): val real photos right {right} of {images}"]
    lines += [
        f"  {split:<5} {source:<10} {n:>5} photos  {share:6.1%}" for (split, source), (n, share) in accuracy.items()
    ]
    return lines


if __name__ == "__main__":
    main()
