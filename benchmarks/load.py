"""Load: /predict under 1, 16, 64 and 256 concurrent clients, with bounded admission.

    python benchmarks/load.py [--seconds 10] [--tracking-uri URI --version N]
                              [--server-cpus 0 --client-cpus 1]   # the load generator on its own core
                              [--nice 0,10]   # one server per INFERENCE_NICE, side by side
                              [--via-nginx]   # through deploy/nginx.conf, as in production

Each client posts the same 640x480 JPEG in a loop for `--seconds`; a 503 (shed, with
Retry-After) is counted and the client goes on at once (a worst-case client that ignores the
hint). Prints, per client count: admitted requests per second, p50/p99 latency of admitted
requests, p99 latency of refusals, the shed share, errors other than 503 (must be 0), the
server's resident memory after the row; what a fresh client sees meanwhile, from a probe process of
its own (one `/health` GET and one `/predict` every 50 ms): the `/health` p99 and the p99 of the
probe's refusals; the generator's own CPU use (near 100 %, its own latencies include its queueing);
and, from the server's own histograms, the p99 of admitted and refused requests inside it and of the time admitted
requests waited for an inference worker (the queue's promise: `MAX_QUEUE_WAIT`). The load generator sends
pre-encoded requests on raw keep-alive connections, so that its own work stays small. Then
WebSocket abuse, three rounds: 32 clients each send 300 frames without reading an answer and
leave; memory after each round (flat = bounded).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from fingercount.devstack import nginx_front
from fingercount.processes import free_port, http_ok, stop_process, wait_until
from fingercount.settings import quiet_third_parties

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rawhttp
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


async def clients(port: int, image: bytes, count: int, seconds: float) -> list[tuple[int, float]]:
    """`count` keep-alive connections, each posting the photo in a loop for `seconds`."""
    results: list[tuple[int, float]] = []
    deadline = time.perf_counter() + seconds
    request = rawhttp.multipart(port, "/predict", image)  # encoded once: the generator's own work stays small

    async def loop() -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                connection = connection or await asyncio.open_connection("127.0.0.1", port)
                connection[1].write(request)
                status, close = await rawhttp.read_status(connection[0])
                if close:  # nginx closes after its own refusals: the client reconnects, no error
                    connection[1].close()
                    connection = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                status, connection = 0, None
                failures.append(type(exc).__name__)
            results.append((status, time.perf_counter() - started))
        if connection is not None:
            connection[1].close()

    await asyncio.gather(*(loop() for _ in range(count)))
    return results


def server_buckets(base: str, name: str, **labels: str) -> dict[float, float]:
    """One of the server's own histograms (labels picked): cumulative count per bucket bound."""
    from prometheus_client.parser import text_string_to_metric_families

    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{base}/metrics", timeout=30).text):
        for sample in family.samples:
            picked = all(sample.labels.get(key) == value for key, value in labels.items())
            if sample.name == f"{name}_bucket" and picked:
                buckets[float(sample.labels["le"])] = sample.value
    return buckets


def bucket_p99(before: dict[float, float], after: dict[float, float]) -> float:
    """The bucket bound under which 99 % of the requests between two scrapes finished (inf: over the last)."""
    counts = {bound: after.get(bound, 0) - before.get(bound, 0) for bound in after}
    total = counts.get(float("inf"), 0)
    if not total:
        return float("nan")
    return next(bound for bound in sorted(counts) if counts[bound] >= 0.99 * total)


def _probe_loop(port: int, raw: bytes, every: float, stop: Any, out: list[tuple[int, float]]) -> None:
    """Send `raw` every `every` seconds on one keep-alive connection until `stop`: (status, seconds) each."""
    connection: rawhttp.Connection | None = None
    while not stop.is_set():
        started = time.perf_counter()
        try:
            connection = connection or rawhttp.Connection(port)
            out.append((connection.send(raw), time.perf_counter() - started))
        except OSError:
            connection = None
        stop.wait(every)


