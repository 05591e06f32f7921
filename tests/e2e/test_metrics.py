"""Prometheus metrics scraped during a load run: the expected series exist and move."""

import re
import urllib.request

from weaviate.classes.config import Configure, DataType, Property

from conftest import free_port


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
        assert r.status == 200
        return r.read().decode()


def value(text: str, series: str) -> float:
    """The value of the first sample whose name and labels start like `series`."""
    for line in text.splitlines():
        if line.startswith(series):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {series!r} in:\n{text}")


def test_metrics_move_under_load(make_weft):
    port = free_port()
    w = make_weft({"PROMETHEUS_MONITORING_ENABLED": "true", "PROMETHEUS_MONITORING_PORT": str(port)}).start()
    with w.client() as c:
        coll = c.collections.create(
            "Article",
            properties=[Property(name="title", data_type=DataType.TEXT)],
            vector_config=Configure.Vectors.self_provided(),
        )
        coll.data.insert_many([{"title": f"t{i}"} for i in range(50)])
        before = scrape(port)
        for round in range(5):
            coll.data.insert_many([{"title": f"r{round}-{i}"} for i in range(20)])
            coll.query.fetch_objects(limit=5)
            coll.data.insert({"title": "rest"}, vector=[0.1, 0.2, 0.3])
        after = scrape(port)
    shard = re.search(r'object_count\{class_name="Article",shard_name="(\w+)"\}', after).group(1)
    key = f'{{class_name="Article",shard_name="{shard}"}}'
    assert value(before, f"object_count{key}") == 50
    assert value(after, f"object_count{key}") == 155
    assert value(after, f"vector_index_size{key}") == 5
    assert value(after, f'weft_shard_status{{class_name="Article",shard_name="{shard}",status="READY"}}') == 1
    assert value(after, f"weft_wal_bytes_total{key}") > value(before, f"weft_wal_bytes_total{key}")
    assert value(after, "weft_wal_fsync_duration_seconds_count") > value(before, "weft_wal_fsync_duration_seconds_count")
    assert value(after, 'weft_wal_fsync_duration_seconds_bucket{le="+Inf"}') == value(after, "weft_wal_fsync_duration_seconds_count")
    grpc_batches = 'requests_total{api="grpc",query_type="weaviate.v1.Weaviate/BatchObjects",status="ok"}'
    assert value(after, grpc_batches) - value(before, grpc_batches) == 5
    assert value(after, 'requests_total{api="grpc",query_type="weaviate.v1.Weaviate/Search",status="ok"}') == 5
    assert value(after, 'requests_total{api="rest",query_type="POST /v1/objects",status="ok"}') == 5
    assert value(after, 'batch_durations_ms_count{operation="total_api_level"') >= 6
    assert value(after, f"weft_wal_recovered_records{key}") == 0
    assert "weft_backup_running" in after
    assert value(after, f'vector_index_operations_total{{class_name="Article",shard_name="{shard}",operation="insert"}}') == 5
    assert value(after, f'startup_durations_ms{{class_name="Article",shard_name="{shard}",operation="load_shard"}}') >= 0
    assert re.search(r'^lsm_active_segments\{class_name="Article",shard_name="\w+",path="objects",strategy="replace"\} ', after, re.M), after
