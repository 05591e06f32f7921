"""Objects end to end through weaviate-client 4.24.1: REST single-object calls and gRPC
`BatchObjects` (`insert_many` and the batching context managers), checked through plain REST
reads (`GET /v1/objects/{Class}/{id}`), since gRPC Search is not served yet."""

import datetime
import json
import math
import urllib.error
import urllib.request
import uuid

import pytest
from all_types import ALL_TYPES, sample_properties
from weaviate.classes.config import Configure, DataType, Property, ReferenceProperty
from weaviate.classes.data import DataObject, GeoCoordinate
from weaviate.exceptions import WeaviateInsertManyAllFailedError


def rest_get(server, cls: str, obj_id, vector: bool = True):
    """The object as `GET /v1/objects/{cls}/{id}` returns it, or None on 404."""
    query = "?include=vector" if vector else ""
    url = f"http://127.0.0.1:{server.port}/v1/objects/{cls}/{obj_id}{query}"
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return None
        raise


def rest_ids(server, cls: str) -> set:
    """Every id of `cls` (up to QUERY_MAXIMUM_RESULTS) via `GET /v1/objects`."""
    url = f"http://127.0.0.1:{server.port}/v1/objects?class={cls}&limit=10000"
    with urllib.request.urlopen(url, timeout=60) as r:
        return {o["id"] for o in json.loads(r.read())["objects"]}


def close(a, b, tol=1e-6) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, abs_tol=tol) for x, y in zip(a, b))


def vec(i: int, dim: int = 8) -> list:
    """A distinct, deterministic vector per `i`."""
    return [math.sin(i * 0.37 + k * 1.3) for k in range(dim)]


BASIC = [
    Property(name="title", data_type=DataType.TEXT),
    Property(name="count", data_type=DataType.INT),
]


def make(client, name: str, props=BASIC, **kw):
    client.collections.delete(name)
    kw.setdefault("vector_config", Configure.Vectors.self_provided())
    return client.collections.create(name, properties=props, **kw)


def test_insert_with_vector(weft):
    with weft.client() as client:
        col = make(client, "Single")
        obj_id = col.data.insert({"title": "hello", "count": 3}, vector=[0.5, 0.25, 1.0])
        assert col.data.exists(obj_id)
        got = rest_get(weft, "Single", obj_id)
        assert got["properties"] == {"title": "hello", "count": 3}
        assert got["vectors"]["default"] == [0.5, 0.25, 1.0]


def test_insert_many_10000_with_vectors_survives_kill9(weft):
    n = 10_000
    with weft.client() as client:
        col = make(client, "Many")
        objects = [
            DataObject(properties={"title": f"t{i}", "count": i}, vector=vec(i), uuid=uuid.UUID(int=i + 1))
            for i in range(n)
        ]
        result = col.data.insert_many(objects)
        assert not result.has_errors, list(result.errors.items())[:3]
        assert len(result.uuids) == n
        for i in (0, 1, 4_999, 9_999):
            assert col.data.exists(uuid.UUID(int=i + 1))
    assert len(rest_ids(weft, "Many")) == n

    # Acknowledged batches are durable: they survive kill -9.
    weft.kill9()
    weft.start()
    assert rest_ids(weft, "Many") == {str(uuid.UUID(int=i + 1)) for i in range(n)}
    for i in (0, 123, 9_999):
        got = rest_get(weft, "Many", uuid.UUID(int=i + 1))
        assert got["properties"] == {"title": f"t{i}", "count": i}
        assert close(got["vectors"]["default"], vec(i))
    with weft.client() as client:
        assert client.collections.get("Many").data.exists(uuid.UUID(int=n))


def test_insert_many_bad_objects_fail_alone(weft):
    with weft.client() as client:
        col = make(client, "Mixed")
        objects = [
            DataObject(properties={"title": f"ok{i}", "count": i}, vector=vec(i), uuid=uuid.UUID(int=100 + i))
            for i in range(6)
        ]
        objects[2] = DataObject(properties={"count": "many"}, uuid=uuid.UUID(int=102))
        objects[4] = DataObject(
            properties={"title": "nan"}, vector=[float("nan"), 1.0], uuid=uuid.UUID(int=104)
        )
        result = col.data.insert_many(objects)
        assert result.has_errors
        assert sorted(result.errors) == [2, 4]
        assert "count" in result.errors[2].message
        assert "NaN" in result.errors[4].message
        assert sorted(result.uuids) == [0, 1, 3, 5]
        for i in (0, 1, 3, 5):
            assert col.data.exists(uuid.UUID(int=100 + i))
            assert rest_get(weft, "Mixed", uuid.UUID(int=100 + i))["properties"]["title"] == f"ok{i}"
        assert not col.data.exists(uuid.UUID(int=102))
        assert not col.data.exists(uuid.UUID(int=104))

        # Everything failing is an exception in the client.
        with pytest.raises(WeaviateInsertManyAllFailedError):
            col.data.insert_many([{"count": "x"}, {"count": "y"}])


