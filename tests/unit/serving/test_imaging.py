"""Upload validation without a server: every bad input is a 4xx error before any heavy work."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from fingercount.errors import BadImageError, PayloadTooLargeError, UnsupportedMediaError
from fingercount.serving.imaging import decode_image

LIMIT_BYTES, LIMIT_PIXELS = 1_000_000, 1_000_000


def encoded(fmt: str, size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 40)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_supported_images_decode_to_bgr(fmt: str) -> None:
    frame = decode_image(encoded(fmt), LIMIT_BYTES, LIMIT_PIXELS)
    assert frame.shape == (48, 64, 3)
    blue, _, red = frame[24, 32].tolist()
    assert red > 150  # BGR, as OpenCV and the engines expect
    assert blue < 100


@pytest.mark.parametrize(
    ("data", "error", "status", "message"),
    [
        (b"", BadImageError, 400, "empty body"),
        (b"GIF89a" + bytes(100), UnsupportedMediaError, 415, "unsupported image type"),
        (b"\x89PNG\r\n\x1a\n" + bytes(40), BadImageError, 400, "header cannot be read"),
        (encoded("JPEG")[:-40], BadImageError, 400, "truncated"),
        (encoded("PNG")[:-20], BadImageError, 400, "truncated"),
    ],
)
def test_bad_uploads_are_client_errors(data: bytes, error: type[Exception], status: int, message: str) -> None:
    with pytest.raises(error, match=message) as raised:
        decode_image(data, LIMIT_BYTES, LIMIT_PIXELS)
    assert raised.value.http_status == status  # type: ignore[attr-defined]


def test_size_limits_are_checked_before_decoding() -> None:
    with pytest.raises(PayloadTooLargeError, match="the limit is 100"):
        decode_image(encoded("PNG"), 100, LIMIT_PIXELS)
    # 4000 x 3000 pixels in a small PNG: refused from the header, never decoded.
    big = cv2.imencode(".png", np.zeros((3000, 4000), np.uint8))[1].tobytes()
    with pytest.raises(PayloadTooLargeError, match="4000x3000 pixels"):
        decode_image(big, LIMIT_BYTES * 10, LIMIT_PIXELS)


def test_a_bad_header_is_a_client_error_with_ultralytics_loaded() -> None:
    """Ultralytics patches Pillow's `Image.open` to import an optional HEIF plugin on unknown files."""
    import ultralytics  # noqa: F401  (applies the patch, as the PyTorch engine does)

    with pytest.raises(BadImageError, match="header cannot be read"):
        decode_image(b"\x89PNG\r\n\x1a\n" + bytes(40), LIMIT_BYTES, LIMIT_PIXELS)
