"""Serving replicas behind the real nginx, with the repository's nginx.conf: three `fingercount
serve` processes follow one alias; load goes through nginx while the alias moves (every replica
converges) and while one replica is killed (nginx retries elsewhere): no request gets an error, and
none fails but an answer the killed replica had begun to write (its headers out, nginx can no longer
retry it: the client's connection drops at the kill). Past 32 predictions in flight from one client,
nginx refuses by itself (the flood guard).

The only change to deploy/nginx.conf is how replicas are found (`devstack.nginx_front`): Docker's
DNS (one address per replica of `serving`) becomes an upstream of three loopback ports.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from fingercount.devstack import nginx_front
from fingercount.processes import free_port, http_ok, stop_process, wait_until
from fingercount.training.trainer import TrainResult
from tests.workspace import Workspace, wait_for

pytestmark = pytest.mark.slow
MODEL, ALIAS, FOLLOW_SECONDS = "yolov11-finger-counting", "replicas", 2.0


@pytest.fixture(scope="module")
def replicas(
    workspace: Workspace, first: TrainResult, second: TrainResult, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[int, subprocess.Popen[bytes]]]]:
    root = tmp_path_factory.mktemp("replicas")
    workspace.registry().set_alias(MODEL, ALIAS, str(first.model_version))
    processes: dict[int, subprocess.Popen[bytes]] = {}
    for index in range(3):
        port = free_port()
        env = {
            **os.environ, "MLFLOW_TRACKING_URI": workspace.tracking_uri, "MODEL_NAME": MODEL, "MODEL_ALIAS": ALIAS,
            "MODEL_FOLLOW": "true", "MODEL_FOLLOW_INTERVAL": str(FOLLOW_SECONDS), "ENGINE_THREADS": "1",
            "MODEL_CACHE_DIR": str(root / f"cache{index}"), "QUEUE_DEPTH": "64",
        }  # fmt: skip
        processes[port] = subprocess.Popen(
            [sys.executable, "-m", "fingercount", "serve", "--port", str(port), "--log-level", "warning"], env=env,
            start_new_session=True,
        )  # fmt: skip
    front = free_port()
    nginx = subprocess.Popen(
        [shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(nginx_front(root, front, list(processes))),
         "-p", str(root)],
    )  # fmt: skip
    base = f"http://127.0.0.1:{front}"
    try:
        for port in processes:
            wait_until(lambda p=port: serving(p) is not None, f"replica {port}", timeout=180)
        wait_until(lambda: http_ok(f"{base}/health"), "nginx", timeout=30)
        yield base, processes
    finally:
        stop_process(nginx)
        for process in processes.values():
            if process.poll() is None:
                stop_process(process)


def serving(port: int) -> str | None:
    """The version a replica serves (asked directly, not through nginx)."""
    try:
        model = httpx.get(f"http://127.0.0.1:{port}/models/current", timeout=5).json()["model"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
    return None if model is None else str(model["version"])


class Load:
    """Clients posting /predict through nginx until stopped; every answer kept, with when it came
    (status 0: no HTTP answer, the error's name instead of the version)."""

    def __init__(self, base: str, image: bytes, clients: int = 4) -> None:
        self.clients = clients
        self.answers: list[tuple[int, str, float]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(base, image)) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _client(self, base: str, image: bytes) -> None:
        with httpx.Client(timeout=60) as client:
            while not self._stop.is_set():
                try:
                    answer = client.post(f"{base}/predict", files={"file": ("f.jpg", image, "image/jpeg")})
                    version = str(answer.json().get("model_version")) if answer.status_code == 200 else answer.text
                    self.answers.append((answer.status_code, version, time.monotonic()))
                except httpx.HTTPError as exc:
                    self.answers.append((0, type(exc).__name__, time.monotonic()))

    def stop(self) -> list[tuple[int, str, float]]:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)
        return self.answers


def test_replicas_converge_and_survive_a_kill(
    replicas: tuple[str, dict[int, subprocess.Popen[bytes]]],
    workspace: Workspace,
    second: TrainResult,
    say: Callable[[str], None],
) -> None:
    base, processes = replicas
    image = next(Path("data/test-prepared/images/test").iterdir()).read_bytes()
    assert httpx.get(f"{base}/").status_code == 200  # the dashboard through the front door
    load = Load(base, image)
    time.sleep(3)

    promoted = time.monotonic()
    workspace.registry().set_alias(MODEL, ALIAS, str(second.model_version))
    wait_for(lambda: all(serving(p) == str(second.model_version) for p in processes), timeout=120, interval=0.2)
    converged = time.monotonic() - promoted
    time.sleep(2)

    victim = next(iter(processes))
    killed = time.monotonic()
    os.killpg(processes[victim].pid, signal.SIGKILL)  # mid-load, no goodbye
    processes[victim].wait()
    time.sleep(5)
    answers = load.stop()

    failed = [a for a in answers if a[0] != 200]
    versions = {v for s, v, _ in answers if s == 200}
    say(
        f"replicas: {len(answers)} requests through nginx, {len(failed)} failed {failed}; every replica on the new "
        f"version {converged:.1f} s after the alias moved (follow interval {FOLLOW_SECONDS:g} s); one replica killed"
    )
    # nginx retries what it has not begun to answer; a kill between a replica's headers and its body
    # cuts that one answer off (uvicorn writes them apart). Only those: no error status, at the kill,
    # at most one per client (each has one request in flight).
    assert all(status == 0 and killed <= at < killed + 3 for status, _, at in failed), failed
    assert len(failed) <= load.clients, failed
    assert str(second.model_version) in versions
    assert versions <= {str(second.model_version), *(str(v) for v in range(1, int(second.model_version)))}
    assert converged < FOLLOW_SECONDS + 30  # the interval plus a download and warm-up
    assert len(answers) > 50


def test_nginx_refuses_a_flood_from_one_client_itself(replicas: tuple[str, dict[int, subprocess.Popen[bytes]]]) -> None:
    """Past 32 predictions in flight from one address, nginx answers 503 in the API's error shape with
    Retry-After, without a replica; the client's next request after the flood is served."""
    base, _ = replicas
    port = int(base.rsplit(":", 1)[1])
    head = (
        b"POST /predict HTTP/1.1\r\nHost: fingercount\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    held = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(32)]
    image = next(Path("data/test-prepared/images/test").iterdir()).read_bytes()
    try:
        for connection in held:
            connection.sendall(head)  # a head read, its body still to come: one prediction in flight
        time.sleep(1)
        refused = httpx.post(f"{base}/predict", files={"file": ("f.jpg", image, "image/jpeg")}, timeout=30)
    finally:
        for connection in held:
            connection.close()
    assert refused.status_code == 503
    assert refused.json()["error"] == "overloaded"
    assert "32" in refused.json()["detail"]
    assert refused.headers["retry-after"] == "1"
    wait_for(
        lambda: (
            httpx.post(f"{base}/predict", files={"file": ("f.jpg", image, "image/jpeg")}, timeout=60).status_code == 200
        ),
        timeout=30,
    )
