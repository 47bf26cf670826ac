"""The layers of docs/architecture.md as import-linter contracts: kept by the tree, broken by a planted back import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(source_root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(source_root)}
    command = [str(LINT_IMPORTS), "--config", str(REPO / "pyproject.toml"), "--no-cache"]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = lint_imports(REPO / "src", tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "contract"),
    [
        (
            "labeling/verify.py",
            "from fingercount.data.sources.base import SOURCES",
            "The teacher (labeling) never imports data",
        ),
        ("serving/app.py", "from fingercount.training import trainer", "Serving never imports training"),
        ("counting.py", "import fingercount.config", "Layers"),
        ("data/sources/local.py", "from fingercount.data.sources import folders", "No two modules of a package"),
    ],
    ids=["labeling->data", "serving->training", "ground->ground", "local<->folders"],
)
def test_a_planted_back_import_breaks_its_contract(module: str, planted: str, contract: str, tmp_path: Path) -> None:
    copy = tmp_path / "src" / "fingercount"
    shutil.copytree(REPO / "src" / "fingercount", copy, ignore=shutil.ignore_patterns("*.pt", "static", "__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{planted}  # planted by the test\n")
    result = lint_imports(tmp_path / "src", tmp_path)
    assert result.returncode != 0, result.stdout[-3000:]
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout[-3000:]