def test_exists_replace_update_delete(weft):
    with weft.client() as client:
        col = make(client, "Life", props=BASIC + [Property(name="note", data_type=DataType.TEXT)])
        obj_id = uuid.uuid4()
        assert not col.data.exists(obj_id)
        first = {"title": "a", "count": 1, "note": "n"}
        col.data.insert_many([DataObject(properties=first, uuid=obj_id, vector=[1.0, 0.0])])
        assert col.data.exists(obj_id)

        col.data.replace(obj_id, properties={"title": "b", "count": 2}, vector=[0.0, 1.0])
        got = rest_get(weft, "Life", obj_id)
        assert got["properties"] == {"title": "b", "count": 2}, "replace drops other properties"
        assert got["vectors"]["default"] == [0.0, 1.0]

        col.data.update(obj_id, properties={"note": "merged"})
        got = rest_get(weft, "Life", obj_id)
        assert got["properties"] == {"title": "b", "count": 2, "note": "merged"}
        assert got["vectors"]["default"] == [0.0, 1.0], "merge keeps the vector"

        # Upsert through the batch overwrites.
        col.data.insert_many([DataObject(properties={"title": "c"}, uuid=obj_id, vector=[1.0, 1.0])])
        assert rest_get(weft, "Life", obj_id)["properties"] == {"title": "c"}

        assert col.data.delete_by_id(obj_id) is True
        assert not col.data.exists(obj_id)
        assert rest_get(weft, "Life", obj_id) is None
        assert col.data.delete_by_id(obj_id) is False


def test_batch_context_managers(weft):
    with weft.client() as client:
        make(client, "Fixed")
        col = make(client, "Dynamic")
        with client.batch.fixed_size(batch_size=100, concurrent_requests=2) as batch:
            for i in range(550):
                batch.add_object(
                    collection="Fixed",
                    properties={"title": f"f{i}", "count": i},
                    vector=vec(i),
                    uuid=uuid.UUID(int=1_000 + i),
                )
        assert client.batch.failed_objects == []
        with col.batch.dynamic() as batch:
            for i in range(1_234):
                batch.add_object(
                    properties={"title": f"d{i}", "count": i},
                    vector=vec(i),
                    uuid=uuid.UUID(int=5_000 + i),
                )
        assert col.batch.failed_objects == []
    assert len(rest_ids(weft, "Fixed")) == 550
    assert len(rest_ids(weft, "Dynamic")) == 1_234
    got = rest_get(weft, "Dynamic", uuid.UUID(int=5_000 + 1_233))
    assert got["properties"] == {"title": "d1233", "count": 1233}
    assert close(got["vectors"]["default"], vec(1_233))


def test_batch_reports_failed_objects(weft):
    with weft.client() as client:
        col = make(client, "Failing")
        with col.batch.fixed_size(batch_size=10) as batch:
            for i in range(25):
                props = {"title": f"x{i}", "count": "bad" if i == 7 else i}
                batch.add_object(properties=props, uuid=uuid.UUID(int=9_000 + i))
        failed = col.batch.failed_objects
        assert len(failed) == 1
        assert str(failed[0].object_.uuid) == str(uuid.UUID(int=9_007))
    assert len(rest_ids(weft, "Failing")) == 24


def test_autoschema_adds_inferred_properties(weft):
    with weft.client() as client:
        col = make(client, "Auto")
        result = col.data.insert_many(
            [
                DataObject(
                    properties={"title": "a", "score": 1.5, "labels": ["x", "y"], "seen": True},
                    uuid=uuid.UUID(int=1),
                ),
            ]
        )
        assert not result.has_errors, result.errors
        types = {p.name: p.data_type for p in col.config.get().properties}
        assert types["score"] == DataType.NUMBER
        assert types["labels"] == DataType.TEXT_ARRAY
        assert types["seen"] == DataType.BOOL
        assert rest_get(weft, "Auto", uuid.UUID(int=1))["properties"]["labels"] == ["x", "y"]

        # A collection that does not exist yet is created.
        new = client.collections.get("Fresh")
        result = new.data.insert_many([DataObject(properties={"name": "n"}, uuid=uuid.UUID(int=2))])
        assert not result.has_errors, result.errors
        assert client.collections.exists("Fresh")


