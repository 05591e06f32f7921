"""Multi-tenancy and cross-reference costs of the real `weft` binary, through weaviate-client.

    .venv/bin/python crates/weft-bench/scripts/tenants.py --weft-bin target/release/weft
        [--tenants 10000] [--active 1000] [--data DIR] [--out summary.json]

What it measures (one run, one machine; the server and the client share the cores):

1. Creating `--tenants` tenants of one class with `tenants.create` in calls of 1 000 (one
   durable schema write each): seconds, tenants/s, files and bytes in the data directory, the
   server's resident memory (VmRSS) before and after.
2. Startup with every tenant inactive (`tenants.update` to INACTIVE in calls of 100, then
   SIGTERM and a new start): seconds from exec to `/v1/.well-known/ready`, and VmRSS per
   inactive tenant ((RSS after start - RSS of an empty server) / tenants).
3. Memory per active empty tenant: `--active` tenants activated and opened by one query each
   (`fetch_objects`), VmRSS delta / `--active`.
4. First query to a deactivated tenant with `autoTenantActivation` (each tenant holds 100
   objects): the latency of that query (which writes the status and opens the shard) next to
   the second query to the same tenant; median and p90 over 50 tenants.
5. `return_references` cost: `fetch_objects(limit=100)` on 100 books each holding k references
   (k = 0, 1, 4) to authors, with `return_references=QueryReference(link_on="writtenBy",
   return_properties=["name"])`; microseconds per returned reference = (t_k - t_0) / (100 k).
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import weaviate
from weaviate.classes.config import Configure, DataType, Property, ReferenceProperty
from weaviate.classes.data import DataObject, DataReference
from weaviate.classes.query import QueryReference
from weaviate.classes.tenants import Tenant, TenantActivityStatus


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, data):
        self.binary, self.data = binary, data
        self.port, self.grpc = free_port(), free_port()
        self.proc = None

    def start(self):
        env = dict(os.environ, PERSISTENCE_DATA_PATH=str(self.data), GRPC_PORT=str(self.grpc),
                   LOG_LEVEL="warning")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([self.binary, "--host", "127.0.0.1", "--port", str(self.port),
                                      "--scheme", "http"], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/.well-known/ready", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - t0
            except OSError:
                time.sleep(0.005)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()

    def rss_mb(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def client(self):
        return weaviate.connect_to_local(port=self.port, grpc_port=self.grpc)


def dir_stats(path):
    files, size = 0, 0
    for root, _, names in os.walk(path):
        for n in names:
            files += 1
            try:
                size += os.path.getsize(os.path.join(root, n))
            except OSError:
                pass
    return files, size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weft-bin", default="target/release/weft")
    ap.add_argument("--tenants", type=int, default=10_000)
    ap.add_argument("--active", type=int, default=1_000)
    ap.add_argument("--data")
    ap.add_argument("--out")
    args = ap.parse_args()
    base = Path(args.data or tempfile.mkdtemp(prefix="weft-tenants-"))
    shutil.rmtree(base, ignore_errors=True)
    out = {"tenants": args.tenants, "active": args.active}

    empty = Server(args.weft_bin, base / "empty")
    empty.start()
    time.sleep(0.5)
    out["rss_empty_server_mb"] = empty.rss_mb()
    empty.stop()

    srv = Server(args.weft_bin, base / "mt")
    srv.start()
    names = [f"tenant-{i:05d}" for i in range(args.tenants)]
    with srv.client() as c:
        col = c.collections.create("Mt", properties=[Property(name="t", data_type=DataType.TEXT)],
                                   multi_tenancy_config=Configure.multi_tenancy(enabled=True),
                                   vector_config=Configure.Vectors.self_provided())
        rss0 = srv.rss_mb()
        t0 = time.perf_counter()
        for i in range(0, len(names), 1000):
            col.tenants.create([Tenant(name=n) for n in names[i:i + 1000]])
        took = time.perf_counter() - t0
        out["create_seconds"] = took
        out["create_tenants_per_s"] = len(names) / took
        out["rss_before_create_mb"], out["rss_after_create_mb"] = rss0, srv.rss_mb()
        out["files_after_create"], out["bytes_after_create"] = dir_stats(srv.data)
        t0 = time.perf_counter()
        for i in range(0, len(names), 100):
            col.tenants.update([Tenant(name=n, activity_status=TenantActivityStatus.INACTIVE)
                                for n in names[i:i + 100]])
        out["deactivate_all_seconds"] = time.perf_counter() - t0
    srv.stop()
    out["startup_inactive_seconds"] = srv.start()
    time.sleep(0.5)
    rss_inactive = srv.rss_mb()
    out["rss_all_inactive_mb"] = rss_inactive
    out["rss_per_inactive_tenant_kb"] = (rss_inactive - out["rss_empty_server_mb"]) * 1024 / args.tenants
    with srv.client() as c:
        col = c.collections.get("Mt")
        active = names[:args.active]
        for i in range(0, len(active), 100):
            col.tenants.update([Tenant(name=n, activity_status=TenantActivityStatus.ACTIVE)
                                for n in active[i:i + 100]])
        before = srv.rss_mb()
        t0 = time.perf_counter()
        for n in active:
            col.with_tenant(n).query.fetch_objects(limit=1)
        out["open_active_empty_seconds"] = time.perf_counter() - t0
        out["rss_per_active_empty_tenant_kb"] = (srv.rss_mb() - before) * 1024 / len(active)

        auto = c.collections.create("Auto", properties=[Property(name="t", data_type=DataType.TEXT)],
                                    multi_tenancy_config=Configure.multi_tenancy(
                                        enabled=True, auto_tenant_activation=True),
                                    vector_config=Configure.Vectors.self_provided())
        auto_names = [f"auto-{i}" for i in range(50)]
        auto.tenants.create([Tenant(name=n) for n in auto_names])
        for n in auto_names:
            res = auto.with_tenant(n).data.insert_many([{"t": f"object {j}"} for j in range(100)])
            assert not res.has_errors
        for i in range(0, 50, 25):
            auto.tenants.update([Tenant(name=n, activity_status=TenantActivityStatus.INACTIVE)
                                 for n in auto_names[i:i + 25]])
        first, second = [], []
        for n in auto_names:
            t0 = time.perf_counter()
            assert len(auto.with_tenant(n).query.fetch_objects(limit=10).objects) == 10
            first.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            auto.with_tenant(n).query.fetch_objects(limit=10)
            second.append((time.perf_counter() - t0) * 1000)
        q = lambda xs, p: sorted(xs)[int(p * (len(xs) - 1))]  # noqa: E731
        out["auto_activation_first_query_ms"] = {"p50": statistics.median(first), "p90": q(first, 0.9)}
        out["auto_activation_second_query_ms"] = {"p50": statistics.median(second), "p90": q(second, 0.9)}

        c.collections.create("Author", properties=[Property(name="name", data_type=DataType.TEXT)],
                             vector_config=Configure.Vectors.self_provided())
        authors = c.collections.get("Author")
        a_ids = [uuid.UUID(int=0xA000 + i) for i in range(400)]
        assert not authors.data.insert_many([DataObject(properties={"name": f"author {i}"}, uuid=u)
                                             for i, u in enumerate(a_ids)]).has_errors
        per_ref = {}
        times = {}
        for k in (0, 1, 4):
            name = f"Book{k}"
            c.collections.create(name, properties=[Property(name="title", data_type=DataType.TEXT)],
                                 references=[ReferenceProperty(name="writtenBy", target_collection="Author")],
                                 vector_config=Configure.Vectors.self_provided())
            books = c.collections.get(name)
            b_ids = [uuid.UUID(int=0xB000 + i) for i in range(100)]
            assert not books.data.insert_many([DataObject(properties={"title": f"b{i}"}, uuid=u)
                                               for i, u in enumerate(b_ids)]).has_errors
            if k:
                res = books.data.reference_add_many([
                    DataReference(from_property="writtenBy", from_uuid=b, to_uuid=a_ids[(i * k + j) % 400])
                    for i, b in enumerate(b_ids) for j in range(k)])
                assert not res.has_errors
            ref = QueryReference(link_on="writtenBy", return_properties=["name"])
            for _ in range(20):
                books.query.fetch_objects(limit=100, return_references=ref)
            runs = 200
            t0 = time.perf_counter()
            for _ in range(runs):
                r = books.query.fetch_objects(limit=100, return_references=ref)
            times[k] = (time.perf_counter() - t0) / runs
            assert sum(len(o.references["writtenBy"].objects) if o.references and "writtenBy" in o.references
                       else 0 for o in r.objects) == 100 * k
        for k in (1, 4):
            per_ref[k] = (times[k] - times[0]) * 1e6 / (100 * k)
        out["return_references_query_ms"] = {k: v * 1000 for k, v in times.items()}
        out["return_references_us_per_reference"] = per_ref
    srv.stop()
    print(json.dumps(out, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=2))
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
