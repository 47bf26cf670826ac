"""OpenVINO's telemetry is declined for our process only: it forks from a worker thread to post each
event, and such a fork can hang an export for ever."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
from openvino_telemetry import Telemetry
from openvino.tools.ovc.telemetry_utils import init_ovc_telemetry

before = init_ovc_telemetry()  # as a conversion starts: no consent file, so it would send
assert before.consent, "this check needs telemetry that would be sent"
from fingercount.training.export import quiet_openvino

quiet_openvino()
assert before.consent is False  # the instance made before
again = init_ovc_telemetry(app_name="another tool")  # a re-initialisation decides again
assert again is before and again.consent is False
import multiprocessing
posting = set(multiprocessing.active_children())  # the event its first initialisation sent, maybe still posting
before.send_event("ovc", "export", "test")  # declined: no process is forked to post it
assert set(multiprocessing.active_children()) <= posting
"""


def test_openvino_telemetry_is_declined_without_writing_the_users_consent(tmp_path: Path) -> None:
    pytest.importorskip("openvino_telemetry")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (tmp_path / "intel" / "openvino_telemetry").exists()  # the user's choice stays unmade
