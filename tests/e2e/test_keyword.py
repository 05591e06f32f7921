"""Keyword (BM25) and hybrid search end to end through weaviate-client 4.24.1 (gRPC `Search`):
scores against a brute-force model of Weaviate's default BM25 engine, properties with boosts,
operators, filters, limit/offset, autocut, group_by, tokenizations and stopwords; hybrid with
alpha 0 / 0.5 / 1, both fusions checked against a model fed by the server's own BM25 and
vector results, a given vector and `near_vector`, filters, `max_vector_distance`; and a
kill -9 under writes after which every acknowledged object is found by its unique term."""

import math
import random
import re
import threading
import time
import uuid

import pytest
from conftest import weft_verify
from weaviate.classes.config import Configure, DataType, Property, Tokenization
from weaviate.classes.data import DataObject
from weaviate.classes.query import BM25Operator, Filter, HybridFusion, MetadataQuery
from weaviate.exceptions import WeaviateQueryError

VOCAB = [
    "apple", "banana", "cherry", "delta", "echo", "falcon", "garden", "harbor", "island",
    "jungle", "kernel", "lemon", "meadow", "nectar", "orbit", "pepper", "quartz", "river",
    "summit", "timber", "umbra", "violet", "willow", "xenon", "yonder", "zephyr",
]
STOPWORDS = {
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is",
    "it", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there",
    "these", "they", "this", "to", "was", "will", "with",
}
N = 400
DIM = 8
K1, B = 1.2, 0.75


def words(text: str) -> list:
    """Weaviate's `word` tokenization for ASCII text: alphanumeric runs, lower-cased."""
    return [t.lower() for t in re.split(r"[^A-Za-z0-9]+", text) if t]


def f32(x: float) -> float:
    import struct

    return struct.unpack("f", struct.pack("f", x))[0]


class Model:
    """Weaviate's default BM25 (BlockMax) computed straight from the documents: each property
    scored on its own, idf per tokenization from the mean df over the properties holding the
    term, one average length (the mean of the properties' means of distinct-token counts)."""

    def __init__(self, docs: dict, props: list, field=("code",)):
        self.docs = docs  # id -> properties
        self.props = props
        self.field = set(field)

    def split(self, prop, text):
        return [text.strip()] if prop in self.field else words(text)

    def tokens(self, doc, prop):
        v = doc.get(prop)
        if v is None:
            return None
        if isinstance(v, list):
            return [t for s in v for t in self.split(prop, s)]
        return self.split(prop, v)

    def mean(self, prop):
        lens = [len(set(t)) for d in self.docs.values() if (t := self.tokens(d, prop)) is not None]
        return f32(sum(lens) / len(lens)) if lens else 0.0

    def query_terms(self, prop, query):
        terms = {}
        for t in self.split(prop, query):
            if prop in self.field or t not in STOPWORDS:
                terms[t] = terms.get(t, 0) + 1
        return terms

    def search(self, query, props=None, operator="or", minimum=0, allow=None):
        specs = props or self.props
        boosts = {}
        for s in specs:
            name, _, boost = s.partition("^")
            boosts[name] = float(boost) if boost else 1.0
        names = list(boosts)
        group = {p: ("field" if p in self.field else "word") for p in names}
        avg = sum(self.mean(p) for p in names) / len(names)
        if avg == 0:
            avg = 40.0
        n_docs = len(self.docs)
        idf = {}
        for p in names:
            for t, dup in self.query_terms(p, query).items():
                dfs = [
                    sum(1 for d in self.docs.values() if t in (self.tokens(d, q) or []))
                    for q in names if group[q] == group[p]
                ]
                dfs = [x for x in dfs if x > 0]
                if not dfs:
                    idf[(group[p], t)] = 0.0
                    continue
                n = sum(dfs) // len(dfs)
                total = max(n_docs, n)
                idf[(group[p], t)] = math.log(1 + (total - n + 0.5) / (n + 0.5)) * dup
        scores = {}
        for oid, d in self.docs.items():
            if allow is not None and not allow(d):
                continue
            total_score, hit = 0.0, False
            for p in names:
                toks = self.tokens(d, p)
                if toks is None:
                    continue
                terms = self.query_terms(p, query)
                need = len(terms) if operator == "and" else max(minimum, 1)
                partial, matched = 0.0, 0
                for t in terms:
                    f = toks.count(t)
                    if f:
                        matched += 1
                        tf = f / (f + K1 * (1 - B + B * len(toks) / avg))
                        partial += tf * idf[(group[p], t)] * boosts[p]
                if matched >= need:
                    total_score += partial
                    hit = True
            if hit:
                scores[oid] = total_score
        return sorted(scores.items(), key=lambda kv: (-kv[1], str(kv[0])))


