"""Small helpers for the processes and ports the platform starts: one copy of each."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) != 0


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """Whether a GET of `url` answers 2xx now."""
    import requests

    try:
        return requests.get(url, timeout=timeout).ok
    except requests.RequestException:
        return False


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0, interval: float = 0.2) -> None:
    """Poll `check` until it is true; a RuntimeError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(interval)


def start_guarded(command: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start `command` under `fingercount.guard`, in a process group of its own: it and whatever it
    starts end when we end, however we end (SIGKILL included), and `stop_process` stops them all."""
    guarded = [sys.executable, "-m", "fingercount.guard", *command]
    return subprocess.Popen(guarded, start_new_session=True, **popen)


def guarded_pid(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """The pid of the command a guard runs (the guard's own pid if it has not started one in time)."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            started = children.read_text().split()
        except OSError:
            break
        if started:
            return int(started[0])
        time.sleep(0.01)
    return process.pid


def stop_process(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; a process that leads its
    own group (a guarded one) takes the group with it: what is left there a few seconds after it
    exits is killed."""
    try:
        leads_group = os.getpgid(process.pid) == process.pid != os.getpgrp()
    except ProcessLookupError:
        leads_group = False
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if leads_group:
        try:
            wait_until(lambda: not _group_alive(process.pid), "process group exit", timeout=5)
        except RuntimeError:
            kill_group(process)


def signal_group(process: subprocess.Popen[bytes], signum: int = signal.SIGTERM) -> None:
    """`signum` to every process of the group that `process` leads (a guarded one) at once: a server
    and its workers stop together instead of one after the other."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def stop_group(process: subprocess.Popen[bytes], grace: float, since: float | None = None) -> None:
    """SIGTERM to the whole group `process` leads, SIGKILL to what is left `grace` seconds after
    `since` (default: now). For processes that hold no state worth a longer wait (the MLflow UI)."""
    deadline = (time.monotonic() if since is None else since) + grace
    signal_group(process, signal.SIGTERM)
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    kill_group(process)
    process.wait()


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the group that `process` leads (a guarded one): it and all it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process is in group `pgid`: zombies wait for whoever reaps
    orphans here, which may be slow to."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
