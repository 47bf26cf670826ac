"""Shared fixtures: a tiny synthetic YOLO folder and the repository's configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from fingercount.data.sources.synthetic import write_synthetic
from fingercount.settings import quiet_third_parties

# Training workspaces, trained model versions and the test server, shared by integration and e2e tests.
pytest_plugins = ["tests.workspace"]

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

quiet_third_parties()


@pytest.fixture(scope="session")
def synthetic_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 small synthetic images in YOLO layout; read-only for the tests that share it."""
    return write_synthetic(tmp_path_factory.mktemp("synth") / "ds", images=30, seed=3, img_size=128, progress=False)


def run_cli(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """Run `fingercount ARGS` in-process through the real entry point: (exit code, stdout, stderr)."""
    import sys

    from fingercount.cli import main

    monkeypatch.setattr(sys, "argv", ["fingercount", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err
