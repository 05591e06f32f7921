"""Schemathesis (property-based API testing) against weft's own OpenAPI document.

Starts the real binary (the e2e tests' `Weft`) on a temp data dir with the filesystem backup
module, creates two classes, objects and a finished backup so that paths with `{class}`, `{id}`
and `{backend}` have real targets, then runs `schemathesis run` on `/v1/openapi.json` with a
bounded number of examples per operation: every phase (examples, coverage, fuzzing, stateful)
and every check but one: no 5xx and no dropped connection (`not_a_server_error`), statuses,
content types, headers and bodies as documented, schema-violating input refused, 405 with
`Allow` for undocumented methods, deleted resources gone. Left out is `positive_data_acceptance`:
the class, object and batch bodies, parsed by hand, are documented as free-form JSON objects, so
a schema-valid body is not a valid class or object. Two runs: first every operation
but the three that delete what the others need (a class, an object, objects by filter), then
those three and `GET /v1/openapi.json`. Afterwards the server must still
be ready, must not have logged a panic, must stop cleanly on SIGTERM, and `weft verify` must find
the data directory consistent.

Knobs: `SCHEMATHESIS_MAX_EXAMPLES` (default 20), `SCHEMATHESIS_SEED` (default 1; `random` for a
new one each run), `SCHEMATHESIS_CHECKS` (default `CHECKS` below).
"""

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
E2E = HERE.parent / "e2e"
VENV_BIN = Path(sys.executable).parent

# The e2e fixtures module, loaded under its own name (its `s3_server` import needs tests/e2e
# on the path; it imports no third-party package at module level but pytest).
sys.path.insert(0, str(E2E))
_spec = importlib.util.spec_from_file_location("weft_e2e_conftest", E2E / "conftest.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

CLASS = "Article"
SCRATCH = "Scratch"
FROZEN = "Frozen"  # the only class whose real shard PUT .../shards/{shard} gets
# Run last, so that they do not take the seeded class and objects from the other operations.
DESTRUCTIVE = ["schema.objects.delete", "objects.class.delete", "batch.objects.delete"]
# Schemathesis leaves out the operation that served it the document unless it is selected by
# name, so the second run names it.
DOCUMENT = "weft.openapi"
OBJECT_IDS = [
    "36ddd591-2dee-4e7e-a3cc-eb86d30a4303",  # the document's example id
    "a8f4a3b2-6a3c-4a57-9a8e-0c9d3e7f1b21",
]
BACKUP_ID = "backup-1"  # the document's example id
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "missing_required_header",
        "unsupported_method",
        "allow_header_conformance",
        "use_after_free",
        "ensure_resource_availability",
        "ignored_auth",
    ]
)
RUN_TIMEOUT = 170  # seconds for both Schemathesis runs together


