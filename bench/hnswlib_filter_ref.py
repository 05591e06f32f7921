#!/usr/bin/env python3
"""hnswlib reference for weft-bench's `filters` subcommand: the same vectors, the same filter
(`i % 1000 < t` on the insertion index) through hnswlib's filter callback, the same
selectivities; recall@k against brute force over the matching vectors (numpy).

Setup (once):  python3 -m venv /tmp/hnswvenv && /tmp/hnswvenv/bin/pip install hnswlib numpy
Run:           /tmp/hnswvenv/bin/python bench/hnswlib_filter_ref.py --base B.fvecs --query Q.fvecs \
                   --metric cosine --m 16 --ef-construction 128
weft's (Weaviate's) HNSW defaults are maxConnections 32, efConstruction 128 and a dynamic ef of
clamp(8·k, 100, 500) = 100 for k = 10; the defaults here are the same (--m 32, --ef 100).
"""
import argparse
import time

import hnswlib
import numpy as np

SPACES = {"l2-squared": "l2", "cosine": "cosine"}


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    rows = raw.reshape(-1, dim + 1)[:, 1:]
    return np.ascontiguousarray(rows.view(dtype))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--query", required=True)
    p.add_argument("--metric", default="cosine", choices=sorted(SPACES))
    p.add_argument("--m", type=int, default=32)
    p.add_argument("--ef-construction", type=int, default=128)
    p.add_argument("--ef", type=int, default=100)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--queries", type=int, default=500)
    a = p.parse_args()
    base = read_vecs(a.base, np.float32)
    queries = read_vecs(a.query, np.float32)[: a.queries]
    index = hnswlib.Index(space=SPACES[a.metric], dim=base.shape[1])
    index.init_index(max_elements=len(base), M=a.m, ef_construction=a.ef_construction)
    index.set_num_threads(1)
    started = time.perf_counter()
    index.add_items(base, np.arange(len(base)))
    print(f"built {len(base)} vectors ({len(base) / (time.perf_counter() - started):.0f}/s)\n")
    index.set_ef(a.ef)
    if a.metric == "cosine":
        nb = base / np.linalg.norm(base, axis=1, keepdims=True)
    print(f"| selectivity | matching | recall@{a.k} | QPS (1 thread) |")
    print("|---|---|---|---|")
    ids = np.arange(len(base))
    for label, t in [("100 %", 1000), ("50 %", 500), ("10 %", 100), ("1 %", 10), ("0.1 %", 1)]:
        allowed = ids[ids % 1000 < t]
        found = 0
        took = 0.0
        filt = None if t >= 1000 else (lambda i, t=t: i % 1000 < t)
        for q in queries:
            k = min(a.k, len(allowed))
            started = time.perf_counter()
            labels, _ = index.knn_query(q, k=k, filter=filt)
            took += time.perf_counter() - started
            if a.metric == "cosine":
                d = 1 - nb[allowed] @ (q / np.linalg.norm(q))
            else:
                d = ((base[allowed] - q) ** 2).sum(axis=1)
            truth = set(allowed[np.argsort(d)[:k]].tolist())
            found += len(truth & set(labels[0].tolist()))
        print(f"| {label} | {len(allowed)} | {found / (len(queries) * min(a.k, len(allowed))):.4f} | {len(queries) / took:.0f} |")


if __name__ == "__main__":
    main()
