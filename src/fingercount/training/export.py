"""CPU exports of a trained model, for pickle-free serving: ONNX and OpenVINO IR."""

from __future__ import annotations

import multiprocessing
import shutil
import warnings
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from fingercount.errors import FingercountError


class ExportError(FingercountError):
    code = "export_failed"


def quiet_openvino() -> None:
    """OpenVINO's conversion tools send telemetry unless the user opted out: each event forks the
    process from a worker thread to post it, and a fork taken while another thread holds the C
    resolver's lock hangs for ever (seen: an export that never returned, its forked child waiting in
    getaddrinfo). Declined for this process only, as Ultralytics' integrations are; the user's
    consent file is not written."""
    try:
        from openvino_telemetry import Telemetry  # type: ignore[import-untyped]
    except ImportError:
        return
    original = Telemetry.init
    if getattr(original, "declined", False):
        return

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.consent = False

    init.declined = True  # type: ignore[attr-defined]
    Telemetry.init = init
    made = getattr(Telemetry, "_SingletonMetaClass__single_instance", None)  # one made before this call
    if made is not None:
        made.consent = False


def export_model(weights: Path, imgsz: int, out_dir: Path) -> dict[str, Path]:
    """Write `out_dir/model.onnx` and `out_dir/model_openvino/`; returns format -> path."""
    from ultralytics import YOLO

    quiet_openvino()

    out_dir.mkdir(parents=True, exist_ok=True)
    exported: dict[str, Path] = {}
    formats = {
        "onnx": (out_dir / "model.onnx", {"simplify": False}),  # onnxslim is optional and would be auto-installed
        "openvino": (out_dir / "model_openvino", {}),
    }
    for fmt, (target, options) in formats.items():
        try:
            model = YOLO(str(weights))  # its own task: detect, or pose (`model.landmarks`)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit.trace deprecation, inside Ultralytics
                produced = Path(model.export(format=fmt, imgsz=imgsz, verbose=False, **options))
        except Exception as exc:  # Ultralytics raises bare Exceptions for missing exporters
            raise ExportError(f"{fmt} export of {weights} failed: {exc}") from exc
        if target.exists():
            shutil.rmtree(target) if target.is_dir() else target.unlink()
        shutil.move(str(produced), target)
        exported[fmt] = target
    return exported


def quantize_openvino(xml: Path, images: list[Path], imgsz: int, out_dir: Path) -> Path:
    """An INT8 copy of an OpenVINO model, by NNCF post-training quantization on `images` (letterboxed
    like serving does); the detection head stays f32, as in Ultralytics' own INT8 export.

    Runs in a spawned child process: NNCF makes and drops OpenVINO Cores of its own, and a process
    that did so out of order crashes on its next Ctrl-C (see `inference/openvino_core.py`); the
    process that goes on to serve never loads NNCF.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        try:
            return pool.submit(_quantize, xml, images, imgsz, out_dir).result()
        except BrokenProcessPool as exc:
            raise ExportError(f"INT8 quantization of {xml} failed: its process died ({exc})") from exc


def _quantize(xml: Path, images: list[Path], imgsz: int, out_dir: Path) -> Path:
    import logging

    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "No CUDA runtime", on import
    import cv2
    import nncf
    import openvino as ov

    quiet_openvino()

    nncf.set_log_level(logging.ERROR)  # an INFO line per operation it leaves unquantized

    from fingercount.inference.detections import letterbox

    def blob(path: Path) -> object:
        frame = cv2.imread(str(path))
        if frame is None:
            raise ExportError(f"calibration image {path} cannot be read")
        return letterbox(frame, imgsz)[0]

    model = ov.Core().read_model(xml)
    operations = model.get_ordered_ops()
    sigmoids = [op.get_friendly_name() for op in operations if op.get_type_name() == "Sigmoid"]
    head = sigmoids[-1].split("/", 1)[0] if sigmoids else None
    ignored = [
        op.get_friendly_name()
        for op in operations
        if op.get_type_name() == "Sigmoid" or (head and op.get_friendly_name().startswith((f"{head}/", f"{head}.dfl")))
    ]
    try:
        quantized = nncf.quantize(
            model, nncf.Dataset(images, blob), preset=nncf.QuantizationPreset.MIXED, subset_size=len(images),
            ignored_scope=nncf.IgnoredScope(names=ignored, validate=False),
        )  # fmt: skip
    except ExportError:
        raise
    except Exception as exc:  # NNCF raises its own types for models it cannot quantize
        raise ExportError(f"INT8 quantization of {xml} failed: {exc}") from exc
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "model.xml"
    ov.save_model(quantized, target, compress_to_fp16=False)
    return target
