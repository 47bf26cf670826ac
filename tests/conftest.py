"""Shared fixtures: a tiny synthetic YOLO folder and the repository's configs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from fingercount.config import SyntheticSourceConfig
from fingercount.data.sources.synthetic import write_synthetic
from fingercount.settings import quiet_third_parties

# Training workspaces, trained model versions and the test server, shared by integration and e2e tests.
pytest_plugins = ["tests.workspace"]

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
# Real photos (one person, one wall; see its README), beside the repository as in CI.
REAL_HANDS = REPO.parent / "shared" / "datasets" / "real-hands-epsrc-set1"
MANY_PEOPLE = REPO.parent / "shared" / "datasets" / "hands-many-people"

quiet_third_parties()


@pytest.fixture(scope="session")
def synthetic_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 small synthetic images in YOLO layout; read-only for the tests that share it."""
    spec = SyntheticSourceConfig(images=30, seed=3, img_size=128)
    return write_synthetic(tmp_path_factory.mktemp("synth") / "ds", spec, progress=False)


@pytest.fixture
def say(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """Show a figure a test measured in the run's output (pytest captures plain prints)."""
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")

    def say(text: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n{text}")

    return say


@pytest.fixture(scope="session")
def real_hands() -> Path:
    if not REAL_HANDS.is_dir():
        pytest.skip(f"{REAL_HANDS} is not here (the shared datasets sit beside the repository)")
    return REAL_HANDS


def real_photos(per_count: int) -> dict[int, list[Path]]:
    """`per_count` photos of each count, spread evenly over each sequence (never neighbours)."""
    chosen = {}
    for folder in sorted(p for p in REAL_HANDS.iterdir() if p.is_dir()):
        photos = sorted(folder.glob("*.jpg"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
        step = len(photos) // per_count
        chosen[int(folder.name)] = photos[10::step][:per_count]
    return chosen


def count_folders(root: Path, per_count: int) -> Path:
    """`root/<count>/*.jpg`: `per_count` real photos of each count (what `eval --counts` reads)."""
    import shutil

    for count, photos in real_photos(per_count).items():
        (root / str(count)).mkdir(parents=True)
        for photo in photos:
            shutil.copy(photo, root / str(count) / photo.name)
    return root


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


# The container suite needs root, podman and ~15 minutes of builds: `make test-containers` runs it.
collect_ignore = [] if os.environ.get("FINGERCOUNT_CONTAINER_TESTS") else ["containers"]
