"""Queries end to end through weaviate-client 4.24.1 (gRPC `Search`): `near_vector`,
`near_object`, `fetch_objects`, `fetch_object_by_id`, `iterator()`, metadata, vectors, every
property type, named vectors, and clear errors for what weft does not serve yet."""

import datetime
import math
import random
import time
import uuid

import pytest
from all_types import ALL_TYPES as ALL_TYPES_BASE
from all_types import sample_properties
from conftest import Weft
from weaviate.classes.config import Configure, DataType, Property, VectorDistances
from weaviate.classes.data import DataObject, GeoCoordinate
from weaviate.classes.query import Filter, MetadataQuery, Sort
from weaviate.exceptions import WeaviateQueryError

DIM = 32
N = 10_000


def cosine_distance(a, b) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return 1.0 - dot / (na * nb)


def unit(v):
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def close(a, b, tol=1e-5) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, abs_tol=tol) for x, y in zip(a, b))


def hnsw(distance=VectorDistances.COSINE, name=None):
    return Configure.Vectors.self_provided(
        name=name, vector_index_config=Configure.VectorIndex.hnsw(distance_metric=distance)
    )


class Corpus:
    """10k objects with distinct random 32-d vectors in one cosine HNSW collection."""

    def __init__(self, server: Weft):
        self.server = server
        rng = random.Random(20240611)
        self.vectors = [[rng.gauss(0.0, 1.0) for _ in range(DIM)] for _ in range(N)]
        # Normalised copies for the brute-force reference (cosine = dot of unit vectors).
        self.units = [unit(v) for v in self.vectors]
        self.ids = [uuid.UUID(int=(i + 1) * 7919) for i in range(N)]
        self.rng = rng

    def brute_force(self, query, k):
        q = unit(query)
        scored = sorted(
            range(N), key=lambda i: -sum(x * y for x, y in zip(q, self.units[i]))
        )
        return [self.ids[i] for i in scored[:k]]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    server = Weft(tmp_path_factory.mktemp("query")).start()
    c = Corpus(server)
    try:
        with server.client() as client:
            client.collections.delete("Corpus")
            col = client.collections.create(
                "Corpus",
                properties=[
                    Property(name="title", data_type=DataType.TEXT),
                    Property(name="n", data_type=DataType.INT),
                ],
                vector_config=hnsw(),
            )
            objects = [
                DataObject(properties={"title": f"t{i}", "n": i}, vector=c.vectors[i], uuid=c.ids[i])
                for i in range(N)
            ]
            result = col.data.insert_many(objects)
            assert not result.has_errors, list(result.errors.items())[:3]
        yield c
    finally:
        server.stop()


def test_near_vector_finds_each_object_first(corpus):
    with corpus.server.client() as client:
        col = client.collections.get("Corpus")
        for i in random.Random(1).sample(range(N), 25):
            res = col.query.near_vector(
                corpus.vectors[i], limit=10, return_metadata=MetadataQuery(distance=True)
            )
            assert len(res.objects) == 10
            top = res.objects[0]
            assert top.uuid == corpus.ids[i], i
            assert top.properties == {"title": f"t{i}", "n": i}
            assert top.collection == "Corpus"
            assert abs(top.metadata.distance) < 1e-4


def test_near_vector_recall_at_10(corpus):
    rng = random.Random(2)
    queries = [[rng.gauss(0.0, 1.0) for _ in range(DIM)] for _ in range(50)]
    found = 0
    with corpus.server.client() as client:
        col = client.collections.get("Corpus")
        for q in queries:
            res = col.query.near_vector(q, limit=10, return_properties=[])
            assert res.objects[0].properties == {}
            truth = set(corpus.brute_force(q, 10))
            found += len(truth & {o.uuid for o in res.objects})
    recall = found / (10 * len(queries))
    assert recall >= 0.95, recall


def test_metadata_distance_certainty_and_times(corpus):
    q = corpus.vectors[123]
    started = datetime.datetime.now(datetime.timezone.utc)
    with corpus.server.client() as client:
        col = client.collections.get("Corpus")
        res = col.query.near_vector(
            q,
            limit=20,
            return_metadata=MetadataQuery(distance=True, certainty=True, creation_time=True),
        )
    distances = [o.metadata.distance for o in res.objects]
    assert distances == sorted(distances)
    for o in res.objects:
        m = o.metadata
        assert math.isclose(m.certainty, 1 - m.distance / 2, abs_tol=1e-5)
        i = corpus.ids.index(o.uuid)
        assert math.isclose(m.distance, cosine_distance(q, corpus.vectors[i]), abs_tol=1e-4)
        age = started - m.creation_time
        assert datetime.timedelta(0) <= age < datetime.timedelta(minutes=30), m.creation_time
        assert m.last_update_time is None, "not asked for"
        assert m.score is None


