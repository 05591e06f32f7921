"""Shard status through weaviate-client: a READONLY shard refuses writes with Weaviate's
message, reads keep working, READY accepts writes again, and a READONLY set by hand survives
a restart."""

import uuid

import pytest
from weaviate.classes.config import Configure, DataType, Property
from weaviate.exceptions import UnexpectedStatusCodeError

# Thresholds off: the test machine's disk must not decide the outcome.
NO_THRESHOLDS = {
    "DISK_USE_WARNING_PERCENTAGE": "0",
    "DISK_USE_READONLY_PERCENTAGE": "0",
    "DISK_USE_READONLY_MIN_FREE_MB": "0",
}


def _create(client, name):
    return client.collections.create(
        name,
        properties=[Property(name="title", data_type=DataType.TEXT)],
        vector_config=Configure.Vectors.self_provided(),
    )


def test_readonly_refuses_inserts_until_ready(make_weft):
    w = make_weft(NO_THRESHOLDS).start()
    with w.client() as client:
        col = _create(client, "Shardy")
        first = col.data.insert({"title": "before"}, vector=[0.1, 0.2])

        updated = col.config.update_shards("READONLY")
        assert len(updated) == 1
        assert [s.status for s in col.config.get_shards()] == ["READONLY"]
        refused = uuid.uuid4()
        with pytest.raises(UnexpectedStatusCodeError) as err:
            col.data.insert({"title": "refused"}, vector=[0.3, 0.4], uuid=refused)
        assert "store is read-only due to: manually set by user" in str(err.value)
        # Reads keep working; nothing was written.
        assert col.data.exists(first)
        assert not col.data.exists(refused)

        col.config.update_shards("READY")
        assert [s.status for s in col.config.get_shards()] == ["READY"]
        second = col.data.insert({"title": "accepted"}, vector=[0.3, 0.4])
        assert col.data.exists(second)


def test_manual_readonly_survives_restart(make_weft):
    w = make_weft(NO_THRESHOLDS).start()
    with w.client() as client:
        col = _create(client, "Sticky")
        col.config.update_shards("READONLY")
    assert w.terminate() == 0

    w.start()
    with w.client() as client:
        col = client.collections.get("Sticky")
        assert [s.status for s in col.config.get_shards()] == ["READONLY"]
        refused = uuid.uuid4()
        with pytest.raises(UnexpectedStatusCodeError):
            col.data.insert({"title": "refused"}, vector=[0.1, 0.2], uuid=refused)
        col.config.update_shards("READY")
        accepted = col.data.insert({"title": "accepted"}, vector=[0.1, 0.2])
    w.kill9()

    w.start()
    with w.client() as client:
        col = client.collections.get("Sticky")
        assert [s.status for s in col.config.get_shards()] == ["READY"]
        assert col.data.exists(accepted)
        assert not col.data.exists(refused)
