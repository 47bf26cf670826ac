"""The one detection core: images in, `Detection`s out, for serving, evaluation and the pyfunc flavour.

Numpy and OpenCV only (no torch): the serving container runs it on exported models, and
evaluation runs the very same code, so the count that decides a promotion is the served count.
"""

from fingercount.inference.detections import Detection, image_count
from fingercount.inference.engines import Engine, build_engine

__all__ = ["Detection", "Engine", "build_engine", "image_count"]
