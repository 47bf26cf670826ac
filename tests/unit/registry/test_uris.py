from __future__ import annotations

import pytest

from fingercount.errors import ModelNotFoundError
from fingercount.registry.versions import parse_model_uri


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/yolov11-finger-counting/3", ("yolov11-finger-counting", "3", None)),
        ("models:/yolov11-finger-counting@production", ("yolov11-finger-counting", None, "production")),
        ("models:/m/Staging", ("m", None, "Staging")),
    ],
)
def test_parse_model_uri(uri: str, expected: tuple[str, str | None, str | None]) -> None:
    assert parse_model_uri(uri) == expected


def test_malformed_uri() -> None:
    with pytest.raises(ModelNotFoundError):
        parse_model_uri("models:/justaname")
