"""The leave-one-source-out measure on a tiny recipe: trained without a source, all of it counted,
the model beside the teacher, per count, with the share of photos where no hand was found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fingercount.config import SyntheticSourceConfig
from fingercount.data.sources.synthetic import write_synthetic
from tests.conftest import run_cli
from tests.workspace import Workspace

pytestmark = pytest.mark.slow


def test_leave_out_counts_all_of_the_left_out_source(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(workspace.root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", workspace.tracking_uri)
    other = write_synthetic(tmp_path / "other", SyntheticSourceConfig(images=12, seed=7, img_size=128), progress=False)
    data = yaml.safe_load(Path("configs/test_config_data.yaml").read_text())
    data["extra_sources"] = [{"type": "local", "name": "other", "local": {"path": str(other)}}]
    data["output_dir"] = str(tmp_path / "prepared")
    (tmp_path / "data.yaml").write_text(yaml.safe_dump(data))
    config = yaml.safe_load(Path("configs/test_config.yaml").read_text())
    config["dataset"]["config"] = str(tmp_path / "data.yaml")
    config["training"]["epochs"] = 1
    config["training"]["source_weights"] = {"other": 2}  # dropped with the source it names
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(config))
    report = tmp_path / "leave-out.json"
    args = ["leave-out", "-t", str(tmp_path / "recipe.yaml"), "--seed", "1", "--seed", "2",
            "--work", str(tmp_path / "work"), "--report", str(report), "-q"]  # fmt: skip
    code, printed, err = run_cli(args, monkeypatch, capsys)
    assert code == 0, err
    lines = [line for line in printed.splitlines() if line.startswith("without other")]
    assert len(lines) == 2, printed
    assert all("12 photos of other; model " in line and ", teacher " in line for line in lines)
    assert "  model    per count " in printed
    assert "  teacher  per count " in printed
    assert "other: model " in printed
    assert "mean over 2 seed(s), spread" in printed
    written = json.loads(report.read_text())
    assert {run["seed"] for run in written["runs"]} == {1, 2}
    assert all(run["model"]["images"] == 12 for run in written["runs"])
    prepared = json.loads((tmp_path / "work/without-other/prepared/manifest.json").read_text())
    names = [name for split in prepared["splits"].values() for name in split.get("files", [])]
    assert not [name for name in names if "other" in str(name)]  # never trained (nor validated) on it
