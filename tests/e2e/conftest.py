"""A real Chromium (Debian's) driven by Playwright, with a fake webcam playing synthetic hands."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from fingercount.data.synthetic import render

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def write_y4m(
    path: Path, frames: int = 30, width: int = 640, height: int = 480, hand_scale: tuple[float, float] = (0.045, 0.085)
) -> Path:
    """A YUV4MPEG2 video of synthetic hands: what Chromium's fake camera plays in a loop."""
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{width} H{height} F5:1 Ip A1:1 C420jpeg\n".encode())
        for index in range(frames):
            square = render(seed=11, index=index // 5, size=width, max_hands=2, hand_scale=hand_scale).image  # 1 s each
            top = (width - height) // 2
            frame = square[top : top + height]
            video.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture(scope="session")
def fake_camera(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_y4m(tmp_path_factory.mktemp("camera") / "hands.y4m")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Any, fake_camera: Path) -> Iterator[Any]:
    camera = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              f"--use-file-for-fake-video-capture={fake_camera}"]  # fmt: skip
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS + camera, headless=True)
    yield browser
    browser.close()


class ConsoleLog:
    """Console errors and uncaught page errors, to assert a page stayed clean."""

    def __init__(self, page: object) -> None:
        self.errors: list[str] = []
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: self.errors.append(str(error)))  # type: ignore[attr-defined]


def screenshot(page: object, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
