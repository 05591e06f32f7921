"""Fixtures of the Docker tests: the image `weft:local` built by scripts/docker-image.sh from
`$WEFT_BIN` (default target/debug/weft), and Compose stacks made from copies of the repository's
docker-compose.yml. Tests that need the engine skip when none is reachable (`docker info` fails).
"""

import os
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("WEFT_BIN", ROOT / "target" / "debug" / "weft"))
IMAGE = "weft:local"
SERVICE = "weaviate"  # the service name in the founding document's Compose file
UID = 1000  # the image's user

MEASUREMENTS: list[tuple[str, str]] = []


def measure(name: str, value: str) -> None:
    """A number for BENCHMARKS.md, printed in pytest's summary."""
    MEASUREMENTS.append((name, value))


def pytest_terminal_summary(terminalreporter):
    if MEASUREMENTS:
        terminalreporter.section("docker measurements")
        for name, value in MEASUREMENTS:
            terminalreporter.write_line(f"{name}: {value}")


def docker_engine() -> str | None:
    """None when `docker info` works, else why not."""
    if shutil.which("docker") is None:
        return "docker not installed"
    try:
        r = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "`docker info` timed out"
    if r.returncode != 0:
        return f"no Docker engine reachable (`docker info` fails: {r.stderr.strip()[:200]})"
    return None


NO_DOCKER = docker_engine()
# Compose v1 (`docker-compose`, Debian's package) or the v2 plugin (`docker compose`).
COMPOSE = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]


# Every test that needs the engine carries this mark; the file checks run anywhere.
needs_docker = pytest.mark.skipif(NO_DOCKER is not None, reason=NO_DOCKER or "")


def run(args, timeout=120, check=True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
        )
    return r


