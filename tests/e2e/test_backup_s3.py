"""Backups on S3 end to end: the `backup-s3` module against a real S3-compatible server on
loopback (moto's standalone server, `s3_server` in s3_server.py), driven through
weaviate-client 4.24.1; the stored objects are inspected and corrupted with boto3, and checked
offline with `weft backup verify s3 <id>`.
"""

import math
import os
import random
import subprocess
import uuid

import pytest
from weaviate.backup.backup import BackupStatus, BackupStorage
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.exceptions import BackupFailedError

from conftest import BIN

MIB = 1 << 20
PART_SIZE = 8 * MIB  # weft's multipart part size


def s3_weft(make_weft, s3_server, bucket, path=None, **extra):
    env = s3_server.env(bucket, path)
    env.update(extra)
    return make_weft(env).start()


def backup_verify(env: dict, backup_id: str) -> subprocess.CompletedProcess:
    """`weft backup verify s3 <id>` with the module's variables `env`."""
    full = dict(os.environ)
    full.pop("PERSISTENCE_DATA_PATH", None)
    full.update(env)
    return subprocess.run(
        [str(BIN), "backup", "verify", "s3", backup_id],
        capture_output=True,
        text=True,
        timeout=300,
        env=full,
    )


def chunk_keys(keys: dict, prefix: str) -> dict:
    return {k: v for k, v in keys.items() if k.startswith(prefix) and "/chunk-" in k}


def self_provided(index=None):
    return Configure.Vectors.self_provided(
        vector_index_config=index if index is not None else Configure.VectorIndex.hnsw()
    )


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def close(a, b, tol=1e-5) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, abs_tol=tol) for x, y in zip(a, b))


ARTICLE_PROPS = [
    Property(name="title", data_type=DataType.TEXT),
    Property(name="n", data_type=DataType.INT),
    Property(name="score", data_type=DataType.NUMBER),
    Property(name="tags", data_type=DataType.TEXT_ARRAY),
    Property(name="even", data_type=DataType.BOOL),
]


def articles(count: int, dim: int, seed: int):
    """`count` objects with distinct random unit vectors and a few typed properties."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        out.append(
            DataObject(
                properties={
                    "title": f"article {i}",
                    "n": i,
                    "score": i / 4,
                    "tags": [f"t{i % 7}", f"u{i % 3}"],
                    "even": i % 2 == 0,
                },
                vector=unit([rng.gauss(0.0, 1.0) for _ in range(dim)]),
                uuid=uuid.UUID(int=seed * 1_000_000 + i + 1),
            )
        )
    return out


def insert(col, objects, batch=1000):
    for start in range(0, len(objects), batch):
        result = col.data.insert_many(objects[start : start + batch])
        assert not result.has_errors, result.errors


def check_articles(col, objects, probes):
    """The collection holds exactly `objects`: count, properties and vector of each probe, and
    a near_vector query with a probe's vector finds that probe first."""
    assert len(col) == len(objects)
    for i in probes:
        obj = objects[i]
        got = col.query.fetch_object_by_id(obj.uuid, include_vector=True)
        assert got is not None, f"object {i} missing after restore"
        assert got.properties == obj.properties
        assert close(got.vector["default"], obj.vector)
        res = col.query.near_vector(obj.vector, limit=3, return_properties=["n"])
        assert res.objects[0].uuid == obj.uuid
        assert res.objects[0].properties["n"] == i


