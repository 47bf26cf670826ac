"""`Registry(uri)`: the one object through which the platform talks to the MLflow model registry.

Each instance carries its own tracking URI (never MLflow's process-wide one), so a serving
process, a training and a test can each talk to their own store in one process.
"""

from __future__ import annotations

import hashlib
import shutil
import warnings
from functools import cached_property
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from fingercount.errors import ModelLoadError, TrackingUnavailableError
from fingercount.registry import runs, versions
from fingercount.registry.connection import client_defaults, reachable
from fingercount.registry.package import ModelPackage

DEFAULT_CACHE = Path("~/.cache/fingercount/models")
_COMPLETE = ".complete"
# What the pyfunc flavour imports to run a version: its engines and the fallback.
_RUNTIME_PACKAGES = ("openvino", "onnxruntime", "opencv-python", "ultralytics", "torch")


class Registry:
    def __init__(self, uri: str, cache_dir: Path = DEFAULT_CACHE) -> None:
        self.uri = uri
        self.cache_dir = cache_dir.expanduser()

    @cached_property
    def client(self) -> Any:
        from mlflow import MlflowClient

        client_defaults()
        return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    def check(self, timeout: float = 5.0) -> Registry:
        """Fail within seconds, with what to do, when a tracking server does not answer."""
        if not reachable(self.uri, timeout):
            raise TrackingUnavailableError(
                f"MLflow tracking server {self.uri} is not reachable; "
                "start it or set MLFLOW_TRACKING_URI to a reachable server (unset: embedded SQLite store)"
            )
        return self

    def reachable(self, timeout: float = 2.0) -> bool:
        return reachable(self.uri, timeout)

    # Versions ------------------------------------------------------------------------------------

    def resolve(self, name: str, version: str | None = None, alias: str | None = None, stage: str | None = None) -> Any:
        """A version record by number, alias or stage (alias first, then the legacy stage)."""
        return versions.resolve_version(self.client, name, version, alias, stage)

    def resolve_uri(self, uri: str) -> Any:
        """The version record of `models:/NAME/VERSION`, `models:/NAME@ALIAS` or `models:/NAME/Stage`."""
        name, version, label = versions.parse_model_uri(uri)
        return self.resolve(name, version=version, alias=label, stage=label)

    def describe(self, name: str, version: str | None = None) -> dict[str, Any]:
        return versions.describe_version(self.client, name, version)

    def list_models(self) -> list[dict[str, Any]]:
        return versions.list_models(self.client)

    def version_for_run(self, run_id: str) -> Any:
        """The newest registered version made by a run, or None."""
        return versions.version_for_run(self.client, run_id)

    def promote(
        self, name: str, version: str, alias: str, metric: str = versions.DEFAULT_GATE_METRIC, force: bool = False
    ) -> versions.PromotionDecision:
        return versions.promote(self.client, name, version, alias, metric, force)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    # Runs ----------------------------------------------------------------------------------------

    def list_experiments(self, max_runs: int = 200) -> list[dict[str, Any]]:
        return runs.list_experiments(self.client, max_runs)

    def version_for_run_tag(self, experiment: str, tag: str, value: str) -> str | None:
        """The newest registered version made by a finished run carrying `tag=value` in `experiment`."""
        return runs.version_for_run_tag(self.client, experiment, tag, value)

    def end_run_if_running(self, run_id: str, status: str, error: str) -> bool:
        return runs.end_run_if_running(self.client, run_id, status, error)

    # Model packages ------------------------------------------------------------------------------

    def fetch(self, name: str, version: str, found: Any = None) -> ModelPackage:
        """The version's model package, downloaded once (per registry), checksums verified.

        `found`: the version's record when the caller has just resolved it (saves a registry call).
        """
        found = found or versions.get_version(self.client, name, version)
        target = self._cache_path(name, str(found.version))
        package = self._cached(target, found.run_id)
        if package is None:
            package = self._download(name, str(found.version), target)
        try:
            package.verify()
        except ModelLoadError:
            shutil.rmtree(target, ignore_errors=True)  # the next fetch downloads it afresh
            raise
        return package

    def fetch_uri(self, uri: str) -> tuple[Any, ModelPackage]:
        """(version record, package) for a `models:/` URI."""
        found = self.resolve_uri(uri)
        return found, self.fetch(str(found.name), str(found.version), found)

    def _cache_path(self, name: str, version: str) -> Path:
        # Keyed by registry too: "version 1" of the same name differs from one store to another.
        registry = hashlib.sha256(self.uri.encode()).hexdigest()[:12]
        return self.cache_dir / registry / name / version

    @staticmethod
    def _cached(target: Path, run_id: str | None) -> ModelPackage | None:
        if not (target / _COMPLETE).is_file():
            return None
        package = ModelPackage.open(target)
        if run_id and package.metadata.run_id not in (None, run_id):  # a stale copy of a reset store
            shutil.rmtree(target, ignore_errors=True)
            return None
        return package

    def _download(self, name: str, version: str, target: Path) -> ModelPackage:
        import mlflow

        from fingercount.files import replace_dir

        partial = target.with_name(f"{version}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        try:
            # The download URI comes from our client: MLflow resolves `models:/` URIs against the
            # process-wide registry even when given another one.
            source = self.client.get_model_version_download_uri(name, version)
            local = Path(
                mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(partial), tracking_uri=self.uri)
            )
            package = ModelPackage.open(local)
        except ModelLoadError as exc:
            shutil.rmtree(partial, ignore_errors=True)
            raise ModelLoadError(f"{name} version {version}: {exc}") from None
        except Exception as exc:  # MLflow raises several types for network and storage failures
            shutil.rmtree(partial, ignore_errors=True)
            raise ModelLoadError(f"cannot download {name} version {version}: {str(exc).splitlines()[0]}") from None
        (local / _COMPLETE).touch()
        replace_dir(local, target)  # the model directory itself, wherever the store nested it
        shutil.rmtree(partial, ignore_errors=True)
        return ModelPackage(target, package.metadata)

    # Registration --------------------------------------------------------------------------------

    def register(self, name: str, package: ModelPackage, run_id: str) -> str:
        """Log the package into the active run as an MLflow model and add it as a new version of `name`."""
        import mlflow
        from mlflow.exceptions import MlflowException

        package.save()
        requirements = [f"{pkg}=={package_metadata.version(pkg)}" for pkg in _RUNTIME_PACKAGES]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow warns about missing signatures/type hints
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=str(Path(__file__).with_name("pyfunc_entry.py")),  # models from code: no pickle
                artifacts={
                    "weights": str(package.weights.parent),
                    "exports": str(package.exports),
                    "metadata": str(package.metadata_path),
                },
                pip_requirements=requirements,
                signature=_signature(package.metadata.count_conf),
                # Declared so that a loader can override it (MLflow only overrides declared keys):
                # `load_model(uri, model_config={"allow_local_paths": True})`.
                model_config={"allow_local_paths": False},
            )
        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") not in {"RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"}:
                raise
        created = self.client.create_model_version(name, info.model_uri, run_id=run_id, model_id=info.model_id)
        version = str(created.version)
        metadata = package.metadata
        tags = {
            "architecture": metadata.architecture,
            "imgsz": str(metadata.imgsz),
            "count_conf": str(metadata.count_conf),
        }
        tags.update({key: f"{value:.6g}" for key, value in metadata.metrics.items()})
        if metadata.parent is not None:
            tags["parent.version"] = metadata.parent.version
        for key, value in tags.items():
            self.client.set_model_version_tag(name, version, key, value)
        return version


def _signature(count_conf: float) -> Any:
    """Inputs stay free-form (paths, bytes or an array); `conf` is a per-call parameter."""
    from mlflow.models.signature import ModelSignature
    from mlflow.types.schema import ParamSchema, ParamSpec

    return ModelSignature(inputs=None, outputs=None, params=ParamSchema([ParamSpec("conf", "double", count_conf)]))
