"""podman, configured for this kind of machine, and the base image the Dockerfiles build on.

No image registry is reachable, so `python:3.11.11-slim-bookworm` cannot be pulled: the base is
bootstrapped from the configured Debian mirror (debootstrap) and passed as the Dockerfiles'
`PYTHON_IMAGE` build argument. It is cached as an image tagged with a hash of its recipe.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
CONTAINERS_CONF = HERE / "containers.conf"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_PACKAGES = "python3,python3-venv,python3-pip,ca-certificates"
# The host's CA bundle: pip and apt inside a build go through the same (TLS-inspecting) proxy.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
# The host's pip configuration and the package folders it names (local wheel mirrors here, a
# corporate index elsewhere), mounted into every RUN step so a build installs what pip here does.
PIP_MOUNTS = ["/etc/pip.conf", "/etc/xdg/pip", "/opt/wheels", "/opt/pypi", "/opt/pypi-more"]


class PodmanError(RuntimeError):
    pass


def podman(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    result = subprocess.run(["podman", *args], capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if check and result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-30:])
        raise PodmanError(f"podman {' '.join(args[:3])} … exited {result.returncode}:\n{tail}")
    return result


def build_mounts() -> list[str]:
    return [f"--volume={path}:{path}:ro" for path in PIP_MOUNTS if Path(path).exists()]


def base_image() -> str:
    """Debian bookworm with Python 3.11, pip and the host's CA bundle; built once per recipe."""
    ca = hashlib.sha256(CA_BUNDLE.read_bytes()).hexdigest()
    recipe = f"{DEBIAN_MIRROR} bookworm minbase {BASE_PACKAGES} no-pep668 {ca}"
    tag = f"localhost/fingercount-base:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
    if podman("image", "exists", tag, check=False).returncode == 0:
        return tag
    with tempfile.TemporaryDirectory(prefix="fingercount-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        bootstrap = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", "bookworm", str(rootfs), DEBIAN_MIRROR],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if bootstrap.returncode != 0:
            tail = "\n".join((bootstrap.stdout + bootstrap.stderr).strip().splitlines()[-10:])
            hint = "set DEBIAN_MIRROR to a reachable Debian mirror"
            raise PodmanError(f"debootstrap from {DEBIAN_MIRROR} failed ({hint}):\n{tail}")
        # As in the python image: `python` names it and pip may install into it (no PEP 668 marker).
        (rootfs / "usr/bin/python").symlink_to("python3")
        for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        shutil.copyfile(CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
        subprocess.run(["podman", "import", "-", tag], stdin=tar.stdout, check=True, capture_output=True, env=env)
        tar.wait()
    return tag
