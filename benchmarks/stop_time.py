"""How long `fingercount demo` takes to stop: Ctrl-C (SIGINT) and SIGTERM, each while the demo serves
the dashboard, runs the MLflow UI and trains its fine-tune in the background (the worst case).

    python benchmarks/stop_time.py [--rounds 10] [--signals INT,TERM] [--work DIR]

The demo runs the CI config (the tiny test data, seconds to register) with the fine-tune made long
enough to be mid-training when the signal comes. Each round: `demo --fresh` until its fine-tune
trains an epoch, then the signal; timed until the demo exits. Checked each time: exit code 0,
no process of the demo left, both ports free, the fine-tune's run ended KILLED. Prints one line a
round and the median and worst per signal (target: every stop within 3 s).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
from fingercount.processes import free_port, port_free  # noqa: E402

CONFIG = "configs/demo_stop_config.yaml"


def prepare(root: Path) -> None:
    """A clone-like folder: the configs, with a fine-tune that runs long enough to be stopped."""
    shutil.copytree(REPO / "configs", root / "configs")
    config = yaml.safe_load((REPO / "configs/demo_ci_config.yaml").read_text())
    config["training"]["epochs"] = 200
    config["mlflow"]["experiment_name"] = "fingercount-demo-stop"
    (root / CONFIG).write_text(yaml.safe_dump(config))


def start(root: Path, port: int, ui_port: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MODEL_"))}
    command = [sys.executable, "-m", "fingercount", "demo", "--config", CONFIG, "--fresh",
               "--port", str(port), "--ui-port", str(ui_port)]  # fmt: skip
    return subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_training(process: subprocess.Popen[str], port: int, timeout: float = 600) -> dict[str, object]:
    """Until the demo serves and its fine-tune has trained one epoch: the job as the API shows it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the demo exited early:\n{process.stdout.read() if process.stdout else ''}")
        try:
            job = httpx.get(f"http://127.0.0.1:{port}/jobs/current", timeout=2).json()
            if job.get("state") == "running" and job.get("epoch", 0) >= 1 and job.get("run_id"):
                return dict(job)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the fine-tune did not start training in time")


def run_status(root: Path, run_id: str) -> str:
    from mlflow import MlflowClient

    return str(MlflowClient(f"sqlite:///{root / 'mlruns.db'}").get_run(run_id).info.status)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def one_stop(root: Path, signum: int) -> dict[str, object]:
    port, ui_port = free_port(), free_port()
    demo = start(root, port, ui_port)
    job = wait_for_training(demo, port)
    family = [demo.pid, *(child.pid for child in psutil.Process(demo.pid).children(recursive=True))]
    names = {pid: " ".join(psutil.Process(pid).cmdline())[-60:] for pid in family}
    sent = time.monotonic()
    demo.send_signal(signum)
    output, _ = demo.communicate(timeout=120)
    seconds = time.monotonic() - sent
    # A helper that ends on its own once the demo has gone (multiprocessing's resource tracker reads
    # EOF) is not left behind: a second to go, then whatever remains is.
    settle = time.monotonic() + 1.0
    while any(alive(pid) for pid in family) and time.monotonic() < settle:
        time.sleep(0.02)
    left = [names[pid] for pid in family if alive(pid)]
    straggled = time.monotonic() - sent - seconds
    return {
        "seconds": seconds, "code": demo.returncode, "left": left, "straggled": straggled,
        "ports_free": port_free("127.0.0.1", port) and port_free("127.0.0.1", ui_port),
        "run": run_status(root, str(job["run_id"])), "said_stopped": "demo stopped" in output,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="Stops of each signal.")
    parser.add_argument("--signals", default="INT,TERM", help="Signals to send, comma-separated.")
    parser.add_argument("--work", type=Path, help="Work folder (default: a temporary one).")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fingercount-stop-"))
    if not (work / "configs").is_dir():
        prepare(work)
    results: dict[str, list[float]] = {}
    failures = 0
    for round_ in range(args.rounds):
        for name in args.signals.split(","):
            outcome = one_stop(work, getattr(signal, f"SIG{name}"))
            ok = outcome["code"] == 0 and not outcome["left"] and outcome["ports_free"] and outcome["run"] == "KILLED"
            failures += not ok or outcome["seconds"] > 3  # type: ignore[operator]
            results.setdefault(name, []).append(float(outcome["seconds"]))  # type: ignore[arg-type]
            print(f"round {round_ + 1:>2} SIG{name:<4} {outcome['seconds']:5.2f} s  exit {outcome['code']}  "
                  f"left {outcome['left'] or 0} (last helper gone {outcome['straggled']:.2f} s after)  "
                  f"ports free {outcome['ports_free']}  run {outcome['run']}{'' if ok else '  <-- FAILED'}",
                  flush=True)  # fmt: skip
    print()
    print(f"{'signal':<8} {'stops':>5} {'median s':>9} {'worst s':>8}  (target: each within 3 s)")
    for name, seconds in results.items():
        print(f"SIG{name:<5} {len(seconds):>5} {statistics.median(seconds):>9.2f} {max(seconds):>8.2f}")
    print(f"{failures} stop(s) failed a check or took over 3 s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
