from __future__ import annotations

import os
from pathlib import Path

import pytest

from fingercount.settings import Settings, quiet_third_parties


def test_third_parties_are_quiet() -> None:
    quiet_third_parties()
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert os.environ["YOLO_OFFLINE"] == "true"
    assert os.environ["YOLO_AUTOINSTALL"] == "false"


def test_embedded_store_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("FINGERCOUNT_HOME", str(tmp_path))
    settings = Settings(_env_file=None)
    assert settings.tracking_uri() == f"sqlite:///{tmp_path / 'mlruns.db'}"
    assert settings.artifact_location() == (tmp_path / "mlartifacts").as_uri()


def test_server_decides_artifacts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    monkeypatch.setenv("MODEL_STAGE", "Production")
    settings = Settings(_env_file=None)
    assert settings.tracking_uri() == "http://mlflow:5000"
    assert settings.artifact_location() is None
    assert settings.model_stage == "Production"


def test_home_variable_does_not_move_the_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FINGERCOUNT_HOME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("HOME", "/somewhere/else")
    monkeypatch.chdir(tmp_path)
    assert Settings(_env_file=None).tracking_uri() == f"sqlite:///{tmp_path / 'mlruns.db'}"


def test_a_bad_environment_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {**os.environ, "INFERENCE_NICE": "25"}
    done = subprocess.run(
        [sys.executable, "-m", "fingercount", "serve", "--port", "1"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: environment (or .env): INFERENCE_NICE: Input should be less than or equal to 19 (got '25')"
    ]