def vec(rng):
    v = [rng.gauss(0, 1) for _ in range(DIM)]
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from conftest import Weft

    server = Weft(tmp_path_factory.mktemp("keyword")).start()
    rng = random.Random(1234)
    docs, vectors = {}, {}
    try:
        with server.client() as client:
            col = client.collections.create(
                "Docs",
                properties=[
                    Property(name="title", data_type=DataType.TEXT),
                    Property(name="body", data_type=DataType.TEXT),
                    Property(name="tags", data_type=DataType.TEXT_ARRAY),
                    Property(name="code", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
                    Property(name="hidden", data_type=DataType.TEXT, index_searchable=False),
                    Property(name="n", data_type=DataType.INT),
                ],
                vector_config=Configure.Vectors.self_provided(),
            )
            objs = []
            for i in range(N):
                oid = uuid.UUID(int=i + 1)
                props = {
                    "title": " ".join(rng.choice(VOCAB[:8]) for _ in range(rng.randint(1, 4))),
                    "body": " ".join(
                        rng.choice(VOCAB + ["the", "of", "and"]) for _ in range(rng.randint(0, 30))
                    ),
                    "tags": [rng.choice(VOCAB[-6:]) for _ in range(rng.randint(0, 3))],
                    "code": f"Code-{i % 7}",
                    "hidden": "apple apple apple",
                    "n": i,
                }
                if i % 10 == 0:
                    del props["body"]
                docs[oid] = props
                vectors[oid] = vec(rng)
                objs.append(DataObject(properties=props, uuid=oid, vector=vectors[oid]))
            res = col.data.insert_many(objs)
            assert not res.errors
        yield server, docs, vectors
    finally:
        server.stop()


def scored(res):
    return [(o.uuid, o.metadata.score) for o in res.objects]


def assert_matches(got, want, k):
    """Same scores as the model (f32 precision), same ids where the model has no tie."""
    want = want[:k]
    assert len(got) == len(want), (got, want)
    for (gid, gs), (wid, ws) in zip(got, want):
        assert gs == pytest.approx(ws, rel=2e-5, abs=1e-6), (got, want)
    for i, ((gid, _), (wid, ws)) in enumerate(zip(got, want)):
        tied = [w for j, w in enumerate(want) if j != i and abs(w[1] - ws) < 1e-5]
        if not tied:
            assert gid == wid, (i, got, want)


QUERIES = ["apple", "banana cherry", "delta echo falcon garden", "the apple of zephyr", "willow willow", "nothing"]


@pytest.mark.parametrize("query", QUERIES)
def test_bm25_scores_equal_the_model(corpus, query):
    server, docs, _ = corpus
    model = Model(docs, ["title", "body", "tags", "code"])
    with server.client() as client:
        col = client.collections.get("Docs")
        for props in (None, ["title"], ["body"], ["title^2", "body"], ["tags", "title^0.5"]):
            res = col.query.bm25(
                query, query_properties=props, limit=10, return_metadata=MetadataQuery(score=True)
            )
            assert_matches(scored(res), model.search(query, props), 10)


def test_bm25_operators_filters_paging_and_explanations(corpus):
    server, docs, _ = corpus
    model = Model(docs, ["title", "body", "tags", "code"])
    with server.client() as client:
        col = client.collections.get("Docs")
        q = "apple banana cherry delta"
        for op, kw in ((BM25Operator.and_(), {"operator": "and"}), (BM25Operator.or_(minimum_match=2), {"minimum": 2})):
            res = col.query.bm25(q, operator=op, limit=20, return_metadata=MetadataQuery(score=True))
            assert_matches(scored(res), model.search(q, **kw), 20)
        # Filters are an allow-list.
        res = col.query.bm25(
            "apple banana", filters=Filter.by_property("n").less_than(100), limit=15,
            return_metadata=MetadataQuery(score=True),
        )
        assert_matches(scored(res), model.search("apple banana", allow=lambda d: d["n"] < 100), 15)
        # limit/offset page through the same ranking.
        full = [o.uuid for o in col.query.bm25("apple", limit=30).objects]
        page = [o.uuid for o in col.query.bm25("apple", limit=10, offset=10).objects]
        assert page == full[10:20]
        # explain_score names the terms with frequency and length.
        res = col.query.bm25("cherry", query_properties=["title"], limit=1,
                             return_metadata=MetadataQuery(score=True, explain_score=True))
        doc = docs[res.objects[0].uuid]
        f = words(doc["title"]).count("cherry")
        assert res.objects[0].metadata.explain_score == (
            f", BM25F_cherry_frequency:{f}, BM25F_cherry_propLength:{len(words(doc['title']))}"
        )
        # Autocut keeps the first plateau of scores.
        cut = col.query.bm25("apple", auto_limit=1, return_metadata=MetadataQuery(score=True))
        assert 0 < len(cut.objects) <= len(full)
        # Group by a property of the hits.
        grouped = col.query.bm25("apple", group_by=__import__("weaviate.classes.query", fromlist=["GroupBy"]).GroupBy(
            prop="code", number_of_groups=3, objects_per_group=2), limit=50)
        assert 1 <= len(grouped.groups) <= 3
        for name, g in grouped.groups.items():
            assert len(g.objects) <= 2
            assert all(docs[o.uuid]["code"] == name for o in g.objects)


def test_bm25_tokenization_stopwords_and_errors(corpus):
    server, docs, _ = corpus
    with server.client() as client:
        col = client.collections.get("Docs")
        # `field` tokenization: the whole trimmed value, case kept.
        res = col.query.bm25("Code-3", query_properties=["code"], limit=100)
        assert {o.uuid for o in res.objects} == {i for i, d in docs.items() if d["code"] == "Code-3"}
        assert not col.query.bm25("code-3", query_properties=["code"]).objects
        # A query of stopwords only finds nothing.
        assert not col.query.bm25("the of and").objects
        with pytest.raises(WeaviateQueryError, match="requires inverted index"):
            col.query.bm25("apple", query_properties=["hidden"])
        with pytest.raises(WeaviateQueryError, match="requires inverted index"):
            col.query.bm25("apple", query_properties=["n"])
        with pytest.raises(WeaviateQueryError, match="requires inverted index"):
            col.query.bm25("apple", query_properties=["missing"])
        with pytest.raises(WeaviateQueryError, match="must have query set"):
            col.query.bm25("")


def hybrid_model(vector_hits, keyword_hits, alpha, fusion):
    """Weaviate's fusion of the two result lists [(id, value)] (vector values = 1 - distance)."""
    out = {}
    sets = [(vector_hits, alpha), (keyword_hits, 1 - alpha)]
    for hits, w in sets:
        if not hits:
            continue
        values = [v for _, v in hits]
        lo, hi = min(values), max(values)
        for rank, (oid, v) in enumerate(hits):
            if fusion == "ranked":
                s = w / (rank + 60)
            else:
                s = w if hi == lo else w * (v - lo) / (hi - lo)
            out[oid] = out.get(oid, 0.0) + s
    return sorted(out.items(), key=lambda kv: (-kv[1], str(kv[0])))


def test_hybrid_fusions_equal_the_model(corpus):
    server, docs, vectors = corpus
    rng = random.Random(99)
    with server.client() as client:
        col = client.collections.get("Docs")
        for q in ["apple banana", "zephyr willow river"]:
            qv = vec(rng)
            kw = [(o.uuid, o.metadata.score) for o in col.query.bm25(
                q, limit=100, return_metadata=MetadataQuery(score=True)).objects]
            vh = [(o.uuid, 1 - o.metadata.distance) for o in col.query.near_vector(
                qv, limit=100, return_metadata=MetadataQuery(distance=True)).objects]
            for alpha in (0.0, 0.5, 1.0):
                for fusion, name in ((HybridFusion.RANKED, "ranked"), (HybridFusion.RELATIVE_SCORE, "relative")):
                    res = col.query.hybrid(q, vector=qv, alpha=alpha, fusion_type=fusion, limit=10,
                                           return_metadata=MetadataQuery(score=True, explain_score=True))
                    want = hybrid_model(vh if alpha > 0 else [], kw if alpha < 1 else [], alpha, name)
                    assert_matches(scored(res), want, 10)
                    for o in res.objects:
                        assert "Hybrid (Result Set" in o.metadata.explain_score
            # alpha 0 ranks as bm25, alpha 1 as near_vector.
            res = col.query.hybrid(q, vector=qv, alpha=0.0, limit=10)
            assert [o.uuid for o in res.objects][:3] == [i for i, _ in kw[:3]]
            res = col.query.hybrid(q, vector=qv, alpha=1.0, limit=10)
            assert [o.uuid for o in res.objects] == [i for i, _ in vh[:10]]


def test_hybrid_vector_sources_filters_and_threshold(corpus):
    server, docs, vectors = corpus
    from weaviate.classes.query import HybridVector

    with server.client() as client:
        col = client.collections.get("Docs")
        some = next(iter(vectors))
        qv = vectors[some]
        # A near_vector sub-search gives the same ranking as the plain vector.
        a = col.query.hybrid("apple", vector=qv, limit=10)
        b = col.query.hybrid("apple", vector=HybridVector.near_vector(qv), limit=10)
        assert [o.uuid for o in a.objects] == [o.uuid for o in b.objects]
        # Filters restrict both sides.
        res = col.query.hybrid("apple", vector=qv, filters=Filter.by_property("n").greater_or_equal(200), limit=50)
        assert res.objects and all(docs[o.uuid]["n"] >= 200 for o in res.objects)
        # max_vector_distance: only objects the vector side finds within the distance.
        near = col.query.near_vector(qv, distance=0.5, limit=500, return_metadata=MetadataQuery(distance=True))
        within = {o.uuid for o in near.objects}
        res = col.query.hybrid("apple banana", vector=qv, max_vector_distance=0.5, limit=100)
        assert {o.uuid for o in res.objects} <= within
        assert some in {o.uuid for o in res.objects}
        # alpha 0 needs no vector; otherwise weft has no vectorizer to make one.
        assert col.query.hybrid("apple", alpha=0.0, limit=5).objects
        with pytest.raises(WeaviateQueryError, match="without vectorizer"):
            col.query.hybrid("apple", alpha=0.5)


def test_stopwords_and_bm25_settings_are_honoured(weft):
    with weft.client() as client:
        col = client.collections.create(
            "Tuned",
            properties=[Property(name="text", data_type=DataType.TEXT)],
            inverted_index_config=Configure.inverted_index(
                bm25_k1=2.0, bm25_b=0.0, stopwords_additions=["apple"], stopwords_removals=["the"]
            ),
        )
        col.data.insert_many([{"text": "apple the banana"}, {"text": "the the cherry banana pie"}])
        # "apple" is a stopword now; "the" is not.
        assert not col.query.bm25("apple").objects
        assert len(col.query.bm25("the").objects) == 2
        # b = 0: no length normalisation, k1 = 2: tf = f / (f + 2).
        res = col.query.bm25("banana", return_metadata=MetadataQuery(score=True))
        idf = math.log(1 + (2 - 2 + 0.5) / (2 + 0.5))
        assert [o.metadata.score for o in res.objects] == pytest.approx([idf / 3, idf / 3], rel=1e-5)


def test_kill9_under_writes_every_acknowledged_object_is_found_by_its_term(make_weft, seed):
    rng = random.Random(seed)
    w = make_weft().start()
    acked = {}
    stop = threading.Event()
    with w.client() as client:
        client.collections.create(
            "KillText",
            properties=[Property(name="text", data_type=DataType.TEXT)],
            vector_config=Configure.Vectors.self_provided(),
        )

    def importer():
        n = 0
        with w.client() as c:
            col = c.collections.get("KillText")
            while not stop.is_set():
                batch = []
                for _ in range(100):
                    term = f"unique{n}x{rng.randrange(10**9)}"
                    batch.append(DataObject(
                        properties={"text": f"{rng.choice(VOCAB)} {term} {rng.choice(VOCAB)}"},
                        uuid=uuid.uuid4(), vector=vec(rng)))
                    n += 1
                try:
                    res = col.data.insert_many(batch)
                except Exception:  # the server died mid-call
                    return
                for i, obj in enumerate(batch):
                    if i not in res.errors:
                        acked[obj.uuid] = obj.properties["text"].split()[1]

    t = threading.Thread(target=importer)
    t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(rng.uniform(0.0, 0.3))
    w.kill9()
    stop.set()
    t.join(timeout=60)
    assert len(acked) >= 500, f"only {len(acked)} objects acknowledged"
    assert weft_verify(w.data).returncode == 0
    w.start()
    with w.client() as client:
        col = client.collections.get("KillText")
        misses = [
            oid for oid, term in acked.items()
            if [o.uuid for o in col.query.bm25(term, limit=2).objects] != [oid]
        ]
        assert not misses, f"{len(misses)} of {len(acked)} acknowledged objects not found by their term (seed {seed})"


def test_hybrid_on_named_vectors_needs_and_uses_the_target(weft):
    with weft.client() as client:
        col = client.collections.create(
            "Named",
            properties=[Property(name="text", data_type=DataType.TEXT)],
            vector_config=[
                Configure.Vectors.self_provided(name="a"),
                Configure.Vectors.self_provided(name="b"),
            ],
        )
        col.data.insert_many([
            DataObject(properties={"text": "apple one"}, uuid=uuid.UUID(int=1),
                       vector={"a": [1.0, 0.0], "b": [0.0, 1.0]}),
            DataObject(properties={"text": "apple two"}, uuid=uuid.UUID(int=2),
                       vector={"a": [0.0, 1.0], "b": [1.0, 0.0]}),
        ])
        for target, first in (("a", 1), ("b", 2)):
            res = col.query.hybrid("apple", vector=[1.0, 0.0], alpha=1.0, target_vector=target, limit=2)
            assert [o.uuid for o in res.objects] == [uuid.UUID(int=first), uuid.UUID(int=3 - first)]
        with pytest.raises(WeaviateQueryError, match="target vector"):
            col.query.hybrid("apple", vector=[1.0, 0.0], alpha=0.5)
