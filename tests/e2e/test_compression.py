"""Vector compression through the official client: sq, pq and rq (8 and 1 bits) configured as in
Weaviate, compressed at creation, at the training limit or by a later update while queries keep
answering, rescored with the stored vectors, and kept across restarts and kill -9."""

import random
import time

import pytest
from conftest import rest
from weaviate.classes.config import Configure, Reconfigure, VectorDistances
from weaviate.classes.query import MetadataQuery

DIM = 32


def vectors(n, seed):
    r = random.Random(seed)
    return [[r.uniform(-1, 1) for _ in range(DIM)] for _ in range(n)]


def insert(coll, vs, first=0):
    with coll.batch.fixed_size(batch_size=200) as b:
        for i, v in enumerate(vs):
            b.add_object(properties={"i": first + i}, vector=v)
    assert not coll.batch.failed_objects


def compressed(client, name):
    nodes = client.cluster.nodes(collection=name, output="verbose")
    return [s.compressed for n in nodes for s in n.shards if s.collection == name]


def wait_compressed(client, name, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if compressed(client, name) == [True]:
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} not compressed in {timeout}s: {compressed(client, name)}")


def self_matches(coll, vs, step=17):
    for i in range(0, len(vs), step):
        res = coll.query.near_vector(vs[i], limit=1, return_metadata=MetadataQuery(distance=True))
        assert [o.properties["i"] for o in res.objects] == [i], i
        # Rescored: the distance is the exact one, not an estimate from the codes.
        assert abs(res.objects[0].metadata.distance) < 1e-5, res.objects[0].metadata.distance


@pytest.mark.parametrize("bits", [8, 4, 1])
def test_rq_at_creation_then_restart_and_kill9(make_weft, bits):
    server = make_weft().start()
    with server.client() as client:
        coll = client.collections.create(
            "Rq",
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(
                    distance_metric=VectorDistances.L2_SQUARED,
                    quantizer=Configure.VectorIndex.Quantizer.rq(bits=bits),
                )
            ),
        )
        cfg = coll.config.get().vector_config["default"].vector_index_config
        assert cfg.quantizer is not None and type(cfg.quantizer).__name__ == "_RQConfig"
        # Weaviate's defaults: 20 candidates rescored with 8 or 4 bits, 512 with 1.
        assert (cfg.quantizer.bits, cfg.quantizer.rescore_limit) == (bits, 512 if bits == 1 else 20)
        vs = vectors(600, 1)
        insert(coll, vs)
        assert compressed(client, "Rq") == [True]
        self_matches(coll, vs)
    server.terminate()
    server.start()
    with server.client() as client:
        coll = client.collections.get("Rq")
        assert compressed(client, "Rq") == [True]
        self_matches(coll, vs)
        more = vectors(200, 2)
        insert(coll, more, first=600)
    server.kill9()
    server.start()
    with server.client() as client:
        coll = client.collections.get("Rq")
        assert compressed(client, "Rq") == [True]
        self_matches(coll, vs + more)
        assert len(coll) == 800
    # The log says what happened on open.
    assert any(l.get("action") == "vector_index_load" for l in server.log_lines())


def test_sq_compresses_at_its_training_limit(weft):
    with weft.client() as client:
        coll = client.collections.create(
            "Sq",
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(
                    distance_metric=VectorDistances.COSINE,
                    quantizer=Configure.VectorIndex.Quantizer.sq(
                        training_limit=300, rescore_limit=40
                    ),
                )
            ),
        )
        q = coll.config.get().vector_config["default"].vector_index_config.quantizer
        assert type(q).__name__ == "_SQConfig"
        assert (q.training_limit, q.rescore_limit) == (300, 40)
        vs = vectors(200, 3)
        insert(coll, vs)
        time.sleep(1.5)
        assert compressed(client, "Sq") == [False], "below the training limit"
        more = vectors(200, 4)
        insert(coll, more, first=200)
        wait_compressed(client, "Sq")
        self_matches(coll, vs + more)


