"""`delete_many` end to end through weaviate-client 4.24.1 (gRPC `BatchDelete`) and REST
`DELETE /v1/batch/objects`: dry runs, verbose results, the `QUERY_MAXIMUM_RESULTS` cap, and a
`kill -9` in the middle of a large delete: afterwards each matched object is entirely there or
entirely gone, and `weft verify` is clean."""

import json
import random
import threading
import time
import urllib.request
import uuid

from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter

from conftest import weft_verify


def create(client, name="Doomed"):
    client.collections.delete(name)
    return client.collections.create(
        name,
        properties=[Property(name="n", data_type=DataType.INT), Property(name="tag", data_type=DataType.TEXT)],
        vector_config=Configure.Vectors.self_provided(),
    )


def fill(col, n, start=0):
    objs = [
        DataObject(
            properties={"n": i % 10, "tag": "even" if i % 2 == 0 else "odd"},
            uuid=uuid.UUID(int=i + 1),
            vector=[float(i % 97), 1.0, float(i % 13)],
        )
        for i in range(start, start + n)
    ]
    for k in range(0, len(objs), 1000):
        res = col.data.insert_many(objs[k : k + 1000])
        assert not res.has_errors, res.errors


def test_delete_many_dry_run_verbose_and_for_real(weft):
    with weft.client() as client:
        col = create(client)
        fill(col, 100)
        f = Filter.by_property("n").less_than(3)
        dry = col.data.delete_many(where=f, dry_run=True, verbose=True)
        assert dry.matches == 30 and dry.successful == 30 and dry.failed == 0
        assert sorted(o.uuid.int for o in dry.objects) == sorted(i + 1 for i in range(100) if i % 10 < 3)
        assert len(col) == 100
        res = col.data.delete_many(where=f)
        assert (res.matches, res.successful, res.failed) == (30, 30, 0)
        assert len(col) == 70
        assert col.query.fetch_objects(filters=f).objects == []
        again = col.data.delete_many(where=f)
        assert again.matches == 0


def test_rest_batch_delete_and_the_result_cap(make_weft):
    weft = make_weft({"QUERY_MAXIMUM_RESULTS": "25"}).start()
    with weft.client() as client:
        col = create(client)
        fill(col, 60)
    body = {
        "match": {"class": "Doomed", "where": {"operator": "Equal", "path": ["tag"], "valueText": "even"}},
        "output": "verbose",
        "dryRun": True,
    }
    url = f"http://127.0.0.1:{weft.port}/v1/batch/objects"

    def send(b):
        req = urllib.request.Request(url, data=json.dumps(b).encode(), method="DELETE")
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    dry = send(body)
    assert dry["dryRun"] is True and dry["results"]["matches"] == 30 and dry["results"]["limit"] == 25
    assert len(dry["results"]["objects"]) == 25
    assert {o["status"] for o in dry["results"]["objects"]} == {"DRYRUN"}
    body["dryRun"] = False
    body["output"] = "minimal"
    done = send(body)
    assert done["results"]["successful"] == 25 and done["results"]["objects"] == []
    left = send(body)
    assert left["results"]["matches"] == 5 and left["results"]["successful"] == 5
    with weft.client() as client:
        assert len(client.collections.get("Doomed")) == 30


def test_kill_9_during_delete_many_leaves_each_object_whole_or_gone(weft):
    rng = random.Random()
    n = 6000
    with weft.client() as client:
        col = create(client)
        fill(col, n)
    f = Filter.by_property("tag").equal("even")

    def delete():
        try:
            with weft.client() as c:
                c.collections.get("Doomed").data.delete_many(where=f)
        except Exception:  # the server dies under it
            pass

    t = threading.Thread(target=delete)
    t.start()
    time.sleep(rng.uniform(0.05, 0.6))
    weft.kill9()
    t.join()
    check = weft_verify(weft.data)
    assert check.returncode == 0, check.stdout + check.stderr
    weft.start()
    with weft.client() as client:
        col = client.collections.get("Doomed")
        listed = {o.uuid.int for o in col.iterator()}
        by_filter = {o.uuid.int for o in col.query.fetch_objects(filters=f, limit=10000).objects}
        evens = {i + 1 for i in range(0, n, 2)}
        odds = {i + 1 for i in range(1, n, 2)}
        assert odds <= listed, "an object the filter did not match was deleted"
        assert by_filter == listed & evens, "the index and the objects disagree"
        for i in rng.sample(sorted(listed & evens), min(20, len(listed & evens))):
            o = col.query.fetch_object_by_id(uuid.UUID(int=i), include_vector=True)
            assert o is not None and o.properties["tag"] == "even"
            hit = col.query.near_vector(o.vector["default"], limit=1, filters=Filter.by_id().equal(o.uuid))
            assert [h.uuid for h in hit.objects] == [o.uuid]
