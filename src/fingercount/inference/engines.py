"""Inference engines behind one interface (OpenVINO, ONNX Runtime, Ultralytics/PyTorch), all returning `Detection`s.

The exported engines import neither torch nor ultralytics and unpickle nothing; PyTorch is the
fallback for versions without exports.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from fingercount.errors import ModelLoadError
from fingercount.inference.detections import Detection, decode, from_ultralytics, letterbox

ENGINE_ORDER = ("openvino", "onnx", "pytorch")  # fastest first on CPU (docs/benchmarks.md)
# With a GPU that ONNX Runtime can use (the onnxruntime-gpu package and a CUDA device), ONNX first.
GPU_ENGINE_ORDER = ("onnx", "openvino", "pytorch")
GPU_PROVIDERS = ("CUDAExecutionProvider",)


def onnx_gpu_providers(available: list[str] | None = None) -> list[str]:
    """The GPU execution providers this ONNX Runtime has (none with the CPU-only package)."""
    if available is None:
        try:
            import onnxruntime as ort
        except ImportError:
            return []
        available = list(ort.get_available_providers())
    return [provider for provider in GPU_PROVIDERS if provider in available]


class Engine(Protocol):
    name: str
    imgsz: int  # the square input size the model was trained and exported at
    precision: str  # what the weights run at: f32, bf16, int8

    def predict(self, frame: np.ndarray, conf: float) -> list[Detection]: ...


class OnnxEngine:
    """ONNX Runtime on a CUDA GPU when this install and machine have one (name `onnx-cuda`), else the CPU."""

    precision = "f32"

    def __init__(self, path: Path, imgsz: int, names: list[str], threads: int) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        providers = [*onnx_gpu_providers(), "CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        # A GPU provider that finds no device is dropped by ONNX Runtime: ask what the session runs on.
        self.name = "onnx-cuda" if self.session.get_providers()[0] in GPU_PROVIDERS else "onnx"
        self.input_name = self.session.get_inputs()[0].name
        self.imgsz, self.names = imgsz, names

    def predict(self, frame: np.ndarray, conf: float) -> list[Detection]:
        blob, box = letterbox(frame, self.imgsz)
        (output,) = self.session.run(None, {self.input_name: blob})[:1]
        return decode(output, box, frame.shape[:2], self.names, conf)


class OpenVinoEngine:
    name = "openvino"

    def __init__(self, xml: Path, imgsz: int, names: list[str], threads: int, precision: str = "f32") -> None:
        from fingercount.inference.openvino_core import openvino_core

        core = openvino_core()
        config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
        # f32 by default: on CPUs with bf16 (AMX, AVX512-BF16) OpenVINO would lower the precision by
        # itself — about 2x faster, but scores move by ~1e-2 (OPENVINO_PRECISION=bf16 opts in).
        if precision != "auto":
            config["INFERENCE_PRECISION_HINT"] = precision
        self.compiled = core.compile_model(str(xml), "CPU", config)
        hint = self.compiled.get_property("INFERENCE_PRECISION_HINT")  # an ov.Type: "f32", "bf16", …
        self.precision = hint.to_string() if hasattr(hint, "to_string") else str(hint)
        self._local = threading.local()  # an infer request is not thread-safe; one per thread
        self.imgsz, self.names = imgsz, names

    def predict(self, frame: np.ndarray, conf: float) -> list[Detection]:
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        blob, box = letterbox(frame, self.imgsz)
        output = request.infer({0: blob})[self.compiled.output(0)]
        return decode(np.asarray(output), box, frame.shape[:2], self.names, conf)


class UltralyticsEngine:
    """PyTorch through Ultralytics: the reference, and the fallback without exports."""

    name = "pytorch"
    precision = "f32"

    def __init__(self, weights: Path, imgsz: int, names: list[str], threads: int) -> None:
        import torch
        from ultralytics import YOLO

        torch.set_num_threads(threads)
        self.model = YOLO(str(weights))  # its own task: detect, or pose (`model.landmarks`)
        self.imgsz, self.names = imgsz, names
        self.lock = threading.Lock()  # the Ultralytics predictor keeps per-call state

    def predict(self, frame: np.ndarray, conf: float) -> list[Detection]:
        with self.lock:
            result = self.model.predict(frame, imgsz=self.imgsz, conf=conf, agnostic_nms=True, verbose=False)[0]
        return from_ultralytics(result, self.names)


def build_engine(
    available: dict[str, Path],
    imgsz: int,
    names: list[str],
    preference: str = "auto",
    threads: int = 2,
    openvino_precision: str = "f32",
) -> Engine:
    """The preferred engine, or with `auto` the fastest one there is a file for (ONNX on a GPU).

    `available` maps engine name -> model file (`ModelPackage.engine_files()`).
    """
    order = (GPU_ENGINE_ORDER if onnx_gpu_providers() else ENGINE_ORDER) if preference == "auto" else (preference,)
    for name in order:
        if name in available:
            try:
                engine: Engine
                if name == "openvino":
                    engine = OpenVinoEngine(available[name], imgsz, names, threads, openvino_precision)
                elif name == "onnx":
                    engine = OnnxEngine(available[name], imgsz, names, threads)
                else:
                    engine = UltralyticsEngine(available[name], imgsz, names, threads)
            except Exception as exc:  # each runtime raises its own types for a bad model file
                raise ModelLoadError(f"{name} engine cannot load {available[name].name}: {exc}") from exc
            return engine
    wanted = "usable" if preference == "auto" else preference
    raise ModelLoadError(f"no {wanted} engine: this version has {sorted(available) or 'no model files'}")
