"""The dashboard in a real browser against a real server with real (tiny) models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient

from fingercount.processes import free_port
from tests.e2e.conftest import CHROMIUM, FLAGS, ConsoleLog, screenshot
from tests.workspace import TrainResult, Workspace, running_server, serving_settings, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
MODEL = "yolov11-finger-counting"
LOW_CONF = "0.001"  # the test models trained for two epochs: only a low threshold shows boxes


@pytest.fixture(scope="module")
def server(
    first: TrainResult, second: TrainResult, workspace: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    MlflowClient().set_registered_model_alias(MODEL, "dashboard", "1")
    settings = serving_settings(workspace, tmp_path_factory.mktemp("e2e-cache"), MODEL_ALIAS="dashboard",
                                MLFLOW_UI_URL="http://127.0.0.1:5000")  # fmt: skip
    with running_server(settings) as base:
        wait_for(lambda: httpx.get(f"{base}/health").json()["model_loaded"])
        yield base


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    yield page
    context.close()
    httpx.post(f"{server}/models/load", json={"version": 1}, timeout=120)


def test_live_page_draws_boxes_and_shows_the_api_count(page: Any, server: str) -> None:
    console = ConsoleLog(page)
    answers: dict[int, dict[str, Any]] = {}

    def on_socket(socket: Any) -> None:
        def on_frame(payload: str | bytes) -> None:
            message = json.loads(payload)
            if "frame_id" in message:
                answers[message["frame_id"]] = message

        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    page.goto(f"{server}/#/live")
    page.wait_for_function("() => document.getElementById('model-badge').dataset.version === '1'")
    page.locator("#conf").fill(LOW_CONF)
    page.get_by_role("button", name="Start camera").click()
    page.wait_for_function("() => Number(document.getElementById('overlay').dataset.boxes) > 0", timeout=30000)
    page.wait_for_function("() => parseFloat(document.getElementById('fps').textContent) > 0", timeout=30000)
    shown = page.evaluate(
        "() => { const c = document.getElementById('finger-count');"
        " return {count: c.textContent, frame: Number(c.dataset.frameId)}; }"
    )
    answer = answers[shown["frame"]]
    assert shown["count"] == str(answer["finger_count"])
    assert answer["predictions"]
    assert answer["conf"] == float(LOW_CONF)
    assert float(page.text_content("#rtt").split()[0]) > 0
    assert float(page.text_content("#inference").split()[0]) > 0
    assert page.text_content("#transport") == "WebSocket"
    assert page.locator("#predictions li").count() == len(answer["predictions"]) or answers
    screenshot(page, "live")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.wait_for_timeout(500)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "live-phone")
    page.get_by_role("button", name="Stop").click()
    assert console.errors == []


# Holds every frame's `blob.arrayBuffer()` while `window.holdFrames` is set (the await where Stop
# used to close the socket under a frame) and counts sends on a socket that is not open.
HOLD_FRAMES = """
window.heldFrames = []; window.closedSends = 0; window.holdFrames = false;
const readBlob = Blob.prototype.arrayBuffer;
Blob.prototype.arrayBuffer = function () {
  const read = readBlob.call(this);
  if (!window.holdFrames) return read;
  return new Promise((resolve) => window.heldFrames.push(() => resolve(read)));
};
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data) {
  if (this.readyState !== WebSocket.OPEN) window.closedSends += 1;
  return send.call(this, data);
};
"""


def test_live_page_stop_mid_frame_sends_nothing_on_a_closed_socket(page: Any, server: str) -> None:
    console = ConsoleLog(page)
    sockets: list[Any] = []
    page.on("websocket", lambda socket: sockets.append(socket))
    page.add_init_script(HOLD_FRAMES)
    page.goto(f"{server}/#/live")
    page.wait_for_function("() => document.getElementById('model-badge').dataset.version === '1'")
    page.get_by_role("button", name="Start camera").click()
    page.wait_for_function("() => parseFloat(document.getElementById('fps').textContent) > 0", timeout=30000)
    page.evaluate("window.holdFrames = true")
    page.wait_for_function("() => window.heldFrames.length > 0", timeout=10000)  # a frame is mid-read
    page.get_by_role("button", name="Stop").click()
    page.get_by_role("button", name="Start camera").click()  # Stop then Start: the old socket is closing
    page.evaluate("window.holdFrames = false; window.heldFrames.forEach((release) => release())")
    page.wait_for_function("() => document.getElementById('transport').textContent === 'WebSocket'")
    frame = page.evaluate("Number(document.getElementById('finger-count').dataset.frameId)")
    page.wait_for_function(f"() => Number(document.getElementById('finger-count').dataset.frameId) !== {frame}",
                           timeout=30000)  # fmt: skip
    page.wait_for_timeout(1500)  # past the 1 s reconnect a stale close handler would have scheduled
    page.get_by_role("button", name="Stop").click()
    assert page.evaluate("window.closedSends") == 0
    assert len(sockets) == 2  # one per Start: the closing socket did not reconnect a third
    assert console.errors == []


def test_models_page_switches_the_live_model(page: Any, server: str) -> None:
    console = ConsoleLog(page)
    page.goto(f"{server}/#/models")
    row = page.locator("tr[data-version='2']")
    row.get_by_role("button", name="Load").click()
    page.wait_for_function(
        "() => document.getElementById('load-status').textContent.includes('Now serving')", timeout=120000
    )
    assert "v2" in page.text_content("#load-status")
    assert httpx.get(f"{server}/models/current").json()["model"]["version"] == "2"
    page.wait_for_selector("tr.serving[data-version='2']")
    screenshot(page, "models")
    page.get_by_role("link", name="Live").click()  # no reload: the badge follows the server
    page.wait_for_function("() => document.getElementById('model-badge').dataset.version === '2'", timeout=10000)
    assert "v2" in page.text_content("#model-badge")
    missing = page.evaluate(
        """() => fetch('/models/load', {method: 'POST', headers: {'Content-Type': 'application/json'},
                                        body: JSON.stringify({version: 99})}).then(r => r.status)"""
    )
    assert missing == 404
    assert console.errors == [] or all("404" in e for e in console.errors)


def test_experiments_page_sorts_and_compares(page: Any, server: str) -> None:
    console = ConsoleLog(page)
    experiments = httpx.get(f"{server}/models/experiments").json()
    total = sum(len(e["runs"]) for e in experiments)
    page.goto(f"{server}/#/experiments")
    page.wait_for_selector("#runs tbody tr[data-run]")
    assert page.locator("#runs tbody tr[data-run]").count() == total
    header = page.locator("th", has=page.get_by_role("button", name="mAP50-95"))
    page.get_by_role("button", name="mAP50-95").click()
    assert header.get_attribute("aria-sort") == "descending"
    values = [v for v in page.locator("#runs td[data-key='map']").all_text_contents()]
    numbers = [float(v) for v in values if v != "–"]
    assert numbers == sorted(numbers, reverse=True)
    page.get_by_role("button", name="mAP50-95").click()
    assert header.get_attribute("aria-sort") == "ascending"
    boxes = page.locator("#runs input[data-compare]")
    boxes.nth(0).check()
    page.locator("#runs input[data-compare]").nth(1).check()
    compare = page.locator("#compare")
    compare.wait_for(state="visible")
    names = compare.locator("thead th").all_text_contents()[1:]
    assert len(names) == 2
    assert all(name for name in names)
    assert (
        page.locator("#runs a", has_text="open")
        .first.get_attribute("href")
        .startswith("http://127.0.0.1:5000/#/experiments/")
    )
    screenshot(page, "experiments")
    assert console.errors == []


def test_camera_denied_message(playwright: Any, server: str) -> None:
    # No fake-UI flag: the permission prompt is refused, as when a user clicks "Block".
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*FLAGS, "--use-fake-device-for-media-stream"])
    try:
        page = browser.new_page()
        page.goto(f"{server}/#/live")
        page.get_by_role("button", name="Start camera").click()
        page.wait_for_function(
            "() => document.getElementById('camera-message').dataset.state === 'denied'", timeout=15000
        )
        assert "Camera access was denied" in page.text_content("#camera-message")
        screenshot(page, "camera-denied")
    finally:
        browser.close()


def test_api_down_message(page: Any, server: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    page.goto(f"{server}/?api={dead}#/live")
    page.wait_for_selector("#banner:not([hidden])")
    assert f"API unreachable at {dead}" in page.text_content("#banner")
    screenshot(page, "api-down")


def test_no_model_message(browser: Any, workspace: Workspace, tmp_path: Path) -> None:
    settings = serving_settings(workspace, tmp_path, MODEL_NAME="no-such-model")
    with running_server(settings) as base:
        context = browser.new_context()
        page = context.new_page()
        console = ConsoleLog(page)
        page.goto(f"{base}/#/live")
        page.wait_for_selector("#banner:not([hidden])")
        assert "No model loaded" in page.text_content("#banner")
        page.get_by_role("button", name="Start camera").click()
        page.wait_for_function(
            "() => document.getElementById('frame-status').textContent.includes('No model loaded')", timeout=30000
        )
        screenshot(page, "no-model")
        assert console.errors == []
        context.close()
