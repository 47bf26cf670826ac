"""The Docker Compose stack, checked statically (no Docker engine here): Compose spec schema,
hadolint, nginx's own config test, and the contracts between the files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from fingercount.settings import Settings
from tests.conftest import REPO

COMPOSE = REPO / "docker-compose.yml"
STANDINS = REPO / "tests" / "containers" / "standins" / "Dockerfile"  # the container tests' own
DOCKERFILES = [*sorted((REPO / "deploy").glob("*.Dockerfile")), STANDINS]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_compose_file_follows_the_compose_spec() -> None:
    """Validated as Compose sees it: `${VAR:-default}` interpolated first (with the defaults)."""
    import json

    text = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", COMPOSE.read_text())
    text = re.sub(r"\$\{\w+:\?[^}]*\}", "set-in-env", text)
    schema = json.loads((REPO / "deploy" / "compose-spec.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(text), schema)


def test_gpu_override_merged_follows_the_compose_spec() -> None:
    """deploy/docker-compose.gpu.yml over the main file (Compose's merge), validated the same way."""
    import json

    from tests.containers.compose import interpolate, merge

    env = {"POSTGRES_PASSWORD": "x", "MINIO_ROOT_USER": "x", "MINIO_ROOT_PASSWORD": "x", "ADMIN_TOKEN": "x",
           "GRAFANA_ADMIN_PASSWORD": "x"}  # fmt: skip
    merged = merge(
        yaml.safe_load(interpolate(COMPOSE.read_text(), env)),
        yaml.safe_load((REPO / "deploy" / "docker-compose.gpu.yml").read_text()),
    )
    schema = json.loads((REPO / "deploy" / "compose-spec.schema.json").read_text())
    jsonschema.validate(merged, schema)
    for service in ("training", "serving"):
        (device,) = merged["services"][service]["deploy"]["resources"]["reservations"]["devices"]
        assert device["capabilities"] == ["gpu"]
    assert merged["services"]["serving"]["deploy"]["replicas"] == 1  # the main file's, kept
    assert merged["services"]["serving"]["build"]["target"] == "serving"


def test_hadolint_passes_on_every_dockerfile() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    assert DOCKERFILES
    result = subprocess.run([str(hadolint), *map(str, DOCKERFILES)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nginx_accepts_the_frontend_config(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n access_log off;\n client_body_temp_path {tmp_path};\n"
        f" include {REPO / 'deploy' / 'nginx.conf'};\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-c", str(main), "-p", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if "image" in service:
            assert ":" in service["image"], name
            assert not service["image"].endswith(":latest"), name
    for dockerfile in DOCKERFILES:
        for image in re.findall(r"^ARG PYTHON_IMAGE=(\S+)", dockerfile.read_text(), re.M):
            assert re.search(r":\d+\.\d+\.\d+", image), image


def test_mlflow_server_matches_the_clients(compose: dict[str, Any]) -> None:
    client = metadata.version("mlflow")
    assert compose["services"]["mlflow"]["build"]["args"]["MLFLOW_VERSION"] == client
    assert f"ARG MLFLOW_VERSION={client}" in (REPO / "deploy" / "mlflow.Dockerfile").read_text()
    assert f"mlflow=={client}" in (REPO / "requirements.lock").read_text()


def test_serving_environment_uses_the_settings_names(compose: dict[str, Any]) -> None:
    known = {field.alias for field in Settings.model_fields.values() if field.alias}
    environment = compose["services"]["serving"]["environment"]
    assert set(environment) <= known, set(environment) - known
    assert "MODEL_NAME" in environment
    assert "MODEL_STAGE" in environment


def test_secrets_are_required_and_the_bucket_private(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    for secret in (
        "POSTGRES_PASSWORD",
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "ADMIN_TOKEN",
        "GRAFANA_ADMIN_PASSWORD",
    ):
        assert re.search(rf"\$\{{{secret}:\?", text), secret
    assert "mc anonymous set none" in " ".join(compose["services"]["minio-init"]["command"])
    for service in ("mlflow", "minio", "prometheus", "grafana"):
        for port in compose["services"][service].get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{service} publishes {port} beyond localhost"
    env_example = (REPO / ".env.example").read_text()
    for variable in (
        "MLFLOW_TRACKING_URI",
        "MODEL_NAME",
        "MODEL_STAGE",
        "ENABLE_PREPROCESSING",
        "POSTGRES_USER",
        "MINIO_ROOT_USER",
    ):
        assert f"{variable}=" in env_example


def test_serving_image_leaves_out_pytorch() -> None:
    dockerfile = (REPO / "deploy" / "app.Dockerfile").read_text()
    deps = dockerfile.split("FROM base AS deps", 1)[1].split("\nFROM ", 1)[0]
    assert '".[label]"' in deps  # the base install and the teacher: no [train] extra, so no torch/ultralytics
    assert "FROM deps AS serving" in dockerfile
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"])
    assert "torch" not in base
    assert "ultralytics" not in base


def test_compose_interpolation_as_compose_does_it() -> None:
    """The container tests' reading of the file (tests/containers/compose.py) follows Compose."""
    from tests.containers.compose import ComposeError, interpolate

    env = {"SET": "value", "EMPTY": ""}
    assert interpolate("${SET} $SET ${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} $${SET}", env) == (
        "value value value d  d ${SET}"
    )
    with pytest.raises(ComposeError, match="UNSET: say why"):
        interpolate("${UNSET:?say why}", env)


def test_build_context_is_only_what_the_dockerfiles_copy() -> None:
    """.dockerignore starts from nothing and lets in exactly the COPY sources (no .venv, no data)."""
    lines = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "*"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    copied = set()
    for dockerfile in (REPO / "deploy").glob("*.Dockerfile"):
        for sources in re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile.read_text(), re.M):
            copied.update(sources.split())
    assert copied == allowed


def test_monitoring_is_wired_from_serving_to_the_board(compose: dict[str, Any]) -> None:
    """Prometheus scrapes serving and loads the rules; Grafana's provisioned data source is the one
    every panel of the board queries, and every query names only metrics serving exports."""
    import json

    from fingercount.serving.metrics import ServingMetrics

    prometheus = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["dns_sd_configs"][0]["names"] == ["serving"]
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in compose["services"]["prometheus"]["volumes"]
    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text())["groups"][0]["rules"]
    assert "fingercount_monitor_drift" in next(r for r in rules if r["alert"] == "FingerCountDrift")["expr"]

    (source,) = yaml.safe_load((REPO / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    board = json.loads((REPO / "deploy/grafana/dashboards/fingercount.json").read_text())
    families = {metric.name for metric in ServingMetrics().registry.collect()}
    exported = {f"{name}{suffix}" for name in families for suffix in ("", "_total", "_bucket", "_count", "_sum")}
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] == source["uid"]
        for target in panel["targets"]:
            named = set(re.findall(r"\b(fingercount_[a-z_]+)", target["expr"]))
            assert named, panel["title"]
            assert named <= exported, (panel["title"], named - exported)
    expressions = " ".join(t["expr"] for p in board["panels"] for t in p["targets"])
    for wanted in ("fingercount_request_seconds", "fingercount_inference_admitted", "fingercount_model_swaps",
                   "fingercount_monitor_agreement", "fingercount_monitor_drift"):  # fmt: skip
        assert wanted in expressions
