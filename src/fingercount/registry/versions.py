"""Registered model versions: promote (gated, by alias), resolve, describe and list, over one MLflow client."""

from __future__ import annotations

import contextlib
import json
import tempfile
import warnings
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fingercount.config import MlflowConfig
from fingercount.errors import ModelNotFoundError, TrackingUnavailableError
from fingercount.registry import paired
from fingercount.registry.locks import is_lock, registry_lock

DEFAULT_GATE_METRIC: str = MlflowConfig.model_fields["promotion_metric"].default
# Aliases are primary; the legacy stage is set too while the installed MLflow still has stages.
LEGACY_STAGES = {"staging": "Staging", "production": "Production"}


@dataclass(frozen=True)
class PromotionDecision:
    name: str
    alias: str
    version: str
    promoted: bool
    reason: str
    metric: str
    new_value: float | None
    current_version: str | None
    current_value: float | None


def _run_metric(client: Any, version: Any, metric: str) -> float | None:
    if not version.run_id:
        return None
    value = client.get_run(version.run_id).data.metrics.get(metric)
    return None if value is None else float(value)


def _version_by_alias(client: Any, name: str, alias: str) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if not _not_found(exc):
            raise _unavailable(exc) from None
        return None


def promote(
    client: Any,
    name: str,
    version: str,
    alias: str,
    metric: str = DEFAULT_GATE_METRIC,
    force: bool = False,
) -> PromotionDecision:
    """Move `alias` to `version` if it is better than the current holder (or `force`): by the paired
    test where both counted the same held-out photos, else by a metric strictly higher (a tie keeps).

    The decision and both figures are written as tags on the candidate version. The read of the
    current holder and the move happen under the registry lock: concurrent promotions see each
    other's result, so the gate always compares against the true holder.
    """
    with registry_lock(client, name):
        return _promote(client, name, version, alias.lower(), metric, force)


def _promote(client: Any, name: str, version: str, alias: str, metric: str, force: bool) -> PromotionDecision:
    candidate = get_version(client, name, version)
    current = _version_by_alias(client, name, alias)
    new_value = _run_metric(client, candidate, metric)
    current_value = _run_metric(client, current, metric) if current is not None else None
    test = "metric"
    if current is not None and current.version == candidate.version:
        promoted, reason = True, "already holds the alias"
    elif force:
        promoted, reason = True, "forced"
    elif current is None:
        promoted, reason = True, "first version for this alias"
    elif (by_photos := _paired_decision(client, current, candidate)) is not None:
        test = "mcnemar"  # both counted the same held-out photos: the paired test decides, ties kept
        promoted, reason = by_photos
    elif new_value is None:
        promoted, reason = False, f"candidate has no {metric}"
    elif current_value is None or new_value > current_value:
        promoted, reason = True, f"{metric} {new_value:.4g} > {current_value if current_value is not None else 'n/a'}"
    elif new_value == current_value:  # a tie keeps the serving version, as the paired test does
        promoted, reason = False, f"not better (a tie): {metric} {new_value:.4g} = that of version {current.version}"
    else:
        promoted, reason = False, f"{metric} {new_value:.4g} < {current_value:.4g} of version {current.version}"
    if test == "metric" and current is not None and not force and current.version != candidate.version:
        reason = f"{reason} (the metric gate: no held-out photos counted by both)"
    decision = PromotionDecision(
        name, alias, str(candidate.version), promoted, reason, metric, new_value,
        None if current is None else str(current.version), current_value,
    )  # fmt: skip
    if promoted:
        client.set_registered_model_alias(name, alias, str(candidate.version))
        _set_legacy_stage(client, name, str(candidate.version), alias)
    prefix = f"promotion.{alias}"
    client.set_model_version_tag(name, str(candidate.version), f"{prefix}.decision", "promoted" if promoted else "kept")
    client.set_model_version_tag(name, str(candidate.version), f"{prefix}.reason", reason)
    client.set_model_version_tag(name, str(candidate.version), f"{prefix}.test", test)
    client.set_model_version_tag(name, str(candidate.version), f"{prefix}.candidate_{metric}", str(new_value))
    client.set_model_version_tag(name, str(candidate.version), f"{prefix}.current_{metric}", str(current_value))
    return decision


def _paired_decision(client: Any, current: Any, candidate: Any) -> tuple[bool, str] | None:
    """The paired test on the held-out photos both versions' runs counted, or None when they share none."""
    current_report, candidate_report = (_sets_report(client, found.run_id) for found in (current, candidate))
    if current_report is None or candidate_report is None:
        return None
    return paired.decide(paired.outcomes(current_report), paired.outcomes(candidate_report))


def _sets_report(client: Any, run_id: str | None) -> dict[str, Any] | None:
    if not run_id:
        return None
    with tempfile.TemporaryDirectory() as folder:
        try:
            path = client.download_artifacts(run_id, paired.REPORT, folder)
        except Exception:  # no such artifact (no evaluation sets), or a store that cannot serve it
            return None
        loaded = json.loads(Path(path).read_text())
    return loaded if isinstance(loaded, dict) else None


def _set_legacy_stage(client: Any, name: str, version: str, alias: str) -> None:
    stage = LEGACY_STAGES.get(alias)
    if stage is None or not hasattr(client, "transition_model_version_stage"):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stages are deprecated; the alias is the real pointer
        client.transition_model_version_stage(name, version, stage, archive_existing_versions=False)


