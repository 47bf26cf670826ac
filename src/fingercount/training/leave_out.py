"""People it has never met, measured inside the project: train a recipe without one real source,
then count *all* of that source's photos, the model beside the hand-landmark teacher.

The final model still trains on everything; this measure is what recipes are chosen by (it says
how a recipe does on a person, or rooms, it never saw), over several training seeds.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fingercount.config import DataConfig, TrainingConfig, load_data_config, without_sources
from fingercount.counting import finger_count
from fingercount.errors import ConfigError
from fingercount.training.count_eval import CountReport, _photo_id, model_counts, report, split_truth, teacher_counts
from fingercount.training.count_heads import Box, box_records
from fingercount.training.trainer import TrainEnvironment, train


def source_truth(data: DataConfig, name: str, checked: bool = True) -> dict[Path, int]:
    """Every usable photo of one source with its finger count, as that source labels it (class names
    mapped to counts, teacher-checked where the source says so; photos it leaves out stay out).
    `checked=False`: every photo, unchecked (the check leaves photos out; it never relabels here)."""
    from fingercount.data.sources import source_from_config

    spec = next((s for s in data.extra_sources if s.label == name), None)
    if spec is None:
        raise ConfigError(f"no real source named {name!r}; the recipe's are {real_sources(data)}")
    if not checked:
        spec = spec.model_copy(update={"verify": "none"})
    dataset = source_from_config(DataConfig(source=spec, raw_dir=data.raw_dir)).load(progress=False)
    truth: dict[Path, int] = {}
    for sample in dataset.samples:
        if sample.boxes is None or sample.problem is not None:
            continue
        counts = [finger_count(dataset.class_names[box.class_id]) for box in sample.boxes]
        if counts and all(count is not None for count in counts):
            truth[sample.image] = sum(c for c in counts if c is not None)
    return truth


def real_sources(data: DataConfig) -> list[str]:
    return [source.label for source in data.extra_sources]


@dataclass
class LeftOut:
    source: str
    seed: int
    run_id: str
    photos: int
    model: CountReport
    teacher: CountReport | None
    weights: Path | None = None  # the run's best.pt (a later stage may start from it)
    minutes: float = 0.0  # training, evaluation and counting, wall clock
    count_conf: float = 0.0
    # With `boxes=True`: each photo's truth and boxes (count_heads.Box), of the left-out source
    # and of the other sources' val split (where a head's rule is chosen, never on the left-out one).
    boxes: dict[str, dict[str, tuple[int, list[Box]]]] = field(default_factory=dict)
    teacher_photos: dict[str, int] = field(default_factory=dict)  # with `boxes`: the teacher's count per photo

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "seed": self.seed, "run_id": self.run_id, "photos": self.photos,
            "model": self.model.to_dict(), "teacher": None if self.teacher is None else self.teacher.to_dict(),
            "minutes": round(self.minutes, 2), "count_conf": self.count_conf,
        }  # fmt: skip


def leave_out(
    config: TrainingConfig,
    name: str,
    seed: int,
    env: TrainEnvironment,
    work: Path,
    with_teacher: bool = True,
    start: Path | None = None,
    boxes: bool = False,
    resume: str | None = None,
) -> LeftOut:
    """Train `config` without source `name` (split and training seed `seed`), then count all of that source.

    `start`: a checkpoint that never saw `name` (an earlier stage's run without it) to train from,
    in place of the config's `model.weights` — which saw every source, so is refused here.
    `boxes`: also record every photo's boxes with their landmark counts (the count heads' input).
    `resume`: the id of a killed run of this same training: it goes on from its last checkpoint, in it.
    """
    began = time.monotonic()
    data = load_data_config(config.dataset.config)
    if name not in real_sources(data):
        sources = ", ".join(real_sources(data))
        raise ConfigError(f"no real source named {name!r} in {config.dataset.config}; its real sources are {sources}")
    if start is not None:
        config = config.model_copy(update={"model": config.model.model_copy(update={"weights": str(start)})})
    elif config.model.weights is not None:
        raise ConfigError(
            f"the recipe starts from {config.model.weights}, which was trained with {name!r}: leaving {name!r} out "
            "needs a start that never saw it (the earlier stage trained without it)"
        )
    reduced, reduced_data = without_sources(config, data, {name})
    folder = work / f"without-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    reduced_data = reduced_data.model_copy(update={"output_dir": folder / "prepared"})
    data_path = folder / "data.yaml"
    data_path.write_text(yaml.safe_dump(reduced_data.model_dump(mode="json", exclude_none=True)))
    reduced = reduced.model_copy(
        update={
            # The seed of the split and of the training (Ultralytics' `seed`): one run of the recipe.
            "dataset": reduced.dataset.model_copy(update={"config": data_path, "seed": seed}),
            "mlflow": reduced.mlflow.model_copy(
                update={"experiment_name": f"{config.mlflow.experiment_name}-leave-out", "auto_register": False}
            ),
        }
    )
    result = train(reduced, env, evaluate=True, resume=resume)
    assert result.package is not None, "evaluate=True packages"
    assert result.evaluation is not None, "evaluate=True evaluates"
    truth = source_truth(data, name)
    photos, true = list(truth), list(truth.values())
    engine = result.package.engine("auto")
    conf = result.evaluation.count_conf
    ours = report(true, model_counts(engine, photos, conf))
    judged = teacher_counts(photos) if with_teacher else []
    teacher = report(true, judged) if with_teacher else None
    found = LeftOut(name, seed, result.run_id, len(photos), ours, teacher, result.weights, count_conf=conf)
    if boxes:
        common = photo_root(photos)
        found.boxes = {"left_out": _with_boxes(engine, truth, common)}
        found.teacher_photos = {_photo_id(photo, common): count for photo, count in zip(photos, judged, strict=False)}
        prepared = reduced_data.output_dir / "data.yaml"
        for other in real_sources(reduced_data):
            found.boxes[f"val/{other}"] = _with_boxes(engine, split_truth(prepared, "val", other), prepared.parent)
    found.minutes = (time.monotonic() - began) / 60
    return found


def photo_root(photos: list[Path]) -> Path:
    """The folder a source's photo ids (in results and records) are relative to."""
    return Path(os.path.commonpath([photo.resolve() for photo in photos]))


def _with_boxes(engine: Any, truth: dict[Path, int], root: Path) -> dict[str, tuple[int, list[Box]]]:
    from fingercount.labeling.teacher import HandTeacher

    with HandTeacher() as teacher:
        records = box_records(engine, truth, teacher)
    together = zip(truth.items(), records, strict=True)
    return {_photo_id(photo, root): (count, boxes) for (photo, count), boxes in together}


def summary(results: list[LeftOut]) -> dict[str, dict[str, float]]:
    """Per left-out source: the model's mean accuracy over seeds, its spread (max - min), the teacher's."""
    by_source: dict[str, list[LeftOut]] = {}
    for result in results:
        by_source.setdefault(result.source, []).append(result)
    found = {}
    for name, runs in by_source.items():
        accuracies = [run.model.accuracy for run in runs]
        teacher = [run.teacher.accuracy for run in runs if run.teacher is not None]
        found[name] = {
            "seeds": float(len(runs)),
            "model_mean": statistics.fmean(accuracies),
            "model_spread": max(accuracies) - min(accuracies),
            "no_hand_mean": statistics.fmean(run.model.no_hand for run in runs),
            **({"teacher": statistics.fmean(teacher)} if teacher else {}),
        }
    return found
