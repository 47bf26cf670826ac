"""fingercount: train, track and serve YOLO11 models that count raised fingers."""

__version__ = "0.1.0"
