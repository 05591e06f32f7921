"""The Grafana dashboard (deploy/grafana/weft-dashboard.json) queries only series weft exports."""

import json
import re
from pathlib import Path

from conftest import free_port
from test_metrics import scrape

ROOT = Path(__file__).resolve().parents[2]
PREFIXES = ("weft_", "object_", "vector_", "requests_", "batch_", "queries_")


def base(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum", "_total"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def test_every_dashboard_query_names_an_exported_metric(make_weft):
    dash = json.loads((ROOT / "deploy" / "grafana" / "weft-dashboard.json").read_text())
    wanted = set()
    for p in dash["panels"]:
        for t in p["targets"]:
            wanted |= {n for n in re.findall(r"[a-z_][a-z0-9_]*", t["expr"]) if n.startswith(PREFIXES)}
    assert len(wanted) >= 8, wanted
    port = free_port()
    w = make_weft({"PROMETHEUS_MONITORING_ENABLED": "true", "PROMETHEUS_MONITORING_PORT": str(port)}).start()
    with w.client() as c:
        c.collections.create("A").data.insert({"x": 1})
        c.collections.get("A").data.insert_many([{"x": 2}])
        c.collections.get("A").query.fetch_objects()
    exported = set(re.findall(r"^# TYPE (\w+) ", scrape(port), re.M))
    missing = {n for n in wanted if n not in exported and base(n) not in exported}
    assert not missing, missing
