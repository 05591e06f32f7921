"""The Backup API on the filesystem backend with the official client (`client.backup.*`):
create, status, list, cancel, restore, incremental backups, every failure case, backups under
write load, `kill -9` during a backup and a restore, and a corrupt chunk."""

import json
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import pytest
import weaviate
from weaviate.backup.backup import BackupStatus, BackupStorage
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.exceptions import BackupFailedError, UnexpectedStatusCodeError

from conftest import BIN, weft_verify

FS = BackupStorage.FILESYSTEM


def backup_env(root: Path, **extra) -> dict:
    env = {
        "ENABLE_MODULES": "backup-filesystem",
        "BACKUP_FILESYSTEM_PATH": str(root),
    }
    env.update(extra)
    return env


def make_class(client, name: str, n: int, start: int = 0, dim: int = 8):
    if not client.collections.exists(name):
        client.collections.create(
            name,
            properties=[
                Property(name="title", data_type=DataType.TEXT),
                Property(name="n", data_type=DataType.INT),
            ],
            vector_config=Configure.Vectors.self_provided(),
        )
    coll = client.collections.get(name)
    objs = [
        DataObject(
            properties={"title": f"{name} {i}", "n": i},
            vector=[float(i)] + [0.5] * (dim - 1),
            uuid=uuid_of(name, i),
        )
        for i in range(start, start + n)
    ]
    res = coll.data.insert_many(objs)
    assert not res.has_errors, res.errors
    return coll


def uuid_of(name: str, i: int) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{i}"))


def numbers(coll) -> set:
    return {o.properties["n"] for o in coll.iterator()}


@pytest.fixture
def server(make_weft, tmp_path):
    root = tmp_path / "backups"
    w = make_weft(backup_env(root)).start()
    w.backups = root
    return w


def test_meta_lists_the_module_and_a_create_restore_round_trip(server):
    with server.client() as c:
        meta = c.get_meta()
        assert meta["modules"]["backup-filesystem"] == {"backupsPath": str(server.backups)}
        coll = make_class(c, "Article", 120)
        res = c.backup.create("bk1", FS, wait_for_completion=True)
        assert res.status == BackupStatus.SUCCESS
        assert res.collections == ["Article"]
        assert res.path == str(server.backups / "bk1")
        st = c.backup.get_create_status("bk1", FS)
        assert st.status == BackupStatus.SUCCESS and st.path == str(server.backups / "bk1")
        assert (server.backups / "bk1" / "backup_config.json").exists()
        assert (server.backups / "bk1" / "node1" / "backup.json").exists()
        c.collections.delete("Article")
        res = c.backup.restore("bk1", FS, wait_for_completion=True)
        assert res.status == BackupStatus.SUCCESS
        coll = c.collections.get("Article")
        assert len(coll) == 120
        assert numbers(coll) == set(range(120))
        hit = coll.query.near_vector([37.0] + [0.5] * 7, limit=1).objects[0]
        assert hit.properties["n"] == 37
        assert c.backup.get_restore_status("bk1", FS).status == BackupStatus.SUCCESS
        # The restored class takes writes and survives a restart.
        make_class(c, "Article", 5, start=1000)
    server.terminate()
    server.start()
    with server.client() as c:
        assert len(c.collections.get("Article")) == 125
    # The vector index came with the backup: no rebuild on restore.
    restore_logs = [l for l in server.log_lines() if "rebuilding" in l.get("msg", "")]
    assert restore_logs == [], restore_logs
    server.terminate()
    assert weft_verify(server.data).returncode == 0


def test_create_without_waiting_then_status_polls_to_success(server):
    with server.client() as c:
        make_class(c, "Article", 50)
        res = c.backup.create("bk-async", FS)
        assert res.status in (BackupStatus.STARTED, BackupStatus.SUCCESS)
        deadline = time.monotonic() + 30
        while c.backup.get_create_status("bk-async", FS).status != BackupStatus.SUCCESS:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_include_exclude_and_restore_of_one_of_two_classes(server):
    with server.client() as c:
        make_class(c, "Article", 30)
        make_class(c, "Author", 20)
        only = c.backup.create("only-authors", FS, include_collections=["Author"], wait_for_completion=True)
        assert only.collections == ["Author"]
        rest = c.backup.create("no-authors", FS, exclude_collections="Author", wait_for_completion=True)
        assert rest.collections == ["Article"]
        both = c.backup.create("both", FS, wait_for_completion=True)
        assert sorted(both.collections) == ["Article", "Author"]
        c.collections.delete("Author")
        # Restore only Author from the backup holding both; Article exists and is left alone.
        res = c.backup.restore("both", FS, include_collections=["Author"], wait_for_completion=True)
        assert res.status == BackupStatus.SUCCESS
        assert len(c.collections.get("Author")) == 20
        assert len(c.collections.get("Article")) == 30


