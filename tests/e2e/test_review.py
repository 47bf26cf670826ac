"""The Review page in a real browser: kept model/teacher disagreements on real photos, the true
count given with one key, a frame deleted with another; the Live page shows the agreement."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import real_photos
from tests.e2e.conftest import ConsoleLog, screenshot
from tests.workspace import TrainResult, Workspace, teach_server, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(
    first: TrainResult, workspace: Workspace, real_hands: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`first` learnt drawn hands only: on real photos it disagrees with the teacher, and they are kept."""
    root = tmp_path_factory.mktemp("e2e-review")
    with teach_server(
        workspace, str(first.model_version), "review-e2e", root, MONITOR_SAMPLE="1", MONITOR_QUEUE="64",
        MONITOR_CPU="1", MONITOR_KEEP="1",
    ) as base:  # fmt: skip
        for photos in real_photos(per_count=2).values():
            for photo in photos:
                files = {"file": (photo.name, photo.read_bytes(), "image/jpeg")}
                assert httpx.post(f"{base}/predict", files=files, timeout=60).status_code == 200
        wait_for(lambda: len(httpx.get(f"{base}/monitor/review").json()) >= 3, timeout=120)
        wait_for(lambda: judged_all(base), timeout=120)  # no frame is kept after the page has listed them
        yield base


def judged_all(base: str) -> bool:
    totals = httpx.get(f"{base}/monitor").json()["totals"]
    return bool(totals["sampled"] == totals["judged"] + totals["skipped"] + totals["dropped"] + totals["unreadable"])


def test_review_page_counts_and_deletes_with_one_key(browser: Any, server: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    console = ConsoleLog(page)
    page.goto(f"{server}/#/live")
    page.wait_for_function("() => document.getElementById('agreement').dataset.judged > 0", timeout=15000)
    assert page.text_content("#agreement").strip().endswith("%")
    assert "frames judged by the teacher (1 in 1 sampled)" in page.text_content("#monitor-status")

    page.goto(f"{server}/#/review")
    figures = page.locator("#review-list figure")
    figures.first.wait_for()
    kept = httpx.get(f"{server}/monitor/review").json()
    assert figures.count() == len(kept)
    assert f"teacher {kept[0]['teacher_count']}" in figures.first.text_content()
    screenshot(page, "review")

    figures.first.focus()
    page.keyboard.press(str(kept[0]["teacher_count"]))  # the true count: here, the teacher's
    wait_for(lambda: len(httpx.get(f"{server}/monitor/review").json()) == len(kept) - 1)
    assert "“review”" in page.text_content("#review-status")
    assert httpx.get(f"{server}/collections/review").json()["frames"] == 1

    page.locator("#review-list figure").first.focus()  # the next one
    page.keyboard.press("Delete")
    wait_for(lambda: len(httpx.get(f"{server}/monitor/review").json()) == len(kept) - 2)
    assert page.locator("#review-list figure").count() == len(kept) - 2
    assert console.errors == []
    page.close()
