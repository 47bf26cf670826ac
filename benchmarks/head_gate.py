"""Would a count head ship? The checkpoint `make demo` serves, registered as it is twice with the
demo's own config and data — once with the `classes` head (what it served before), once with the
candidate head — each evaluated exactly as served on the demo's held-out sets; then the registry's
real promotion gate (McNemar's paired test, per set and over all of them) decides between them.

    python benchmarks/head_gate.py [--head sure+photo] [--config configs/demo_config.yaml]

The threshold of a head that keeps the detector's class where it is sure (`arbitrated`,
`sure+photo`) is `--sure`, or else chosen on the val split's real photos as the campaign chooses it
(the one that counts most of them right by the arbitrated rule, ties to the higher) — printed either
way; never chosen on the held-out sets it is gated on.

Issue 39 ships a head that won the leave-out campaign only if no held-out set gets worse beyond
noise; the gate's answer (and each set's paired counts) says whether it does. Needs the shared real
sets (../shared/datasets) and the `label` extra; prepares the demo's data once (cached).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serving import REPO

ALIAS = "production"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--head", default="sure+photo")
    parser.add_argument("--config", type=Path, default=REPO / "configs/demo_config.yaml")
    parser.add_argument("--sure", type=float, help="the detector's class at this confidence and above")
    args = parser.parse_args()

    from fingercount.config import load_training_config
    from fingercount.registry import Registry
    from fingercount.registry.paired import compare, outcomes
    from fingercount.settings import quiet_third_parties
    from fingercount.training.trainer import TrainEnvironment, prepare_dataset, train

    quiet_third_parties()
    base = load_training_config(args.config)
    prepared = prepare_dataset(base)
    work = Path(tempfile.mkdtemp(prefix="fc-head-gate-"))
    uri = f"sqlite:///{work / 'mlruns.db'}"
    env = TrainEnvironment(uri, (work / "mlartifacts").as_uri(), model_cache=work / "cache", progress=False)
    registry = Registry(uri, work / "cache")
    name = base.mlflow.registered_model_name
    results, sure = {}, 1.0
    for head in ("classes", args.head):
        evaluation = {"count_head": head, "teacher": head == "classes", "count_sure": sure}
        config = base.model_copy(
            update={
                "training": base.training.model_copy(update={"epochs": 0}),  # the checkpoint as it is
                "evaluation": base.evaluation.model_copy(update=evaluation),
                "mlflow": base.mlflow.model_copy(update={"auto_promote_stage": None}),
            }
        )
        results[head] = train(config, env, config_path=args.config, prepared=prepared)
        if head == "classes":
            sure = val_sure(results[head], prepared.out / "data.yaml")
            print(f"count_sure chosen on the val split's real photos: {sure}; used: {args.sure or sure}")
            sure = args.sure or sure
    current, candidate = (results[head] for head in ("classes", args.head))
    for result in (current, candidate):
        assert result.model_version, "the demo config registers"
        assert result.evaluation, "registering evaluates"
    registry.promote(name, current.model_version, ALIAS, force=True)
    decision = registry.promote(name, candidate.model_version, ALIAS, base.mlflow.promotion_metric)
    before, after = outcomes(current.evaluation.sets), outcomes(candidate.evaluation.sets)
    print(f"{Path(str(base.model.weights)).name}: the classes head (v{current.model_version}) against "
          f"{args.head} (v{candidate.model_version}), counted as served on the demo's held-out sets")  # fmt: skip
    print(f"{'set':<18} {'photos':>6} {'classes':>8} {args.head:>16} {'teacher':>8}  paired (McNemar)")
    metrics = current.evaluation.metrics
    for set_name in sorted(before):
        paired = compare(before[set_name], after[set_name])
        teacher = metrics.get(f"eval/{set_name}/teacher/count_accuracy", float("nan"))
        print(
            f"{set_name:<18} {paired.photos:>6} {metrics[f'eval/{set_name}/count_accuracy']:>8.1%} "
            f"{candidate.evaluation.metrics[f'eval/{set_name}/count_accuracy']:>16.1%} {teacher:>8.1%}  "
            f"{paired.describe()}, p={paired.p:.3g}"
        )
    print(f"the gate: {'promoted' if decision.promoted else 'kept v' + current.model_version}: {decision.reason}")
    shutil.rmtree(work, ignore_errors=True)


def val_sure(result: Any, data_yaml: Path) -> float:
    """The arbitrated rule's threshold on the val split's real photos, with this version's detector."""
    from fingercount.labeling.teacher import HandTeacher
    from fingercount.training.count_eval import split_truth
    from fingercount.training.count_heads import box_records, choose_sure

    engine, conf = result.package.engine("auto"), result.evaluation.count_conf
    truth = {
        photo: count for photo, count in split_truth(data_yaml, "val").items() if not photo.name.startswith("synthetic")
    }
    with HandTeacher() as teacher:
        records = box_records(engine, list(truth), teacher)
    return choose_sure(records, list(truth.values()), conf)


if __name__ == "__main__":
    main()