def test_create_and_restore_round_trip(make_weft, s3_server):
    bucket = s3_server.make_bucket()
    server = s3_weft(make_weft, s3_server, bucket)
    objects = articles(300, 48, seed=1)
    with server.client() as client:
        col = client.collections.create(
            "Article", properties=ARTICLE_PROPS, vector_config=self_provided()
        )
        insert(col, objects)
        other = client.collections.create("Other", vector_config=self_provided())
        other.data.insert_many([DataObject(properties={}, vector=[1.0, 0.0])])

        created = client.backup.create(
            backup_id="round-trip",
            backend=BackupStorage.S3,
            include_collections=["Article"],
            wait_for_completion=True,
        )
        assert created.status == BackupStatus.SUCCESS
        assert created.collections == ["Article"]

        status = client.backup.get_create_status("round-trip", BackupStorage.S3)
        assert status.status == BackupStatus.SUCCESS
        assert status.backup_id == "round-trip"
        assert status.path == f"s3://{bucket}/round-trip"

        listed = client.backup.list_backups(BackupStorage.S3)
        assert [(b.backup_id, b.status, b.collections) for b in listed] == [
            ("round-trip", BackupStatus.SUCCESS, ["Article"])
        ]

        keys = s3_server.keys(bucket)
        assert "round-trip/backup_config.json" in keys
        assert "round-trip/node1/backup.json" in keys
        assert chunk_keys(keys, "round-trip/node1/Article/")
        assert not [k for k in keys if "/Other/" in k]

        client.collections.delete("Article")
        assert not client.collections.exists("Article")
        restored = client.backup.restore(
            backup_id="round-trip", backend=BackupStorage.S3, wait_for_completion=True
        )
        assert restored.status == BackupStatus.SUCCESS
        assert restored.collections == ["Article"]
        assert client.backup.get_restore_status("round-trip", "s3").status == BackupStatus.SUCCESS

        col = client.collections.get("Article")
        check_articles(col, objects, probes=[0, 1, 77, 150, 299])
        assert len(client.collections.get("Other")) == 1
        # The restored collection takes writes.
        col.data.insert({"title": "after", "n": 1000}, vector=objects[0].vector)
        assert len(col) == 301


def test_multipart_chunk_upload_and_restore_on_a_new_node(make_weft, s3_server):
    bucket = s3_server.make_bucket()
    env = {"BACKUP_CHUNK_SIZE_MB": "20"}
    source = s3_weft(make_weft, s3_server, bucket, **env)
    rng = random.Random(7)
    count, dim = 5000, 1024  # 20 MB of float32 vectors, barely compressible
    vectors = [[rng.random() for _ in range(dim)] for _ in range(count)]
    ids = [uuid.UUID(int=i + 1) for i in range(count)]
    with source.client() as client:
        # A flat index: building HNSW over 5000 1024-d vectors takes minutes in a debug build.
        col = client.collections.create(
            "Big",
            properties=[Property(name="n", data_type=DataType.INT)],
            vector_config=self_provided(Configure.VectorIndex.flat()),
        )
        insert(
            col,
            [DataObject(properties={"n": i}, vector=v, uuid=ids[i]) for i, v in enumerate(vectors)],
            batch=500,
        )
        created = client.backup.create(
            backup_id="big", backend="s3", include_collections="Big", wait_for_completion=True
        )
        assert created.status == BackupStatus.SUCCESS
    source.terminate()

    s3 = s3_server.client()
    chunks = chunk_keys(s3_server.keys(bucket), "big/node1/Big/")
    assert chunks, s3_server.keys(bucket)
    big = {k: size for k, size in chunks.items() if size > PART_SIZE}
    assert big, f"no chunk over {PART_SIZE} bytes: {chunks}"
    for key, size in big.items():
        # S3 gives a multipart object the ETag "<md5 of the parts' md5s>-<number of parts>".
        etag = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
        assert "-" in etag, f"{key} ({size} bytes) was not uploaded multipart: ETag {etag}"
        assert int(etag.rsplit("-", 1)[1]) == math.ceil(size / PART_SIZE), (key, size, etag)
    # The chunks keep close to the 20 MiB target (a file part may overshoot a little).
    assert max(chunks.values()) < 24 * MIB, chunks

    checked = backup_verify(s3_server.env(bucket), "big")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"chunks: {len(chunks)}" in checked.stdout, checked.stdout

    # Restore onto a fresh node (empty data directory) from the same bucket.
    target = s3_weft(make_weft, s3_server, bucket, **env)
    with target.client() as client:
        assert not client.collections.exists("Big")
        restored = client.backup.restore(backup_id="big", backend="s3", wait_for_completion=True)
        assert restored.status == BackupStatus.SUCCESS
        col = client.collections.get("Big")
        assert len(col) == count
        for i in (0, 2499, 4999):
            got = col.query.fetch_object_by_id(ids[i], include_vector=True)
            assert got.properties == {"n": i}
            assert close(got.vector["default"], vectors[i])
            res = col.query.near_vector(vectors[i], limit=1, return_properties=["n"])
            assert res.objects[0].uuid == ids[i]


