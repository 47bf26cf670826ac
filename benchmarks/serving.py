"""Serving latency on one 640x480 JPEG with a model at imgsz 320, all in one run.

    python benchmarks/serving.py [--requests 100] [--tracking-uri URI --model NAME --version N]
    python benchmarks/serving.py --compare [--rounds 3]    # vs what a user would run instead
        [--baseline-src /tmp/before/src]                     # and an earlier revision, same run

With --compare, the HTTP floor (benchmarks/floor_app.py) is one more arm, and the JPEG decode is
timed beside the engine: /predict's p50 is split into floor + decode + engine + the rest.

Without a registry model given, it trains a 1-epoch YOLO11n at imgsz 320 on a small synthetic
set into a temporary store first (weights don't change latency, only the architecture and size
do). Prints: Ultralytics PyTorch predict; each engine; /predict end to end (p50/p95) at
concurrency 1 and 4 against a `fingercount serve` subprocess; WebSocket frames/s.
Targets: /predict p50 with the default engine <= 0.35x Ultralytics predict; HTTP + decode +
postprocess overhead <= 25% of the engine's time. Precisions: f32, bf16 and INT8 (NNCF).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODEL = "yolov11-finger-counting"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(call: Callable[[], object], repeats: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def benchmark_frame() -> bytes:
    from fingercount.data.synthetic import render

    square = render(seed=7, index=3, size=640, max_hands=3).image
    ok, encoded = cv2.imencode(".jpg", square[80:560], [cv2.IMWRITE_JPEG_QUALITY, 90])  # 640x480
    assert ok
    return encoded.tobytes()


def registered(root: Path, img_size: int, epochs: int, weights: str | None = None, int8: bool = False) -> str:
    """A throw-away registered version (the test config's tiny data) in a store under `root`; its URI."""
    from fingercount.config import load_training_config
    from fingercount.training.trainer import TrainEnvironment, train

    shutil.copytree(REPO / "configs", root / "configs")
    os.chdir(root)
    config = load_training_config(Path("configs/test_config.yaml"))
    config = config.model_copy(
        update={
            "model": config.model.model_copy(update={"weights": weights}),
            "dataset": config.dataset.model_copy(update={"img_size": img_size}),
            "training": config.training.model_copy(update={"epochs": epochs}),
            "export": config.export.model_copy(update={"int8": int8}),
            "mlflow": config.mlflow.model_copy(update={"experiment_name": "serving-benchmark"}),
        }
    )
    uri = f"sqlite:///{root / 'mlruns.db'}"
    train(config, TrainEnvironment(uri, (root / "mlartifacts").as_uri(), model_cache=root / "cache", progress=False))
    return uri


def train_model(root: Path) -> str:
    """A 1-epoch model at imgsz 320 with INT8 (weights don't change latency; architecture and size do)."""
    return registered(root, 320, 1, int8=True)


def register_checkpoint(root: Path) -> str:
    """The shipped checkpoint registered as it is (`training.epochs: 0`, 160 px)."""
    return registered(root, 160, 0, weights="fingercount-hands-n160")


def real_frame() -> bytes:
    """A real webcam photo with a hand (the shared webcam-rooms set, 320x240) at the 640x480 a webcam
    sends (upscaled, JPEG quality 90, as the Live page encodes frames)."""
    photos = sorted((REPO.parent / "shared/datasets/hands-webcam-rooms").rglob("*.jpg"))
    if not photos:
        raise SystemExit("no photos under ../shared/datasets/hands-webcam-rooms: the shared sets sit beside the repo")
    photo = cv2.imread(str(photos[len(photos) // 2]))
    ok, encoded = cv2.imencode(".jpg", cv2.resize(photo, (640, 480)), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return encoded.tobytes()


def compare(args: argparse.Namespace) -> None:
    """Ours vs the seed's FastAPI + Ultralytics app vs `mlflow models serve`, rounds alternated."""
    import alternatives
    import rawhttp

    from fingercount.registry import Registry
    from fingercount.serving.imaging import decode_image

    work = Path(tempfile.mkdtemp(prefix="fc-serving-compare-"))
    uri = args.tracking_uri or register_checkpoint(work)
    package = Registry(uri, work / "cache").check().fetch(args.model, args.version)
    image = real_frame()
    alternatives.IMAGE[:] = [image]
    frame = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)
    conf = package.metadata.count_conf
    engine = package.engine("auto", args.threads)
    engine_p50s: list[float] = []  # one per round, beside the arms: the host's speed drifts between rounds
    decode_p50s: list[float] = []

    @contextlib.contextmanager
    def ours(**env: str) -> Iterator[alternatives.Target]:
        with served(uri, work, args.model, args.version, **env) as (base, _):
            port = int(base.rsplit(":", 1)[1])
            yield port, rawhttp.multipart(port, "/predict", image)

    arms = {
        "fingercount serve": ours,
        "seed: FastAPI + Ultralytics": lambda: alternatives.seed_app(
            package.weights, package.metadata.imgsz, conf, free_port()
        ),
        "mlflow models serve": lambda: alternatives.mlflow_serve(uri, args.model, args.version, free_port()),
        "HTTP floor (uvicorn, no work)": lambda: alternatives.http_floor(free_port()),
    }
    if args.baseline_src:  # an earlier revision of ours, first on PYTHONPATH
        arms["fingercount serve (baseline)"] = lambda: ours(PYTHONPATH=str(args.baseline_src.resolve()))
    results: dict[str, list[dict[str, float]]] = {name: [] for name in arms}
    for round_ in range(args.rounds):
        names = list(arms)[round_ % len(arms) :] + list(arms)[: round_ % len(arms)]  # each arm first in turn
        for name in names:
            with arms[name]() as call:
                results[name].append(alternatives.measure(call, args.requests))
        engine_p50s.append(statistics.median(timed(lambda: engine.predict(frame, conf), args.requests)))
        decode_p50s.append(statistics.median(timed(lambda: decode_image(image, 10**8, 10**9), args.requests)))
    shutil.rmtree(work, ignore_errors=True)

    def median(name: str, key: str) -> float:
        return statistics.median(run[key] for run in results[name])

    print(f"serving, side by side: one real photo at 640x480, imgsz {package.metadata.imgsz}, "
          f"{args.requests} requests per measure, {args.rounds} rounds (medians)")  # fmt: skip
    columns = ("p50 ms", "p95 ms", "req/s x4", "req/s x16", "ours p50 /", "ours tput x")
    print(f"{'arm':<30} " + " ".join(f"{c:>10}" for c in columns))
    for name in arms:
        p50_ratio = median("fingercount serve", "p50") / median(name, "p50")
        tput = median("fingercount serve", "rps4") / median(name, "rps4")
        print(
            f"{name:<30} {median(name, 'p50'):>10.2f} {median(name, 'p95'):>10.2f} {median(name, 'rps4'):>10.1f} "
            f"{median(name, 'rps16'):>10.1f} {p50_ratio:>9.2f}x {tput:>10.2f}x"
        )
    engine_p50 = statistics.median(engine_p50s)
    overhead = median("fingercount serve", "p50") / engine_p50
    print(f"engine alone ({package.metadata.precision or 'f32'}), same image: p50 {engine_p50:.2f} ms; "
          f"/predict p50 / engine p50 = {overhead:.2f}x (target <= 1.5x)")  # fmt: skip
    floor, decode = median("HTTP floor (uvicorn, no work)", "p50"), statistics.median(decode_p50s)
    rest = median("fingercount serve", "p50") - floor - decode - engine_p50
    print(f"/predict p50 = HTTP floor {floor:.2f} + decode {decode:.2f} + engine {engine_p50:.2f} + the rest "
          f"{rest:.2f} ms (hand-offs, parsing, response); floor + decode + engine = "
          f"{(floor + decode + engine_p50) / engine_p50:.2f}x the engine")  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_latencies(base: str, image: bytes, requests: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = requests // concurrency

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            for _ in range(per_thread):
                started = time.perf_counter()
                response = client.post(f"{base}/predict", files={"file": ("f.jpg", image, "image/jpeg")})
                elapsed = (time.perf_counter() - started) * 1000
                response.raise_for_status()
                with lock:
                    latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def websocket_fps(base: str, image: bytes, frames: int) -> float:
    from websockets.sync.client import connect

    with connect(base.replace("http", "ws") + "/ws/predict") as ws:
        for _ in range(5):
            ws.send(image)
            json.loads(ws.recv())
        started = time.perf_counter()
        for _ in range(frames):
            ws.send(image)
            json.loads(ws.recv())
        return frames / (time.perf_counter() - started)


@contextlib.contextmanager
def served(uri: str, work: Path, model: str, version: str, **env: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """`fingercount serve` in a subprocess with `version` of `model` loaded: (base URL, its state)."""
    port = free_port()
    environment = {
        **os.environ, "MLFLOW_TRACKING_URI": uri, "MODEL_NAME": model, "MODEL_ALIAS": "", "MODEL_STAGE": "",
        "MODEL_CACHE_DIR": str(work / "cache"), **env,
    }  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "fingercount", "serve", "--port", str(port), "--log-level", "warning"],
        env=environment, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        state = httpx.post(f"{base}/models/load", json={"model_name": model, "version": int(version)}, timeout=300)
        state.raise_for_status()
        yield base, state.json()
    finally:
        server.terminate()
        server.wait(timeout=30)


def serve_and_measure(
    args: argparse.Namespace, uri: str, work: Path, image: bytes, precision: str, rows: list[tuple[str, list[float]]]
) -> tuple[str, float]:
    """Start `fingercount serve`, load the version, measure /predict and the WebSocket; (engine, fps)."""
    threads = {"ENGINE_THREADS": str(args.threads), "OPENVINO_PRECISION": precision}
    with served(uri, work, args.model, args.version, **threads) as (base, state):
        engine = state["model"]["engine"]
        http_latencies(base, image, 10, 1)  # warm-up
        for concurrency in (1, 4):
            latencies = http_latencies(base, image, args.requests, concurrency)
            rows.append((f"/predict {engine} {precision}, conc. {concurrency}", latencies))
        return engine, websocket_fps(base, image, args.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--tracking-uri")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--version", default="1")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--compare", action="store_true",
        help="ours vs the seed's FastAPI + Ultralytics app vs `mlflow models serve` (benchmarks/alternatives.py)",
    )  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3, help="with --compare: rounds, arms alternated")
    parser.add_argument(
        "--baseline-src", type=Path,
        help="with --compare: another checkout's src/ (e.g. `git worktree add /tmp/before REV`) served as one more "
        "arm, to measure a change before and after in the same run",
    )  # fmt: skip
    args = parser.parse_args()

    from fingercount.registry import Registry
    from fingercount.settings import quiet_third_parties

    quiet_third_parties()
    if args.compare:
        compare(args)
        return
    work = Path(tempfile.mkdtemp(prefix="fc-serving-bench-"))
    uri = args.tracking_uri or train_model(work)
    package = Registry(uri, work / "cache").check().fetch(args.model, args.version)
    imgsz, conf = package.metadata.imgsz, package.metadata.count_conf
    image = benchmark_frame()
    frame = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_COLOR)

    from ultralytics import YOLO

    yolo = YOLO(str(package.weights), task="detect")
    rows: list[tuple[str, list[float]]] = [
        (
            "Ultralytics PyTorch predict",
            timed(lambda: yolo.predict(frame, imgsz=imgsz, conf=conf, agnostic_nms=True, verbose=False), args.requests),
        )
    ]
    engine_p50 = {}
    engines = [("openvino", "f32"), ("openvino", "bf16"), ("openvino", "int8"), ("onnx", ""), ("pytorch", "")]
    if "openvino_int8" not in package.engine_files():
        engines.remove(("openvino", "int8"))
    for name, precision in engines:
        engine = package.engine(name, args.threads, precision or "f32")
        times = timed(lambda engine=engine: engine.predict(frame, conf), args.requests)  # type: ignore[misc]
        label = f"{name} {precision}".strip()
        engine_p50[label] = statistics.median(times)
        rows.append((f"engine: {label}", times))

    served: dict[str, tuple[str, float]] = {}
    for precision in ("f32", "bf16", "int8") if ("openvino", "int8") in engines else ("f32", "bf16"):
        served[precision] = serve_and_measure(args, uri, work, image, precision, rows)
    fps = served["f32"][1]
    shutil.rmtree(work, ignore_errors=True)

    reference = statistics.median(rows[0][1])
    print(f"serving benchmark: 640x480 JPEG, imgsz {imgsz}, {args.requests} requests, {args.threads} engine threads")
    print(f"{'path':<36} {'p50 ms':>8} {'p95 ms':>8} {'vs Ultralytics':>15}")
    for label, times in rows:
        p50 = statistics.median(times)
        print(f"{label:<36} {p50:>8.1f} {percentile(times, 0.95):>8.1f} {p50 / reference:>14.2f}x")
    print(f"WebSocket, one frame in flight (default engine): {fps:.1f} frames/s")
    for precision, (engine, _) in served.items():
        e2e = statistics.median(next(t for label, t in rows if label == f"/predict {engine} {precision}, conc. 1"))
        engine_label = f"{engine} {precision}" if engine == "openvino" else engine
        overhead = (e2e - engine_p50[engine_label]) / engine_p50[engine_label]
        print(
            f"{engine_label}: /predict p50 {e2e / reference:.2f}x Ultralytics (target <= 0.35x); "
            f"HTTP + decode + postprocess overhead {overhead * 100:.0f}% of the engine (target <= 25%)"
        )


if __name__ == "__main__":
    main()
