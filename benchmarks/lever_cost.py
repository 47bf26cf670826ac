"""What each training lever of the leave-out campaign costs a served request, before its runs land:
a lever's serving cost is its architecture and input size, not its weights.

    python benchmarks/lever_cost.py [--requests 100] [--rounds 2]

Each lever's model is registered once (`training.epochs: 0`) in a temporary store and served in
turn, rounds alternated, the baseline (the checkpoint `make demo` serves, YOLO11n at 160 px) first:
- imgsz-224 / imgsz-320: the same weights, exported and served at that size;
- yolo11s: a YOLO11s of 6 classes (untrained: the cost is its layers');
- landmarks: the pose model `model.landmarks` trains, made from the checkpoint (every detection
  layer, the keypoint branch new): served as a detector, its keypoints decoded too;
- landmarks-keypoints: the same pose model served with the head it brings (`count_head: keypoints`,
  the finger rule on each box's own keypoints).
paste-hands and augment-scene change the training data only: they cost what the baseline does.
Prints /predict p50 and p95 (concurrency 1) and WebSocket frames/s on a one-hand 640x480 webcam
photo, each against the baseline, with the `classes` head unless a lever brings its own (a landmark
head adds its own cost: benchmarks/count_heads.py).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from count_heads import CHECKPOINT, COLUMNS, alternated, cells, local_store
from serving import real_frame

# lever -> (architecture, input size, how its weights are made, count head)
LEVERS = {
    "baseline": ("yolo11n", 160, "checkpoint", "classes"),
    "imgsz-224": ("yolo11n", 224, "checkpoint", "classes"),
    "imgsz-320": ("yolo11n", 320, "checkpoint", "classes"),
    "yolo11s": ("yolo11s", 160, "scratch", "classes"),
    "landmarks": ("yolo11n", 160, "pose", "classes"),
    "landmarks-keypoints": ("yolo11n", 160, "pose", "keypoints"),
}


def weights_for(how: str, architecture: str, root: Path) -> str:
    from ultralytics import YOLO

    from fingercount.checkpoints import checkpoint_path
    from fingercount.training.yolo import pose_model

    names = [str(count) for count in range(6)]
    if how == "checkpoint":
        return CHECKPOINT
    if how == "pose":
        model = pose_model(str(checkpoint_path(CHECKPOINT)), architecture, names, root / "pose")
    else:
        import yaml
        from ultralytics.nn.tasks import yaml_model_load

        cfg = yaml_model_load(f"{architecture}.yaml")
        cfg.update(nc=len(names))
        cfg.pop("yaml_file", None)
        (root / f"{architecture}.yaml").write_text(yaml.safe_dump(cfg))
        model = YOLO(str(root / f"{architecture}.yaml"))
    import copy

    import torch

    model.model.names = dict(enumerate(names))
    target = root / f"{how}-{architecture}.pt"
    ckpt = model.ckpt or {}
    train_args = {**(ckpt.get("train_args") or {}), "task": model.task}  # a checkpoint's own says detect
    torch.save({**ckpt, "model": copy.deepcopy(model.model).half(), "ema": None, "train_args": train_args}, target)
    return str(target)


def register_levers(root: Path, levers: list[str]) -> tuple[str, dict[str, str]]:
    """Each lever's model registered as it is in a store under `root`: (URI, lever -> version)."""
    from fingercount.training.trainer import train

    uri, env, base = local_store(root)
    versions = {}
    for lever in levers:
        architecture, size, how, head = LEVERS[lever]
        config = base.model_copy(  # model_copy does not validate: keypoints without model.landmarks is
            # refused in a config (it would label nothing), but this pose model is already made
            update={
                "model": base.model.model_copy(
                    update={"architecture": architecture, "weights": weights_for(how, architecture, root)}
                ),
                "dataset": base.dataset.model_copy(update={"img_size": size}),
                "training": base.training.model_copy(update={"epochs": 0}),
                "export": base.export.model_copy(update={"int8": False}),
                "evaluation": base.evaluation.model_copy(update={"count_head": head}),
                "mlflow": base.mlflow.model_copy(update={"experiment_name": "lever-cost-benchmark"}),
            }
        )
        versions[lever] = str(train(config, env).model_version)
    return uri, versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--levers", default=",".join(LEVERS), help="comma-separated; the baseline is always measured")
    args = parser.parse_args()

    from fingercount.settings import quiet_third_parties

    quiet_third_parties()
    levers = ["baseline", *(lever for lever in args.levers.split(",") if lever != "baseline")]
    unknown = sorted(set(levers) - set(LEVERS))
    if unknown:
        parser.error(f"unknown lever(s) {', '.join(unknown)}; choose from {', '.join(LEVERS)}")
    image = real_frame()
    work = Path(tempfile.mkdtemp(prefix="fc-lever-bench-"))
    uri, versions = register_levers(work, levers)
    medians = alternated(uri, work, versions, image, args.requests, args.rounds)
    shutil.rmtree(work, ignore_errors=True)

    print(f"lever cost: one-hand webcam photo at 640x480, {args.requests} requests x {args.rounds} rounds, medians")
    print(f"{'lever':<20} {'model, head':<26} {COLUMNS}")
    for lever in levers:
        architecture, size, how, head = LEVERS[lever]
        model = f"{architecture}{'-pose' if how == 'pose' else ''}@{size} {head}"
        print(f"{lever:<20} {model:<26} {cells(medians[lever], medians['baseline'])}")
    print("paste-hands and augment-scene: the baseline's model (they change the training data only)")


if __name__ == "__main__":
    main()