def _not_found(exc: Exception) -> bool:
    """A registry answer that the thing does not exist (as opposed to the registry failing)."""
    return getattr(exc, "error_code", "") in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}


def _unavailable(exc: Exception) -> TrackingUnavailableError:
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    return TrackingUnavailableError(f"the model registry is not answering: {first}")


def get_version(client: Any, name: str, version: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        if not _not_found(exc):
            raise _unavailable(exc) from None
        raise ModelNotFoundError(f"registered model {name!r} has no version {version}") from None


def resolve_version(
    client: Any,
    name: str,
    version: str | None = None,
    alias: str | None = None,
    stage: str | None = None,
) -> Any:
    """A model version by number, alias, or stage (alias of the same name first, then legacy stage)."""
    if version is not None:
        return get_version(client, name, version)
    label = alias or stage
    if label is None:
        raise ModelNotFoundError("give a version, an alias or a stage")
    found = _version_by_alias(client, name, label.lower())
    if found is None and stage is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            latest = (
                client.get_latest_versions(name, stages=[stage.capitalize()]) if _model_exists(client, name) else []
            )
        found = latest[0] if latest else None
    if found is None:
        raise ModelNotFoundError(f"registered model {name!r} has no version with alias or stage {label!r}")
    return found


def _model_exists(client: Any, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return True
    except MlflowException as exc:
        if not _not_found(exc):
            raise _unavailable(exc) from None
        return False


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """`models:/NAME/VERSION`, `models:/NAME@ALIAS` or `models:/NAME/Stage` -> (name, version, label)."""
    body = uri.removeprefix("models:/")
    if "@" in body:
        name, alias = body.rsplit("@", 1)
        return name, None, alias
    name, _, ref = body.rpartition("/")
    if not name or not ref:
        raise ModelNotFoundError(f"{uri!r} is not models:/NAME/VERSION or models:/NAME@ALIAS")
    return (name, ref, None) if ref.isdigit() else (name, None, ref)


def describe_version(client: Any, name: str, version: str | None = None) -> dict[str, Any]:
    if version is None:
        versions = client.search_model_versions(f"name='{name}'")
        if not versions:
            raise ModelNotFoundError(f"no registered model named {name!r}")
        version = str(max(int(v.version) for v in versions))
    found = get_version(client, name, version)
    return _version_dict(found)


def _version_dict(found: Any, aliases: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": found.name,
        "version": str(found.version),
        "aliases": sorted(found.aliases or []) if aliases is None else aliases,
        "stage": found.current_stage,
        "run_id": found.run_id,
        "created": found.creation_timestamp,
        "created_at": _iso(found.creation_timestamp),  # the seed's field
        "metrics": _metrics(dict(found.tags or {})),  # the seed's field: the version's figures as numbers
        "tags": dict(found.tags or {}),
        "source": found.source,
        "eval_sets": {
            name: {"count_accuracy": float(value), "teacher_count_accuracy": _float(teacher.get(name))}
            for teacher in [eval_set_accuracies(dict(found.tags or {}), "teacher")]
            for name, value in eval_set_accuracies(dict(found.tags or {})).items()
        },
    }


def _iso(milliseconds: int | None) -> str | None:
    return None if milliseconds is None else datetime.fromtimestamp(milliseconds / 1000).isoformat()


def _metrics(tags: dict[str, str]) -> dict[str, float]:
    """The version's measured figures (`test/…`, `eval/…` tags) as numbers."""
    found = {}
    for key, value in tags.items():
        if key.startswith(("test/", "eval/")):
            with contextlib.suppress(ValueError):
                found[key] = float(value)
    return found


def _float(value: str | None) -> float | None:
    return None if value is None else float(value)


def version_for_run(client: Any, run_id: str) -> Any:
    """The newest registered version made by `run_id`, or None."""
    found = client.search_model_versions(f"run_id = '{run_id}'")
    return max(found, key=lambda v: int(v.version)) if found else None


def list_models(client: Any) -> list[dict[str, Any]]:
    models = []
    for model in client.search_registered_models():
        if is_lock(model.name):
            continue
        versions = client.search_model_versions(f"name='{model.name}'")
        # Searching versions does not fill in aliases; the registered model has them all.
        aliases: dict[str, list[str]] = {}
        for alias, number in (model.aliases or {}).items():
            aliases.setdefault(str(number), []).append(alias)
        ordered = sorted(versions, key=lambda v: int(v.version))
        models.append(
            {
                "name": model.name,
                "description": model.description or "",
                "versions": [_version_dict(v, sorted(aliases.get(str(v.version), []))) for v in ordered],
            }
        )
    return models


def eval_set_accuracies(tags: dict[str, str], who: str = "model") -> dict[str, str]:
    """`{set: count accuracy}` of the named evaluation sets from a version's tags, for the model or the teacher."""
    suffix = ["count_accuracy"] if who == "model" else ["teacher", "count_accuracy"]
    found = {}
    for key, value in sorted(tags.items()):
        parts = key.split("/")
        if parts[0] == "eval" and len(parts) == 2 + len(suffix) and parts[2:] == suffix:
            found[parts[1]] = value
    return found


def decision_dict(decision: PromotionDecision) -> dict[str, Any]:
    return asdict(decision)
