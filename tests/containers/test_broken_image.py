"""The checks can fail: a copy of the serving image's Dockerfile that loses a runtime library (libGL,
which OpenCV loads at import) builds fine and is then caught by the same start-and-wait-healthy
step the stack uses, with the reason in the message."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO
from tests.containers.compose import ComposeError, ComposeStack
from tests.containers.conftest import project
from tests.containers.podman import base_image, build_mounts, podman

BROKEN = "localhost/fingercount-serving:broken"


def test_serving_image_without_libgl_fails_its_start_check(
    images: ComposeStack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    dockerfile = (REPO / "deploy" / "app.Dockerfile").read_text()
    serving_user = "USER 10001\nEXPOSE 8000"
    assert serving_user in dockerfile
    broken = dockerfile.replace(serving_user, "RUN rm -f /usr/lib/*/libGL.so.1*\n" + serving_user, 1)
    copy = tmp_path_factory.mktemp("broken") / "app.Dockerfile"
    copy.write_text(broken)
    podman(
        "build", "--format", "docker", "--network", "host", "--target", "serving", "-t", BROKEN,
        f"--build-arg=PYTHON_IMAGE={base_image()}", *build_mounts(), "-f", str(copy), str(REPO), timeout=1800,
    )  # fmt: skip
    stack = project(tmp_path_factory.mktemp("compose-broken"))
    stack.project = "fcbroken"
    stack.services["serving"]["image"] = BROKEN
    stack.down()
    try:
        stack.start("serving")
        with pytest.raises(ComposeError) as failed:
            stack.wait("serving", "service_healthy", 120)
    finally:
        stack.down()
        podman("rmi", "--force", BROKEN, check=False)
    assert re.search(r"serving is (exited|stopped) \(exit [1-9]", str(failed.value))  # stopped: restart policy
    assert "libGL.so.1" in str(failed.value)