def test_autoschema_disabled_rejects_unknown_properties(make_weft):
    server = make_weft({"AUTOSCHEMA_ENABLED": "false"}).start()
    with server.client() as client:
        col = make(client, "Strict")
        result = col.data.insert_many(
            [
                DataObject(properties={"title": "ok"}, uuid=uuid.UUID(int=1)),
                DataObject(properties={"title": "no", "extra": 1}, uuid=uuid.UUID(int=2)),
            ]
        )
        assert sorted(result.errors) == [1]
        assert "no such prop with name 'extra'" in result.errors[1].message
        assert col.data.exists(uuid.UUID(int=1))
        assert not col.data.exists(uuid.UUID(int=2))
        assert "extra" not in {p.name for p in col.config.get().properties}
        with pytest.raises(WeaviateInsertManyAllFailedError, match="not found in schema"):
            client.collections.get("Missing").data.insert_many([{"title": "x"}])




def parse_date(s: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))


def test_every_data_type_round_trips(weft):
    props = sample_properties()
    when, later = props["dates"]
    ref = props["uuid"]
    with weft.client() as client:
        col = make(client, "Types", props=ALL_TYPES)
        obj_id = uuid.UUID(int=77)
        result = col.data.insert_many([DataObject(properties=props, uuid=obj_id, vector=[0.1, 0.2])])
        assert not result.has_errors, result.errors
    got = rest_get(weft, "Types", obj_id)["properties"]
    assert got["text"] == "héllo wörld"
    assert got["int"] == 42 and isinstance(got["int"], int)
    assert got["number"] == 2.5
    assert got["boolean"] is True
    assert parse_date(got["date"]) == when
    assert got["uuid"] == str(ref)
    assert got["texts"] == ["a", "b"]
    assert got["ints"] == props["ints"] and all(isinstance(x, int) for x in got["ints"])
    assert got["numbers"] == [1.5, -0.25]
    assert got["booleans"] == [True, False, True]
    assert [parse_date(d) for d in got["dates"]] == [when, later]
    assert got["uuids"] == [str(ref), str(uuid.UUID(int=7))]
    assert math.isclose(got["geo"]["latitude"], 52.52, abs_tol=1e-5)
    assert math.isclose(got["geo"]["longitude"], 13.405, abs_tol=1e-5)
    assert got["obj"] == {
        "name": "n",
        "size": 3,
        "tags": ["t1", "t2"],
        "weights": [0.5, 1.25],
        "inner": {"deep": False},
    }
    assert isinstance(got["obj"]["size"], int)
    assert got["objs"] == [{"k": "a", "v": 1.5}, {"k": "b", "v": 2.0}]


def test_references_named_vectors_and_multi_vectors(weft):
    with weft.client() as client:
        make(client, "Person", props=[Property(name="name", data_type=DataType.TEXT)])
        client.collections.delete("Book")
        col = client.collections.create(
            "Book",
            properties=[Property(name="title", data_type=DataType.TEXT)],
            references=[ReferenceProperty(name="author", target_collection="Person")],
            vector_config=[
                Configure.Vectors.self_provided(name="title_vec"),
                Configure.Vectors.self_provided(name="body_vec"),
            ],
        )
        person = uuid.UUID(int=1)
        client.collections.get("Person").data.insert({"name": "Ann"}, uuid=person)
        book = uuid.UUID(int=2)
        result = col.data.insert_many(
            [
                DataObject(
                    properties={"title": "B"},
                    references={"author": person},
                    vector={"title_vec": [1.0, 0.0], "body_vec": [0.0, 0.5, 0.5]},
                    uuid=book,
                ),
                DataObject(properties={"title": "multi"}, vector={"title_vec": [[1.0, 2.0], [3.0, 4.0]]}),
            ]
        )
        assert sorted(result.errors) == [1]
        assert "multi-vectors are not supported" in result.errors[1].message
    got = rest_get(weft, "Book", book)
    assert got["properties"]["author"] == [{"beacon": f"weaviate://localhost/Person/{person}"}]
    assert got["vectors"] == {"title_vec": [1.0, 0.0], "body_vec": [0.0, 0.5, 0.5]}
