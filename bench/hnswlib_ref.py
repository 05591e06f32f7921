#!/usr/bin/env python3
"""hnswlib reference for weft-bench's `ann` subcommand: same data, same M/efConstruction, same
output lines, so the two can be compared row by row.

Setup (once):  python3 -m venv /tmp/hnswvenv && /tmp/hnswvenv/bin/pip install hnswlib numpy
Run:           /tmp/hnswvenv/bin/python bench/hnswlib_ref.py --base B.fvecs --query Q.fvecs \
                   --gt G.ivecs --metric l2-squared --m 16 --ef-construction 128
"""
import argparse
import time

import hnswlib
import numpy as np

SPACES = {"l2-squared": "l2", "cosine": "cosine", "dot": "ip"}


def read_vecs(path, dtype):
    raw = np.fromfile(path, dtype=np.int32)
    dim = raw[0]
    rows = raw.reshape(-1, dim + 1)[:, 1:]
    return np.ascontiguousarray(rows.view(dtype))


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--query", required=True)
    p.add_argument("--gt", required=True)
    p.add_argument("--metric", default="l2-squared", choices=sorted(SPACES))
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=128)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--ef", default="10,16,24,32,48,64,96,128,256")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--limit", type=int)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()

    base = read_vecs(a.base, np.float32)
    if a.limit:
        base = base[: a.limit]
    queries = read_vecs(a.query, np.float32)
    gt = read_vecs(a.gt, np.int32)
    n, dim = base.shape
    print(f"# hnswlib {getattr(hnswlib, '__version__', '?')}: n={n} dim={dim} "
          f"queries={len(queries)} metric={a.metric} M={a.m} efConstruction={a.ef_construction} k={a.k}")
    threads = [int(t) for t in a.threads.split(",")]
    index = None
    for bt in threads:
        index = None
        rss0 = rss_bytes()
        idx = hnswlib.Index(space=SPACES[a.metric], dim=dim)
        idx.init_index(max_elements=n, M=a.m, ef_construction=a.ef_construction, random_seed=100)
        t = time.perf_counter()
        idx.add_items(base, np.arange(n), num_threads=bt)
        secs = time.perf_counter() - t
        rss = rss_bytes() - rss0
        print(f"build threads={bt} secs={secs:.2f} rate={n / secs:.0f}/s "
              f"mem_per_vector={rss / n:.0f}B (rss)")
        index = idx
    k = a.k
    truth = [set(row[:k]) for row in gt]
    for st in threads:
        for ef in [int(e) for e in a.ef.split(",")]:
            index.set_ef(max(ef, k))
            best = (0.0, 0.0)
            for _ in range(max(a.repeats, 1)):
                t = time.perf_counter()
                labels, _ = index.knn_query(queries, k=k, num_threads=st)
                secs = time.perf_counter() - t
                hits = sum(len(truth[i].intersection(labels[i])) for i in range(len(queries)))
                r, qps = hits / (len(queries) * k), len(queries) / secs
                if qps > best[1]:
                    best = (r, qps)
            print(f"search threads={st} ef={ef} recall@{k}={best[0]:.4f} qps={best[1]:.0f}")


if __name__ == "__main__":
    main()
