"""Fixtures that run the real `weft` binary for end-to-end tests with the official client.

The binary is `$WEFT_BIN` if set, else `target/debug/weft` of this checkout.
"""

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from s3_server import s3_server  # noqa: F401  (the S3 server of the backup tests, a session fixture)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WEFT_BIN", ROOT / "target" / "debug" / "weft"))


def rest(server, method: str, path: str, body=None):
    """One REST call to `server` (a `Weft`): (status, parsed JSON body) or, for an HTTP error,
    (status, the body as text)."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Weft:
    """One data directory; the server on it can be started, stopped and killed repeatedly."""

    def __init__(self, base: Path, env: dict | None = None):
        self.base = base
        self.data = base / "data"
        self.env = env or {}
        self.proc = None
        self.port = free_port()
        self.grpc_port = free_port()
        self.runs = 0

    @property
    def log_path(self) -> Path:
        return self.base / f"weft-{self.runs}.log"

    def start(self, timeout: float = 60.0) -> "Weft":
        assert BIN.exists(), f"{BIN} missing: build it with `cargo build -p weft`"
        self.runs += 1
        env = dict(os.environ)
        env.pop("LOG_LEVEL", None)
        env.update(
            PERSISTENCE_DATA_PATH=str(self.data),
            GRPC_PORT=str(self.grpc_port),
            CLUSTER_HOSTNAME="node1",
            **self.env,
        )
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(BIN), "--host", "127.0.0.1", "--port", str(self.port), "--scheme", "http"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log_file,
        )
        deadline = time.monotonic() + timeout
        import urllib.request

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weft exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/v1/.well-known/ready", timeout=1
                ) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"weft not ready in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_lines(self) -> list:
        out = []
        for line in self.log().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        self.log_file.close()
        self.proc = None
        return code

    def kill9(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=60)
        self.log_file.close()
        self.proc = None

    def client(self):
        import weaviate

        return weaviate.connect_to_local(port=self.port, grpc_port=self.grpc_port)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)
        self.proc = None


@pytest.fixture
def seed(request):
    """The run's seed; pytest shows this print with the output of a failed test."""
    value = int(os.environ.get("WEFT_CRASH_SEED") or time.time_ns() % 2**63)
    print(f"{request.node.name}: seed {value} (replay with WEFT_CRASH_SEED={value})")
    return value


@pytest.fixture
def weft(tmp_path):
    server = Weft(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def make_weft(tmp_path):
    made = []

    def make(env: dict | None = None) -> Weft:
        server = Weft(tmp_path / f"w{len(made)}", env)
        server.base.mkdir(parents=True, exist_ok=True)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


def weft_verify(data: Path) -> subprocess.CompletedProcess:
    """Runs `weft verify --data-path <data>` (the offline consistency check) to completion."""
    env = dict(os.environ)
    env.pop("PERSISTENCE_DATA_PATH", None)
    return subprocess.run(
        [str(BIN), "verify", "--data-path", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
