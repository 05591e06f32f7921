"""The founding document's Docker walk, on this machine's engine and without a registry: the image
built by scripts/docker-image.sh, the repository's docker-compose.yml (a copy with a temp dir as
the volume and free host ports), the official client through the published ports, `docker-compose
down` (orderly: flushed, no recovery at the next `up`), `docker kill` (a crash: recovered, nothing
acknowledged lost), the stopped volume folder copied with `cp -a` and started as another
container, and a root-owned volume refused with a clear message.

The lifecycle tests share one stack and run in file order; each says what it starts from.
"""

import json
import re
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject

from conftest import (
    IMAGE,
    ROOT,
    UID,
    Stack,
    as_root,
    docker_inspect,
    measure,
    needs_docker,
    run,
    volume_dir,
)

CLASS = "Article"
RECOVERY_ACTION = "lsm_recover_from_active_wal"
GRACE_S = 30  # docker-compose.yml's stop_grace_period


def obj(i: int) -> tuple[str, dict, list[float]]:
    """Object number i: a fixed uuid, properties and a vector exact in float32."""
    return (
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"weft-docker-{i}")),
        {"title": f"article {i}", "n": i},
        [float(i % 7), float(i % 11) / 4, 1.0, float(i) / 8],
    )


def write(stack: Stack, expected: dict, start: int, count: int, rest: int = 5) -> None:
    """Objects start..start+count: the first `rest` through REST `data.insert`, the rest through
    gRPC `insert_many`; every one acknowledged is recorded in `expected`."""
    with stack.client() as client:
        if not client.collections.exists(CLASS):
            client.collections.create(
                CLASS,
                properties=[
                    Property(name="title", data_type=DataType.TEXT),
                    Property(name="n", data_type=DataType.INT),
                ],
                vector_config=Configure.Vectors.self_provided(),
            )
        articles = client.collections.get(CLASS)
        objects = [obj(i) for i in range(start, start + count)]
        for uid, props, vector in objects[:rest]:
            assert str(articles.data.insert(props, uuid=uid, vector=vector)) == uid
            expected[uid] = (props, vector)
        batch = objects[rest:]
        if batch:
            result = articles.data.insert_many(
                [DataObject(properties=p, uuid=u, vector=v) for u, p, v in batch]
            )
            assert not result.errors, result.errors
            expected.update({u: (p, v) for u, p, v in batch})