def test_rq_enabled_later_compresses_in_the_background(weft):
    with weft.client() as client:
        coll = client.collections.create(
            "Later",
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.DOT)
            ),
        )
        vs = vectors(800, 5)
        insert(coll, vs)
        assert compressed(client, "Later") == [False]
        coll.config.update(
            vector_config=Reconfigure.Vectors.update(
                name="default",
                vector_index_config=Reconfigure.VectorIndex.hnsw(
                    quantizer=Reconfigure.VectorIndex.Quantizer.rq(rescore_limit=50)
                ),
            )
        )
        q = coll.config.get().vector_config["default"].vector_index_config.quantizer
        assert type(q).__name__ == "_RQConfig" and q.rescore_limit == 50
        # Queries answer throughout; the switch happens within the worker's next look.
        deadline = time.monotonic() + 30
        while compressed(client, "Later") != [True]:
            assert time.monotonic() < deadline, "not compressed in 30 s"
            res = coll.query.near_vector(vs[0], limit=5)
            assert len(res.objects) == 5
        for i in range(0, 800, 53):
            res = coll.query.near_vector(vs[i], limit=800)
            assert i in [o.properties["i"] for o in res.objects]
        # Quantization cannot be switched once set (the client's own check).
        with pytest.raises(Exception, match="quantizer"):
            coll.config.update(
                vector_config=Reconfigure.Vectors.update(
                    name="default",
                    vector_index_config=Reconfigure.VectorIndex.hnsw(
                        quantizer=Reconfigure.VectorIndex.Quantizer.sq()
                    ),
                )
            )


def test_pq_trains_at_its_limit_then_survives_restart_and_kill9(make_weft):
    server = make_weft().start()
    with server.client() as client:
        coll = client.collections.create(
            "Pq",
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(
                    distance_metric=VectorDistances.COSINE,
                    quantizer=Configure.VectorIndex.Quantizer.pq(
                        segments=8, centroids=64, training_limit=300
                    ),
                )
            ),
        )
        q = coll.config.get().vector_config["default"].vector_index_config.quantizer
        assert type(q).__name__ == "_PQConfig"
        assert (q.segments, q.centroids, q.training_limit) == (8, 64, 300)
        assert (q.encoder.type_.value, q.encoder.distribution.value) == ("kmeans", "log-normal")
        vs = vectors(200, 6)
        insert(coll, vs)
        time.sleep(1.5)
        assert compressed(client, "Pq") == [False], "below the training limit"
        more = vectors(200, 7)
        insert(coll, more, first=200)
        wait_compressed(client, "Pq")
        # Every candidate of the walk is rescored (Weaviate's rule for pq): exact distances.
        self_matches(coll, vs + more)
    server.terminate()
    server.start()
    with server.client() as client:
        coll = client.collections.get("Pq")
        assert compressed(client, "Pq") == [True], "the snapshot holds the codebooks"
        tail = vectors(150, 8)
        insert(coll, tail, first=400)
    server.kill9()
    server.start()
    with server.client() as client:
        coll = client.collections.get("Pq")
        assert compressed(client, "Pq") == [True]
        assert len(coll) == 550
        self_matches(coll, vs + more + tail)


def test_pq_enabled_later_compresses_in_the_background(weft):
    with weft.client() as client:
        coll = client.collections.create(
            "PqLater",
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(
                    distance_metric=VectorDistances.L2_SQUARED
                )
            ),
        )
        vs = vectors(500, 9)
        insert(coll, vs)
        coll.config.update(
            vector_config=Reconfigure.Vectors.update(
                name="default",
                vector_index_config=Reconfigure.VectorIndex.hnsw(
                    quantizer=Reconfigure.VectorIndex.Quantizer.pq(segments=16)
                ),
            )
        )
        q = coll.config.get().vector_config["default"].vector_index_config.quantizer
        assert type(q).__name__ == "_PQConfig" and q.segments == 16
        deadline = time.monotonic() + 60
        while compressed(client, "PqLater") != [True]:
            assert time.monotonic() < deadline, "not compressed in 60 s"
            assert len(coll.query.near_vector(vs[1], limit=5).objects) == 5
        self_matches(coll, vs)


def test_rq_bits_cannot_change_once_enabled(weft):
    with weft.client() as client:
        client.collections.create(
            "Bits",
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(
                    quantizer=Configure.VectorIndex.Quantizer.rq(bits=4)
                )
            ),
        )
    status, body = rest(weft, "GET", "/v1/schema/Bits")
    assert status == 200
    assert body["vectorConfig"]["default"]["vectorIndexConfig"]["rq"]["bits"] == 4
    body["vectorConfig"]["default"]["vectorIndexConfig"]["rq"]["bits"] = 8
    status, text = rest(weft, "PUT", "/v1/schema/Bits", body)
    assert status == 422, (status, text)
    assert 'rq bits is immutable: attempted change from \\"4\\" to \\"8\\"' in text, text


def test_compression_with_an_unsupported_distance_is_refused(weft):
    import weaviate

    with weft.client() as client:
        with pytest.raises(weaviate.exceptions.UnexpectedStatusCodeError) as e:
            client.collections.create(
                "Man",
                vector_config=Configure.Vectors.self_provided(
                    vector_index_config=Configure.VectorIndex.hnsw(
                        distance_metric=VectorDistances.MANHATTAN,
                        quantizer=Configure.VectorIndex.Quantizer.rq(),
                    )
                ),
            )
        assert e.value.status_code == 422
        assert "does not support distance manhattan" in str(e.value)