def test_include_vector_returns_the_vector(corpus):
    with corpus.server.client() as client:
        col = client.collections.get("Corpus")
        res = col.query.near_vector(corpus.vectors[7], limit=3, include_vector=True)
        assert res.objects[0].uuid == corpus.ids[7]
        for o in res.objects:
            i = corpus.ids.index(o.uuid)
            assert close(o.vector["default"], corpus.vectors[i])
        plain = col.query.near_vector(corpus.vectors[7], limit=1)
        assert plain.objects[0].vector == {}


def test_near_object(corpus):
    with corpus.server.client() as client:
        col = client.collections.get("Corpus")
        by_object = col.query.near_object(
            corpus.ids[42], limit=5, return_metadata=MetadataQuery(distance=True)
        )
        by_vector = col.query.near_vector(corpus.vectors[42], limit=5)
        assert [o.uuid for o in by_object.objects] == [o.uuid for o in by_vector.objects]
        assert by_object.objects[0].uuid == corpus.ids[42]
        assert abs(by_object.objects[0].metadata.distance) < 1e-4
        with pytest.raises(WeaviateQueryError, match="not found"):
            col.query.near_object(uuid.uuid4(), limit=5)


def test_distance_and_certainty_thresholds(corpus):
    q = corpus.vectors[900]
    with corpus.server.client() as client:
        col = client.collections.get("Corpus")
        top = col.query.near_vector(q, limit=50, return_metadata=MetadataQuery(distance=True))
        threshold = top.objects[9].metadata.distance
        near = col.query.near_vector(
            q, limit=50, distance=threshold, return_metadata=MetadataQuery(distance=True)
        )
        assert 1 <= len(near.objects) <= 10
        assert all(o.metadata.distance <= threshold for o in near.objects)
        sure = col.query.near_vector(
            q, limit=50, certainty=1 - threshold / 2, return_metadata=MetadataQuery(certainty=True)
        )
        assert [o.uuid for o in sure.objects] == [o.uuid for o in near.objects]
        assert all(o.metadata.certainty >= 1 - threshold / 2 - 1e-6 for o in sure.objects)
        tight = col.query.near_object(corpus.ids[900], limit=50, distance=1e-4)
        assert [o.uuid for o in tight.objects] == [corpus.ids[900]]


def test_fetch_objects_limit_offset_and_default_limit(corpus):
    with corpus.server.client() as client:
        col = client.collections.get("Corpus")
        first7 = [o.uuid for o in col.query.fetch_objects(limit=7).objects]
        page = col.query.fetch_objects(limit=5, offset=2, return_properties=["title"])
        assert [o.uuid for o in page.objects] == first7[2:7]
        assert all(set(o.properties) == {"title"} for o in page.objects)
        # limit 0 on the wire = QUERY_DEFAULTS_LIMIT (10 by default).
        assert len(col.query.fetch_objects().objects) == 10
        with pytest.raises(WeaviateQueryError, match="QUERY_MAXIMUM_RESULTS"):
            col.query.fetch_objects(limit=10_000, offset=1)


def test_fetch_object_by_id(corpus):
    with corpus.server.client() as client:
        col = client.collections.get("Corpus")
        got = col.query.fetch_object_by_id(corpus.ids[3], include_vector=True)
        assert got is not None
        assert got.uuid == corpus.ids[3]
        assert got.properties == {"title": "t3", "n": 3}
        assert close(got.vector["default"], corpus.vectors[3])
        assert got.metadata.creation_time is not None
        assert got.metadata.last_update_time >= got.metadata.creation_time
        assert col.query.fetch_object_by_id(uuid.uuid4()) is None


def test_iterator_visits_every_object_once(corpus):
    with corpus.server.client() as client:
        col = client.collections.get("Corpus")
        seen = [o.uuid for o in col.iterator()]
    assert len(seen) == N
    assert set(seen) == set(corpus.ids)


ALL_TYPES = ALL_TYPES_BASE + [Property(name="unset", data_type=DataType.TEXT)]


def test_every_property_type_round_trips(weft):
    props = sample_properties()
    with weft.client() as client:
        client.collections.delete("Types")
        col = client.collections.create("Types", properties=ALL_TYPES, vector_config=hnsw())
        obj_id = uuid.UUID(int=77)
        result = col.data.insert_many([DataObject(properties=props, uuid=obj_id, vector=[0.1, 0.2])])
        assert not result.has_errors, result.errors
        got = col.query.fetch_object_by_id(obj_id).properties
        some = col.query.fetch_objects(limit=1, return_properties=["int", "dates"]).objects[0]
    expected = dict(props)
    expected["geo"] = got["geo"]  # compared below with float32 tolerance
    assert got == expected
    assert isinstance(got["int"], int) and isinstance(got["obj"]["size"], int)
    assert all(isinstance(x, int) for x in got["ints"])
    assert isinstance(got["number"], float)
    assert "unset" not in got
    assert math.isclose(got["geo"].latitude, 52.52, abs_tol=1e-4)
    assert math.isclose(got["geo"].longitude, 13.405, abs_tol=1e-4)
    assert some.properties == {"int": 42, "dates": props["dates"]}