def test_list_in_both_orders(server):
    with server.client() as c:
        make_class(c, "Article", 10)
        for i in range(3):
            c.backup.create(f"l{i}", FS, wait_for_completion=True)
            time.sleep(0.01)
        desc = [b.backup_id for b in c.backup.list_backups(FS)]
        asc = [b.backup_id for b in c.backup.list_backups(FS, sort_by_starting_time_asc=True)]
        assert asc == ["l0", "l1", "l2"]
        assert desc == ["l2", "l1", "l0"]
        item = c.backup.list_backups(FS)[0]
        assert item.status == BackupStatus.SUCCESS and item.collections == ["Article"]


def expect_error(fn, status: int, text: str):
    with pytest.raises(UnexpectedStatusCodeError) as e:
        fn()
    assert e.value.status_code == status, str(e.value)
    assert text in str(e.value), str(e.value)


def test_every_failure_case(server):
    with server.client() as c:
        # Nothing to back up yet.
        expect_error(lambda: c.backup.create("empty", FS), 422, "no available classes to backup")
        make_class(c, "Article", 10)
        # Bad id: the client lower-cases ids, so send one through REST.
    base = f"http://127.0.0.1:{server.port}/v1/backups/filesystem"
    r = _post(base, {"id": "Bad Id!"})
    assert r[0] == 422 and "invalid backup id: 'Bad Id!' allowed characters are lowercase, 0-9, _, -" in r[1], r
    r = _post(base, {"id": "x", "include": ["Article"], "exclude": ["Other"]})
    assert r[0] == 422 and "'include' and 'exclude' cannot both contain values" in r[1], r
    r = _post(base, {"id": "x", "include": ["Nope"]})
    assert r[0] == 422 and "class Nope doesn't exist" in r[1], r
    r = _post(base, {"id": "x", "config": {"CPUPercentage": 90}})
    assert r[0] == 422 and "CPUPercentage" in r[1], r
    r = _post(base, {"id": "x", "config": {"CompressionLevel": "Fastest"}})
    assert r[0] == 422 and "CompressionLevel" in r[1], r
    # serde would read a struct from an array of its fields (found by Schemathesis).
    r = _post(base, {"id": "x", "config": [None, None]})
    assert r[0] == 422 and "config must be an object" in r[1], r
    r = _post(f"{base}/x/restore", {"config": [None]})
    assert r[0] == 422 and "config must be an object" in r[1], r
    r = _post(f"http://127.0.0.1:{server.port}/v1/backups/s3", {"id": "x"})
    assert r[0] == 422 and 'no backup backend "s3"' in r[1] and "did you enable the right module?" in r[1], r
    r = _get(f"{base}?order=sideways")
    assert r[0] == 422, r
    with server.client() as c:
        with pytest.raises(TypeError):
            c.backup.create("x", FS, include_collections=["Article"], exclude_collections=["B"])
        c.backup.create("taken", FS, wait_for_completion=True)
        expect_error(lambda: c.backup.create("taken", FS), 422, 'backup "taken" already exists at')
        expect_error(lambda: c.backup.get_create_status("missing", FS), 404, "metadata not found")
        expect_error(lambda: c.backup.restore("missing", FS), 404, 'backup id "missing" does not exist')
        expect_error(lambda: c.backup.get_restore_status("missing", FS), 404, "metadata not found")
        expect_error(
            lambda: c.backup.restore("taken", FS, include_collections=["Other"]),
            422,
            "class Other doesn't exist in the backup, but does have [Article]",
        )
        # Restoring into an existing class: accepted, then FAILED like Weaviate.
        with pytest.raises(BackupFailedError) as e:
            c.backup.restore("taken", FS, wait_for_completion=True)
        assert "class name Article already exists" in str(e.value)
        assert len(c.collections.get("Article")) == 10
        st = c.backup.get_restore_status("taken", FS)
        assert st.status == BackupStatus.FAILED and "already exists" in st.error
        # Cancelling a finished backup.
        expect_error(lambda: c.backup.cancel("taken", FS), 422, 'backup "taken" already succeeded')


def _post(url, body):
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, _message(e.read().decode())