def test_bq_at_creation_rescores_every_candidate(weft):
    with weft.client() as client:
        coll = client.collections.create(
            "Bq",
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(
                    distance_metric=VectorDistances.COSINE,
                    quantizer=Configure.VectorIndex.Quantizer.bq(),
                )
            ),
        )
        q = coll.config.get().vector_config["default"].vector_index_config.quantizer
        assert type(q).__name__ == "_BQConfig"
        vs = vectors(500, 6)
        insert(coll, vs)
        assert compressed(client, "Bq") == [True]
        self_matches(coll, vs)


def test_flat_with_bq_and_rq_rescores(weft):
    with weft.client() as client:
        for name, quantizer in [
            ("FlatBq", Configure.VectorIndex.Quantizer.bq(cache=True, rescore_limit=200)),
            ("FlatRq", Configure.VectorIndex.Quantizer.rq(rescore_limit=50)),
        ]:
            coll = client.collections.create(
                name,
                vector_config=Configure.Vectors.self_provided(
                    vector_index_config=Configure.VectorIndex.flat(
                        distance_metric=VectorDistances.COSINE, quantizer=quantizer
                    )
                ),
            )
            vs = vectors(300, 7)
            insert(coll, vs)
            assert compressed(client, name) == [True], name
            self_matches(coll, vs)
            # Flat quantization is fixed at creation (Weaviate's rule and message).
            status, cls = rest(weft, "GET", f"/v1/schema/{name}")
            assert status == 200
            cls["vectorConfig"]["default"]["vectorIndexConfig"]["bq"]["enabled"] = name != "FlatBq"
            status, body = rest(weft, "PUT", f"/v1/schema/{name}", cls)
            assert status == 422, body
            assert "bq is immutable" in body, body


def test_default_quantization_applies_to_indexes_that_enable_none(make_weft):
    server = make_weft({"DEFAULT_QUANTIZATION": "rq-1"}).start()
    with server.client() as client:
        plain = client.collections.create(
            "Defaulted",
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE)
            ),
        )
        client.collections.create(
            "OwnSq",
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(
                    quantizer=Configure.VectorIndex.Quantizer.sq()
                )
            ),
        )
        client.collections.create(
            "FlatDefaulted",
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.flat()
            ),
        )
        q = plain.config.get().vector_config["default"].vector_index_config.quantizer
        assert type(q).__name__ == "_RQConfig" and (q.bits, q.rescore_limit) == (1, 512)
        vs = vectors(400, 11)
        insert(plain, vs)
        assert compressed(client, "Defaulted") == [True]
        self_matches(plain, vs)
    # Weaviate's schema keys: which indexes got the default, which were left alone.
    status, body = rest(server, "GET", "/v1/schema")
    assert status == 200
    cfg = {c["class"]: c["vectorConfig"]["default"]["vectorIndexConfig"] for c in body["classes"]}
    assert cfg["Defaulted"]["trackDefaultQuantization"] is True
    assert cfg["Defaulted"]["rq"] == {"enabled": True, "bits": 1, "rescoreLimit": 512}
    assert cfg["OwnSq"]["trackDefaultQuantization"] is False
    assert (cfg["OwnSq"]["sq"]["enabled"], cfg["OwnSq"]["rq"]["enabled"]) == (True, False)
    assert cfg["FlatDefaulted"]["trackDefaultQuantization"] is True
    assert (cfg["FlatDefaulted"]["rq"]["enabled"], cfg["FlatDefaulted"]["rq"]["bits"]) == (True, 1)
    # skipDefaultQuantization opts out.
    status, body = rest(server, "POST", "/v1/schema", {
        "class": "Skipped", "vectorizer": "none",
        "vectorIndexConfig": {"skipDefaultQuantization": True},
    })
    assert status == 200, body
    assert body["vectorIndexConfig"]["rq"]["enabled"] is False
    assert body["vectorIndexConfig"]["trackDefaultQuantization"] is False
    # The default stays with the class across a restart without the variable.
    server.terminate()
    server.env = {}
    server.start()
    status, body = rest(server, "GET", "/v1/schema/Defaulted")
    assert body["vectorConfig"]["default"]["vectorIndexConfig"]["rq"]["bits"] == 1
    with server.client() as client:
        assert compressed(client, "Defaulted") == [True]
        self_matches(client.collections.get("Defaulted"), vs)


def test_unknown_default_quantization_is_refused_at_startup(make_weft):
    server = make_weft({"DEFAULT_QUANTIZATION": "rq-2"})
    with pytest.raises(RuntimeError) as e:
        server.start()
    assert "DEFAULT_QUANTIZATION" in str(e.value) and "rq-2" in str(e.value), e.value
