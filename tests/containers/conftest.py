"""The images, built from the repository's Dockerfiles through docker-compose.yml's `build`
sections, and the stack they make, run by podman (`make test-containers`; root, this machine's
kind: see docs/operations.md "Without Docker")."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.containers.compose import ComposeStack
from tests.containers.podman import HERE, base_image, build_mounts, podman

OVERRIDE = HERE / "compose.override.yml"
STANDINS = "localhost/fingercount-standins:latest"
# The ports the stack listens on, on the host's network.
PORTS = {"postgres": 5432, "minio": 9000, "mlflow": 5000, "serving": 8000, "frontend": 80, "prometheus": 9090}
ENV = {
    "POSTGRES_PASSWORD": "container-test-postgres",
    "MINIO_ROOT_USER": "fingercount",
    "MINIO_ROOT_PASSWORD": "container-test-minio",
    "ADMIN_TOKEN": "container-test-admin",
    "MODEL_ALIAS": "staging",  # configs/test_config.yaml promotes to Staging
    "MODEL_FOLLOW_INTERVAL": "2",
    "GRAFANA_ADMIN_PASSWORD": "container-test-grafana",
    "MONITOR_SAMPLE": "1",  # every prediction judged: the scrape sees agreement after a few requests
    "MONITOR_CPU": "1",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if shutil.which("podman") is None or os.geteuid() != 0:
        skip = pytest.mark.skip(reason="needs root and podman: run `make test-containers`")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def build_times() -> dict[str, float]:
    return {}


@pytest.fixture(scope="session")
def base(build_times: dict[str, float]) -> str:
    started = time.perf_counter()
    tag = base_image()
    build_times["base (debootstrap, or cached)"] = time.perf_counter() - started
    return tag


def project(tmp: Path) -> ComposeStack:
    """A Compose project folder as a user has it: the file, configs, static files, ./data (written
    by the containers' user, uid 10001) and the Picsellia secret file."""
    shutil.copy(REPO / "docker-compose.yml", tmp / "docker-compose.yml")
    for linked in ("configs", "src", "deploy"):
        (tmp / linked).symlink_to(REPO / linked)
    (tmp / "data" / "collections").mkdir(parents=True)
    subprocess.run(["chown", "-R", "10001", str(tmp / "data")], check=True)
    (tmp / "picsellia_token").write_text("")
    conf = (REPO / "deploy" / "nginx.conf").read_text()
    conf = conf.replace("resolver 127.0.0.11 valid=10s ipv6=off;", "")
    (tmp / "nginx-hostnet.conf").write_text(conf.replace("http://serving:8000", "http://127.0.0.1:8000"))
    # No Docker DNS on the host network: Prometheus scrapes the one serving container by address.
    prometheus = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    prometheus["global"]["scrape_interval"] = prometheus["global"]["evaluation_interval"] = "2s"
    prometheus["scrape_configs"][0].pop("dns_sd_configs")
    prometheus["scrape_configs"][0]["static_configs"] = [{"targets": ["127.0.0.1:8000"]}]
    (tmp / "prometheus-hostnet").mkdir()
    (tmp / "prometheus-hostnet" / "prometheus.yml").write_text(yaml.safe_dump(prometheus))
    shutil.copy(REPO / "deploy" / "prometheus" / "alerts.yml", tmp / "prometheus-hostnet" / "alerts.yml")
    return ComposeStack(tmp, [tmp / "docker-compose.yml", OVERRIDE], dict(ENV), build_dir=REPO)


@pytest.fixture(scope="session")
def images(base: str, build_times: dict[str, float], tmp_path_factory: pytest.TempPathFactory) -> ComposeStack:
    """mlflow, serving and training built as `docker-compose build` would, plus the stand-ins."""
    stack = project(tmp_path_factory.mktemp("compose-build"))
    extra = [f"--build-arg=PYTHON_IMAGE={base}", *build_mounts()]
    for service in ("mlflow", "serving", "training"):
        started = time.perf_counter()
        stack.build(service, extra)
        build_times[service] = time.perf_counter() - started
    started = time.perf_counter()
    podman("build", "--format", "docker", "--network", "host", "-t", STANDINS, *extra, str(HERE / "standins"),
           timeout=1800)  # fmt: skip
    build_times["stand-ins"] = time.perf_counter() - started
    return stack


@pytest.fixture(scope="session")
def stack(images: ComposeStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeStack]:
    running = project(tmp_path_factory.mktemp("compose"))
    running.down()  # what an interrupted earlier run left
    busy = [f"{name} ({port})" for name, port in PORTS.items() if _listening(port)]
    if busy:
        pytest.fail(f"ports the stack needs on the host network are taken: {', '.join(busy)}")
    yield running
    running.down()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0
