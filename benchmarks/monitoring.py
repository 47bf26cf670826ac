"""What monitoring without labels costs the requests: /predict and the WebSocket with the teacher
judging 1 frame in MONITOR_SAMPLE (default 20) vs monitoring off, in one run, rounds alternated.

    python benchmarks/monitoring.py [--requests 200] [--rounds 3] [--sample 20]
                                    [--tracking-uri URI --model NAME --version N]

Without a registry model given, the shipped checkpoint is registered as it is (`training.epochs: 0`)
into a temporary store. The frame is a real webcam photo with a hand, at 640x480 (the teacher does its
real work on it). Prints /predict p50 and p95 at concurrency 1, WebSocket frames/s, the ratio
monitoring-on / off (target: within 5 %), and the teacher's cost per judged frame.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import http_latencies, percentile, real_frame, register_checkpoint, served, websocket_fps

REPO = Path(__file__).resolve().parents[1]
MODEL = "yolov11-finger-counting"


def measure(args: argparse.Namespace, uri: str, work: Path, image: bytes, sample: int) -> dict[str, float]:
    with served(uri, work, args.model, args.version, MONITOR_SAMPLE=str(sample)) as (base, _):
        http_latencies(base, image, 20, 1)  # warm-up (and the judge started)
        latencies = http_latencies(base, image, args.requests, 1)
        fps = websocket_fps(base, image, args.requests)
        totals = httpx.get(f"{base}/monitor", timeout=10).json()["totals"]
    return {
        "p50": statistics.median(latencies), "p95": percentile(latencies, 0.95), "fps": fps,
        "teacher_ms": totals["teacher_ms"], "judged": totals["judged"], "dropped": totals["dropped"],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample", type=int, default=20, help="MONITOR_SAMPLE of the monitored arm")
    parser.add_argument("--tracking-uri")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--version", default="1")
    args = parser.parse_args()

    from fingercount.settings import quiet_third_parties

    quiet_third_parties()
    image = real_frame()
    work = Path(tempfile.mkdtemp(prefix="fc-monitor-bench-"))
    uri = args.tracking_uri or register_checkpoint(work)
    runs: dict[int, list[dict[str, float]]] = {0: [], args.sample: []}
    for round_ in range(args.rounds):
        for sample in (0, args.sample) if round_ % 2 == 0 else (args.sample, 0):  # alternated
            runs[sample].append(measure(args, uri, work, image, sample))
    shutil.rmtree(work, ignore_errors=True)

    def median(sample: int, key: str) -> float:
        return statistics.median(run[key] for run in runs[sample])

    print(f"monitoring benchmark: real photo at 640x480, {args.requests} requests x {args.rounds} rounds, medians")
    print(f"{'arm':<28} {'p50 ms':>8} {'p95 ms':>8} {'WS frames/s':>12}")
    for sample, label in ((0, "monitoring off"), (args.sample, f"MONITOR_SAMPLE={args.sample}")):
        print(f"{label:<28} {median(sample, 'p50'):>8.2f} {median(sample, 'p95'):>8.2f} {median(sample, 'fps'):>12.1f}")
    p50 = median(args.sample, "p50") / median(0, "p50")
    fps = median(args.sample, "fps") / median(0, "fps")
    print(f"on / off: /predict p50 {p50:.3f}x, WebSocket frames/s {fps:.3f}x (target: within 5 %)")
    pairs = list(zip(runs[0], runs[args.sample], strict=True))  # each round ran both arms back to back
    p50s = sorted(on["p50"] / off["p50"] for off, on in pairs)
    fpss = sorted(on["fps"] / off["fps"] for off, on in pairs)
    print(
        f"per round (the machine's noise): p50 on/off {p50s[0]:.2f}-{p50s[-1]:.2f}x, "
        f"frames/s {fpss[0]:.2f}-{fpss[-1]:.2f}x"
    )
    judged = sum(run["judged"] for run in runs[args.sample])
    dropped = sum(run["dropped"] for run in runs[args.sample])
    print(
        f"teacher: {median(args.sample, 'teacher_ms'):.1f} ms per judged frame (low priority thread); "
        f"{judged:.0f} judged, {dropped:.0f} dropped by a busy judge"
    )


if __name__ == "__main__":
    main()