def call(port: int, method: str, path: str, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


def seed(port: int) -> dict:
    """Classes, objects and a finished backup; returns what the config binds to parameters."""
    call(
        port,
        "POST",
        "/v1/schema",
        {
            "class": CLASS,
            "properties": [
                {"name": "title", "dataType": ["text"]},
                {"name": "count", "dataType": ["int"]},
            ],
        },
    )
    call(port, "POST", "/v1/schema", {"class": SCRATCH})
    call(port, "POST", "/v1/schema", {"class": FROZEN})
    for i, oid in enumerate(OBJECT_IDS):
        call(
            port,
            "POST",
            "/v1/objects",
            {
                "class": CLASS,
                "id": oid,
                "properties": {"title": f"Hello {i}", "count": i},
                "vector": [0.1, 0.2, 0.3],
            },
        )
    call(port, "POST", "/v1/backups/filesystem", {"id": BACKUP_ID})
    deadline = time.monotonic() + 60
    while call(port, "GET", f"/v1/backups/filesystem/{BACKUP_ID}")["status"] != "SUCCESS":
        assert time.monotonic() < deadline, "the seed backup did not finish"
        time.sleep(0.1)
    shards = call(port, "GET", f"/v1/schema/{FROZEN}/shards")
    return {"shard": shards[0]["name"]}


def config(seeded: dict) -> str:
    """Schemathesis config: real values for the path parameters most of the time (the rest
    generated), so the operations reach their logic and not only the 404s.

    PUT .../shards/{shard} gets the real shard of a class of its own: once READONLY, a shard
    answers writes with 500, as Weaviate's does (weft_api::error's table), which is not a bug,
    so no other operation is pointed at that class."""
    q = json.dumps
    return f"""
[dictionaries.classes]
values = [{q(CLASS)}, {q(CLASS.lower())}, {q(SCRATCH)}, "NoSuchClass"]
[dictionaries.objects]
values = [{", ".join(q(i) for i in OBJECT_IDS)}, "00000000-0000-0000-0000-000000000000"]
[dictionaries.backends]
values = ["filesystem", "s3"]
[dictionaries.backups]
values = [{q(BACKUP_ID)}, "no-such-backup"]
[dictionaries.frozen]
values = [{q(FROZEN)}]
[dictionaries.shards]
values = [{q(seeded["shard"])}, "NoSuchShard"]

[parameters]
"path.class" = {{ dictionary = "classes", probability = 0.8 }}
"path.backend" = {{ dictionary = "backends", probability = 0.8 }}

[[operations]]
include-path-regex = "^/v1/objects/"
parameters = {{ "path.id" = {{ dictionary = "objects", probability = 0.8 }} }}

[[operations]]
include-path-regex = "^/v1/backups/"
parameters = {{ "path.id" = {{ dictionary = "backups", probability = 0.8 }} }}

[[operations]]
include-path = "/v1/schema/{{class}}/shards/{{shard}}"
include-method = "PUT"
parameters = {{ "path.class" = {{ dictionary = "frozen", probability = 0.9 }}, "path.shard" = {{ dictionary = "shards", probability = 0.9 }} }}
"""


def schemathesis(port: int, cfg: Path, report: Path, select: list, timeout: float):
    """One `schemathesis run`; returns (exit code, output, seconds)."""
    cmd = [
        str(VENV_BIN / "schemathesis"),
        "--config-file",
        str(cfg),
        "run",
        f"http://127.0.0.1:{port}/v1/openapi.json",
        "--url",
        f"http://127.0.0.1:{port}",
        "--checks",
        os.environ.get("SCHEMATHESIS_CHECKS", CHECKS),
        "--max-examples",
        os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "20"),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        str(report),
        "--no-color",
        *select,
    ]
    seed_arg = os.environ.get("SCHEMATHESIS_SEED", "1")
    if seed_arg != "random":
        cmd += ["--seed", seed_arg]
    started = time.monotonic()
    run = subprocess.run(
        cmd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
        cwd=report.parent,  # its .hypothesis/ and .schemathesis/ caches stay in the temp dir
    )
    return run.returncode, run.stdout + run.stderr, time.monotonic() - started


def summary(out: str) -> str:
    return out[out.rfind("SUMMARY") :] if "SUMMARY" in out else out[-4000:]


def operations_tested(out: str) -> int:
    for line in out.splitlines():
        if line.strip().startswith("Tested:"):
            return int(line.split()[1])
    return 0


def test_schemathesis_finds_no_server_error(tmp_path):
    backups = tmp_path / "backups"
    server = e2e.Weft(
        tmp_path,
        {"ENABLE_MODULES": "backup-filesystem", "BACKUP_FILESYSTEM_PATH": str(backups)},
    )
    server.start()
    try:
        port = server.port
        doc = call(port, "GET", "/v1/openapi.json")
        assert doc["openapi"].startswith("3.1") and doc["info"]["title"] == "weft"
        operations = sum(
            1
            for item in doc["paths"].values()
            for method in item
            if method in ("get", "put", "post", "delete", "patch", "head")
        )
        seeded = seed(port)
        cfg = tmp_path / "schemathesis.toml"
        cfg.write_text(config(seeded))
        deadline = time.monotonic() + RUN_TIMEOUT
        last = [*DESTRUCTIVE, DOCUMENT]
        runs = [
            ("first", [a for op in last for a in ("--exclude-operation-id", op)]),
            ("last", [a for op in last for a in ("--include-operation-id", op)]),
        ]
        total = 0
        for name, select in runs:
            code, out, took = schemathesis(
                port, cfg, tmp_path / f"report-{name}", select, deadline - time.monotonic()
            )
            (tmp_path / f"schemathesis-{name}.out").write_text(out)
            print(f"\nschemathesis ({name} run, {took:.1f}s):\n{summary(out)}")
            assert code == 0, f"Schemathesis found failures:\n{out[-20000:]}"
            total += operations_tested(out)
        assert total == operations, f"{total} of the {operations} operations tested"

        # Still serving, nothing panicked.
        assert server.proc.poll() is None, f"weft exited:\n{server.log()[-5000:]}"
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/v1/.well-known/ready", timeout=5
        ) as r:
            assert r.status == 200
        assert "panicked" not in server.log(), server.log()[-5000:]
        assert server.terminate() == 0, server.log()[-5000:]
    finally:
        server.stop()
    verify = e2e.weft_verify(server.data)
    assert verify.returncode == 0, verify.stdout + verify.stderr
