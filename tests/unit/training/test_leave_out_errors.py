"""A source the data config does not hold is one line naming the sources it does, before anything runs."""

from __future__ import annotations

import pytest

from tests.conftest import CONFIGS, run_cli


def test_an_unknown_source_names_the_real_sources(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(CONFIGS.parent)  # the recipe names its data config relative to the repository
    args = ["leave-out", "-t", "configs/real_hands.yaml", "--source", "nope", "--seed", "1"]
    code, _, err = run_cli(args, monkeypatch, capsys)
    assert code == 2
    assert err.strip() == (
        "error: no real source named 'nope' in configs/real_hands_data.yaml; its real sources are epsrc, rooms, people"
    )
