"""GPU figures: training epoch time and engine latency on the GPU against the CPU, in one run.

    python benchmarks/gpu.py [--epochs 3] [--images 320] [--size 320] [--requests 200]

Prints "no GPU" and exits 0 where PyTorch sees no CUDA device (as on the CI machines: the GPU
path is untested there). On a GPU it trains YOLO11n from scratch on synthetic images with
`device: 0` and with `device: cpu` (seconds per epoch, start-up included), exports the
GPU-trained weights, and times one 640x480 frame through Ultralytics PyTorch on the GPU, ONNX
Runtime on CUDA (when onnxruntime-gpu is installed: the engine `ENGINE=auto` picks there) and the
CPU default (OpenVINO): p50/p95 in ms and each against PyTorch on the GPU.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def timed(predict: object, frame: np.ndarray, requests: int) -> tuple[float, float]:
    for _ in range(10):  # warm-up: CUDA kernels, memory pools
        predict(frame, 0.25)  # type: ignore[operator]
    seconds = []
    for _ in range(requests):
        started = time.perf_counter()
        predict(frame, 0.25)  # type: ignore[operator]
        seconds.append((time.perf_counter() - started) * 1000)
    seconds.sort()
    return statistics.median(seconds), seconds[int(0.95 * (len(seconds) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("no GPU: torch.cuda.is_available() is False; nothing measured (the GPU path is untested here)")
        return
    from fingercount.inference.engines import build_engine, onnx_gpu_providers
    from fingercount.settings import quiet_third_parties
    from fingercount.training.export import export_model
    from fingercount.training.trainer import fit, model_source

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from training_threads import synthetic_dataset

    quiet_third_parties()
    card = torch.cuda.get_device_name(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "configs", root / "configs")
        os.chdir(root)
        config, data_yaml = synthetic_dataset(args.images, args.size)
        per_epoch: dict[str, float] = {}
        weights = None
        for device in ("0", "cpu"):
            run = config.model_copy(
                update={
                    "device": device,
                    "dataset": config.dataset.model_copy(update={"img_size": args.size}),
                    "training": config.training.model_copy(update={"epochs": args.epochs, "workers": 2}),
                }
            )
            started = time.perf_counter()
            result = fit(run, data_yaml, model_source(run), root / "runs", f"d{device}", progress=False)
            per_epoch[device] = (time.perf_counter() - started) / args.epochs  # start-up included
            weights = weights or result.weights
        assert weights is not None
        files = export_model(weights, args.size, root / "export")
        names = [str(i) for i in range(1, 6)]
        frame = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
        rows = {"pytorch (cuda)": build_engine({"pytorch": weights}, args.size, names, "pytorch")}
        onnx = build_engine({"onnx": files["onnx"]}, args.size, names, "onnx")
        rows[f"{onnx.name} ({', '.join(onnx_gpu_providers()) or 'CPU only: install onnxruntime-gpu'})"] = onnx
        xml = next(files["openvino"].glob("*.xml"))
        rows["openvino (cpu, the CPU default)"] = build_engine({"openvino": xml}, args.size, names, "openvino")
        latencies = {label: timed(engine.predict, frame, args.requests) for label, engine in rows.items()}
    print(f"GPU: {card}; torch {torch.__version__}; {args.images} synthetic images at {args.size} px")
    gpu, cpu = per_epoch["0"], per_epoch["cpu"]
    print(f"training s/epoch: GPU {gpu:.2f}, CPU {cpu:.2f} (GPU {cpu / gpu:.1f}x faster)")
    reference = latencies["pytorch (cuda)"][0]
    print(f"{'engine':<60} {'p50 ms':>8} {'p95 ms':>8} {'x pytorch':>10}")
    for label, (p50, p95) in latencies.items():
        print(f"{label:<60} {p50:>8.2f} {p95:>8.2f} {p50 / reference:>10.2f}")


if __name__ == "__main__":
    main()