def as_root(args, mount: Path) -> subprocess.CompletedProcess:
    """Runs a file command as root: directly when the tests run as root, else in a throwaway
    container of the image with `mount` bound at the same path (files the image's user wrote)."""
    if os.geteuid() == 0:
        return run(args)
    return run(
        ["docker", "run", "--rm", "--user", "0:0", "--entrypoint", args[0],
         "-v", f"{mount}:{mount}", IMAGE, *args[1:]]
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def image():
    """Builds weft:local as the README says, around the binary under test."""
    assert BIN.exists(), f"{BIN} missing: build it with `cargo build -p weft` or set WEFT_BIN"
    started = time.monotonic()
    r = run([str(ROOT / "scripts" / "docker-image.sh"), "--binary", str(BIN)], timeout=1800)
    size = int(docker_inspect(IMAGE, "{{.Size}}", kind="image"))
    measure("scripts/docker-image.sh", f"{time.monotonic() - started:.1f} s")
    measure(f"image size with {BIN.name} ({BIN.stat().st_size / 2**20:.1f} MiB)", f"{size / 2**20:.1f} MiB")
    base = run(["docker", "image", "inspect", "-f", "{{.Size}}", "weft-base:bookworm"], check=False)
    if base.returncode == 0:
        measure("base image weft-base:bookworm", f"{int(base.stdout) / 2**20:.1f} MiB")
    assert f"image {IMAGE} size" in r.stdout, r.stdout + r.stderr
    return IMAGE


def docker_inspect(name: str, fmt: str, kind: str = "container") -> str:
    return run(["docker", kind, "inspect", "-f", fmt, name]).stdout.strip()


class Stack:
    """A copy of the repository's docker-compose.yml with the volume path replaced by `data` and
    the host ports by free ones on 127.0.0.1 (gRPC published too, for the v4 client), run as
    its own Compose project."""

    def __init__(self, base: Path, data: Path):
        self.base = base
        self.data = data
        self.rest = free_port()
        self.grpc = free_port()
        self.project = f"wefttest{uuid.uuid4().hex[:10]}"
        original = (ROOT / "docker-compose.yml").read_text()
        volume = "/var/weaviate:/var/lib/weaviate"
        ports = "    - 8080:8080\n"
        assert original.count(volume) == 1 and original.count(ports) == 1, original
        self.compose_text = original.replace(volume, f"{data}:/var/lib/weaviate").replace(
            ports, f"    - 127.0.0.1:{self.rest}:8080\n    - 127.0.0.1:{self.grpc}:50051\n"
        )
        self.file = base / f"{self.project}.yml"
        self.file.write_text(self.compose_text)

    def compose(self, *args, timeout=180, check=True) -> subprocess.CompletedProcess:
        return run(
            [*COMPOSE, "--ansi", "never", "-f", str(self.file), "-p", self.project, *args],
            timeout=timeout,
            check=check,
        )

    def container(self) -> str:
        cid = self.compose("ps", "-q", SERVICE).stdout.strip()
        assert cid, f"no container for {SERVICE}:\n{self.compose('ps', check=False).stdout}"
        return cid

    def up(self, timeout: float = 120.0) -> float:
        """`docker-compose up -d`, then waits for /v1/.well-known/ready = 200 on the published
        port; returns the seconds from `up` to ready."""
        started = time.monotonic()
        self.compose("up", "-d")
        self.wait_ready(started, timeout)
        return time.monotonic() - started

    def wait_ready(self, started: float, timeout: float) -> None:
        cid = self.container()
        while time.monotonic() - started < timeout:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.rest}/v1/.well-known/ready", timeout=2
                ) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if docker_inspect(cid, "{{.State.Status}}") in ("exited", "dead"):
                raise AssertionError(f"the container exited:\n{self.logs()}")
            time.sleep(0.05)
        raise AssertionError(f"not ready in {timeout} s:\n{self.logs()}")

    def logs(self) -> str:
        """Everything the container logged, over all its starts."""
        r = run(["docker", "logs", self.container()], check=False)
        return r.stdout + r.stderr

    def last_run_log(self) -> str:
        """The log of the container's latest start (a restarted container keeps its old log)."""
        log = self.logs()
        start = log.rfind('"msg":"configured versions"')
        assert start >= 0, log
        return log[log.rfind("\n", 0, start) + 1 :]

    def down(self, timeout=120) -> tuple[float, str, int]:
        """`docker-compose down`: returns its duration, the container's whole log (followed, as
        `down` removes the container) and the exit code of the stopped container."""
        cid = self.container()
        follow = subprocess.Popen(
            ["docker", "logs", "-f", cid], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        wait = subprocess.Popen(["docker", "wait", cid], stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)  # both attached before the stop
        started = time.monotonic()
        self.compose("down", timeout=timeout)
        took = time.monotonic() - started
        log, _ = follow.communicate(timeout=60)
        code, _ = wait.communicate(timeout=60)
        return took, log, int(code.strip() or -1)

    def kill(self) -> None:
        """`docker kill` (SIGKILL): a crash. The restart policy does not restart a killed container."""
        cid = self.container()
        run(["docker", "kill", cid])
        deadline = time.monotonic() + 60
        while docker_inspect(cid, "{{.State.Status}}") not in ("exited", "dead"):
            assert time.monotonic() < deadline, "the killed container still runs"
            time.sleep(0.1)

    def client(self):
        import weaviate

        return weaviate.connect_to_local(host="127.0.0.1", port=self.rest, grpc_port=self.grpc)

    def remove(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", check=False)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A directory for volumes and Compose files; its contents written by the image's user are
    removed as root at the end."""
    base = tmp_path_factory.mktemp("docker")
    base.chmod(0o755)
    yield base
    as_root(["find", str(base), "-mindepth", "1", "-delete"], base)
    shutil.rmtree(base, ignore_errors=True)


def volume_dir(base: Path, name: str, owner: int = UID) -> Path:
    """A host directory for /var/lib/weaviate owned by `owner` (the image's user by default)."""
    path = base / name
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    as_root(["chown", f"{owner}:{owner}", str(path)], base)
    return path
