"""Schema end to end through weaviate-client 4.24.1 (REST + gRPC health on connect)."""

import pytest
import weaviate
from weaviate.classes.config import Configure, DataType, Property, VectorDistances
from weaviate.exceptions import UnexpectedStatusCodeError

PROPS = [
    Property(name="title", data_type=DataType.TEXT),
    Property(name="count", data_type=DataType.INT),
    Property(name="price", data_type=DataType.NUMBER),
    Property(name="flag", data_type=DataType.BOOL),
    Property(name="when", data_type=DataType.DATE),
    Property(name="ref_id", data_type=DataType.UUID),
    Property(name="tags", data_type=DataType.TEXT_ARRAY),
]

DISTANCES = [
    VectorDistances.COSINE,
    VectorDistances.DOT,
    VectorDistances.L2_SQUARED,
    VectorDistances.MANHATTAN,
    VectorDistances.HAMMING,
]


def test_connect_checks_meta_and_grpc_health(weft):
    with weft.client() as client:
        assert client.is_ready()
        assert client.is_live()
        meta = client.get_meta()
        assert meta["version"] == "1.37.0"
        nodes = client.cluster.nodes()
        assert nodes[0].name == "node1"


@pytest.mark.parametrize("index", ["hnsw", "flat"])
@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_create_inspect_delete(weft, index, distance):
    name = f"Article_{index}_{distance.value.replace('-', '_')}"
    if index == "hnsw":
        vic = Configure.VectorIndex.hnsw(distance_metric=distance)
    else:
        vic = Configure.VectorIndex.flat(distance_metric=distance)
    with weft.client() as client:
        client.collections.delete(name)  # missing: must still be fine
        col = client.collections.create(
            name, properties=PROPS, vector_config=Configure.Vectors.self_provided(vector_index_config=vic)
        )
        assert client.collections.exists(name)
        assert name in client.collections.list_all()

        cfg = col.config.get()
        assert cfg.name == name
        assert [p.name for p in cfg.properties] == [p.name for p in PROPS]
        types = {p.name: p.data_type for p in cfg.properties}
        assert types["tags"] == DataType.TEXT_ARRAY and types["when"] == DataType.DATE
        title = next(p for p in cfg.properties if p.name == "title")
        assert title.index_filterable and title.index_searchable
        assert title.tokenization.value == "word"
        count = next(p for p in cfg.properties if p.name == "count")
        assert count.index_filterable and not count.index_searchable

        assert cfg.inverted_index_config.bm25.b == 0.75
        assert cfg.inverted_index_config.bm25.k1 == 1.2
        assert cfg.inverted_index_config.cleanup_interval_seconds == 60
        assert cfg.inverted_index_config.stopwords.preset.value == "en"
        assert cfg.replication_config.factor == 1
        assert cfg.multi_tenancy_config.enabled is False
        assert cfg.sharding_config.virtual_per_physical == 128
        assert cfg.sharding_config.desired_count == 1
        assert cfg.sharding_config.key == "_id"
        assert cfg.sharding_config.strategy == "hash"

        vc = cfg.vector_config["default"]
        idx = vc.vector_index_config
        assert idx.distance_metric == distance
        if index == "hnsw":
            assert idx.ef == -1
            assert idx.ef_construction == 128
            assert idx.max_connections == 32
            assert idx.dynamic_ef_min == 100
            assert idx.dynamic_ef_max == 500
            assert idx.dynamic_ef_factor == 8
            assert idx.flat_search_cutoff == 40000
            assert idx.cleanup_interval_seconds == 300
            assert idx.skip is False
        assert idx.vector_cache_max_objects == 1000000000000
        assert idx.quantizer is None

        shards = col.config.get_shards()
        assert len(shards) == 1
        assert len(shards[0].name) == 12
        assert shards[0].status == "READY"

        client.collections.delete(name)
        assert not client.collections.exists(name)


def test_legacy_single_vector_class(weft):
    with weft.client() as client:
        client.collections.create_from_dict(
            {
                "class": "Legacy",
                "vectorizer": "none",
                "vectorIndexType": "hnsw",
                "vectorIndexConfig": {"distance": "l2-squared", "efConstruction": 64},
                "properties": [{"name": "title", "dataType": ["text"]}],
            }
        )
        cfg = client.collections.get("Legacy").config.get()
        assert cfg.vector_index_config.distance_metric == VectorDistances.L2_SQUARED
        assert cfg.vector_index_config.ef_construction == 64
        assert cfg.vector_index_config.max_connections == 32


def _create(client, name):
    return client.collections.create(
        name,
        properties=PROPS,
        vector_config=Configure.Vectors.self_provided(
            vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.DOT)
        ),
    )


def test_schema_survives_restart_and_kill9(make_weft):
    w = make_weft().start()
    with w.client() as client:
        _create(client, "Durable")
        before = client.collections.get("Durable").config.get().to_dict()
        shards_before = [s.name for s in client.collections.get("Durable").config.get_shards()]
    assert w.terminate() == 0

    w.start()
    with w.client() as client:
        col = client.collections.get("Durable")
        assert col.config.get().to_dict() == before
        assert [s.name for s in col.config.get_shards()] == shards_before
        _create(client, "AfterRestart")
    w.kill9()

    w.start()
    with w.client() as client:
        assert client.collections.exists("Durable")
        assert client.collections.exists("AfterRestart")
        assert client.collections.get("Durable").config.get().to_dict() == before


def test_add_property_and_update(weft):
    from weaviate.classes.config import Reconfigure

    with weft.client() as client:
        col = _create(client, "Mutable")
        col.config.add_property(Property(name="body", data_type=DataType.TEXT))
        col.config.update(
            description="changed",
            inverted_index_config=Reconfigure.inverted_index(bm25_k1=1.5),
        )
        cfg = col.config.get()
        assert "body" in [p.name for p in cfg.properties]
        assert cfg.description == "changed"
        assert cfg.inverted_index_config.bm25.k1 == 1.5


@pytest.mark.parametrize(
    "body",
    [
        {"class": "bad-name"},
        {"class": "Raft"},
        {"class": "Ok", "properties": [{"name": "x", "dataType": ["nonsense"]}]},
        {"class": "Ok", "properties": [{"name": "_additional", "dataType": ["text"]}]},
        {"class": "Ok", "vectorIndexConfig": {"distance": "euclidean"}},
        {"class": "Ok", "properties": [{"name": "a", "dataType": ["text"]}, {"name": "a", "dataType": ["int"]}]},
    ],
)
def test_bad_classes_are_rejected_with_422(weft, body):
    with weft.client() as client:
        with pytest.raises(UnexpectedStatusCodeError) as err:
            client.collections.create_from_dict(body)
        assert err.value.status_code == 422
        assert "error" in err.value.message or err.value.message


def test_duplicate_class_case_insensitive(weft):
    with weft.client() as client:
        _create(client, "Dup")
        for name in ["Dup", "DUP", "dup"]:
            with pytest.raises(UnexpectedStatusCodeError) as err:
                _create(client, name)
            assert err.value.status_code == 422
