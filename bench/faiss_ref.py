#!/usr/bin/env python3
"""faiss reference for weft-bench's `ann` subcommand with compression: the same data, M and
efConstruction, the same output lines. Indexes: IndexHNSWFlat (f32), IndexHNSWSQ with 8-bit
codes (QT_8bit_uniform: one range for all dimensions, as Weaviate's and weft's sq; QT_8bit: a
range per dimension) and IndexHNSWPQ (m = dim / 4 bytes), each optionally inside an
IndexRefineFlat that rescores `--rescore` candidates with the f32 vectors (weft's rescoreLimit).

Setup (once):  python3 -m venv /tmp/refvenv && /tmp/refvenv/bin/pip install faiss-cpu numpy hnswlib
Run:           /tmp/refvenv/bin/python bench/faiss_ref.py --base B.fvecs --query Q.fvecs \
                   --gt G.ivecs --metric cosine --m 16 --ef-construction 128 --index sq8u --rescore 20
"""
import argparse
import time

import faiss
import numpy as np

from hnswlib_ref import read_vecs, rss_bytes


def make(kind, dim, m, metric, pq_m=0):
    if kind == "flat":
        return faiss.IndexHNSWFlat(dim, m, metric)
    if kind == "sq8u":
        return faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit_uniform, m, metric)
    if kind == "sq8":
        return faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, m, metric)
    if kind == "pq":
        return faiss.IndexHNSWPQ(dim, pq_m or dim // 4, m, 8, metric)
    raise SystemExit(f"unknown index {kind}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--query", required=True)
    p.add_argument("--gt", required=True)
    p.add_argument("--metric", default="l2-squared", choices=["l2-squared", "cosine", "dot"])
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construction", type=int, default=128)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--ef", default="10,16,24,32,48,64,96,128,256")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--index", default="flat", choices=["flat", "sq8u", "sq8", "pq"])
    p.add_argument("--rescore", type=int, default=0, help="refine this many candidates (0: none, -1: ef)")
    p.add_argument("--pq-m", type=int, default=0, help="pq bytes per vector (0: dim / 4)")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()

    base = read_vecs(a.base, np.float32)
    queries = read_vecs(a.query, np.float32)
    gt = read_vecs(a.gt, np.int32)
    metric = faiss.METRIC_L2 if a.metric == "l2-squared" else faiss.METRIC_INNER_PRODUCT
    if a.metric == "cosine":
        base = base / np.maximum(np.linalg.norm(base, axis=1, keepdims=True), 1e-30)
        queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-30)
    base = np.ascontiguousarray(base, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    n, dim = base.shape
    print(f"# faiss {faiss.__version__} {a.index} rescore={a.rescore}: n={n} dim={dim} "
          f"queries={len(queries)} metric={a.metric} M={a.m} efConstruction={a.ef_construction} k={a.k}")
    threads = [int(t) for t in a.threads.split(",")]
    index = None
    for bt in threads:
        index = None
        faiss.omp_set_num_threads(bt)
        rss0 = rss_bytes()
        hnsw = make(a.index, dim, a.m, metric, a.pq_m)
        hnsw.hnsw.efConstruction = a.ef_construction
        t = time.perf_counter()
        if not hnsw.is_trained:
            hnsw.train(base[: min(n, 100_000)])
        idx = hnsw
        if a.rescore:
            idx = faiss.IndexRefineFlat(hnsw)
        idx.add(base)
        secs = time.perf_counter() - t
        rss = rss_bytes() - rss0
        print(f"build threads={bt} secs={secs:.2f} rate={n / secs:.0f}/s "
              f"mem_per_vector={rss / n:.0f}B (rss)")
        index = (idx, hnsw)
    idx, hnsw = index
    k = a.k
    truth = [set(row[:k]) for row in gt]
    for st in threads:
        faiss.omp_set_num_threads(st)
        for ef in [int(e) for e in a.ef.split(",")]:
            hnsw.hnsw.efSearch = max(ef, k)
            if a.rescore:
                # -1: every candidate of the walk (ef), Weaviate's rule for pq and bq.
                idx.k_factor = max(ef if a.rescore < 0 else a.rescore, k) / k
            best = (0.0, 0.0)
            for _ in range(max(a.repeats, 1)):
                t = time.perf_counter()
                _, labels = idx.search(queries, k)
                secs = time.perf_counter() - t
                hits = sum(len(truth[i].intersection(labels[i])) for i in range(len(queries)))
                r, qps = hits / (len(queries) * k), len(queries) / secs
                if qps > best[1]:
                    best = (r, qps)
            print(f"search threads={st} ef={ef} recall@{k}={best[0]:.4f} qps={best[1]:.0f}")


if __name__ == "__main__":
    main()