def check(stack: Stack, expected: dict) -> None:
    """Everything in `expected`, and nothing else, through gRPC (count, iterator, near_vector)
    and REST (GET of single objects)."""
    with stack.client() as client:
        articles = client.collections.get(CLASS)
        assert len(articles) == len(expected)
        found = {
            str(o.uuid): (o.properties, o.vector["default"])
            for o in articles.iterator(include_vector=True)
        }
        assert found.keys() == expected.keys()
        for uid, (props, vector) in expected.items():
            assert found[uid] == (props, vector), uid
        some = sorted(expected)[:: max(1, len(expected) // 5)]
        for uid in some:
            hit = articles.query.near_vector(expected[uid][1], limit=1).objects
            assert hit and expected[str(hit[0].uuid)][1] == expected[uid][1]
    for uid in some:
        url = f"http://127.0.0.1:{stack.rest}/v1/objects/{CLASS}/{uid}?include=vector"
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.loads(r.read())
        assert body["properties"] == expected[uid][0]
        assert body["vectors"]["default"] == expected[uid][1], body


def log_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def msgs(text: str) -> list[str]:
    return [line.get("msg", "") for line in log_lines(text)]


# ---- the files ------------------------------------------------------------------------------


def seed_compose() -> str | None:
    """The Compose file of the founding document, where the seed is on this machine."""
    seed = ROOT.parent / "shared" / "seed" / "persistence-and-backups.md"
    if seed.exists():
        blocks = re.findall(r"```yaml\n(.*?)```", seed.read_text(), re.S)
        return next(b for b in blocks if "version:" in b)
    return None


def test_compose_file_is_the_founding_documents():
    """docker-compose.yml = the seed's file with only the image name changed, plus a
    stop_grace_period (a key its version 3.4 has) long enough for the orderly flush."""
    seed = seed_compose()
    if seed is None:
        pytest.skip("the founding document (shared/seed/persistence-and-backups.md) is not here")
    ours = (ROOT / "docker-compose.yml").read_text()
    grace = [line for line in ours.splitlines(keepends=True) if "stop_grace_period:" in line]
    assert len(grace) == 1 and grace[0].startswith(f"    stop_grace_period: {GRACE_S}s")
    assert ours.replace(grace[0], "") == seed.replace(
        "image: semitechnologies/weaviate:{{ site.weaviate_version }}", "image: weft:local"
    )


def runtime_part(path: Path) -> list[str]:
    """The instructions below the `--- runtime` marker, continuation lines joined, comments
    dropped, and COPY reduced to its destination (the sources differ by build context)."""
    text = path.read_text()
    text = text[text.index("# --- runtime") :]
    instructions, current = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        current += " " + line.strip().rstrip("\\").strip()
        if not line.rstrip().endswith("\\"):
            instructions.append(" ".join(current.split()))
            current = ""
    return [
        f"COPY -> {i.split()[-1]}" if i.startswith("COPY ") else i for i in instructions
    ]


def test_dockerfiles_agree():
    """The user's Dockerfile and the no-registry Dockerfile.local set up the same runtime."""
    main = runtime_part(ROOT / "Dockerfile")
    local = runtime_part(ROOT / "deploy" / "docker" / "Dockerfile.local")
    assert main == local
    for needed in (
        'ENTRYPOINT ["/bin/weft"]',
        'CMD ["--host", "0.0.0.0", "--port", "8080", "--scheme", "http"]',
        "ENV PERSISTENCE_DATA_PATH=/var/lib/weaviate",
        "EXPOSE 8080 50051 2112",
        "STOPSIGNAL SIGTERM",
        "USER 1000:1000",
        "COPY -> /bin/weft",
    ):
        assert needed in main, (needed, main)


@needs_docker
def test_image_sets_weaviates_defaults(image):
    config = json.loads(docker_inspect(image, "{{json .Config}}", kind="image"))
    assert config["Entrypoint"] == ["/bin/weft"]
    assert config["Cmd"] == ["--host", "0.0.0.0", "--port", "8080", "--scheme", "http"]
    assert "PERSISTENCE_DATA_PATH=/var/lib/weaviate" in config["Env"]
    assert set(config["ExposedPorts"]) == {"8080/tcp", "50051/tcp", "2112/tcp"}
    assert config["User"] == f"{UID}:{UID}"
    assert config["StopSignal"] == "SIGTERM"
    assert config["Healthcheck"]["Test"] == ["CMD", "/usr/local/bin/weft-healthcheck"]
    r = run(["docker", "run", "--rm", "--entrypoint", "stat", image, "-c", "%u %a", "/var/lib/weaviate"])
    assert r.stdout.split() == [str(UID), "750"]
    r = run(["docker", "run", "--rm", image, "--version"])
    assert r.stdout.startswith("weft ")


# ---- the walk: up, write, down, up, kill, up, copy --------------------------------------------


@pytest.fixture(scope="module")
def stack(image, workdir):
    s = Stack(workdir, volume_dir(workdir, "var-weaviate"))
    yield s
    s.remove()


@pytest.fixture(scope="module")
def expected():
    """Every object acknowledged so far on the stack's volume."""
    return {}


@needs_docker
def test_up_and_write_through_the_published_ports(stack, expected):
    took = stack.up()
    measure("start to ready, empty volume (docker-compose up -d → /ready 200)", f"{took:.2f} s")
    log = stack.logs()
    assert "database loaded, ready to serve" in msgs(log)
    assert RECOVERY_ACTION not in log
    with stack.client() as client:
        assert client.is_ready()
        assert client.get_meta()["version"]
        nodes = client.cluster.nodes()
        assert [n.name for n in nodes] == ["node1"]  # CLUSTER_HOSTNAME of the Compose file
    write(stack, expected, 0, 200)
    check(stack, expected)
    # QUERY_DEFAULTS_LIMIT: 25 of the Compose file reaches the server.
    with urllib.request.urlopen(
        f"http://127.0.0.1:{stack.rest}/v1/objects?class={CLASS}", timeout=10
    ) as r:
        assert len(json.loads(r.read())["objects"]) == 25
    # The image's HEALTHCHECK turns healthy (first probe after its 10 s interval).
    cid = stack.container()
    deadline = time.monotonic() + 40
    while docker_inspect(cid, "{{.State.Health.Status}}") != "healthy":
        assert time.monotonic() < deadline, docker_inspect(cid, "{{json .State.Health}}")
        time.sleep(0.5)


@needs_docker
def test_down_is_orderly_within_the_grace_period(stack, expected):
    """From a running stack: a write leaves the memtable dirty, `docker-compose down` flushes it
    and exits 0 well within stop_grace_period."""
    write(stack, expected, 200, 100)
    took, log, code = stack.down()
    measure("docker-compose down, dirty memtable", f"{took:.2f} s")
    assert took < GRACE_S, f"down took {took:.1f} s:\n{log}"
    assert code == 0, log
    messages = msgs(log)
    assert "Shutting down... " in messages and "database closed" in messages, log
    assert messages[-1].startswith("Stopped serving weft"), log
    assert not (stack.data / "LOCK").exists()


@needs_docker
def test_up_after_down_has_the_data_without_recovery(stack, expected):
    took = stack.up()
    measure(f"start to ready after down, {len(expected)} objects", f"{took:.2f} s")
    log = stack.last_run_log()
    assert RECOVERY_ACTION not in log, log
    check(stack, expected)


@needs_docker
def test_kill_then_up_recovers_everything(stack, expected):
    """From a running stack: acknowledged writes, then `docker kill` (SIGKILL, a crash): the
    next `up` logs the recovery warning and holds every acknowledged write."""
    write(stack, expected, 300, 150)
    stack.kill()
    cid = stack.container()
    assert docker_inspect(cid, "{{.State.ExitCode}}") == "137"
    assert (stack.data / "LOCK").exists()  # not an orderly stop
    took = stack.up()
    measure(f"start to ready after docker kill, {len(expected)} objects", f"{took:.2f} s")
    assert stack.container() == cid  # the same container, started again
    log = stack.last_run_log()
    warnings = [
        line for line in log_lines(log) if line.get("action") == RECOVERY_ACTION
    ]
    assert warnings and warnings[0]["level"] == "warning", log
    check(stack, expected)


@needs_docker
def test_copy_of_the_stopped_volume_runs_as_another_container(stack, expected, workdir):
    """The founding document's backup: `docker-compose down`, copy the volume folder, and the
    copy started as another container (another project, other ports) holds every write."""
    write(stack, expected, 450, 50)
    took, log, code = stack.down()
    assert code == 0 and "database closed" in msgs(log), log
    copy = workdir / "var-weaviate.BAK"
    as_root(["cp", "-a", str(stack.data), str(copy)], workdir)
    other = Stack(workdir, copy)
    try:
        other.up()
        assert RECOVERY_ACTION not in other.last_run_log()
        check(other, expected)
        # The copy is independent: writes to it do not reach the original.
        write(other, dict(expected), 500, 10)
    finally:
        other.remove()
    stack.up()
    check(stack, expected)


# ---- a volume the image's user cannot write ---------------------------------------------------


@needs_docker
def test_root_owned_volume_fails_with_a_clear_message(image, workdir):
    """The usual mistake: the host folder made by root (as Docker makes a missing bind source),
    mode 0755. The container's user 1000 cannot write it: the start must fail with a message
    naming the path and the permission, not a panic."""
    data = volume_dir(workdir, "root-owned", owner=0)
    name = f"wefttest-rootvol-{uuid.uuid4().hex[:8]}"
    try:
        r = run(
            ["docker", "run", "--name", name, "-v", f"{data}:/var/lib/weaviate", image],
            timeout=120,
            check=False,
        )
        log = r.stdout + r.stderr
        assert r.returncode not in (0, 101), f"exit {r.returncode}:\n{log}"  # 101: a Rust panic
        assert "panicked" not in log, log
        fatal = [line for line in log_lines(log) if line.get("level") == "fatal"]
        assert fatal, log
        assert "/var/lib/weaviate" in fatal[-1]["msg"] and "Permission denied" in fatal[-1]["msg"], log
        assert "weft runs as uid 1000" in fatal[-1]["msg"] and "owned by uid 0" in fatal[-1]["msg"], log
        assert docker_inspect(name, "{{.State.ExitCode}}") == str(r.returncode)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
