"""What a killed attempt at a campaign run leaves to go on from: a KILLED MLflow run with the same
settings and a checkpoint that loads. Ultralytics' results.csv counts each attempt's seconds from
that attempt's start, so the minutes a resumed run reports add the attempts."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from mlflow import MlflowClient

from fingercount.training import campaign
from fingercount.training.trainer import TrainEnvironment

REPO = Path(__file__).resolve().parents[3]


def test_the_epochs_and_seconds_of_every_attempt_are_added(tmp_path: Path) -> None:
    csv = tmp_path / "results.csv"
    assert campaign.trained_epochs(csv) == (0, 0.0)  # killed before its first epoch: nothing to go on from
    csv.write_text("epoch,time,metrics/mAP50(B)\n")
    assert campaign.trained_epochs(csv) == (0, 0.0)
    # Three epochs, killed; resumed from the fourth (its clock from 0 again), killed after the fifth.
    csv.write_text("epoch,time,metrics/mAP50(B)\n1,70,0.1\n2,140,0.2\n3,215,0.3\n4,80,0.35\n5,150,0.4\n")
    assert campaign.trained_epochs(csv) == (5, 365.0)


def test_only_a_killed_run_with_the_same_settings_and_a_whole_checkpoint_is_gone_on_from(tmp_path: Path) -> None:
    stage = REPO / "configs/test_config.yaml"
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump({
        "stages": [str(stage)], "sources": ["other"], "seeds": [1], "results": str(tmp_path / "results"),
        "checkpoints": str(tmp_path / "checkpoints"),
        "levers": {"baseline": {}, "flip": {"set": {"augmentation.fliplr": 0.0}}},
    }))  # fmt: skip
    plan = campaign.load_plan(plan_file)
    baseline, flip = campaign.planned_runs(plan)
    env = TrainEnvironment(f"sqlite:///{tmp_path / 'mlruns.db'}", experiments_dir=tmp_path / "experiments")
    assert campaign.killed_attempt(plan, baseline, env) is None  # no experiment yet

    client = MlflowClient(env.tracking_uri)
    experiment = client.create_experiment("fingercount-tests" + campaign.EXPERIMENT_SUFFIX)

    def killed(run: campaign.PlannedRun, config_hash: str, checkpoint: bytes | None) -> str:
        found = client.create_run(experiment, run_name=run.key, tags={campaign.CONFIG_TAG: config_hash})
        client.set_terminated(found.info.run_id, "KILLED")
        folder = env.experiments_dir / "fingercount-tests-leave-out" / found.info.run_id
        (folder / "weights").mkdir(parents=True)
        (folder / "results.csv").write_text("epoch,time\n1,60\n2,120\n")
        if checkpoint is not None:
            (folder / "weights/last.pt").write_bytes(checkpoint)
        return found.info.run_id

    whole = tmp_path / "whole.pt"
    torch.save({"epoch": 1}, whole)
    killed(baseline, "0123456789abcdef", whole.read_bytes())  # other settings
    killed(baseline, campaign.config_hash(campaign.stage_config(plan, baseline)), None)  # no checkpoint
    killed(baseline, campaign.config_hash(campaign.stage_config(plan, baseline)), whole.read_bytes()[:100])  # cut short
    assert campaign.killed_attempt(plan, baseline, env) is None
    assert campaign.killed_attempt(plan, flip, env) is None
    good = killed(baseline, campaign.config_hash(campaign.stage_config(plan, baseline)), whole.read_bytes())
    assert campaign.killed_attempt(plan, baseline, env) == campaign.Attempt(good, 2, 2.0)
    assert campaign.killed_attempt(plan, flip, env) is None  # the lever's settings differ
