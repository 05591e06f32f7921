"""Filters end to end through weaviate-client 4.24.1: `fetch_objects` and `near_vector` with
nested filters on every type, ids, timestamps, lengths, null state and geo ranges, checked
against a plain-Python evaluation of the same data; and the errors of bad filters."""

import datetime
import random
import uuid

import pytest
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject, GeoCoordinate
from weaviate.classes.query import Filter, GroupBy, MetadataQuery, Sort
from weaviate.exceptions import WeaviateQueryError

WORDS = ["alpha", "beta", "gamma", "delta"]


def make_objects(n=120, seed=3):
    rng = random.Random(seed)
    objs = []
    for i in range(n):
        props = {
            "title": " ".join(rng.sample(WORDS, rng.randint(1, 3))),
            "count": rng.randint(0, 9),
            "score": rng.randint(0, 8) / 2,
            "flag": rng.random() < 0.5,
            "tags": rng.sample(["red", "green", "blue"], rng.randint(0, 2)),
            "when": datetime.datetime(2024, 1, 1 + rng.randint(0, 9), tzinfo=datetime.timezone.utc),
        }
        if i % 7 == 0:
            del props["count"]
        if i % 5 == 0:
            props["place"] = GeoCoordinate(latitude=float(i % 3), longitude=0.0)
        vec = [rng.uniform(-1, 1) for _ in range(8)]
        objs.append((uuid.UUID(int=i + 1), props, vec))
    return objs


@pytest.fixture
def things(weft):
    with weft.client() as client:
        client.collections.delete("Thing")
        col = client.collections.create(
            "Thing",
            properties=[
                Property(name="title", data_type=DataType.TEXT),
                Property(name="count", data_type=DataType.INT),
                Property(name="score", data_type=DataType.NUMBER),
                Property(name="flag", data_type=DataType.BOOL),
                Property(name="tags", data_type=DataType.TEXT_ARRAY),
                Property(name="when", data_type=DataType.DATE),
                Property(name="place", data_type=DataType.GEO_COORDINATES),
            ],
            vector_config=Configure.Vectors.self_provided(),
        )
        objs = make_objects()
        res = col.data.insert_many([DataObject(properties=p, uuid=u, vector=v) for u, p, v in objs])
        assert not res.has_errors, res.errors
        yield col, objs


def ids(result):
    return sorted(o.uuid.int for o in result.objects)


def expect(objs, pred):
    return sorted(u.int for u, p, _ in objs if pred(p, u))


def test_nested_filters_match_a_plain_evaluation(things):
    col, objs = things
    cases = [
        (Filter.by_property("title").equal("alpha"), lambda p, u: "alpha" in p["title"].split()),
        (
            Filter.by_property("count").greater_than(3) & Filter.by_property("flag").equal(True),
            lambda p, u: p.get("count", -1) > 3 and p["flag"],
        ),
        (
            Filter.by_property("score").less_or_equal(1.5) | Filter.by_property("tags").contains_any(["red"]),
            lambda p, u: p["score"] <= 1.5 or "red" in p["tags"],
        ),
        (Filter.by_property("tags").contains_all(["red", "green"]), lambda p, u: {"red", "green"} <= set(p["tags"])),
        (Filter.by_property("tags").contains_none(["blue"]), lambda p, u: "blue" not in p["tags"]),
        (Filter.by_property("title").like("gam*"), lambda p, u: any(w.startswith("gam") for w in p["title"].split())),
        (Filter.by_property("count").is_none(True), lambda p, u: "count" not in p),
        (Filter.by_property("count").not_equal(4), lambda p, u: p.get("count") != 4),
        (
            Filter.not_(Filter.by_property("title").equal("beta")),
            lambda p, u: "beta" not in p["title"].split(),
        ),
        (
            Filter.by_property("when").greater_or_equal(datetime.datetime(2024, 1, 5, tzinfo=datetime.timezone.utc)),
            lambda p, u: p["when"].day >= 5,
        ),
        (
            Filter.by_property("place").within_geo_range(GeoCoordinate(latitude=0.0, longitude=0.0), 1000.0),
            lambda p, u: "place" in p and p["place"].latitude == 0.0,
        ),
        (
            Filter.by_id().contains_any([uuid.UUID(int=3), uuid.UUID(int=5), uuid.UUID(int=999)]),
            lambda p, u: u.int in (3, 5),
        ),
        (Filter.by_property("title", length=True).greater_than(11), lambda p, u: len(p["title"]) > 11),
        (
            Filter.all_of(
                [
                    Filter.by_property("flag").equal(False),
                    Filter.any_of([Filter.by_property("count").equal(1), Filter.by_property("count").equal(2)]),
                ]
            ),
            lambda p, u: not p["flag"] and p.get("count") in (1, 2),
        ),
    ]
    for f, pred in cases:
        got = ids(col.query.fetch_objects(filters=f, limit=1000))
        assert got == expect(objs, pred), f


def test_creation_time_filters_and_paging(things):
    col, objs = things
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    assert col.query.fetch_objects(filters=Filter.by_creation_time().greater_than(later)).objects == []
    earlier = later - datetime.timedelta(days=30)
    everything = col.query.fetch_objects(filters=Filter.by_creation_time().greater_than(earlier), limit=1000)
    assert len(everything.objects) == len(objs)
    f = Filter.by_property("flag").equal(True)
    want = expect(objs, lambda p, u: p["flag"])
    pages = [ids(col.query.fetch_objects(filters=f, limit=10, offset=o)) for o in range(0, len(want), 10)]
    assert sorted(i for page in pages for i in page) == want


