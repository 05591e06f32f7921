"""Aggregations end to end through weaviate-client 4.24.1 (gRPC `Aggregate`): `len()`,
`over_all` with every metric of every type, with filters, grouped, and over the nearest
neighbours; compared with a plain-Python computation over the same data, empty sets included."""

import datetime
import random
import statistics
from collections import Counter

import pytest
from weaviate.classes.aggregate import GroupByAggregate
from weaviate.classes.config import Configure, DataType, Property
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, Metrics

CITIES = ["Amsterdam", "Berlin", "Paris", "Rome"]


def mode(values):
    counts = Counter(values)
    best = max(counts.values())
    return min(v for v, c in counts.items() if c == best)


@pytest.fixture
def shops(weft):
    rng = random.Random(11)
    rows = []
    for i in range(200):
        rows.append(
            {
                "city": rng.choice(CITIES),
                "stock": rng.randint(0, 20),
                "price": round(rng.uniform(1, 50), 2),
                "open": rng.random() < 0.3,
                "since": datetime.datetime(2020, 1 + rng.randint(0, 11), 1, tzinfo=datetime.timezone.utc),
            }
        )
    with weft.client() as client:
        client.collections.delete("Shop")
        col = client.collections.create(
            "Shop",
            properties=[
                Property(name="city", data_type=DataType.TEXT),
                Property(name="stock", data_type=DataType.INT),
                Property(name="price", data_type=DataType.NUMBER),
                Property(name="open", data_type=DataType.BOOL),
                Property(name="since", data_type=DataType.DATE),
            ],
            vector_config=Configure.Vectors.self_provided(),
        )
        res = col.data.insert_many(
            [DataObject(properties=r, vector=[float(i % 17), 1.0, float(i % 5)]) for i, r in enumerate(rows)]
        )
        assert not res.has_errors, res.errors
        yield col, rows


def test_len_and_total_count(shops):
    col, rows = shops
    assert len(col) == len(rows)
    assert col.aggregate.over_all(total_count=True).total_count == len(rows)


def test_every_metric_matches_a_plain_computation(shops):
    col, rows = shops
    res = col.aggregate.over_all(
        total_count=True,
        return_metrics=[
            Metrics("stock").integer(count=True, sum_=True, mean=True, median=True, mode=True, minimum=True, maximum=True),
            Metrics("price").number(count=True, sum_=True, mean=True, median=True, mode=True, minimum=True, maximum=True),
            Metrics("city").text(count=True, top_occurrences_count=True, top_occurrences_value=True, limit=3),
            Metrics("open").boolean(count=True, total_true=True, total_false=True, percentage_true=True, percentage_false=True),
            Metrics("since").date_(count=True, median=True, mode=True, minimum=True, maximum=True),
        ],
    )
    stock = [r["stock"] for r in rows]
    s = res.properties["stock"]
    assert (s.count, s.sum_, s.minimum, s.maximum, s.mode) == (len(stock), sum(stock), min(stock), max(stock), mode(stock))
    assert s.mean == pytest.approx(statistics.mean(stock))
    assert s.median == pytest.approx(statistics.median(stock))
    price = [r["price"] for r in rows]
    p = res.properties["price"]
    assert p.count == len(price) and p.sum_ == pytest.approx(sum(price))
    assert p.median == pytest.approx(statistics.median(price)) and p.mode == pytest.approx(mode(price))
    city = res.properties["city"]
    counts = sorted(Counter(r["city"] for r in rows).items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert city.count == len(rows)
    assert [(o.value, o.count) for o in city.top_occurrences] == counts
    b = res.properties["open"]
    t = sum(r["open"] for r in rows)
    assert (b.count, b.total_true, b.total_false) == (len(rows), t, len(rows) - t)
    assert b.percentage_true == pytest.approx(t / len(rows))
    d = res.properties["since"]
    since = sorted(r["since"] for r in rows)
    rfc = lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731 — Weaviate's RFC 3339 in UTC
    assert d.count == len(rows) and d.minimum == rfc(since[0]) and d.maximum == rfc(since[-1])
    assert d.mode == rfc(mode(since))


def test_filtered_grouped_and_empty_aggregations(shops):
    col, rows = shops
    f = Filter.by_property("open").equal(True)
    res = col.aggregate.over_all(filters=f, total_count=True, return_metrics=Metrics("stock").integer(sum_=True))
    want = [r["stock"] for r in rows if r["open"]]
    assert res.total_count == len(want) and res.properties["stock"].sum_ == sum(want)
    none = col.aggregate.over_all(
        filters=Filter.by_property("stock").greater_than(1000),
        total_count=True,
        return_metrics=Metrics("stock").integer(count=True, mean=True, median=True),
    )
    assert none.total_count == 0
    assert none.properties["stock"].count == 0 and none.properties["stock"].mean is None
    grouped = col.aggregate.over_all(
        group_by=GroupByAggregate(prop="city", limit=10),
        total_count=True,
        return_metrics=Metrics("price").number(maximum=True),
    )
    by_city = Counter(r["city"] for r in rows)
    got = {g.grouped_by.value: g.total_count for g in grouped.groups}
    assert got == dict(by_city)
    for g in grouped.groups:
        assert g.properties["price"].maximum == pytest.approx(max(r["price"] for r in rows if r["city"] == g.grouped_by.value))
    top2 = col.aggregate.over_all(group_by=GroupByAggregate(prop="city", limit=2), total_count=True)
    assert [g.total_count for g in top2.groups] == sorted(by_city.values(), reverse=True)[:2]


def test_near_vector_aggregation_takes_the_object_limit(shops):
    col, _ = shops
    res = col.aggregate.near_vector([1.0, 1.0, 1.0], object_limit=7, total_count=True)
    assert res.total_count == 7


def test_nodes_of_one_collection_report_its_shard_and_count(weft, shops):
    col, rows = shops
    with weft.client() as client:
        nodes = client.cluster.nodes(collection="Shop", output="verbose")
        shards = [s for n in nodes for s in n.shards]
        assert [s.collection for s in shards] == ["Shop"]
        assert shards[0].object_count == len(rows)
