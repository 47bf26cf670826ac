"""Checkpoints shipped with fingercount, the way Ultralytics ships `yolo11n.pt` (which cannot be
downloaded here): `model.weights: NAME` starts a training from one.

Each is `NAME.pt` with `NAME.json` beside it — its card: what made it (command, config, data and
their licences), its figures on every held-out set, and the sha256 the weights must have. The
human-readable model card is README.md in this folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from fingercount.errors import ConfigError

FOLDER = Path(__file__).parent


def shipped() -> list[str]:
    """The names of the shipped checkpoints."""
    return sorted(card.name.removesuffix(".json") for card in FOLDER.glob("*.json"))


def card(name: str) -> dict[str, Any]:
    path = FOLDER / f"{name}.json"
    if not path.is_file():
        listed = ", ".join(shipped()) or "none"
        raise ConfigError(f"no shipped checkpoint named {name!r} (shipped: {listed})")
    result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return result


def checkpoint_path(name: str) -> Path:
    """The weights of shipped checkpoint `name`, checked against the sha256 on its card."""
    expected = card(name)["sha256"]
    path = FOLDER / f"{name}.pt"
    if not path.is_file():
        raise ConfigError(f"shipped checkpoint {name}: {path} is missing; reinstall fingercount")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise ConfigError(f"shipped checkpoint {name}: sha256 {digest[:12]}… is not its card's {expected[:12]}…")
    return path
