"""CPU exports of a trained model, for pickle-free serving: ONNX and OpenVINO IR."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

from fingercount.errors import FingercountError


class ExportError(FingercountError):
    code = "export_failed"


def export_model(weights: Path, imgsz: int, out_dir: Path) -> dict[str, Path]:
    """Write `out_dir/model.onnx` and `out_dir/model_openvino/`; returns format -> path."""
    from ultralytics import YOLO

    out_dir.mkdir(parents=True, exist_ok=True)
    exported: dict[str, Path] = {}
    formats = {
        "onnx": (out_dir / "model.onnx", {"simplify": False}),  # onnxslim is optional and would be auto-installed
        "openvino": (out_dir / "model_openvino", {}),
    }
    for fmt, (target, options) in formats.items():
        try:
            model = YOLO(str(weights), task="detect")
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
