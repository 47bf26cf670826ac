"""What a user would run instead of `fingercount serve`, side by side with it on the same registered
version and the same real photo, rounds alternated (`python benchmarks/serving.py --compare`):

- the seed's way: a FastAPI app holding `ultralytics.YOLO(best.pt)` (benchmarks/seed_app.py);
- `mlflow models serve` of the registered version (the platform's pyfunc flavour, base64 images);
- the HTTP floor: uvicorn and a bare ASGI app that reads the same request and answers a constant
  (benchmarks/floor_app.py), what any Python server here spends before its first line of work.

Each arm: p50/p95 at concurrency 1, throughput at 4 and 16 clients; ours also as p50 over the
engine's own p50 on the same image (the overhead ratio). Every arm is sent the same way: its
request encoded once, on keep-alive connections (rawhttp.py).
"""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import rawhttp

HERE = Path(__file__).resolve().parent


Target = tuple[int, bytes]  # a server's port and the request it is sent, encoded once (rawhttp)


def load(target: Target, requests: int, concurrency: int) -> tuple[list[float], float]:
    """`requests` calls over `concurrency` clients: each latency (ms) and the requests per second."""
    latencies: list[float] = []
    lock = threading.Lock()
    port, raw = target

    def worker() -> None:
        connection = rawhttp.Connection(port)
        try:
            for _ in range(requests // concurrency):
                started = time.perf_counter()
                status = connection.send(raw)
                elapsed = (time.perf_counter() - started) * 1000
                if status != 200:
                    raise RuntimeError(f"port {port} answered {status}")
                with lock:
                    latencies.append(elapsed)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, len(latencies) / (time.perf_counter() - started)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s")


@contextlib.contextmanager
def started(command: list[str], env: dict[str, str], ready: str) -> Iterator[None]:
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # mlflow starts uvicorn as a child: stop the group
    )  # fmt: skip
    try:
        wait_ready(ready, process)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@contextlib.contextmanager
def seed_app(weights: Path, imgsz: int, conf: float, port: int) -> Iterator[Target]:
    command = [sys.executable, "-m", "uvicorn", "seed_app:app", "--app-dir", str(HERE), "--port", str(port),
               "--log-level", "warning"]  # fmt: skip
    env = {"WEIGHTS": str(weights), "IMGSZ": str(imgsz), "CONF": str(conf)}
    with started(command, env, f"http://127.0.0.1:{port}/docs"):
        yield port, rawhttp.multipart(port, "/predict", IMAGE[0])


@contextlib.contextmanager
def http_floor(port: int) -> Iterator[Target]:
    command = [sys.executable, "-m", "uvicorn", "floor_app:app", "--app-dir", str(HERE), "--port", str(port),
               "--log-level", "warning"]  # fmt: skip
    with started(command, {}, f"http://127.0.0.1:{port}/"):
        yield port, rawhttp.multipart(port, "/predict", IMAGE[0])


@contextlib.contextmanager
def mlflow_serve(uri: str, model: str, version: str, port: int) -> Iterator[Target]:
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{model}/{version}",
               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    env = {"MLFLOW_TRACKING_URI": uri, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with started(command, env, f"http://127.0.0.1:{port}/ping"):
        body = {"dataframe_split": {"columns": ["image"], "data": [[base64.b64encode(IMAGE[0]).decode()]]}}
        yield port, rawhttp.json_post(port, "/invocations", body)


IMAGE: list[bytes] = []  # the photo every arm sends (set by compare())


def measure(target: Target, requests: int) -> dict[str, float]:
    load(target, 20, 1)  # warm-up
    latencies, _ = load(target, requests, 1)
    ordered = sorted(latencies)
    _, four = load(target, requests, 4)
    _, sixteen = load(target, requests, 16)
    return {
        "p50": statistics.median(latencies), "p95": ordered[round(0.95 * (len(ordered) - 1))],
        "rps4": four, "rps16": sixteen,
    }  # fmt: skip
