"""A real S3-compatible server on loopback for the backup tests: moto's standalone server.

`s3_server` (session-scoped) starts `python -m moto.server` on 127.0.0.1 with a free port,
waits until it answers and stops it at the end; `S3Server.env(bucket)` gives the variables
that point weft's `backup-s3` module (and `weft backup verify s3`) at it.
"""

import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "weft-test-access"
SECRET_KEY = "weft-test-secret"
REGION = "us-east-1"


@dataclass
class S3Server:
    host: str
    port: int
    proc: subprocess.Popen
    log_path: Path

    @property
    def endpoint(self) -> str:
        """host:port, without a scheme (what BACKUP_S3_ENDPOINT takes)."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}),
        )

    def make_bucket(self, prefix: str = "weft") -> str:
        """Creates a new, empty bucket and returns its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> dict:
        """Every object of the bucket under `prefix`: key -> size."""
        out = {}
        paginator = self.client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = obj["Size"]
        return out

    def env(self, bucket: str, path: str | None = None) -> dict:
        """The variables of weft's backup-s3 module for `bucket` (and root prefix `path`)."""
        env = {
            "ENABLE_MODULES": "backup-s3",
            "BACKUP_S3_BUCKET": bucket,
            "BACKUP_S3_ENDPOINT": self.endpoint,
            "BACKUP_S3_USE_SSL": "false",
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }
        if path is not None:
            env["BACKUP_S3_PATH"] = path
        return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    host = "127.0.0.1"
    port = _free_port()
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", host, "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = S3Server(host, port, proc, log_path)
    try:
        deadline = time.monotonic() + 60
        while not _answers(server.url + "/"):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"moto_server exited with {proc.returncode}:\n"
                    + log_path.read_text(errors="replace")
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    "moto_server not answering in 60s:\n" + log_path.read_text(errors="replace")
                )
            time.sleep(0.1)
        yield server
    finally:
        proc.kill()
        proc.wait(timeout=30)
        log.close()