def _probe_process(port: int, image: bytes, every: float, stop: Any, results: Any) -> None:
    """In a process of its own: `/health` and one `/predict` every `every` seconds, each on its own thread."""
    health = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    found: dict[str, list[tuple[int, float]]] = {"health": [], "predict": []}
    threads = [
        threading.Thread(target=_probe_loop, args=(port, raw, every, stop, found[name]))
        for name, raw in (("health", health), ("predict", rawhttp.multipart(port, "/predict", image)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.send(found)


@contextlib.contextmanager
def probes(port: int, image: bytes, every: float = 0.05) -> Iterator[dict[str, list[tuple[int, float]]]]:
    """What a fresh client sees while the block runs: `/health` and `/predict` sent every `every` seconds
    from a process of its own, so that the flood's generator (one busy asyncio loop) does not delay
    the probes' own reading. Its (status, seconds) lists fill in when the block ends."""
    context = multiprocessing.get_context("fork")  # the child touches only its own sockets and threads
    stop = context.Event()
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(target=_probe_process, args=(port, image, every, stop, sending), daemon=True)
    process.start()
    found: dict[str, list[tuple[int, float]]] = {}
    try:
        yield found
    finally:
        stop.set()
        if receiving.poll(60):
            found.update(receiving.recv())
        process.join(timeout=30)


@dataclass
class Row:
    clients: int
    results: list[tuple[int, float]]  # (status, seconds) as the load generator saw them
    seconds: float
    probed: dict[str, list[tuple[int, float]]]  # a fresh client's view, from its own process: /health, /predict
    generator_cpu: float  # the load generator's CPU seconds per second: near 1.0, its own latencies are inflated
    rss: float
    inside: dict[str, float]  # p99 from the server's own histograms (a bucket bound, s): 200, 503, queue wait

    def line(self) -> str:
        admitted = [t for s, t in self.results if s == 200]
        shed = [t for s, t in self.results if s == 503]
        errors = sum(1 for s, _ in self.results if s not in (200, 503))

        def ms(values: list[float], q: float) -> float:
            return percentile(values, q) * 1000 if values else float("nan")

        def bound(seconds: float) -> str:
            return "–" if seconds != seconds else f"≤ {seconds * 1000:.0f} ms"

        return (
            f"{self.clients:>7} {len(self.results) / self.seconds:>9.0f} {len(admitted) / self.seconds:>10.1f}"
            f" {ms(admitted, 0.5):>7.1f} {ms(admitted, 0.99):>7.1f}"
            f" {ms(shed, 0.99):>10.1f} {len(shed) / len(self.results):>6.1%} {errors:>6} {self.rss:>8.0f}"
            f" {ms([t for _, t in self.probed.get('health', [])], 0.99):>14.1f}"
            f" {ms([t for s, t in self.probed.get('predict', []) if s == 503], 0.99):>14.1f}"
            f" {self.generator_cpu:>5.0%}"
            f" {bound(self.inside['200']):>12} {bound(self.inside['503']):>12}"
            f" {bound(self.inside['wait']):>12}"
        )


HEADER = (
    f"{'clients':>7} {'answers/s':>9} {'admitted/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'503 p99 ms':>10}"
    f" {'shed':>6} {'errors':>6}"
    f" {'RSS MiB':>8} {'/health p99 ms':>14} {'probe 503 p99':>14} {'gen.':>5}"
    f" {'200 p99 (s)':>12} {'503 p99 (s)':>12} {'wait p99 (s)':>12}"
)


def measure(args: argparse.Namespace, uri: str, work: Path, nice: str) -> tuple[dict[str, Any], list[Row], list[float]]:
    """One server with INFERENCE_NICE=`nice`: the rows at 1, 16, 64, 256 clients, then WebSocket abuse."""
    port = free_port()
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MODEL_NAME": MODEL, "MODEL_CACHE_DIR": str(work / "cache"),
           "INFERENCE_NICE": nice}  # fmt: skip
    env.pop("MODEL_ALIAS", None)
    pinned = ["taskset", "-c", args.server_cpus] if args.server_cpus else []
    server = subprocess.Popen(
        [*pinned, sys.executable, "-m", "fingercount", "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    image = benchmark_frame()
    front, nginx = port, None  # where the clients and probes send: the server, or nginx in front of it
    if args.via_nginx:
        front = free_port()
        root = Path(tempfile.mkdtemp(prefix="fc-load-nginx-", dir=work))
        config = nginx_front(root, front, [port])
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        nginx = subprocess.Popen([*pinned, binary, "-c", str(config), "-p", str(root)])
    try:
        wait_until(lambda: http_ok(f"{base}/health"), "the server", timeout=120)
        loaded = httpx.post(
            f"{base}/models/load", json={"model_name": MODEL, "version": int(args.version)}, timeout=300
        )
        loaded.raise_for_status()
        rows = []
        for count in (1, 16, 64, 256):
            histograms = {
                "200": lambda: server_buckets(base, "fingercount_request_seconds", route="/predict", status="200"),
                "503": lambda: server_buckets(base, "fingercount_request_seconds", route="/predict", status="503"),
                "wait": lambda: server_buckets(base, "fingercount_inference_queue_seconds"),
            }
            before = {key: read() for key, read in histograms.items()}
            with probes(front, image) as probed:
                cpu = time.process_time()
                results = asyncio.run(clients(front, image, count, args.seconds))
                generator_cpu = (time.process_time() - cpu) / args.seconds
            inside = {key: bucket_p99(before[key], read()) for key, read in histograms.items()}
            rows.append(Row(count, results, args.seconds, probed, generator_cpu, rss_mib(server.pid), inside))
        streams = [rss_mib(server.pid)]
        for _ in range(3):
            asyncio.run(abusive_streams(base, image))
            time.sleep(2)  # let the last frames finish
            streams.append(rss_mib(server.pid))
        assert httpx.post(f"{base}/predict", files={"file": ("f.jpg", image)}, timeout=60).status_code == 200
    finally:
        if nginx is not None:
            stop_process(nginx)
        stop_process(server)
    return loaded.json()["model"], rows, streams


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tracking-uri")
    parser.add_argument("--version", default="1")
    parser.add_argument("--server-cpus", help="run the server on these CPUs (taskset -c LIST), e.g. 0")
    parser.add_argument("--client-cpus", help="run the load generator on these CPUs, e.g. 1")
    parser.add_argument("--nice", default="10", help="INFERENCE_NICE values, one server each, e.g. 0,10")
    parser.add_argument(
        "--via-nginx", action="store_true",
        help="send through the native nginx running deploy/nginx.conf (on the server's CPUs), as in production",
    )  # fmt: skip
    args = parser.parse_args()
    quiet_third_parties()
    if args.client_cpus:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.client_cpus.split(",")})
    work = Path(tempfile.mkdtemp(prefix="fc-load-"))
    uri = args.tracking_uri or train_model(work)
    arms = {nice: measure(args, uri, work, nice) for nice in args.nice.split(",")}
    model = next(iter(arms.values()))[0]
    print(f"load: {model['engine']}, imgsz {model['imgsz']}, warm-up inference {model['inference_ms']} ms, "
          f"{args.seconds:g} s per row, 640x480 JPEG; (s): the server's own histogram, a bucket bound")  # fmt: skip
    for nice, (_, rows, streams) in arms.items():
        print(f"INFERENCE_NICE={nice}")
        print(HEADER)
        for row in rows:
            print(row.line())
        rounds = " → ".join(f"{rss:.0f}" for rss in streams)
        print(f"WebSocket abuse (32 clients × 300 unread frames, 3 rounds): server RSS MiB {rounds}")

    if failures:
        print("transport errors:", ", ".join(f"{name} x{failures.count(name)}" for name in sorted(set(failures))))


if __name__ == "__main__":
    main()
