"""The teach loop's training: fine-tune a registered version on a collection plus the base data.

A collection (frames a user showed the dashboard, boxed by the teacher) joins the teach config's
own data as one more source named `collection`; its frames are split by take, so its held-out
part (`eval/collection/…`) holds takes the model never saw. The new version is gated on that
held-out accuracy and promoted to the alias the server serves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fingercount.config import (
    DataConfig,
    EvalSetConfig,
    LocalSourceConfig,
    SourceConfig,
    TrainingConfig,
    load_data_config,
)
from fingercount.data.collections import check_name
from fingercount.errors import DatasetError
from fingercount.registry.versions import PromotionDecision
from fingercount.training.trainer import TrainEnvironment, TrainResult, prepare_dataset, train

SOURCE = "collection"
GATE = f"eval/{SOURCE}/count_accuracy"


def teach_configs(
    base: TrainingConfig,
    collection: Path,
    model_name: str,
    parent: str | None = None,
    epochs: int | None = None,
) -> tuple[TrainingConfig, DataConfig]:
    """The training and data configs of one teach job: the base ones plus the collection."""
    name = check_name(collection.name)
    if not (collection / "data.yaml").is_file():
        raise DatasetError(f"{collection}: no such collection (no data.yaml)")
    data = load_data_config(base.dataset.config)
    own = SourceConfig(type="local", name=SOURCE, local=LocalSourceConfig(path=collection, sequences=True))
    data = data.model_copy(
        update={"extra_sources": [*data.extra_sources, own], "output_dir": data.output_dir.parent / f"teach-{name}"}
    )
    sets = {**base.evaluation.sets, SOURCE: EvalSetConfig(split="test", source=SOURCE)}
    training = base.training if epochs is None else base.training.model_copy(update={"epochs": epochs})
    config = base.model_copy(
        update={
            "model": base.model.model_copy(update={"weights": parent}) if parent else base.model,
            "training": training,
            "evaluation": base.evaluation.model_copy(update={"sets": sets}),
            # The caller promotes to the serving alias itself, gated on the collection's held-out takes.
            "mlflow": base.mlflow.model_copy(
                update={
                    "registered_model_name": model_name,
                    "auto_register": True,
                    "auto_promote_stage": None,
                    "promotion_metric": GATE,
                }
            ),
        }
    )
    return config, data


def teach(
    base: TrainingConfig,
    collection: Path,
    env: TrainEnvironment,
    model_name: str,
    alias: str,
    parent: str | None = None,
    epochs: int | None = None,
) -> tuple[TrainResult, PromotionDecision]:
    """Prepare (the collection as a content-hashed dataset version), fine-tune, register, gate, promote."""
    from fingercount.registry import Registry

    config, data = teach_configs(base, collection, model_name, parent, epochs)
    env.tell("preparing")
    prepared = prepare_dataset(config, env.progress, data)
    test = prepared.manifest["splits"]["test"]["images"]
    if not any(name.startswith(f"{SOURCE}__") for name in _test_images(prepared.out)):
        raise DatasetError(
            f"none of the collection's frames was held out for testing ({test} test images in all): collect "
            "at least 4 takes of each count (release the key and move a little between takes)"
        )
    result = train(config, env, prepared=prepared)
    assert result.model_version is not None, "teach registers the model"
    env.tell("promoting", version=result.model_version)
    decision = Registry(env.tracking_uri, env.model_cache).promote(model_name, result.model_version, alias, GATE)
    return result, decision


def _test_images(prepared: Path) -> list[str]:
    return [p.name for p in (prepared / "images" / "test").iterdir()] if (prepared / "images" / "test").is_dir() else []


class ProgressFile:
    """JSON lines for the server watching the job: one per phase and per epoch."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, event: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(event) + "\n")
