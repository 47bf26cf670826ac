"""Registered model versions: register, promote (gated, by alias), resolve and list."""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import asdict, dataclass
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from fingercount.errors import ModelNotFoundError, TrackingUnavailableError

DEFAULT_GATE_METRIC = "test/count_accuracy"
# Aliases are primary; the legacy stage is set too while the installed MLflow still has stages.
LEGACY_STAGES = {"staging": "Staging", "production": "Production"}


def _client(uri: str | None = None) -> Any:
    """A client for `uri`, or for the process-wide URI when None (the CLI and training)."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def sha256_tree(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, keyed by its path relative to `root`'s parent."""
    hashes = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        hashes[str(path.relative_to(root.parent))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def register_version(name: str, weights_dir: Path, exports_dir: Path, metadata: dict[str, Any], work_dir: Path) -> str:
    """Log the model directory into the active run and add it as a new version of `name`."""
    import mlflow

    metadata = {**metadata, "sha256": {**sha256_tree(weights_dir), **sha256_tree(exports_dir)}}
    metadata_path = work_dir / "metadata.json"
    metadata_path.write_text(json.dumps(metadata, indent=2, sort_keys=True))
    requirements = [f"{pkg}=={package_metadata.version(pkg)}" for pkg in ("ultralytics", "torch", "opencv-python")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow warns about missing signatures/type hints
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(Path(__file__).with_name("pyfunc_entry.py")),  # models from code: no pickle
            artifacts={"weights": str(weights_dir), "exports": str(exports_dir), "metadata": str(metadata_path)},
            registered_model_name=name,
            pip_requirements=requirements,
            signature=_signature(float(metadata["count_conf"])),
        )
    version = str(info.registered_model_version)
    client = _client()
    for key in ("architecture", "imgsz", "count_conf"):
        client.set_model_version_tag(name, version, key, str(metadata[key]))
    for key, value in metadata.get("metrics", {}).items():
        client.set_model_version_tag(name, version, key, f"{value:.6g}")
    if metadata.get("parent"):
        client.set_model_version_tag(name, version, "parent.version", metadata["parent"]["version"])
    return version


def _signature(count_conf: float) -> Any:
    """Inputs stay free-form (paths, bytes or an array); `conf` is a per-call parameter."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec

    return ModelSignature(inputs=None, outputs=None, params=ParamSchema([ParamSpec("conf", "double", count_conf)]))


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
    name: str,
    version: str,
    alias: str,
    metric: str = DEFAULT_GATE_METRIC,
    force: bool = False,
    uri: str | None = None,
) -> PromotionDecision:
    """Move `alias` to `version` if its metric is at least the current holder's (or `force`).

    The decision and both figures are written as tags on the candidate version.
    """
    client = _client(uri)
    alias = alias.lower()
    candidate = get_version(name, version, uri)
    current = _version_by_alias(client, name, alias)
    new_value = _run_metric(client, candidate, metric)
    current_value = _run_metric(client, current, metric) if current is not None else None
    if current is not None and current.version == candidate.version:
        promoted, reason = True, "already holds the alias"
    elif force:
        promoted, reason = True, "forced"
    elif current is None:
        promoted, reason = True, "first version for this alias"
    elif new_value is None:
        promoted, reason = False, f"candidate has no {metric}"
    elif current_value is None or new_value >= current_value:
        promoted, reason = True, f"{metric} {new_value:.4g} >= {current_value if current_value is not None else 'n/a'}"
    else:
        promoted, reason = False, f"{metric} {new_value:.4g} < {current_value:.4g} of version {current.version}"
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
    client.set_model_version_tag(name, str(candidate.version), f"{prefix}.candidate_{metric}", str(new_value))
    client.set_model_version_tag(name, str(candidate.version), f"{prefix}.current_{metric}", str(current_value))
    return decision


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


def get_version(name: str, version: str, uri: str | None = None) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return _client(uri).get_model_version(name, str(version))
    except MlflowException as exc:
        if not _not_found(exc):
            raise _unavailable(exc) from None
        raise ModelNotFoundError(f"registered model {name!r} has no version {version}") from None


def resolve_version(
    name: str,
    version: str | None = None,
    alias: str | None = None,
    stage: str | None = None,
    uri: str | None = None,
) -> Any:
    """A model version by number, alias, or stage (alias of the same name first, then legacy stage)."""
    client = _client(uri)
    if version is not None:
        return get_version(name, version, uri)
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


def resolve_model_uri(uri: str, dst: Path | None = None) -> tuple[Any, Path]:
    """Download a registered version's model directory: (version record, local path)."""
    import mlflow

    name, version, label = parse_model_uri(uri)
    found = resolve_version(name, version=version, alias=label, stage=label)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/{name}/{found.version}", dst_path=str(dst) if dst else None
    )
    return found, Path(local)


def describe_version(name: str, version: str | None = None, uri: str | None = None) -> dict[str, Any]:
    client = _client(uri)
    if version is None:
        versions = client.search_model_versions(f"name='{name}'")
        if not versions:
            raise ModelNotFoundError(f"no registered model named {name!r}")
        version = str(max(int(v.version) for v in versions))
    found = get_version(name, version, uri)
    return _version_dict(found)


def _version_dict(found: Any, aliases: list[str] | None = None) -> dict[str, Any]:
    return {
        "name": found.name,
        "version": str(found.version),
        "aliases": sorted(found.aliases or []) if aliases is None else aliases,
        "stage": found.current_stage,
        "run_id": found.run_id,
        "created": found.creation_timestamp,
        "tags": dict(found.tags or {}),
        "source": found.source,
        "eval_sets": {
            name: {"count_accuracy": float(value), "teacher_count_accuracy": _float(teacher.get(name))}
            for teacher in [eval_set_accuracies(dict(found.tags or {}), "teacher")]
            for name, value in eval_set_accuracies(dict(found.tags or {})).items()
        },
    }


def _float(value: str | None) -> float | None:
    return None if value is None else float(value)


def list_models(uri: str | None = None) -> list[dict[str, Any]]:
    client = _client(uri)
    models = []
    for model in client.search_registered_models():
        versions = client.search_model_versions(f"name='{model.name}'")
        # Searching versions does not fill in aliases; the registered model has them all.
        aliases: dict[str, list[str]] = {}
        for alias, number in (model.aliases or {}).items():
            aliases.setdefault(str(number), []).append(alias)
        ordered = sorted(versions, key=lambda v: int(v.version))
        models.append(
            {
                "name": model.name,
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
