"""The teach loop end to end: 100 frames of a real hand collected through the API the Collect page
uses, a training job in its own process, and the new version serving — timed, with exact count
accuracy on held-out real frames before and after.

    python benchmarks/teach_loop.py [--parent-epochs 12] [--frames-per-take 5] [--takes 4]

The parent is a model that never saw a real hand (drawn hands only, trained first and not timed):
the situation of a user whose hand, camera and room the model does not know. Collected frames come
from the first 60% of each count's sequence in ../shared/datasets/real-hands-epsrc-set1; the
held-out frames from its last 30%, so no held-out frame neighbours a collected one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from fingercount.config import load_data_config, load_training_config
from fingercount.processes import free_port, stop_process, wait_until
from fingercount.registry import Registry
from fingercount.settings import quiet_third_parties
from fingercount.training.count_eval import model_counts, report
from fingercount.training.trainer import TrainEnvironment, train

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "datasets" / "real-hands-epsrc-set1"
MODEL = "yolov11-finger-counting"


def sequences() -> dict[int, list[Path]]:
    found = {}
    for folder in sorted(p for p in REAL.iterdir() if p.is_dir()):
        found[int(folder.name)] = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    return found


def collected_takes(takes: int, per_take: int) -> list[tuple[int, Path]]:
    """(count, photo) in the order a user would show them: count after count, take after take."""
    order = []
    for take in range(takes):
        for count, photos in sequences().items():
            pool = photos[: int(len(photos) * 0.6)]
            start = take * len(pool) // takes
            order += [(count, photo) for photo in pool[start : start + 2 * per_take : 2]]  # every 2nd frame
    return order


def held_out(per_count: int) -> dict[Path, int]:
    truth = {}
    for count, photos in sequences().items():
        pool = photos[int(len(photos) * 0.7) :]
        truth.update({photo: count for photo in pool[:: max(1, len(pool) // per_count)][:per_count]})
    return truth


def accuracy(registry: Registry, version: str, truth: dict[Path, int]) -> float:
    package = registry.fetch(MODEL, version)
    engine = package.engine("auto")
    return report(list(truth.values()), model_counts(engine, list(truth), package.metadata.count_conf)).accuracy


def train_parent(env: TrainEnvironment, epochs: int) -> str:
    """Drawn hands only (the demo's recipe without the real photos), promoted to @production."""
    config = load_training_config(Path("configs/demo_scratch_config.yaml"))
    data = load_data_config(config.dataset.config).model_copy(update={"extra_sources": []})
    data_path = Path("configs/bench_parent_data.yaml")
    import yaml

    data_path.write_text(yaml.safe_dump(data.model_dump(mode="json")))
    config = config.model_copy(
        update={
            "dataset": config.dataset.model_copy(update={"config": data_path}),
            "training": config.training.model_copy(update={"epochs": epochs, "close_mosaic": min(4, epochs)}),
            "evaluation": config.evaluation.model_copy(update={"sets": {}, "teacher": False}),
            "mlflow": config.mlflow.model_copy(
                update={"experiment_name": "teach-bench-parent", "promotion_metric": "test/count_accuracy"}
            ),
        }
    )
    result = train(config, env)
    assert result.model_version is not None
    return result.model_version


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parent-epochs", type=int, default=12)
    parser.add_argument("--takes", type=int, default=4)
    parser.add_argument("--frames-per-take", type=int, default=5)
    parser.add_argument("--held-out", type=int, default=20, help="held-out photos per count")
    args = parser.parse_args()
    if not REAL.is_dir():
        sys.exit(f"{REAL} is not here: the benchmark needs the shared real photos")
    quiet_third_parties()
    root = Path(tempfile.mkdtemp(prefix="fc-teach-bench-"))
    shutil.copytree(REPO / "configs", root / "configs")
    os.chdir(root)
    uri = f"sqlite:///{root / 'mlruns.db'}"
    env = TrainEnvironment(uri, (root / "mlartifacts").as_uri(), model_cache=root / "cache", progress=False)
    registry = Registry(uri, root / "cache")
    print(f"training the parent (drawn hands only, {args.parent_epochs} epochs; not timed)…", flush=True)
    parent = train_parent(env, args.parent_epochs)
    registry.promote(MODEL, parent, "production", force=True)
    truth = held_out(args.held_out)
    before = accuracy(registry, parent, truth)

    port = free_port()
    server_env = {
        **os.environ, "MLFLOW_TRACKING_URI": uri, "MODEL_ALIAS": "production", "MODEL_CACHE_DIR": str(root / "cache"),
        "COLLECTIONS_DIR": str(root / "collections"), "TEACH_CONFIG": "configs/teach_config.yaml",
        "MLFLOW_ARTIFACT_ROOT": (root / "mlartifacts").as_uri(),
    }  # fmt: skip
    command = [sys.executable, "-m", "fingercount", "serve", "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command, env=server_env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _loaded(base), "the server loading the parent", timeout=180)
        frames = collected_takes(args.takes, args.frames_per_take)
        started = time.perf_counter()
        stored = 0
        with httpx.Client(timeout=60) as client:
            for count, photo in frames:
                answer = client.post(
                    f"{base}/collections/bench/frames", params={"count": count},
                    files={"file": (photo.name, photo.read_bytes(), "image/jpeg")},
                )  # fmt: skip
                stored += answer.status_code == 200 and answer.json()["stored"]
            collected = time.perf_counter() - started
            job = client.post(f"{base}/jobs", params={"collection": "bench"}).json()
            wait_until(lambda: client.get(f"{base}/jobs/current").json()["state"] != "running", "the job", 1800, 1)
            job = client.get(f"{base}/jobs/current").json()
            if job["state"] != "succeeded":
                sys.exit(f"the job {job['state']}: {job['error']}")
            serving = client.get(f"{base}/models/current").json()["model"]["version"]
        total = time.perf_counter() - started
    finally:
        stop_process(server)
    after = accuracy(registry, job["version"], truth)
    print(f"teach loop: {stored} frames stored of {len(frames)} sent ({args.takes} takes of each count), teach_config")
    print(f"{'step':<44} {'seconds':>8}")
    print(f"{'collect (POST /collections/…/frames, teacher)':<44} {collected:>8.1f}")
    print(f"{'job: prepare, fine-tune, evaluate, register':<44} {job['ended'] - job['started']:>8.1f}")
    print(f"{'first frame -> new version serving':<44} {total:>8.1f}  (target <= 300)")
    print(f"new version v{job['version']} promoted: {job['promoted']}; serving v{serving}; {job['message']}")
    print(f"exact count accuracy on {len(truth)} held-out real frames: before {before:.1%} (v{parent}), "
          f"after {after:.1%} (v{job['version']})")  # fmt: skip
    print(f"the job's own held-out takes: {job['metrics']}")
    shutil.rmtree(root, ignore_errors=True)


def _loaded(base: str) -> bool:
    try:
        return bool(httpx.get(f"{base}/health", timeout=2).json()["model_loaded"])
    except (httpx.HTTPError, ValueError):
        return False


if __name__ == "__main__":
    main()