def test_verify_and_restore_detect_a_corrupted_chunk(make_weft, s3_server):
    bucket = s3_server.make_bucket()
    env = s3_server.env(bucket)
    server = s3_weft(make_weft, s3_server, bucket)
    objects = articles(400, 64, seed=3)
    with server.client() as client:
        col = client.collections.create(
            "Fragile", properties=ARTICLE_PROPS, vector_config=self_provided()
        )
        insert(col, objects)
        client.collections.create("Bystander", vector_config=self_provided()).data.insert_many(
            [DataObject(properties={}, vector=[0.0, 1.0])]
        )
        assert (
            client.backup.create(
                backup_id="fragile",
                backend=BackupStorage.S3,
                include_collections=["Fragile"],
                wait_for_completion=True,
            ).status
            == BackupStatus.SUCCESS
        )

        good = backup_verify(env, "fragile")
        assert good.returncode == 0, good.stdout + good.stderr
        assert "problems: 0" in good.stdout, good.stdout

        # Flip one byte in the middle of the largest chunk (same length, different content).
        s3 = s3_server.client()
        chunks = chunk_keys(s3_server.keys(bucket), "fragile/node1/Fragile/")
        key = max(chunks, key=chunks.get)
        data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert len(data) == chunks[key] > 1000
        data[len(data) // 2] ^= 0xFF
        s3.put_object(Bucket=bucket, Key=key, Body=bytes(data))

        bad = backup_verify(env, "fragile")
        assert bad.returncode == 1, (bad.returncode, bad.stdout, bad.stderr)
        assert "problems: 0" not in bad.stdout, bad.stdout
        assert f"{key}: checksum mismatch" in bad.stdout, bad.stdout

        client.collections.delete("Fragile")
        with pytest.raises(BackupFailedError):
            client.backup.restore(
                backup_id="fragile", backend=BackupStorage.S3, wait_for_completion=True
            )
        status = client.backup.get_restore_status("fragile", BackupStorage.S3)
        assert status.status == BackupStatus.FAILED
        assert key in (status.error or ""), status.error
        assert not client.collections.exists("Fragile")
        assert len(client.collections.get("Bystander")) == 1
        # Nothing of the failed restore is left behind: the class can be created anew.
        client.collections.create("Fragile", vector_config=self_provided())
        assert len(client.collections.get("Fragile")) == 0


def test_root_prefix_is_honoured(make_weft, s3_server):
    bucket = s3_server.make_bucket()
    root = "team-a/weft-backups"
    server = s3_weft(make_weft, s3_server, bucket, path=root)
    objects = articles(120, 16, seed=5)
    with server.client() as client:
        col = client.collections.create(
            "Prefixed", properties=ARTICLE_PROPS, vector_config=self_provided()
        )
        insert(col, objects)
        created = client.backup.create(
            backup_id="under-root", backend="s3", wait_for_completion=True
        )
        assert created.status == BackupStatus.SUCCESS
        assert created.collections == ["Prefixed"]
        status = client.backup.get_create_status("under-root", "s3")
        assert status.path == f"s3://{bucket}/{root}/under-root"

        keys = s3_server.keys(bucket)
        assert keys
        outside = [k for k in keys if not k.startswith(f"{root}/under-root/")]
        assert not outside, outside
        assert f"{root}/under-root/backup_config.json" in keys
        assert f"{root}/under-root/node1/backup.json" in keys
        assert chunk_keys(keys, f"{root}/under-root/node1/Prefixed/")

        assert [b.backup_id for b in client.backup.list_backups("s3")] == ["under-root"]
        assert backup_verify(s3_server.env(bucket, root), "under-root").returncode == 0
        # Without the prefix the backup is not there: verify cannot check it.
        missing = backup_verify(s3_server.env(bucket), "under-root")
        assert missing.returncode == 2, (missing.returncode, missing.stdout, missing.stderr)

        client.collections.delete("Prefixed")
        restored = client.backup.restore(
            backup_id="under-root", backend="s3", wait_for_completion=True
        )
        assert restored.status == BackupStatus.SUCCESS
        check_articles(client.collections.get("Prefixed"), objects, probes=[0, 60, 119])


def test_backup_s3_without_bucket_fails_at_startup(make_weft):
    server = make_weft({"ENABLE_MODULES": "backup-s3", "BACKUP_S3_ENDPOINT": "127.0.0.1:1"})
    with pytest.raises(RuntimeError) as err:
        server.start(timeout=30)
    assert "weft exited with" in str(err.value)
    assert server.proc.returncode not in (None, 0)
    assert "BACKUP_S3_BUCKET" in str(err.value)
    fatal = [line for line in server.log_lines() if line.get("level") == "fatal"]
    assert fatal and "BACKUP_S3_BUCKET" in fatal[-1]["msg"], server.log()
