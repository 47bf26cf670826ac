"""Uploaded bytes -> BGR frame, with every bad input mapped to a 4xx before any heavy work.

Order matters: size of the body (413), type by magic bytes (415), dimensions read from the
header without decoding pixels (413), completeness of the file (400), then the decode (400).
"""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np

from fingercount.errors import BadImageError, PayloadTooLargeError, UnsupportedMediaError

SUPPORTED = ("JPEG", "PNG", "WebP")


def sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def _dimensions(data: bytes) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:  # reads the header only
                return image.size
    except Image.DecompressionBombError:
        raise PayloadTooLargeError("the image has too many pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise BadImageError(f"the image header cannot be read ({exc})") from None
    except ImportError:
        # Once Ultralytics is imported (the PyTorch engine), its patched `Image.open` answers an
        # unreadable file by importing the optional pi_heif package instead of raising.
        raise BadImageError("the image header cannot be read") from None


def _complete(kind: str, data: bytes) -> bool:
    """Truncated files decode to half-grey images in OpenCV instead of failing; catch them here."""
    tail = data[-32:]
    if kind == "JPEG":
        return b"\xff\xd9" in tail
    if kind == "PNG":
        return b"IEND" in tail
    return int.from_bytes(data[4:8], "little") + 8 <= len(data)  # RIFF size


def decode_image(data: bytes, max_bytes: int, max_pixels: int) -> np.ndarray:
    if not data:
        raise BadImageError("empty body: send an image file in the `file` field")
    if len(data) > max_bytes:
        raise PayloadTooLargeError(f"the upload is {len(data)} bytes; the limit is {max_bytes}")
    kind = sniff(data)
    if kind is None:
        raise UnsupportedMediaError(f"unsupported image type: send one of {', '.join(SUPPORTED)}")
    width, height = _dimensions(data)
    if width * height > max_pixels:
        raise PayloadTooLargeError(f"the image is {width}x{height} pixels; the limit is {max_pixels} pixels")
    if not _complete(kind, data):
        raise BadImageError(f"the {kind} file is truncated")
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise BadImageError(f"the {kind} file cannot be decoded")
    return frame
