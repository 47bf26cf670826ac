"""`data fetch`: a set from a mirror (a local HTTP server here: no internet), checked by its content
hash; a changed copy or a missing archive is one error line and nothing half-written."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from fingercount.data.fetch import CATALOGUE, pack, tree_hash
from tests.conftest import REPO, run_cli
from tests.workspace import static_server

SET = "hands-many-people"
SHARED = REPO.parent / "shared" / "datasets" / SET


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not here")
    folder = tmp_path_factory.mktemp("mirror")
    pack(SHARED, folder)
    with static_server(folder) as url:
        yield url, folder


def test_the_catalogue_pins_the_shared_copies() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not here")
    for name, about in CATALOGUE.items():
        assert tree_hash(SHARED.parent / name) == (about.tree_hash, about.files), name


def test_fetch_from_a_mirror_into_the_recipes_layout(
    mirror: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = mirror
    into = tmp_path / "datasets"
    code, printed, err = run_cli(["data", "fetch", SET, "--from", url, "--into", str(into)], monkeypatch, capsys)
    assert code == 0, err
    assert f"{SET}: 1103 files in {into / SET} (CC BY 4.0" in printed
    assert tree_hash(into / SET) == tree_hash(SHARED)
    code, printed, _ = run_cli(["data", "fetch", SET, "--check", "--into", str(into)], monkeypatch, capsys)
    assert f"{SET}: ok" in printed
    assert sorted(p.name for p in into.iterdir()) == [SET]  # nothing beside it


def test_a_changed_copy_is_one_line_and_nothing_written(
    mirror: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = tmp_path / "changed" / SET
    shutil.copytree(SHARED, changed)
    (changed / "data.yaml").write_text((changed / "data.yaml").read_text() + "\n# edited\n")
    bad_mirror = tmp_path / "bad-mirror"
    pack(changed, bad_mirror)
    into = tmp_path / "datasets"
    code, _, err = run_cli(["data", "fetch", SET, "--from", str(bad_mirror), "--into", str(into)], monkeypatch, capsys)
    assert code != 0
    assert err.count("\n") == 1, err
    assert "does not match the catalogue" in err
    assert not into.exists() or list(into.iterdir()) == []


def test_a_missing_archive_or_no_mirror_is_one_line(
    mirror: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _ = mirror
    into = tmp_path / "datasets"
    code, _, err = run_cli(
        ["data", "fetch", "hands-webcam-rooms", "--from", url, "--into", str(into)], monkeypatch, capsys
    )
    assert code != 0
    assert err.count("\n") == 1, err
    assert "the mirror answered 404" in err
    assert not into.exists() or list(into.iterdir()) == []
    monkeypatch.delenv("FINGERCOUNT_DATA_MIRROR", raising=False)
    code, _, err = run_cli(["data", "fetch", "--into", str(into)], monkeypatch, capsys)
    assert code == 2
    assert err.startswith("error: say where the sets come from: --from-source github")


def test_the_licences_of_the_real_sets_a_prepared_dataset_was_made_from() -> None:
    from fingercount.data.fetch import licences

    description = {
        "source": "combined",
        "parts": {
            "synthetic": {"source": "synthetic", "images": 400},
            "epsrc": {"source": "folders", "path_name": "real-hands-epsrc-set1"},
            "rooms": {"source": "local", "path": "../shared/datasets/hands-webcam-rooms"},
            "people": {"source": "local", "path": "/data/hands-many-people"},
            "mine": {"source": "local", "path": "/data/my-photos"},
        },
    }
    found = licences(description)
    assert list(found) == ["epsrc", "rooms", "people"]
    assert found["epsrc"].licence.startswith("CC BY-SA 4.0")
    assert found["rooms"].licence.startswith("Apache-2.0")
    assert found["people"].licence.startswith("CC BY 4.0")
    assert licences({"source": "local", "path": "x/hands-many-people"})["source"].name == "hands-many-people"
