"""`--help` reads as prose at any width: each docstring paragraph is one line that Rich wraps to the
terminal (it also keeps a source's own line breaks, which left lines cut short mid-sentence)."""

from __future__ import annotations

import pytest

from fingercount.cli.app import reflowed
from tests.conftest import run_cli


def test_a_paragraph_becomes_one_line_and_bullets_keep_theirs() -> None:
    doc = """First line
    goes on.

    A second paragraph,
      wrapped twice
    here.

    - a bullet
    - another
    """
    assert reflowed(doc) == "First line goes on.\n\nA second paragraph, wrapped twice here.\n\n- a bullet\n- another"


def test_a_long_help_fills_each_line_to_the_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run_cli(["campaign", "run", "--help"], monkeypatch, capsys)
    assert code == 0
    prose = out.split("╭")[0].splitlines()  # the description, before the boxes of arguments and options
    body = [line.rstrip() for line in prose if line.strip() and not line.lstrip().startswith("Usage:")]
    assert len(body) >= 5, out
    # Every line but a paragraph's last is filled to within a word of the width (ragged lines were 60-70).
    paragraph_ends = {i for i, line in enumerate(body) if line.endswith((".", ":", "`"))}
    short = [line for i, line in enumerate(body) if i not in paragraph_ends and len(line) < 66]
    assert not short, out
