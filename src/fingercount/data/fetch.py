"""The real-photo sets a cloned repository does not have: where each comes from, and fetching a
copy into the layout the recipes read (`../shared/datasets/<name>/`), checked by its content hash.

Each set's public source, licence and exact revision are named in `CATALOGUE`. The copies the
recipes were trained on differ from those sources in documented ways (resized, a few files left
out), so what is fetched is such a copy, as an archive (`<name>.tar.gz`, made by `pack`) from a
mirror: an HTTP(S) address or a folder. The check is on the content, not the archive: the sha256
of every file, listed and hashed in path order (`tree_hash`), must equal the catalogue's. A copy is
unpacked beside its place and moved in only once it checks out: nothing half-written, ever.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fingercount.errors import DatasetError, SourceUnavailableError


@dataclass(frozen=True)
class RealSet:
    name: str
    source: str  # the public repository, at `revision`, and the path in it
    revision: str
    licence: str
    changes: str  # what the copy changes from the source
    tree_hash: str  # sha256 over "sha256  path" lines of the copy's files, in path order
    files: int


CATALOGUE = {
    s.name: s
    for s in (
        RealSet(
            "real-hands-epsrc-set1",
            "github EPSRC-NUMBERS/Human-Robot_Finger-Counting_Dataset, Raw_Images/Human/Set1/<count>/",
            "94e7f61a848bcc85035fe91b6592c73d08abdccb",
            "CC BY-SA 4.0 (Davies et al., 2021, Frontiers in Neurorobotics 15:619504)",
            "resized 640x480 -> 320x240 (area), JPEG quality 88",
            "56018e77c5ace62d2f52e7a80661b7e3156c65f2947fa1866945fd0d18a431e5",
            1439,
        ),
        RealSet(
            "hands-webcam-rooms",
            "github SubhiH/HandsDataset, images/ (frames + Pascal VOC XML)",
            "73228cb5ba6a8d454663aa9873157862b69a1c4c",
            "Apache-2.0 (Soubhi Hadri; LICENSE in the folder)",
            "12 Hand_* photos removed; resized 800x600 -> 320x240, boxes scaled; <path> removed",
            "9a643fa9dd05a3cfea26c1654b5725cba301b6871ad8dfe842ee1ed03eafbc83",
            3091,
        ),
        RealSet(
            "hands-many-people",
            "github dwivedi1997/Hand-Gesture-YOLOv8, train/ (Roboflow Universe 'Hand Gesture Recognition' v6)",
            "fd632313b9d74d869f57b11a8b0bb249cbc537ae",
            "CC BY 4.0 (lebanese-university-grkoz on Roboflow Universe)",
            "36 Screenshot-* stock images removed",
            "a6a5351b3d0f60a611e600b80c70751aefc457ecf0fcc8915b2450b3b1e09115",
            1103,
        ),
    )
}
DEFAULT_INTO = Path("../shared/datasets")
MIRROR_ENV = "FINGERCOUNT_DATA_MIRROR"


ABOUT = "SOURCE.md"  # a built set's licence and attribution note: beside the content, not part of it


def tree_hash(folder: Path) -> tuple[str, int]:
    """(sha256 over the sorted "sha256  relative/path" lines of every file, number of files)."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p != folder / ABOUT):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{digest}  {path.relative_to(folder).as_posix()}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest(), len(lines)


def pack(folder: Path, out: Path) -> Path:
    """`folder` as `out/<name>.tar.gz` for a mirror: files in path order, no owners or times."""
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{folder.name}.tar.gz"
    with tarfile.open(target, "w:gz") as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = archive.gettarinfo(str(path), arcname=path.relative_to(folder).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            with path.open("rb") as handle:
                archive.addfile(info, handle)
    return target


def fetch(name: str, mirror: str, into: Path, expected: RealSet | None = None) -> Path:
    """Download `<mirror>/<name>.tar.gz`, unpack it beside `into/<name>`, check its content hash,
    then move it in place. Any failure: one DatasetError line, and nothing left behind."""
    wanted = expected or CATALOGUE.get(name)
    if wanted is None:
        raise DatasetError(f"unknown set {name!r}; the sets are {', '.join(CATALOGUE)}")
    target = into / name
    if target.exists():
        return target  # already there (checked with `--check`, never overwritten)
    data = _download(f"{mirror.rstrip('/')}/{name}.tar.gz")
    into.mkdir(parents=True, exist_ok=True)
    partial = into / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        _unpack(data, partial, name)
        found, files = tree_hash(partial)
        if (found, files) != (wanted.tree_hash, wanted.files):
            raise DatasetError(
                f"{name}: the content does not match the catalogue ({files} files, sha256 {found[:12]}…; expected "
                f"{wanted.files} files, {wanted.tree_hash[:12]}…): a changed or corrupt copy; nothing was written"
            )
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def check(name: str, into: Path) -> bool:
    """Whether `into/<name>` holds exactly the catalogue's copy."""
    wanted = CATALOGUE[name]
    folder = into / name
    return folder.is_dir() and tree_hash(folder) == (wanted.tree_hash, wanted.files)


def _download(url: str) -> bytes:
    if "://" not in url:
        path = Path(url)
        if not path.is_file():
            raise SourceUnavailableError(f"{path}: no such file on the mirror")
        return path.read_bytes()
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310  (http(s) or file by choice)
            return bytes(response.read())
    except urllib.error.HTTPError as exc:
        raise SourceUnavailableError(f"{url}: the mirror answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceUnavailableError(f"{url}: the mirror cannot be reached ({reason})") from None


def _unpack(data: bytes, folder: Path, name: str) -> None:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(folder, filter="data")  # no absolute paths, links out or devices
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetError(f"{name}.tar.gz: not a readable archive ({exc}); nothing was written") from None


def missing_sets(paths: list[Path]) -> str | None:
    """One line naming the command that builds each catalogue set among `paths` that is not there."""
    missing = [path for path in paths if path.name in CATALOGUE and not path.exists()]
    if not missing:
        return None
    names = " ".join(path.name for path in missing)
    into = missing[0].parent
    return (
        f"{', '.join(str(p) for p in missing)}: not here. Build from the public sources: "
        f"fingercount data fetch {names} --from-source github --into {into} (offline: --from-source DIR with the "
        "repositories checked out at their commits; or a copy from a mirror: --from MIRROR)"
    )


def licences(description: dict[str, object]) -> dict[str, RealSet]:
    """The catalogue sets a prepared dataset was made from (its manifest's `source`), by part name."""
    parts = description.get("parts")
    found = {}
    for part, about in (parts if isinstance(parts, dict) else {"source": description}).items():
        if not isinstance(about, dict):
            continue
        named = about.get("path_name") or Path(str(about.get("path", ""))).name
        if named in CATALOGUE:
            found[str(part)] = CATALOGUE[str(named)]
    return found
