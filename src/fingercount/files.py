"""Filesystem helpers: image files in a folder, and folders built aside then moved in place
(a crash or bad input never leaves a half-written one)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def image_files(folder: Path) -> list[Path]:
    """Every image file under `folder` (by suffix), sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


@contextmanager
def built_aside(out: Path) -> Iterator[Path]:
    """A fresh `<out>.partial` folder to build in; it replaces `out` only if the block succeeds."""
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_dir(built: Path, out: Path) -> None:
    """Move the finished folder `built` over `out`."""
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    built.rename(out)