def test_named_vectors_and_target_vector(weft):
    a = {i: [math.cos(i * 0.1), math.sin(i * 0.1)] for i in range(50)}
    b = {i: [math.sin(i * 0.7 + k) for k in range(3)] for i in range(50)}
    with weft.client() as client:
        client.collections.delete("Named")
        col = client.collections.create(
            "Named",
            properties=[Property(name="i", data_type=DataType.INT)],
            vector_config=[hnsw(name="a"), hnsw(name="b", distance=VectorDistances.L2_SQUARED)],
        )
        result = col.data.insert_many(
            [
                DataObject(properties={"i": i}, vector={"a": a[i], "b": b[i]}, uuid=uuid.UUID(int=i + 1))
                for i in range(50)
            ]
        )
        assert not result.has_errors, result.errors
        by_a = col.query.near_vector(a[10], target_vector="a", limit=3, include_vector=True)
        assert by_a.objects[0].properties["i"] == 10
        assert set(by_a.objects[0].vector) == {"a", "b"}
        assert close(by_a.objects[0].vector["b"], b[10])
        by_b = col.query.near_vector(
            b[33], target_vector="b", limit=3, include_vector=["b"],
            return_metadata=MetadataQuery(distance=True),
        )
        assert by_b.objects[0].properties["i"] == 33
        assert set(by_b.objects[0].vector) == {"b"}
        assert abs(by_b.objects[0].metadata.distance) < 1e-5
        near_obj = col.query.near_object(uuid.UUID(int=34), target_vector="b", limit=1)
        assert near_obj.objects[0].properties["i"] == 33
        with pytest.raises(WeaviateQueryError, match="several named vectors"):
            col.query.near_vector(a[1], limit=3)
        with pytest.raises(WeaviateQueryError, match="multiple target vectors are not supported"):
            col.query.near_vector(a[1], target_vector=["a", "b"], limit=3)
        with pytest.raises(WeaviateQueryError, match="no named vector"):
            col.query.near_vector(a[1], target_vector="c", limit=3)


def test_l2_squared_distances_and_certainty_errors(weft):
    vectors = [[float(i), float(i % 7), 1.0] for i in range(30)]
    with weft.client() as client:
        client.collections.delete("Euclid")
        col = client.collections.create(
            "Euclid", vector_config=hnsw(distance=VectorDistances.L2_SQUARED)
        )
        result = col.data.insert_many(
            [DataObject(properties={}, vector=v, uuid=uuid.UUID(int=i + 1)) for i, v in enumerate(vectors)]
        )
        assert not result.has_errors, result.errors
        q = [10.0, 3.0, 1.0]
        res = col.query.near_vector(q, limit=5, return_metadata=MetadataQuery(distance=True))
        want = sorted(sum((x - y) ** 2 for x, y in zip(q, v)) for v in vectors)[:5]
        assert [o.metadata.distance for o in res.objects] == pytest.approx(want)
        with pytest.raises(WeaviateQueryError, match="certainty"):
            col.query.near_vector(q, limit=5, certainty=0.5)
        with pytest.raises(WeaviateQueryError, match="certainty"):
            col.query.near_vector(q, limit=5, return_metadata=MetadataQuery(certainty=True))


def test_unsupported_features_fail_fast_with_a_clear_error(weft):
    with weft.client() as client:
        client.collections.delete("Plain")
        col = client.collections.create(
            "Plain", properties=[Property(name="title", data_type=DataType.TEXT)], vector_config=hnsw()
        )
        col.data.insert_many([DataObject(properties={"title": "hello"}, vector=[1.0, 0.0])])
        calls = {
            "near_text": lambda: col.query.near_text("hello"),
        }
        for name, call in calls.items():
            started = time.monotonic()
            with pytest.raises(WeaviateQueryError, match="not supported by weft yet"):
                call()
            assert time.monotonic() - started < 5, f"{name} was retried"
        # A tenant on a single-tenant class, and a reference path through a property that is
        # not a reference: clear errors, no retry.
        with pytest.raises(WeaviateQueryError, match="multi-tenancy disabled, but request was with tenant"):
            col.with_tenant("t1").query.fetch_objects()
        with pytest.raises(WeaviateQueryError, match="no such prop with name 'author'"):
            col.query.fetch_objects(filters=Filter.by_ref("author").by_property("name").equal("a"))
        started = time.monotonic()
        with pytest.raises(WeaviateQueryError):
            client.collections.get("Missing").query.fetch_objects()
        assert time.monotonic() - started < 5
