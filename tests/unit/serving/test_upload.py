"""`/predict`'s hand-read request: the `file` part found in bodies as real clients encode them, and
the same 413/422 answers FastAPI's validation gave."""

from __future__ import annotations

import os

import httpx
import pytest

from fingercount.errors import InvalidRequestError, PayloadTooLargeError
from fingercount.serving.upload import multipart_field, query_bool, query_conf, read_body
from tests.unit.serving.conftest import run_async

IMAGE = b"\xff\xd8\xff\xe0" + os.urandom(5000) + b"\r\n--not-the-boundary\r\n" + b"\xff\xd9"


def encoded(**kwargs: object) -> tuple[bytes, str]:
    """The body and content type httpx sends (as browsers and `requests` do)."""
    request = httpx.Request("POST", "http://server/predict", **kwargs)  # type: ignore[arg-type]
    return request.read(), request.headers["content-type"]


def test_the_file_part_is_found_byte_for_byte() -> None:
    body, content_type = encoded(files={"file": ("f.jpg", IMAGE, "image/jpeg")})
    assert multipart_field(body, content_type) == IMAGE


def test_among_other_fields_in_any_order() -> None:
    body, content_type = encoded(data={"note": "a", "other": "b"}, files={"extra": b"x", "file": ("f.jpg", IMAGE)})
    assert multipart_field(body, content_type) == IMAGE


def test_a_quoted_boundary_and_a_preamble() -> None:
    body = (
        b"a preamble clients may send\r\n--b0und\r\n"
        b'Content-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n' + IMAGE + b"\r\n--b0und--\r\n"
    )
    assert multipart_field(body, 'multipart/form-data; boundary="b0und"') == IMAGE


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        encoded(data={"nothing": "here"}),
        encoded(content=IMAGE, headers={"content-type": "image/jpeg"}),
        (b"--x\r\nContent-Disposition: form-data; name=file\r\n", "multipart/form-data; boundary=x"),  # cut short
        (b"", "multipart/form-data"),
    ],
    ids=["no file field", "a raw image body", "truncated", "no boundary"],
)
def test_no_file_part_is_a_422_naming_the_field(body: bytes, content_type: str) -> None:
    with pytest.raises(InvalidRequestError, match="file"):
        multipart_field(body, content_type)


def test_a_body_over_the_limit_is_413() -> None:
    async def chunks(count: int):  # type: ignore[no-untyped-def]
        for _ in range(count):
            yield b"x" * 1000

    assert len(run_async(read_body(chunks(5), 5000))) == 5000
    with pytest.raises(PayloadTooLargeError):
        run_async(read_body(chunks(6), 5000))


def test_query_parameters_as_fastapi_read_them() -> None:
    assert query_conf({}) is None
    assert query_conf({"conf": "0.4"}) == 0.4
    for bad in ("7", "-0.1", "nan", "high"):
        with pytest.raises(InvalidRequestError, match=r"query\.conf"):
            query_conf({"conf": bad})
    assert query_bool({}, "preprocess") is None
    assert query_bool({"preprocess": "True"}, "preprocess") is True
    assert query_bool({"preprocess": "0"}, "preprocess") is False
    with pytest.raises(InvalidRequestError, match=r"query\.preprocess"):
        query_bool({"preprocess": "maybe"}, "preprocess")
