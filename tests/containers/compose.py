"""docker-compose.yml, run by podman one container at a time, in the file's order.

podman-compose 1.0.3 (Debian bookworm) cannot run this file: it has no `depends_on` conditions,
no profiles, no `deploy.replicas` and no `config`, and it puts every service on a bridge network,
which this machine cannot create. This reads the file as Compose does (override files merged,
`${VAR}` / `${VAR:-default}` / `${VAR:?error}` / `$$` interpolated) and starts each service with
`podman run` after its dependencies meet their conditions. What it cannot do on this machine
(published ports, replicas > 1: every container shares the host's network) it says in `skipped`.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.containers.podman import podman

_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


class ComposeError(RuntimeError):
    """The stack did not come up as the file says: names the service and shows its last log lines."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3) or ""
        value = env.get(name)
        if operator and operator.endswith("?") and not value:
            raise ComposeError(f"{name}: {argument}")
        if (operator == ":-" and not value) or (operator == "-" and value is None):
            return argument
        return value or ""

    return _VARIABLE.sub(replace, text)


def merge(base: Any, override: Any) -> Any:
    """Compose's merge: mappings key by key, volumes by their target path, other values replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            if key == "volumes" and isinstance(value, list) and isinstance(base.get(key), list):
                targets = {_target(volume): volume for volume in [*base[key], *value]}
                merged[key] = list(targets.values())
            else:
                merged[key] = merge(base.get(key), value) if key in base else value
        return merged
    return override


def _target(volume: str) -> str:
    return volume.split(":")[1] if ":" in volume else volume


@dataclass
class ComposeStack:
    project_dir: Path
    files: list[Path]
    env: dict[str, str]
    project: str = "fc"
    build_dir: Path | None = None  # where build contexts resolve (default: project_dir)
    profiles: set[str] = field(default_factory=set)
    started: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        config: dict[str, Any] = {}
        for file in self.files:
            config = merge(config, yaml.safe_load(interpolate(file.read_text(), self.env)))
        self.config = config
        self.services: dict[str, dict[str, Any]] = config["services"]

    # -- reading the file ------------------------------------------------------------------------

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def image(self, service: str) -> str:
        return str(self.services[service].get("image") or f"localhost/{self.project}_{service}:latest")

    def order(self, names: list[str] | None = None) -> list[str]:
        """Services (and their dependencies) in the order `up` starts them; profiles honoured."""
        wanted = names or [name for name, spec in self.services.items() if self._active(spec)]
        ordered: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in path:
                raise ComposeError(f"depends_on cycle: {' -> '.join((*path, name))}")
            if name not in ordered:
                for dependency in self.services[name].get("depends_on", {}):
                    visit(dependency, (*path, name))
                ordered.append(name)

        for name in wanted:
            visit(name, ())
        return ordered

    def _active(self, spec: dict[str, Any]) -> bool:
        return not spec.get("profiles") or bool(set(spec["profiles"]) & self.profiles)

    def run_args(self, service: str) -> list[str]:
        """`podman run` arguments for one service, from its Compose definition."""
        spec = self.services[service]
        args = ["--network", "host", "--label", f"com.docker.compose.project={self.project}"]
        args += [f"--add-host={name}:127.0.0.1" for name in self.services]
        environment = spec.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        for key, value in environment.items():
            args += ["--env", f"{key}={'' if value is None else value}"]
        for volume in spec.get("volumes", []):
            source, target, *mode = volume.split(":")
            if source.startswith((".", "/")):
                source = str((self.project_dir / source).resolve())
            else:
                source = f"{self.project}_{source}"
            args += ["--volume", ":".join([source, target, *mode])]
        for secret in spec.get("secrets", []):
            file = self.project_dir / self.config["secrets"][secret]["file"]
            args += ["--volume", f"{file.resolve()}:/run/secrets/{secret}:ro"]
        health = spec.get("healthcheck")
        if health:
            # podman 4.3 takes a shell command only: the exec form runs through sh, as podman-compose does.
            kind, *test = ["CMD-SHELL", health["test"]] if isinstance(health["test"], str) else health["test"]
            if kind == "NONE":
                args.append("--no-healthcheck")
            else:
                args += ["--health-cmd", f"CMD-SHELL {test[0] if kind == 'CMD-SHELL' else shlex.join(test)}"]
            for key in ("interval", "timeout", "retries", "start_period"):
                if key in health:
                    args += [f"--health-{key.replace('_', '-')}", str(health[key])]
        if spec.get("read_only"):
            args.append("--read-only")
        for path in spec.get("tmpfs", []):
            args += ["--tmpfs", path]
        if spec.get("user"):
            args += ["--user", str(spec["user"])]
        if spec.get("restart"):
            args += ["--restart", spec["restart"]]
        if spec.get("entrypoint") is not None:
            entrypoint = spec["entrypoint"]
            entrypoint = entrypoint if isinstance(entrypoint, list) else shlex.split(entrypoint)
            args += ["--entrypoint", json.dumps(entrypoint)]
        args.append(self.image(service))
        command = spec.get("command")
        if command is not None:
            args += command if isinstance(command, list) else shlex.split(command)
        return args

    # -- running it ------------------------------------------------------------------------------

    def build(self, service: str, extra: list[str]) -> None:
        """`docker-compose build SERVICE`: its context, Dockerfile, target and args."""
        build = self.services[service]["build"]
        context = ((self.build_dir or self.project_dir) / build.get("context", ".")).resolve()
        args = ["build", "--format", "docker", "--network", "host", "-t", self.image(service)]
        args += ["-f", str(context / build.get("dockerfile", "Dockerfile"))]
        if build.get("target"):
            args += ["--target", build["target"]]
        for key, value in build.get("args", {}).items():
            args += ["--build-arg", f"{key}={value}"]
        previous = self.image_id(service)
        podman(*args, *extra, str(context), timeout=1800)
        # The image the tag left is dead weight (the training image is ~8 GB): CI's disk filled up
        # with them. Its layers that the new image shares stay; one still in use is kept.
        if previous and previous != self.image_id(service):
            podman("rmi", previous, check=False)

    def image_id(self, service: str) -> str:
        return podman("image", "inspect", "--format", "{{.Id}}", self.image(service), check=False).stdout.strip()

    def up(self, names: list[str] | None = None, timeout: float = 300) -> None:
        for service in self.order(names):
            if service in self.started:
                continue
            for dependency, rule in self.services[service].get("depends_on", {}).items():
                self.wait(dependency, rule.get("condition", "service_started"), timeout)
            self.start(service)

    def start(self, service: str) -> None:
        """One service's container, started now (its dependencies are the caller's business)."""
        spec = self.services[service]
        if spec.get("ports"):
            self.skipped.append(f"{service}: ports {spec['ports']} (host network: listens on the host)")
        if int(spec.get("deploy", {}).get("replicas", 1)) > 1:
            self.skipped.append(f"{service}: replicas (one port per host network)")
        # Named volumes (`<project>_<name>`) are created by `podman run` on first use.
        podman("run", "--detach", "--name", self.container(service), *self.run_args(service))
        self.started.append(service)

    def run(self, service: str, command: list[str], timeout: float = 1800) -> subprocess.CompletedProcess[str]:
        """`docker-compose run --rm SERVICE COMMAND…`: dependencies up, then the one-off container."""
        for dependency, rule in self.services[service].get("depends_on", {}).items():
            self.up([dependency])
            self.wait(dependency, rule.get("condition", "service_started"), 300)
        args = self.run_args(service)
        image_at = args.index(self.image(service))
        args = [*args[: image_at + 1], *command]
        return podman("run", "--rm", "--name", f"{self.project}_{service}_run", *args, check=False, timeout=timeout)

    def wait(self, service: str, condition: str, timeout: float) -> None:
        """Wait until SERVICE meets a `depends_on` condition (health checks run here: no systemd)."""
        name = self.container(service)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state(service)
            if condition == "service_completed_successfully":
                if state["Status"] == "exited":
                    if state["ExitCode"] == 0:
                        return
                    raise ComposeError(f"{service} exited with {state['ExitCode']}:\n{self.logs(service)}")
            elif state["Status"] != "running":
                raise ComposeError(f"{service} is {state['Status']} (exit {state['ExitCode']}):\n{self.logs(service)}")
            elif condition == "service_started" or podman("healthcheck", "run", name, check=False).returncode == 0:
                return
            time.sleep(1)
        health = self.state(service).get("Health") or {}
        last = (health.get("Log") or [{}])[-1]
        raise ComposeError(
            f"{service} not {condition} after {timeout:.0f} s (last health check: exit {last.get('ExitCode')}"
            f" {last.get('Output', '').strip()!r}):\n{self.logs(service)}"
        )

    def state(self, service: str) -> dict[str, Any]:
        out = podman("inspect", "--format", "{{json .State}}", self.container(service)).stdout
        state: dict[str, Any] = json.loads(out)
        return state

    def logs(self, service: str, lines: int = 40) -> str:
        result = podman("logs", "--tail", str(lines), self.container(service), check=False)
        return (result.stdout + result.stderr).strip()

    def down(self) -> None:
        """Containers and named volumes of this project removed (what `down -v` does)."""
        for service in reversed(self.started):
            podman("rm", "--force", "--time", "10", self.container(service), check=False)
        self.started.clear()
        volumes = podman("volume", "ls", "--quiet", "--filter", f"name={self.project}_", check=False).stdout.split()
        if volumes:
            podman("volume", "rm", "--force", *volumes, check=False)
