"""GraphQL (`/v1/graphql`) against gRPC through weaviate-client 4.24.1: for a random corpus and
random filters, every GraphQL `Get` / `Aggregate` answers exactly what the equivalent gRPC
query answers (same ids in the same order, same distances and scores, same metrics) — both
protocols build the same query value and run the same plan. Also: `graphql_raw_query`, the
batch endpoint, and random / malformed queries that never get a 5xx."""

import datetime
import json
import random
import urllib.error
import urllib.request
import uuid

import pytest
from weaviate.classes.config import Configure, DataType, Property, ReferenceProperty
from weaviate.classes.data import DataObject, DataReference
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery, Metrics, Sort

from conftest import rest

WORDS = ["alpha", "beta", "gamma", "delta", "eps"]
NAMES = ["Ann", "Bob", "Cy"]
DIM = 6


def post(server, path, body):
    """POST raw bytes; (status, text)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}", data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def graphql(server, query):
    status, text = post(server, "/v1/graphql", {"query": query})
    assert status == 200, text
    body = json.loads(text)
    assert "errors" not in body, (query, body)
    return body["data"]


@pytest.fixture
def corpus(weft, seed):
    rng = random.Random(seed)
    with weft.client() as client:
        author = client.collections.create(
            "Writer", properties=[Property(name="name", data_type=DataType.TEXT)],
            vector_config=Configure.Vectors.self_provided())
        thing = client.collections.create(
            "Thing",
            properties=[
                Property(name="title", data_type=DataType.TEXT),
                Property(name="count", data_type=DataType.INT),
                Property(name="score", data_type=DataType.NUMBER),
                Property(name="flag", data_type=DataType.BOOL),
                Property(name="tags", data_type=DataType.TEXT_ARRAY),
                Property(name="when", data_type=DataType.DATE),
            ],
            references=[ReferenceProperty(name="writtenBy", target_collection="Writer")],
            vector_config=Configure.Vectors.self_provided(),
        )
        writers = [uuid.UUID(int=9000 + i) for i in range(len(NAMES))]
        res = author.data.insert_many([DataObject(properties={"name": n}, uuid=w, vector=[1.0] * DIM)
                                       for n, w in zip(NAMES, writers)])
        assert not res.has_errors, res.errors
        objs = []
        for i in range(150):
            props = {
                "title": " ".join(rng.sample(WORDS, rng.randint(1, 3))),
                "count": rng.randint(0, 9),
                "score": rng.randint(0, 8) / 4,
                "flag": rng.random() < 0.5,
                "tags": rng.sample(["red", "green", "blue"], rng.randint(0, 2)),
                "when": datetime.datetime(2024, 1, 1 + rng.randint(0, 9), tzinfo=datetime.timezone.utc),
            }
            if i % 9 == 0:
                del props["count"]
            objs.append(DataObject(properties=props, uuid=uuid.UUID(int=i + 1),
                                   vector=[rng.uniform(-1, 1) for _ in range(DIM)]))
        res = thing.data.insert_many(objs)
        assert not res.has_errors, res.errors
        refs = [DataReference(from_property="writtenBy", from_uuid=uuid.UUID(int=i + 1),
                              to_uuid=writers[rng.randrange(len(writers))]) for i in range(0, 150, 2)]
        res = thing.data.reference_add_many(refs)
        assert not res.has_errors, res.errors
        yield client, thing, rng


def random_filter(rng, depth=0):
    """A random filter as (v4 `Filter`, GraphQL `where` text)."""
    if depth < 2 and rng.random() < 0.35:
        parts = [random_filter(rng, depth + 1) for _ in range(rng.randint(2, 3))]
        if rng.random() < 0.5:
            return Filter.all_of([p[0] for p in parts]), "{operator: And operands: [%s]}" % ", ".join(p[1] for p in parts)
        return Filter.any_of([p[0] for p in parts]), "{operator: Or operands: [%s]}" % ", ".join(p[1] for p in parts)
    ops = [("equal", "Equal"), ("not_equal", "NotEqual"), ("greater_than", "GreaterThan"),
           ("greater_or_equal", "GreaterThanEqual"), ("less_than", "LessThan"), ("less_or_equal", "LessThanEqual")]
    kind = rng.choice(["count", "score", "flag", "title", "like", "tags", "when", "null", "ref"])
    if kind == "count":
        m, g = rng.choice(ops)
        n = rng.randint(0, 9)
        return getattr(Filter.by_property("count"), m)(n), '{path: ["count"] operator: %s valueInt: %d}' % (g, n)
    if kind == "score":
        m, g = rng.choice(ops)
        x = rng.randint(0, 8) / 4
        return getattr(Filter.by_property("score"), m)(x), '{path: ["score"] operator: %s valueNumber: %s}' % (g, x)
    if kind == "flag":
        b = rng.random() < 0.5
        return Filter.by_property("flag").equal(b), '{path: ["flag"] operator: Equal valueBoolean: %s}' % str(b).lower()
    if kind == "title":
        w = rng.choice(WORDS)
        return Filter.by_property("title").equal(w), '{path: ["title"] operator: Equal valueText: "%s"}' % w
    if kind == "like":
        w = rng.choice(WORDS)[:2] + "*"
        return Filter.by_property("title").like(w), '{path: ["title"] operator: Like valueText: "%s"}' % w
    if kind == "tags":
        tags = rng.sample(["red", "green", "blue", "pink"], rng.randint(1, 2))
        listed = ", ".join(f'"{t}"' for t in tags)
        if rng.random() < 0.5:
            return Filter.by_property("tags").contains_any(tags), '{path: ["tags"] operator: ContainsAny valueText: [%s]}' % listed
        return Filter.by_property("tags").contains_all(tags), '{path: ["tags"] operator: ContainsAll valueText: [%s]}' % listed
    if kind == "when":
        m, g = rng.choice(ops[2:])
        d = datetime.datetime(2024, 1, rng.randint(1, 10), tzinfo=datetime.timezone.utc)
        return getattr(Filter.by_property("when"), m)(d), '{path: ["when"] operator: %s valueDate: "%s"}' % (
            g, d.strftime("%Y-%m-%dT%H:%M:%SZ"))
    if kind == "null":
        b = rng.random() < 0.5
        return Filter.by_property("count").is_none(b), '{path: ["count"] operator: IsNull valueBoolean: %s}' % str(b).lower()
    n = rng.choice(NAMES)
    return (Filter.by_ref("writtenBy").by_property("name").equal(n),
            '{path: ["writtenBy", "Writer", "name"] operator: Equal valueText: "%s"}' % n)


def uuids(objects):
    return [str(o.uuid) for o in objects]


def gql_ids(rows):
    return [r["_additional"]["id"] for r in rows]


def test_graphql_answers_what_grpc_answers(weft, corpus):
    client, thing, rng = corpus
    compared = 0
    for _ in range(25):
        f, where = random_filter(rng)
        q = [round(rng.uniform(-1, 1), 3) for _ in range(DIM)]
        qv = "[%s]" % ", ".join(str(x) for x in q)

        grpc = thing.query.fetch_objects(filters=f, limit=200)
        gql = graphql(weft, "{Get{Thing(where: %s limit: 200){_additional{id}}}}" % where)["Get"]["Thing"]
        assert gql_ids(gql) == uuids(grpc.objects), where

        grpc = thing.query.fetch_objects(filters=f, limit=7, offset=2, sort=Sort.by_property("score", ascending=False))
        gql = graphql(weft, '{Get{Thing(where: %s limit: 7 offset: 2 sort: [{path: ["score"] order: desc}]){score _additional{id}}}}'
                      % where)["Get"]["Thing"]
        assert gql_ids(gql) == uuids(grpc.objects), where
        assert [r["score"] for r in gql] == [o.properties["score"] for o in grpc.objects]

        grpc = thing.query.near_vector(q, filters=f, limit=10, return_metadata=MetadataQuery(distance=True))
        gql = graphql(weft, "{Get{Thing(nearVector: {vector: %s} where: %s limit: 10){_additional{id distance}}}}"
                      % (qv, where))["Get"]["Thing"]
        assert gql_ids(gql) == uuids(grpc.objects), where
        for r, o in zip(gql, grpc.objects):
            assert r["_additional"]["distance"] == pytest.approx(o.metadata.distance, abs=1e-6)

        words = " ".join(rng.sample(WORDS, 2))
        grpc = thing.query.bm25(words, filters=f, limit=10, return_metadata=MetadataQuery(score=True))
        gql = graphql(weft, '{Get{Thing(bm25: {query: "%s"} where: %s limit: 10){_additional{id score}}}}'
                      % (words, where))["Get"]["Thing"]
        assert gql_ids(gql) == uuids(grpc.objects), where
        for r, o in zip(gql, grpc.objects):
            assert float(r["_additional"]["score"]) == pytest.approx(o.metadata.score, rel=1e-6)

        grpc = thing.query.hybrid(words, vector=q, alpha=0.5, fusion_type=HybridFusion.RANKED, filters=f, limit=10,
                                  return_metadata=MetadataQuery(score=True))
        gql = graphql(weft, '{Get{Thing(hybrid: {query: "%s" vector: %s alpha: 0.5 fusionType: rankedFusion} where: %s limit: 10)'
                      '{_additional{id score}}}}' % (words, qv, where))["Get"]["Thing"]
        assert gql_ids(gql) == uuids(grpc.objects), where
        for r, o in zip(gql, grpc.objects):
            assert float(r["_additional"]["score"]) == pytest.approx(o.metadata.score, rel=1e-6)

        grpc = thing.aggregate.over_all(filters=f, total_count=True, return_metrics=[
            Metrics("count").integer(count=True, sum_=True, minimum=True, maximum=True, mean=True),
            Metrics("flag").boolean(total_true=True, total_false=True)])
        gql = graphql(weft, "{Aggregate{Thing(where: %s){meta{count} count{count sum minimum maximum mean} flag{totalTrue totalFalse}}}}"
                      % where)["Aggregate"]["Thing"][0]
        assert gql["meta"]["count"] == grpc.total_count, where
        c = grpc.properties["count"]
        assert (gql["count"]["count"], gql["count"]["sum"], gql["count"]["minimum"], gql["count"]["maximum"]) == \
            (c.count, c.sum_, c.minimum, c.maximum), where
        assert gql["count"]["mean"] == pytest.approx(c.mean) if c.mean is not None else gql["count"]["mean"] is None
        b = grpc.properties["flag"]
        assert (gql["flag"]["totalTrue"], gql["flag"]["totalFalse"]) == (b.total_true, b.total_false), where
        compared += 1
    assert compared == 25


def test_graphql_raw_query_of_the_v4_client(weft, corpus):
    client, _, _ = corpus
    res = client.graphql_raw_query('{Get{Thing(limit: 2){title writtenBy{... on Writer{name}}}}}')
    assert res.errors is None
    assert len(res.get["Thing"]) == 2
    res = client.graphql_raw_query("{Aggregate{Thing{meta{count}}}}")
    assert res.aggregate["Thing"][0]["meta"]["count"] == 150
    res = client.graphql_raw_query("{Get{Nope{title}}}")
    assert res.errors and "Cannot query field" in res.errors[0]["message"]


def test_references_in_graphql_match_the_stored_beacons(weft, corpus):
    client, thing, _ = corpus
    rows = graphql(weft, "{Get{Thing(limit: 200){writtenBy{... on Writer{name _additional{id}}} _additional{id}}}}")["Get"]["Thing"]
    grpc = thing.query.fetch_objects(limit=200, return_references=__import__("weaviate").classes.query.QueryReference(
        link_on="writtenBy", return_properties=["name"]))
    by_id = {str(o.uuid): o for o in grpc.objects}
    for r in rows:
        o = by_id[r["_additional"]["id"]]
        want = [t.properties["name"] for t in o.references["writtenBy"].objects] if o.references else None
        got = [t["name"] for t in r["writtenBy"]] if r["writtenBy"] is not None else None
        assert got == want, r


def test_batch_endpoint_answers_in_order(weft, corpus):
    status, text = post(weft, "/v1/graphql/batch", [
        {"query": "{Aggregate{Thing{meta{count}}}}"},
        {"query": ""},
        {"query": "{Get{Thing(limit: 1){title}}}"},
    ])
    assert status == 200, text
    answers = json.loads(text)
    assert answers[0]["data"]["Aggregate"]["Thing"][0]["meta"]["count"] == 150
    assert answers[1]["errors"][0]["message"].startswith("422")
    assert len(answers[2]["data"]["Get"]["Thing"]) == 1
    status, text = post(weft, "/v1/graphql/batch", [])
    assert status == 422
    status, text = post(weft, "/v1/graphql/batch", [{"query": "{Get{Thing{title}}}"}, [1]])
    assert status == 422 and "item 1" in text


def test_request_errors_have_weaviates_status_codes(weft):
    status, text = post(weft, "/v1/graphql", {"query": "{Get{Thing{title}}}"})
    assert status == 422 and "no graphql provider present" in text
    status, _ = post(weft, "/v1/graphql", b"{not json")
    assert status == 400
    status, text = post(weft, "/v1/graphql", {"query": ""})
    assert status == 422 and "query cannot be empty" in text
    status, text = post(weft, "/v1/graphql", {"query": "{a}", "variables": [1]})
    assert status == 422 and "variables must be a JSON object" in text


def mutate(rng, q: str) -> str:
    chars = list(q)
    for _ in range(rng.randint(1, 6)):
        op = rng.random()
        at = rng.randrange(len(chars) + 1)
        if op < 0.4 and chars:
            del chars[min(at, len(chars) - 1)]
        elif op < 0.8:
            chars.insert(at, rng.choice('{}[]():"\\ ,!@$#0123456789abcXYZ_\n.-e'))
        else:
            chars[at:at] = list(rng.choice(["... on Writer", "_additional", "where:", "1e309", "-99999999999999999999",
                                            "nearVector: {vector: [[1]]}", "limit: -1", "$x", "@skip(if: true)"]))
    return "".join(chars)


def test_random_and_malformed_queries_never_get_a_5xx(weft, corpus, seed):
    rng = random.Random(seed)
    valid = [
        "{Get{Thing(where: {path: [\"count\"] operator: GreaterThan valueInt: 3} limit: 5){title count _additional{id distance}}}}",
        "{Get{Thing(nearVector: {vector: [1, 0, 0, 0, 0, 0] distance: 0.9} groupBy: {path: [\"flag\"] groups: 2 objectsPerGroup: 2})"
        "{title _additional{group{id count hits{title _additional{id}}}}}}}",
        "{Get{Thing(bm25: {query: \"alpha\"} limit: 3){title writtenBy{... on Writer{name}} _additional{score explainScore}}}}",
        "{Aggregate{Thing(groupBy: [\"flag\"]){meta{count} groupedBy{value} title{topOccurrences(limit: 2){value occurs}}}}}",
        "{Explore(nearVector: {vector: [1, 1, 1, 1, 1, 1]} limit: 3){beacon className distance certainty}}",
        "query Q($v: Int) {Get{Thing(limit: $v){title}}}",
    ]
    for q in valid:
        status, text = post(weft, "/v1/graphql", {"query": q, "variables": {"v": 2}})
        assert status == 200, text
    for i in range(300):
        q = mutate(rng, rng.choice(valid))
        body = {"query": q} if i % 10 else {"query": q, "variables": {"v": rng.choice([1, "x", None, [1], {"a": 1}])}}
        status, text = post(weft, "/v1/graphql", body)
        assert status < 500, (q, text)
        assert isinstance(json.loads(text), dict)
    for raw in [b"[" * 100000, b'{"query": "' + b"{" * 100000 + b'"}', bytes(rng.randrange(256) for _ in range(300)),
                json.dumps({"query": "{Get{Thing(where: " + "{operator: And operands: [" * 200 + "}}}"}).encode()]:
        status, text = post(weft, "/v1/graphql", raw)
        assert status < 500, text
    # The server is still answering.
    assert rest(weft, "GET", "/v1/.well-known/ready")[0] == 200
