"""The real sets built from their public sources: each committed original (shared/datasets/sources/
samples/) derived byte for byte into the shared copy's file; a small set built from a checkout
folder and from a host's archive over HTTP; an altered and a missing original each one line, with
nothing written; a recipe without its sets names the command that builds them."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path

import pytest

from fingercount.data import fetch
from fingercount.data.fetch import CATALOGUE, RealSet, tree_hash
from fingercount.data.from_source import DERIVATIONS, build, derive, originals
from fingercount.errors import DatasetError
from tests.conftest import REAL_HANDS, run_cli
from tests.workspace import static_server

SHARED = REAL_HANDS.parent
SAMPLES = SHARED / "sources" / "samples"


@pytest.fixture(scope="module", autouse=True)
def shared_sets() -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} is not here (the shared datasets sit beside the repository)")


def sample_files(name: str) -> dict[str, bytes]:
    root = SAMPLES / name
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_each_committed_original_derives_byte_for_byte_into_the_shared_copy(name: str) -> None:
    listed = originals(name)
    samples = sample_files(name)
    assert len(samples) >= 5
    for path, data in samples.items():
        assert hashlib.sha256(data).hexdigest() == listed[path], f"{path}: the sample is not the listed original"
        relative, derived = derive(name, path, data)
        assert derived == (SHARED / name / relative).read_bytes(), f"{name}: {path} -> {relative} differs"


def test_the_package_ships_the_shared_lists_of_originals() -> None:
    for name in CATALOGUE:
        shipped = (Path(fetch.__file__).parent / "originals" / f"{name}.sha256").read_text()
        assert shipped == (SHARED / "sources" / f"{name}.sha256").read_text()
    assert len(originals("hands-webcam-rooms")) == 3091  # 3,090 listed + the repository's LICENSE


def small_set(name: str, scratch: Path, extra: tuple[str, ...] = ()) -> tuple[RealSet, dict[str, str]]:
    """The catalogue entry and originals' list of a set made of the committed samples alone (and
    `extra` originals kept as they are, e.g. the repository's LICENSE), hashed on the shared copy."""
    full = originals(name)
    listed = {path: hashlib.sha256(data).hexdigest() for path, data in sample_files(name).items()}
    listed.update({path: full[path] for path in extra})
    expected = scratch / f"expected-{name}"
    for path, data in sample_files(name).items():
        relative, _ = derive(name, path, data)
        (expected / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SHARED / name / relative, expected / relative)  # the shared copy's own files
    for path in extra:
        shutil.copy(SHARED / name / path, expected / path)
    digest, files = tree_hash(expected)
    entry = RealSet(name, "samples", CATALOGUE[name].revision, CATALOGUE[name].licence, "", digest, files)
    return entry, listed


def checkout(root: Path, name: str, files: dict[str, bytes]) -> Path:
    """A folder holding the set's repository (these files of it) the way `git clone` names it."""
    repo = root / DERIVATIONS[name].repository.split("/")[1]
    for path, data in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)
    return repo


def test_a_set_is_built_from_a_checkout_folder_with_its_licence(tmp_path: Path) -> None:
    name = "hands-webcam-rooms"
    expected, listed = small_set(name, tmp_path, extra=("LICENSE",))
    samples = sample_files(name)
    checkout(tmp_path / "sources", name, {**samples, "LICENSE": (SHARED / name / "LICENSE").read_bytes()})
    built = build(name, str(tmp_path / "sources"), tmp_path / "sets", progress=False, expected=expected, listed=listed)
    assert (built / "LICENSE").read_bytes() == (SHARED / name / "LICENSE").read_bytes()
    assert "Apache-2.0" in (built / "SOURCE.md").read_text()
    for path, data in samples.items():
        relative, _ = derive(name, path, data)
        assert (built / relative).read_bytes() == (SHARED / name / relative).read_bytes()
    assert [p.name for p in (tmp_path / "sets").iterdir()] == [name]  # no partial left


def host_archive(root: Path, name: str, samples: dict[str, bytes]) -> None:
    """`OWNER/REPO/archive/COMMIT.tar.gz` as the host serves it: everything under `REPO-COMMIT/`."""
    owner_repo = DERIVATIONS[name].repository
    commit = CATALOGUE[name].revision
    target = root / owner_repo / "archive" / f"{commit}.tar.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as archive:
        for path, data in samples.items():
            info = tarfile.TarInfo(f"{owner_repo.split('/')[1]}-{commit}/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_from_a_host_archive_then_an_altered_and_a_missing_original_each_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "real-hands-epsrc-set1"
    expected, listed = small_set(name, tmp_path)
    samples = sample_files(name)
    host_archive(tmp_path / "host", name, samples)
    with static_server(tmp_path / "host") as url:
        built = build(name, url, tmp_path / "sets", progress=False, expected=expected, listed=listed)
        assert tree_hash(built) == (expected.tree_hash, expected.files)
        assert "CC BY-SA 4.0" in (built / "SOURCE.md").read_text()

        altered = dict(samples)
        first = sorted(altered)[0]
        altered[first] = altered[first][:-1] + b"\x00"
        host_archive(tmp_path / "host", name, altered)
        into = tmp_path / "altered"
        with pytest.raises(DatasetError) as error:
            build(name, url, into, progress=False, expected=expected, listed=listed)
        assert str(error.value).startswith(f"{name}: {first} has sha256 ")
        assert "nothing was written" in str(error.value)
        assert "\n" not in str(error.value)
        assert not into.exists() or not any(into.iterdir())

        missing = dict(samples)
        gone = sorted(missing)[-1]
        del missing[gone]
        host_archive(tmp_path / "host", name, missing)
        monkeypatch.setattr(fetch, "CATALOGUE", {**CATALOGUE, name: expected})
        monkeypatch.setattr("fingercount.data.from_source.CATALOGUE", {**CATALOGUE, name: expected})
        monkeypatch.setattr("fingercount.data.from_source.originals", lambda _: listed)
        into = tmp_path / "missing"
        args = ["data", "fetch", name, "--from-source", url, "--into", str(into), "-q"]
        code, _, err = run_cli(args, monkeypatch, capsys)
        assert code == 1
        assert err.strip() == f"error: {name}: {gone} is missing from the source; nothing was written"
        assert not into.exists() or not any(into.iterdir())


def test_a_recipe_without_its_sets_names_the_command_that_builds_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.yaml"
    data.write_text(
        "source: {type: synthetic, synthetic: {images: 4}}\n"
        f"extra_sources:\n  - {{type: local, name: people, local: {{path: {tmp_path}/sets/hands-many-people}}}}\n"
        f"output_dir: {tmp_path}/prepared\n"
    )
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"dataset: {{config: {data}}}\ntraining: {{epochs: 1}}\ndevice: cpu\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns.db")
    code, _, err = run_cli(["train", "-t", str(recipe)], monkeypatch, capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert f"fingercount data fetch hands-many-people --from-source github --into {tmp_path}/sets" in err
    assert not (tmp_path / "prepared").exists()
