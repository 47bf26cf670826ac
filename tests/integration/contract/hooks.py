"""Schemathesis hooks for the contract test: the API's image parts get real images.

The OpenAPI document says a `file` part is image/jpeg, image/png or image/webp; these strategies
make such images (noise of any size from 1×1, and, when `FUZZ_PHOTOS` lists some, real hand
photos), so generated requests reach the model and the teacher instead of stopping at decoding.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import schemathesis
from hypothesis import strategies as st
from PIL import Image

PHOTOS = [Path(p) for p in os.environ.get("FUZZ_PHOTOS", "").split(os.pathsep) if p]


@st.composite
def encoded_images(draw: st.DrawFn, image_format: str) -> bytes:
    if PHOTOS and draw(st.booleans()):
        image = Image.open(draw(st.sampled_from(PHOTOS))).convert("RGB")
    else:
        width, height = draw(st.integers(1, 320)), draw(st.integers(1, 320))
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


for media_type, image_format in {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}.items():
    schemathesis.openapi.media_type(media_type, encoded_images(image_format))
