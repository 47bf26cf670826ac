"""Load: /predict under 1, 16, 64 and 256 concurrent clients, with bounded admission.

    python benchmarks/load.py [--seconds 10] [--tracking-uri URI --version N]
                              [--server-cpus 0 --client-cpus 1]   # the load generator on its own core

Each client posts the same 640x480 JPEG in a loop for `--seconds`; a 503 (shed, with
Retry-After) is counted and the client goes on at once (a worst-case client that ignores the
hint). Prints, per client count: admitted requests per second, p50/p99 latency of admitted
requests, p99 latency of refusals, the shed share, errors other than 503 (must be 0) and the
server's resident memory after the row. Then WebSocket abuse, three rounds: 32 clients each
send 300 frames without reading an answer and leave; memory after each round (flat = bounded).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from fingercount.processes import free_port, http_ok, stop_process, wait_until
from fingercount.settings import quiet_third_parties

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import MODEL, benchmark_frame, percentile, train_model

failures: list[str] = []  # transport errors seen by the clients, by exception type


def rss_mib(pid: int) -> float:
    """Resident memory of a process (Linux), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def abusive_streams(base: str, image: bytes, count: int = 32, frames: int = 300) -> None:
    """Clients that flood frames and never read an answer, then leave."""
    from websockets.asyncio.client import connect

    async def one() -> None:
        async with connect(base.replace("http://", "ws://") + "/ws/predict", max_queue=1) as ws:
            for _ in range(frames):
                await ws.send(image)

    await asyncio.gather(*(one() for _ in range(count)))


async def clients(base: str, image: bytes, count: int, seconds: float) -> list[tuple[int, float]]:
    results: list[tuple[int, float]] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def loop() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    status = (await client.post(f"{base}/predict", files={"file": ("f.jpg", image)})).status_code
                except httpx.HTTPError as exc:
                    status = 0
                    failures.append(type(exc).__name__)
                results.append((status, time.perf_counter() - started))

        await asyncio.gather(*(loop() for _ in range(count)))
    return results


def server_buckets(base: str, status: str) -> dict[float, float]:
    """The server's own /predict latency histogram for one status: cumulative count per bucket bound."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=30).text):
        for sample in family.samples:
            labels = sample.labels
            predict = labels.get("route") == "/predict" and labels.get("status") == status
            if sample.name == "fingercount_request_seconds_bucket" and predict:
                buckets[float(labels["le"])] = sample.value
    return buckets


def bucket_p99(before: dict[float, float], after: dict[float, float]) -> float:
    """The bucket bound under which 99 % of the requests between two scrapes finished (inf: over the last)."""
    counts = {bound: after.get(bound, 0) - before.get(bound, 0) for bound in after}
    total = counts.get(float("inf"), 0)
    if not total:
        return float("nan")
    return next(bound for bound in sorted(counts) if counts[bound] >= 0.99 * total)


@contextlib.contextmanager
def health_probe(base: str, every: float = 0.05) -> Iterator[list[float]]:
    """GET /health every `every` seconds while the block runs: its latencies (seconds)."""
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                started = time.perf_counter()
                with contextlib.suppress(httpx.HTTPError):
                    client.get(f"{base}/health")
                    latencies.append(time.perf_counter() - started)
                done.wait(every)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield latencies
    finally:
        done.set()
        thread.join(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tracking-uri")
    parser.add_argument("--version", default="1")
    parser.add_argument("--server-cpus", help="run the server on these CPUs (taskset -c LIST), e.g. 0")
    parser.add_argument("--client-cpus", help="run the load generator on these CPUs, e.g. 1")
    args = parser.parse_args()
    quiet_third_parties()
    if args.client_cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.client_cpus.split(",")})
    work = Path(tempfile.mkdtemp(prefix="fc-load-"))
    uri = args.tracking_uri or train_model(work)
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MODEL_NAME": MODEL, "MODEL_CACHE_DIR": str(work / "cache")}
    env.pop("MODEL_ALIAS", None)
    pinned = ["taskset", "-c", args.server_cpus] if args.server_cpus else []
    server = subprocess.Popen(
        [*pinned, sys.executable, "-m", "fingercount", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    image = benchmark_frame()
    try:
        wait_until(lambda: http_ok(f"{base}/health"), "the server", timeout=120)
        loaded = httpx.post(
            f"{base}/models/load", json={"model_name": MODEL, "version": int(args.version)}, timeout=300
        )
        loaded.raise_for_status()
        model = loaded.json()["model"]
        rows = []
        for count in (1, 16, 64, 256):
            refused_before = server_buckets(base, "503")
            with health_probe(base) as health:
                results = asyncio.run(clients(base, image, count, args.seconds))
            refused_inside = bucket_p99(refused_before, server_buckets(base, "503"))
            admitted = [t for s, t in results if s == 200]
            shed = [t for s, t in results if s == 503]
            errors = sum(1 for s, _ in results if s not in (200, 503))
            rss = rss_mib(server.pid)
            rows.append((count, len(admitted) / args.seconds, admitted, shed, len(results), errors, rss, health,
                         refused_inside))  # fmt: skip
        streams = [rss_mib(server.pid)]
        for _ in range(3):
            asyncio.run(abusive_streams(base, image))
            time.sleep(2)  # let the last frames finish
            streams.append(rss_mib(server.pid))
        assert httpx.post(f"{base}/predict", files={"file": ("f.jpg", image)}, timeout=60).status_code == 200
    finally:
        stop_process(server)
    print(f"load: {model['engine']}, imgsz {model['imgsz']}, warm-up inference {model['inference_ms']} ms, "
          f"{args.seconds:g} s per row, 640x480 JPEG")  # fmt: skip
    header = (
        f"{'clients':>7} {'admitted/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'503 p99 ms':>10} {'shed':>6} {'errors':>6}"
    )
    print(f"{header} {'RSS MiB':>8} {'/health p99 ms':>14} {'503 p99 in server':>17}")
    for count, rate, admitted, shed, total, errors, rss, health, refused_inside in rows:
        p50 = statistics.median(admitted) * 1000 if admitted else float("nan")
        p99 = percentile(admitted, 0.99) * 1000 if admitted else float("nan")
        shed_p99 = percentile(shed, 0.99) * 1000 if shed else float("nan")
        print(
            f"{count:>7} {rate:>10.1f} {p50:>7.1f} {p99:>7.1f} {shed_p99:>10.1f} {len(shed) / total:>6.1%} {errors:>6}"
            f" {rss:>8.0f} {percentile(health, 0.99) * 1000 if health else float('nan'):>14.1f}"
            f" {'≤ ' + format(refused_inside * 1000, '.0f') + ' ms' if refused_inside == refused_inside else '–':>17}"
        )
    rounds = " → ".join(f"{rss:.0f}" for rss in streams)
    print(f"WebSocket abuse (32 clients × 300 unread frames, 3 rounds): server RSS MiB {rounds}")

    if failures:
        print("transport errors:", ", ".join(f"{name} x{failures.count(name)}" for name in sorted(set(failures))))


if __name__ == "__main__":
    main()
