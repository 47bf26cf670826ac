"""What a user would run instead of `fingercount serve`, side by side with it on the same registered
version and the same real photo, rounds alternated (`python benchmarks/serving.py --compare`):

- the seed's way: a FastAPI app holding `ultralytics.YOLO(best.pt)` (benchmarks/seed_app.py);
- `mlflow models serve` of the registered version (the platform's pyfunc flavour, base64 images).

Each arm: p50/p95 at concurrency 1, throughput at 4 and 16 clients; ours also as p50 over the
engine's own p50 on the same image (the overhead ratio).
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
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent


def load(call: Callable[[httpx.Client], httpx.Response], requests: int, concurrency: int) -> tuple[list[float], float]:
    """`requests` calls over `concurrency` clients: each latency (ms) and the requests per second."""
    latencies: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(timeout=60) as client:
            for _ in range(requests // concurrency):
                started = time.perf_counter()
                call(client).raise_for_status()
                with lock:
                    latencies.append((time.perf_counter() - started) * 1000)

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
def seed_app(weights: Path, imgsz: int, conf: float, port: int) -> Iterator[Callable[[httpx.Client], httpx.Response]]:
    command = [sys.executable, "-m", "uvicorn", "seed_app:app", "--app-dir", str(HERE), "--port", str(port),
               "--log-level", "warning"]  # fmt: skip
    env = {"WEIGHTS": str(weights), "IMGSZ": str(imgsz), "CONF": str(conf)}
    with started(command, env, f"http://127.0.0.1:{port}/docs"):
        yield lambda client, image=None: client.post(  # type: ignore[misc]
            f"http://127.0.0.1:{port}/predict", files={"file": ("f.jpg", IMAGE[0], "image/jpeg")}
        )


@contextlib.contextmanager
def mlflow_serve(uri: str, model: str, version: str, port: int) -> Iterator[Callable[[httpx.Client], httpx.Response]]:
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", f"models:/{model}/{version}",
               "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    env = {"MLFLOW_TRACKING_URI": uri, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    with started(command, env, f"http://127.0.0.1:{port}/ping"):
        body = {"dataframe_split": {"columns": ["image"], "data": [[base64.b64encode(IMAGE[0]).decode()]]}}
        yield lambda client: client.post(f"http://127.0.0.1:{port}/invocations", json=body)


IMAGE: list[bytes] = []  # the photo every arm sends (set by compare())


def measure(call: Callable[[httpx.Client], httpx.Response], requests: int) -> dict[str, float]:
    load(call, 20, 1)  # warm-up
    latencies, _ = load(call, requests, 1)
    ordered = sorted(latencies)
    _, four = load(call, requests, 4)
    _, sixteen = load(call, requests, 16)
    return {
        "p50": statistics.median(latencies), "p95": ordered[round(0.95 * (len(ordered) - 1))],
        "rps4": four, "rps16": sixteen,
    }  # fmt: skip
