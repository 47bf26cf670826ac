"""The production topology without Docker: PostgreSQL (Debian's package, a throw-away cluster),
moto's S3 server standing in for MinIO, and `mlflow server` with the PostgreSQL backend and
proxied S3 artifacts — real processes on free loopback ports.

    python -m fingercount.devstack          # or `make stack`; Ctrl-C stops everything
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from fingercount.processes import free_port, http_ok, kill_group, start_guarded, stop_process, wait_until

BUCKET = "mlflow"
S3_KEYS = {
    "AWS_ACCESS_KEY_ID": "devstack",
    "AWS_SECRET_ACCESS_KEY": "devstack-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (make system-deps does it)")
    return found[-1]


@dataclass
class DevStack:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fingercount-stack-")))
    pg_port: int = field(default_factory=free_port)
    s3_port: int = field(default_factory=free_port)
    mlflow_port: int = field(default_factory=free_port)
    mlflow_s3_endpoint: str | None = None  # where `mlflow server` reaches S3 (default: the S3 server itself)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def database_uri(self) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.pg_port}/mlflow"

    # ---------------------------------------------------------------- PostgreSQL

    def _as_postgres(self, command: list[str]) -> list[str]:
        # initdb and postgres refuse to run as root; CI runs as root.
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def start_postgres(self) -> None:
        data = self.root / "pg"
        if not data.exists():
            data.mkdir(parents=True)
            if os.geteuid() == 0:
                shutil.chown(self.root, "postgres")
                shutil.chown(data, "postgres")
            subprocess.run(
                self._as_postgres([_postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]),
                check=True, stdout=subprocess.DEVNULL,
            )  # fmt: skip
        self.pg_ctl("start")
        created = subprocess.run(
            [_postgres_bin("psql"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "-tAc",
             "SELECT 1 FROM pg_database WHERE datname = 'mlflow'"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        if created.stdout.strip() != "1":
            subprocess.run(
                [_postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres", "mlflow"],
                check=True,
            )

    def pg_ctl(self, action: str) -> None:
        options = f"-p {self.pg_port} -k {self.root} -c listen_addresses=127.0.0.1"
        command = [
            _postgres_bin("pg_ctl"),
            "-D",
            str(self.root / "pg"),
            "-o",
            options,
            "-l",
            str(self.root / "pg.log"),
            "-w",
        ]
        subprocess.run(self._as_postgres([*command, action]), check=True, stdout=subprocess.DEVNULL)

    # ---------------------------------------------------------------- S3 and MLflow

    def start_s3(self) -> None:
        moto = Path(sys.executable).with_name("moto_server")
        self.processes["s3"] = start_guarded(
            [str(moto), "-H", "127.0.0.1", "-p", str(self.s3_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: http_ok(self.s3_endpoint + "/moto-api/"), "moto's S3 server")
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            **{k.lower(): v for k, v in S3_KEYS.items() if k != "AWS_DEFAULT_REGION"},
            region_name="us-east-1",
        )
        if BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=BUCKET)  # private: no bucket policy, no public ACL

    def start_mlflow(self) -> None:
        env = {
            **os.environ, **S3_KEYS, "MLFLOW_S3_ENDPOINT_URL": self.mlflow_s3_endpoint or self.s3_endpoint,
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }  # fmt: skip
        self.processes["mlflow"] = start_guarded(
            [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.database_uri,
             "--artifacts-destination", f"s3://{BUCKET}/", "--serve-artifacts",
             "--host", "127.0.0.1", "--port", str(self.mlflow_port)],
            env=env, stdout=open(self.root / "mlflow.log", "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip
        wait_until(lambda: http_ok(self.tracking_uri + "/health"), "mlflow server", timeout=120)

    def stop_mlflow(self) -> None:
        self._stop("mlflow")

    def kill_mlflow(self) -> None:
        """The server dies (SIGKILL to it and its workers): nothing is flushed, no goodbye."""
        process = self.processes.pop("mlflow")
        kill_group(process)  # a guarded process leads its group: the server's workers go too
        process.wait()

    def _stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            stop_process(process)

    def start(self) -> DevStack:
        self.start_postgres()
        self.start_s3()
        self.start_mlflow()
        return self

    def stop(self) -> None:
        self._stop("mlflow")
        self._stop("s3")
        if (self.root / "pg" / "postmaster.pid").exists():
            self.pg_ctl("stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def client_environment(self) -> dict[str, str]:
        """What a training or serving process needs to use this stack."""
        return {"MLFLOW_TRACKING_URI": self.tracking_uri}


STATIC = Path(__file__).parent / "serving" / "static"
DEPLOY_NGINX = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"  # in a source checkout


def nginx_front(root: Path, port: int, replicas: list[int], site: Path = DEPLOY_NGINX) -> Path:
    """A main config for the native nginx running deploy/nginx.conf in front of local replicas:
    `nginx -c PATH -p ROOT`. The one change is how replicas are found: Docker's DNS (one address
    per replica of `serving`) becomes an upstream of loopback ports."""
    text = site.read_text()
    found = "    resolver 127.0.0.11 valid=10s ipv6=off;\n    set $api http://serving:8000;\n"
    if found not in text:
        raise RuntimeError(f"{site} changed how it finds the serving replicas: update devstack.nginx_front")
    text = text.replace(found, "    set $api http://serving_replicas;\n")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{port};")
    text = text.replace("root /usr/share/nginx/html;", f"root {STATIC};")
    servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n" for p in replicas)
    main = root / "nginx.conf"
    main.write_text(
        f"daemon off;\nmaster_process off;\npid {root}/nginx.pid;\nerror_log {root}/error.log warn;\nevents {{}}\n"
        f"http {{\n access_log off;\n client_body_temp_path {root}/body;\n proxy_temp_path {root}/proxy;\n"
        f" upstream serving_replicas {{\n{servers} }}\n{text}\n}}\n"
    )
    return main


def main() -> None:
    stack = DevStack()
    try:
        stack.start()
        print(f"PostgreSQL  {stack.database_uri}")
        print(f"S3 (moto)   {stack.s3_endpoint}  bucket {BUCKET}")
        print(f"MLflow      {stack.tracking_uri}")
        print(f"\nexport MLFLOW_TRACKING_URI={stack.tracking_uri}   # then fingercount train / serve; Ctrl-C stops")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
