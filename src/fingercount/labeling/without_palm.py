"""The landmark network alone, without MediaPipe's palm detector: the last look at a whole photo.

HandLandmarker is two networks: a palm detector, then a landmark network on a 224 px square around
each palm it finds. A hand whose palm runs off the frame — a phone photo of one's own hand, filling
it — gives no palm, so no hand, though the landmark network reads it well. Run alone on the whole
photo, the landmark network returns 21 landmarks and a hand-presence score. Chosen by the rule in
docs/benchmarks.md ("A fourth look"): on the people photos the chain misses it finds a hand in 31 of 55
and counts 19 right; on hand-free squares of the rooms frames it sees a hand in 0.7 % (mostly faces).

The network is the one inside the pinned `hand_landmarker.task` (teacher.model_path), read by OpenVINO.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

SIDE = 224  # the landmark network's input, in pixels
TURNS = (0.0, 90.0, 180.0, 270.0)  # the network expects a hand upright: each turn tried, the surest kept
NETWORK_FILE = "hand_landmarks_detector.tflite"


class LandmarkNetwork:
    """The landmark network compiled for the CPU; thread-unsafe (one infer request). The teacher turns
    what it sees into a hand (`HandTeacher.without_palm`)."""

    def __init__(self, task: Path) -> None:
        """`task`: the pinned hand_landmarker.task (teacher.model_path checks it), a zip of both networks."""
        import openvino as ov

        core = ov.Core()
        with tempfile.TemporaryDirectory() as folder:  # OpenVINO reads a TFLite model from a file only
            path = Path(folder) / NETWORK_FILE
            with zipfile.ZipFile(task) as bundle:
                path.write_bytes(bundle.read(NETWORK_FILE))
            self._model = core.compile_model(core.read_model(path), "CPU", {"INFERENCE_NUM_THREADS": 1})
        self._image, self._presence, self._world = (
            self._model.output(n) for n in ("Identity", "Identity_1", "Identity_3")
        )

    def look(
        self, rgb: np.ndarray, degrees: float, square: tuple[float, float, float] | None = None
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """A square of an RGB photo (centre x, centre y, side; default: the whole photo, padded black),
        turned by `degrees` counter-clockwise, at 224 px: the hand presence, 21 world landmarks
        (metres) and 21 image landmarks (the photo's pixels)."""
        height, width = rgb.shape[:2]
        centre_x, centre_y, side = square or (width / 2, height / 2, max(height, width))
        centre = (centre_x, centre_y)
        turn = np.asarray(cv2.getRotationMatrix2D(centre, degrees, SIDE / side), dtype=np.float64)
        turn[:, 2] += np.array([SIDE / 2 - centre_x, SIDE / 2 - centre_y])
        crop = cv2.warpAffine(rgb, turn, (SIDE, SIDE), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        tensor = crop.astype(np.float32)[None] / 255.0
        out = self._model(tensor)
        back = cv2.invertAffineTransform(turn)
        image = out[self._image].reshape(21, 3)[:, :2] @ back[:, :2].T + back[:, 2]
        return float(out[self._presence].ravel()[0]), out[self._world].reshape(21, 3), image

    def surest(self, rgb: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """`look` at the whole RGB photo at each of TURNS: the surest one."""
        return max((self.look(rgb, turn) for turn in TURNS), key=lambda look: look[0])
