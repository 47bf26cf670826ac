"""Build the three real sets from their public sources, as the field's dataset definitions do:
each set's repository at its pinned commit (the host's archive of that commit, or a local checkout
or tarball of it), every original the set uses checked against its sha256 (`originals/<set>.sha256`,
the lists shipped beside the catalogue), the copy derived exactly as the set's README says, the
result checked against the catalogue's content hash — and only then moved into place. Any other
outcome is one error line naming the file and the check, and nothing written.

Derivations (byte for byte what the shared copies hold):
- real-hands-epsrc-set1: `Raw_Images/Human/Set1/<count>/*.jpg` -> `<count>/`, resized to 320x240
  with area interpolation, OpenCV JPEG quality 88.
- hands-webcam-rooms: `images/*.jpg` likewise; `images/*.xml` (Pascal VOC) with `<size>` and the
  boxes scaled to 320x240 (rounded), `<path>` removed; the repository's `LICENSE` beside.
- hands-many-people: `data.yaml` and `train/{images,labels}/*` -> `{images,labels}/`, unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import cv2
import numpy as np
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from tqdm import tqdm

from fingercount.data.fetch import ABOUT, CATALOGUE, RealSet, tree_hash
from fingercount.errors import DatasetError, SourceUnavailableError

ORIGINALS = Path(__file__).parent / "originals"
DEFAULT_HOST = "https://github.com"
SIZE = (320, 240)
JPEG_QUALITY = 88


@dataclass(frozen=True)
class Derivation:
    repository: str  # owner/name on the host
    derive: Callable[[str, bytes], tuple[str, bytes] | None]  # original path, bytes -> copy path, bytes


def _resized_jpeg(data: bytes, path: str) -> bytes:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"{path}: not a readable image")
    resized = cv2.resize(image, SIZE, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise DatasetError(f"{path}: could not be encoded as JPEG")
    return bytes(encoded.tobytes())


def _scaled_voc(data: bytes, path: str) -> bytes:
    """The Pascal VOC file with its size and boxes scaled to SIZE and `<path>` removed, otherwise as written."""
    try:
        root = defused_fromstring(data)
        width, height = (float(root.findtext(f"size/{key}") or "nan") for key in ("width", "height"))
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable Pascal VOC file ({exc})") from None
    sx, sy = SIZE[0] / width, SIZE[1] / height
    for element in root.findall("path"):
        root.remove(element)
    for key, value in (("width", SIZE[0]), ("height", SIZE[1])):
        for element in root.iterfind(f"size/{key}"):
            element.text = str(value)
    for box in root.iter("bndbox"):
        for key, scale in (("xmin", sx), ("ymin", sy), ("xmax", sx), ("ymax", sy)):
            for element in box.iterfind(key):
                element.text = str(round(float(element.text or "nan") * scale))
    return ET.tostring(root, encoding="unicode").encode()


def _epsrc(path: str, data: bytes) -> tuple[str, bytes] | None:
    found = re.fullmatch(r"Raw_Images/Human/Set1/([1-5])/([^/]+\.jpg)", path)
    return (f"{found[1]}/{found[2]}", _resized_jpeg(data, path)) if found else None


def _rooms(path: str, data: bytes) -> tuple[str, bytes] | None:
    if path == "LICENSE":
        return path, data
    if re.fullmatch(r"images/[^/]+\.jpg", path):
        return path, _resized_jpeg(data, path)
    if re.fullmatch(r"images/[^/]+\.xml", path):
        return path, _scaled_voc(data, path)
    return None


def _people(path: str, data: bytes) -> tuple[str, bytes] | None:
    if path == "data.yaml":
        return path, data
    found = re.fullmatch(r"train/((?:images|labels)/[^/]+)", path)
    return (found[1], data) if found else None


DERIVATIONS = {
    "real-hands-epsrc-set1": Derivation("EPSRC-NUMBERS/Human-Robot_Finger-Counting_Dataset", _epsrc),
    "hands-webcam-rooms": Derivation("SubhiH/HandsDataset", _rooms),
    "hands-many-people": Derivation("dwivedi1997/Hand-Gesture-YOLOv8", _people),
}
# Originals outside the published lists that a copy carries, pinned here (the shared copy's bytes).
EXTRA_ORIGINALS = {
    "hands-webcam-rooms": {"LICENSE": "c71d239df91726fc519c6eb72d318ec65820627232b2f796219e87dcf35d0ab4"},
}


def originals(name: str) -> dict[str, str]:
    """path in the repository -> sha256, for every original file the set is made from."""
    listed: dict[str, str] = {}
    for line in (ORIGINALS / f"{name}.sha256").read_text().splitlines():
        digest, path = line.split("  ", 1)
        listed[path] = digest
    return {**listed, **EXTRA_ORIGINALS.get(name, {})}


def derive(name: str, path: str, data: bytes) -> tuple[str, bytes]:
    """One original (its path in the repository) -> (its path in the set, its bytes)."""
    derived = DERIVATIONS[name].derive(path, data)
    if derived is None:
        raise DatasetError(f"{name}: {path} is not a file this set is made from")
    return derived


# --------------------------------------------------------------------------- reading a source


def archive_url(host: str, name: str) -> str:
    """The host's archive of the set's repository at its pinned commit (GitHub's layout)."""
    return f"{host.rstrip('/')}/{DERIVATIONS[name].repository}/archive/{CATALOGUE[name].revision}.tar.gz"


@contextmanager
def source_files(name: str, source: str, progress: bool = True) -> Iterator[Callable[[str], bytes | None]]:
    """A reader of the repository's files at the pinned commit: a folder holding a checkout
    (`<repo>/` or `<repo>-<commit>/`), a tarball (`<repo>*.tar.gz`, in that folder or given), or an
    http(s) host serving `OWNER/REPO/archive/COMMIT.tar.gz` (github.com by default)."""
    repo = DERIVATIONS[name].repository.split("/")[1]
    if "://" in source:
        with tempfile.TemporaryDirectory(prefix="fingercount-source-") as scratch:
            archive = Path(scratch) / f"{repo}.tar.gz"
            _download(archive_url(source, name), archive, progress)
            with _tar_reader(archive, name) as read:
                yield read
        return
    where = Path(source)
    checkout = next((d for d in (where / repo, where / f"{repo}-{CATALOGUE[name].revision}") if d.is_dir()), None)
    if checkout is not None:
        yield lambda path: (checkout / path).read_bytes() if (checkout / path).is_file() else None
        return
    tarballs = [where] if where.is_file() else sorted(where.glob(f"{repo}*.tar.gz")) if where.is_dir() else []
    if not tarballs:
        raise SourceUnavailableError(
            f"{where}: no checkout ({repo}/ or {repo}-<commit>/) or tarball ({repo}*.tar.gz) of "
            f"{DERIVATIONS[name].repository} @ {CATALOGUE[name].revision[:12]} there"
        )
    with _tar_reader(tarballs[0], name) as read:
        yield read


@contextmanager
def _tar_reader(archive: Path, name: str) -> Iterator[Callable[[str], bytes | None]]:
    """Reads the wanted members in one pass (a host's archive puts everything under one top folder)."""
    wanted = set(originals(name))
    found: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                inner = member.name.split("/", 1)[1] if "/" in member.name else member.name
                if inner in wanted:
                    handle: IO[bytes] | None = tar.extractfile(member)
                    found[inner] = handle.read() if handle is not None else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetError(f"{archive.name}: not a readable archive ({exc}); nothing was written") from None
    yield found.get


def _download(url: str, to: Path, progress: bool) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, to.open("wb") as out:  # noqa: S310
            total = int(response.headers.get("Content-Length") or 0) or None
            desc = f"downloading {to.name}"
            with tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        raise SourceUnavailableError(f"{url}: the host answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceUnavailableError(f"{url}: the host cannot be reached ({reason})") from None


# --------------------------------------------------------------------------- building


def build(
    name: str, source: str, into: Path, progress: bool = True, expected: RealSet | None = None,
    listed: dict[str, str] | None = None,
) -> Path:  # fmt: skip
    """Build `into/<name>` from its public source; see the module's docstring. `expected` and
    `listed` replace the catalogue's entry and the originals' list (a test's small set)."""
    wanted = expected or CATALOGUE.get(name)
    if wanted is None or name not in DERIVATIONS:
        raise DatasetError(f"unknown set {name!r}; the sets are {', '.join(CATALOGUE)}")
    target = into / name
    if target.exists():
        return target  # already there (`data fetch --check` checks it), never overwritten
    listed = listed if listed is not None else originals(name)
    partial = into / f".{name}.partial"
    try:
        with source_files(name, source, progress) as read:
            into.mkdir(parents=True, exist_ok=True)  # only once the source is there: a failure leaves no folder
            shutil.rmtree(partial, ignore_errors=True)
            bar = tqdm(sorted(listed.items()), desc=f"deriving {name}", unit="file", disable=not progress)
            for path, digest in bar:
                data = read(path)
                if data is None:
                    raise DatasetError(f"{name}: {path} is missing from the source; nothing was written")
                found = hashlib.sha256(data).hexdigest()
                if found != digest:
                    raise DatasetError(
                        f"{name}: {path} has sha256 {found[:12]}…, not the pinned {digest[:12]}… "
                        "(a changed original or another revision); nothing was written"
                    )
                relative, derived = derive(name, path, data)
                out = partial / relative
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(derived)
        digest, files = tree_hash(partial)
        if (digest, files) != (wanted.tree_hash, wanted.files):
            raise DatasetError(
                f"{name}: the derived copy does not match the catalogue ({files} files, sha256 {digest[:12]}…; "
                f"expected {wanted.files}, {wanted.tree_hash[:12]}…): the derivation here (OpenCV's resize and JPEG "
                "encoder, the XML rewrite) differs from the one the set was made with; nothing was written"
            )
        (partial / ABOUT).write_text(about(wanted))
        os.replace(partial, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def about(entry: RealSet) -> str:
    return (
        f"# {entry.name}\n\nLicence: {entry.licence}.\nSource: {entry.source} @ {entry.revision}.\n"
        f"Changes: {entry.changes}.\nBuilt by `fingercount data fetch --from-source`; what is derived from these "
        "files and published must carry the licence and this attribution.\n"
    )