def _message(body: str) -> str:
    try:
        return json.loads(body)["error"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        return body


def _get(url):
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, _message(e.read().decode())


def test_cancel_a_running_backup_and_reuse_its_id(make_weft, tmp_path):
    root = tmp_path / "backups"
    w = make_weft(backup_env(root, BACKUP_CHUNK_SIZE_MB="0.02", WEFT_BACKUP_TEST_CHUNK_PAUSE_MS="200")).start()
    with w.client() as c:
        make_class(c, "Article", 400, dim=32)
        c.backup.create("slow", FS)
        assert c.backup.cancel("slow", FS) is True
        deadline = time.monotonic() + 30
        while (st := c.backup.get_create_status("slow", FS).status) != BackupStatus.CANCELED:
            assert st in (BackupStatus.CANCELLING, BackupStatus.STARTED, BackupStatus.TRANSFERRING), st
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not list(root.glob("slow/node1/Article/chunk-*")), "a canceled backup's chunks are removed"
        assert not list(w.data.glob(".backup-staging-*"))
    w.terminate()
    w.env["WEFT_BACKUP_TEST_CHUNK_PAUSE_MS"] = "0"
    w.start()
    with w.client() as c:
        # A canceled id can be used again (Weaviate refuses it by mistake).
        assert c.backup.create("slow", FS, wait_for_completion=True).status == BackupStatus.SUCCESS


def test_incremental_backup_references_unchanged_files_and_restores(server):
    with server.client() as c:
        coll = make_class(c, "Article", 300, dim=64)
        c.backup.create("full", FS, wait_for_completion=True)
        # A flush makes the first 300 objects immutable segments shared by both backups.
        server.terminate()
        server.start()
    with server.client() as c:
        c.backup.create("full2", FS, wait_for_completion=True)
        coll = make_class(c, "Article", 3, start=300, dim=64)
        inc = c.backup.create("inc", FS, incremental_base_backup_id="full2", wait_for_completion=True)
        assert inc.status == BackupStatus.SUCCESS
        full_size = sum(p.stat().st_size for p in (server.backups / "full2").rglob("chunk-*"))
        inc_size = sum(p.stat().st_size for p in (server.backups / "inc").rglob("chunk-*"))
        assert inc_size < full_size / 2, (inc_size, full_size)
        manifest = json.loads((server.backups / "inc" / "node1" / "backup.json").read_text())
        sources = {f["backup"] for s in manifest["classes"][0]["shards"] for f in s["files"]}
        assert sources == {"inc", "full2"}, sources
        bad = c.backup.create
        expect_error(lambda: bad("inc2", FS, incremental_base_backup_id="nope"), 422, 'base backup "nope" does not exist')
        c.collections.delete("Article")
        res = c.backup.restore("inc", FS, wait_for_completion=True)
        assert res.status == BackupStatus.SUCCESS
        assert numbers(c.collections.get("Article")) == set(range(303))
    env = dict(os.environ, **backup_env(server.backups))
    out = subprocess.run([str(BIN), "backup", "verify", "filesystem", "inc"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr


def test_backup_under_write_load_holds_exactly_the_acknowledged_writes(make_weft, tmp_path):
    root = tmp_path / "backups"
    src = make_weft(backup_env(root)).start()
    acked_before = set()
    acked_after = set()
    phase = {"v": "before"}
    stop = threading.Event()
    errors = []
    with src.client() as c:
        make_class(c, "Article", 200)

    def writer(w: int):
        try:
            with src.client() as c:
                coll = c.collections.get("Article")
                i = 0
                while not stop.is_set():
                    n = 10_000 * (w + 1) + i
                    p = phase["v"]
                    coll.data.insert({"title": "w", "n": n}, uuid=uuid_of("Article", n), vector=[float(n)] + [0.5] * 7)
                    # Acknowledged: counted for the phase in which it was sent and returned.
                    if p == "before" and phase["v"] == "before":
                        acked_before.add(n)
                    elif p == "after":
                        acked_after.add(n)
                    i += 1
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    with src.client() as c:
        phase["v"] = "during"
        res = c.backup.create("live", FS, wait_for_completion=True)
        assert res.status == BackupStatus.SUCCESS
        phase["v"] = "after"
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(acked_before) > 20 and len(acked_after) > 5, (len(acked_before), len(acked_after))
    src.terminate()
    # A fresh server on the same backup location restores it.
    dst = make_weft(backup_env(root)).start()
    with dst.client() as c:
        assert c.backup.restore("live", FS, wait_for_completion=True).status == BackupStatus.SUCCESS
        got = numbers(c.collections.get("Article"))
    assert set(range(200)) <= got
    assert acked_before <= got, sorted(acked_before - got)[:10]
    assert not (acked_after & got), sorted(acked_after & got)[:10]
    dst.terminate()
    out = weft_verify(dst.data)
    assert out.returncode == 0, out.stdout + out.stderr


def test_kill_9_during_a_backup_then_failed_and_staging_removed(make_weft, tmp_path):
    root = tmp_path / "backups"
    w = make_weft(backup_env(root, BACKUP_CHUNK_SIZE_MB="0.02", WEFT_BACKUP_TEST_CHUNK_PAUSE_MS="300")).start()
    with w.client() as c:
        make_class(c, "Article", 400, dim=32)
        c.backup.create("crash", FS)
        deadline = time.monotonic() + 30
        while not list(root.glob("crash/node1/Article/chunk-*")):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert list(w.data.glob(".backup-staging-crash"))
    w.kill9()
    w.start()
    assert not list(w.data.glob(".backup-staging-*"))
    msgs = [l["msg"] for l in w.log_lines()]
    assert "removed orphaned backup staging directory" in msgs, msgs
    with w.client() as c:
        st = c.backup.get_create_status("crash", FS)
        assert st.status == BackupStatus.FAILED and "interrupted" in st.error, st
        assert len(c.collections.get("Article")) == 400
        # And the next backup works.
        assert c.backup.create("after-crash", FS, wait_for_completion=True).status == BackupStatus.SUCCESS


def test_kill_9_during_a_restore_leaves_no_class(make_weft, tmp_path):
    root = tmp_path / "backups"
    w = make_weft(backup_env(root, BACKUP_CHUNK_SIZE_MB="0.02")).start()
    with w.client() as c:
        make_class(c, "Article", 400, dim=32)
        c.backup.create("r", FS, wait_for_completion=True)
        c.collections.delete("Article")
    w.terminate()
    w.env["WEFT_BACKUP_TEST_CHUNK_PAUSE_MS"] = "300"
    w.start()
    with w.client() as c:
        c.backup.restore("r", FS)
        deadline = time.monotonic() + 30
        while not list(w.data.glob(".restore-staging-r/download/*")) and not list(w.data.glob(".restore-staging-r/classes/*")):
            assert time.monotonic() < deadline
            time.sleep(0.02)
    w.kill9()
    w.env["WEFT_BACKUP_TEST_CHUNK_PAUSE_MS"] = "0"
    w.start()
    assert not list(w.data.glob(".restore-staging-*"))
    with w.client() as c:
        assert not c.collections.exists("Article")
        st = c.backup.get_restore_status("r", FS)
        assert st.status == BackupStatus.FAILED, st
        # The restore can simply be run again.
        assert c.backup.restore("r", FS, wait_for_completion=True).status == BackupStatus.SUCCESS
        assert len(c.collections.get("Article")) == 400


def test_a_flipped_byte_in_a_chunk_fails_the_restore_and_verify(server):
    with server.client() as c:
        make_class(c, "Article", 200, dim=32)
        for level in ["ZstdBestSpeed", "NoCompression"]:
            from weaviate.backup.backup import BackupCompressionLevel, BackupConfigCreate

            bid = f"flip-{level.lower()}"
            cfg = BackupConfigCreate(compression_level=BackupCompressionLevel(level))
            assert c.backup.create(bid, FS, config=cfg, wait_for_completion=True).status == BackupStatus.SUCCESS
            env = dict(os.environ, **backup_env(server.backups))
            ok = subprocess.run([str(BIN), "backup", "verify", "filesystem", bid], capture_output=True, text=True, env=env)
            assert ok.returncode == 0, ok.stdout + ok.stderr
            chunk = sorted((server.backups / bid / "node1" / "Article").glob("chunk-*"))[0]
            data = bytearray(chunk.read_bytes())
            data[len(data) // 2] ^= 0x01
            chunk.write_bytes(bytes(data))
            bad = subprocess.run([str(BIN), "backup", "verify", "filesystem", bid], capture_output=True, text=True, env=env)
            assert bad.returncode == 1, bad.stdout + bad.stderr
            assert "chunk-" in bad.stdout and "checksum mismatch" in bad.stdout, bad.stdout
            missing = subprocess.run([str(BIN), "backup", "verify", "filesystem", "nope"], capture_output=True, text=True, env=env)
            assert missing.returncode == 2
        c.collections.delete("Article")
        with pytest.raises(BackupFailedError) as e:
            c.backup.restore("flip-zstdbestspeed", FS, wait_for_completion=True)
        assert "checksum mismatch" in str(e.value)
        assert not c.collections.exists("Article")
        assert not list(server.data.glob(".restore-staging-*"))
        assert not list(server.data.glob("*.restored"))