def test_near_vector_with_a_filter_only_returns_matches(things):
    col, objs = things
    f = Filter.by_property("count").less_than(3)
    res = col.query.near_vector(objs[0][2], limit=5, filters=f, return_properties=["count"])
    assert res.objects
    assert all(o.properties.get("count") is not None and o.properties["count"] < 3 for o in res.objects)
    want = expect(objs, lambda p, u: p.get("count", 99) < 3)
    assert {o.uuid.int for o in res.objects} <= set(want)


def test_bad_filters_are_clear_errors(things):
    col, _ = things
    with pytest.raises(WeaviateQueryError, match="no such prop with name 'nope'"):
        col.query.fetch_objects(filters=Filter.by_property("nope").equal("x"))
    with pytest.raises(WeaviateQueryError, match="cannot use valueText on type int"):
        col.query.fetch_objects(filters=Filter.by_property("count").equal("x"))


def sort_key(value, ascending):
    """Weaviate's order: a missing value before every value when ascending (after when not)."""
    missing = value is None
    if isinstance(value, str):
        value = value.lower()
    return (not missing, value) if ascending else (missing, value)


def test_sort_by_properties_and_metadata_with_filters_and_paging(things):
    col, objs = things
    props = {u.int: p for u, p, _ in objs}
    res = col.query.fetch_objects(sort=Sort.by_property("count", ascending=True), limit=1000)
    got = [props[o.uuid.int].get("count") for o in res.objects]
    nones = [g for g in got if g is None]
    assert got[: len(nones)] == nones, "missing values sort first ascending"
    assert got[len(nones) :] == sorted(g for g in got if g is not None)
    res = col.query.fetch_objects(sort=Sort.by_property("count", ascending=False), limit=1000)
    got = [props[o.uuid.int].get("count") for o in res.objects]
    present = [g for g in got if g is not None]
    assert got[: len(present)] == sorted(present, reverse=True) and all(g is None for g in got[len(present) :])
    # Two keys, with a filter and a page.
    f = Filter.by_property("flag").equal(True)
    sort = Sort.by_property("score", ascending=False).by_property("title", ascending=True)
    full = col.query.fetch_objects(filters=f, sort=sort, limit=1000)
    keys = [(props[o.uuid.int]["score"], props[o.uuid.int]["title"].lower()) for o in full.objects]
    assert keys == sorted(keys, key=lambda k: (-k[0], k[1]))
    assert {o.uuid.int for o in full.objects} == set(expect(objs, lambda p, u: p["flag"]))
    page = col.query.fetch_objects(filters=f, sort=sort, limit=5, offset=3)
    assert [o.uuid for o in page.objects] == [o.uuid for o in full.objects[3:8]]
    by_id = col.query.fetch_objects(sort=Sort.by_id(ascending=False), limit=1000)
    ids = [str(o.uuid) for o in by_id.objects]
    assert ids == sorted(ids, reverse=True)
    col.data.insert({"title": "latest", "flag": False, "score": 0.0, "tags": []}, uuid=uuid.UUID(int=9999))
    newest = col.query.fetch_objects(
        sort=Sort.by_creation_time(ascending=False), limit=1000, return_metadata=MetadataQuery(creation_time=True)
    )
    assert newest.objects[0].uuid == uuid.UUID(int=9999)
    times = [o.metadata.creation_time for o in newest.objects]
    assert times == sorted(times, reverse=True)
    with pytest.raises(WeaviateQueryError, match="no such prop with name 'nope'"):
        col.query.fetch_objects(sort=Sort.by_property("nope"))


def test_group_by_on_a_vector_search(things):
    col, objs = things
    q = objs[5][2]
    flat = col.query.near_vector(q, limit=60, return_metadata=MetadataQuery(distance=True), return_properties=["count"])
    res = col.query.near_vector(
        q,
        limit=60,
        group_by=GroupBy(prop="count", number_of_groups=3, objects_per_group=3),
        return_metadata=MetadataQuery(distance=True),
    )
    # The model: walk the ranked hits, open a group per new value until two exist, fill to 3.
    want = {}
    for o in flat.objects:
        value = o.properties.get("count")
        name = "" if value is None else str(value)
        if name not in want and len(want) < 3:
            want[name] = []
        if name in want and len(want[name]) < 3:
            want[name].append(o.uuid)
    assert set(res.groups) == set(want)
    for name, group in res.groups.items():
        assert [o.uuid for o in group.objects] == want[name]
        assert group.number_of_objects == len(want[name])
        assert group.min_distance <= group.max_distance
    assert len(res.objects) == sum(len(v) for v in want.values())


def test_autocut_keeps_the_first_cluster(weft):
    with weft.client() as client:
        client.collections.delete("Cut")
        col = client.collections.create("Cut", vector_config=Configure.Vectors.self_provided())
        near = [[1.0, 0.0, 0.0 + i * 0.001] for i in range(3)]
        far = [[0.0, 1.0, 0.0 + i * 0.001] for i in range(5)]
        res = col.data.insert_many([DataObject(properties={}, vector=v) for v in near + far])
        assert not res.has_errors
        cut = col.query.near_vector([1.0, 0.0, 0.0], limit=8, auto_limit=1)
        assert len(cut.objects) == 3
        everything = col.query.near_vector([1.0, 0.0, 0.0], limit=8)
        assert len(everything.objects) == 8
