"""Keyword (BM25) and hybrid search: weft through gRPC next to tantivy in-process, in one run.

    .venv/bin/python crates/weft-bench/scripts/bm25.py [--docs 120000] [--queries 1000]
        [--hybrid-queries 500] [--data DIR] [--weft-bin PATH] [--out summary.json]

What it measures (all on the same corpus, the same queries, one machine, one run):

1. Import: documents/s into a weft collection `Bench` (one `text` property, word tokenization,
   filterable + searchable, no vectors) with `insert_many` chunks of 1 000, the same into
   `BenchSearch` (searchable only) and `BenchPlain` (`index_searchable=False`,
   `index_filterable=False`: the cost of storing the objects alone); tantivy indexing with one
   writer thread (`--tantivy-threads`), including the final commit and merges.
2. Size on disk per document: each weft class directory after a graceful restart (SIGTERM, so
   memtables are flushed into segments) / N, once with everything on disk and once live (the
   server restarted with `PERSISTENCE_FILE_DELETION_GRACE=0`, so the WAL files and compacted
   segments it keeps for 15 minutes after they became obsolete are gone); tantivy's index
   directory / N.
3. BM25 top-10 queries (1-4 terms, OR semantics), one client thread after a warm-up: QPS and
   p50/p99 latency. weft: `col.query.bm25(q, limit=10, return_metadata=MetadataQuery(score=True))`
   (gRPC `Search`, properties returned as the client does by default, and once more with
   `return_properties=[]`); tantivy: `index.parse_query(q, ["text"])` + `searcher.search(q, 10)`
   + the `id` fast field of the hits.
4. Agreement: mean |weft top-10 ∩ tantivy top-10| / 10 over the queries where both find
   something, the number of queries whose result counts differ, and the relative score
   difference of the documents both return.
5. Hybrid over gRPC on a third collection `Hyb` (the Wikipedia sentences with their 384-d
   MiniLM vectors, HNSW cosine): `col.query.hybrid(text, vector=v, alpha=0.5, limit=10)` with
   1 and 2 client threads (one client each), and `near_vector` alone for reference.
6. The client/transport floor: `col.query.fetch_objects(limit=10)` (no search at all).

Why this is not apples-to-apples, and what to read it for:
- weft is measured through the official Python client over gRPC on localhost (protobuf
  encoding, HTTP/2, a server thread hop, the objects' properties fetched and returned); tantivy
  runs in the benchmark's own process and returns only doc addresses + the `id` fast field.
  The `fetch_objects` floor shows how much of a weft query is transport and client; subtract it
  (roughly) to compare engines. On 2 cores the client and the server also compete for CPU.
- weft stores the objects (the text, a uuid, metadata) next to its index; tantivy's `text` field
  is not stored. `BenchSearch - BenchPlain` is the closest size to tantivy's index.
- tantivy's index keeps only document frequencies and term frequencies (`index_option="freq"`,
  like weft's postings, which hold no positions) and one byte per doc for the field length
  (lossy "fieldnorm" encoding). Both use k1=1.2, b=0.75 and idf = ln(1 + (N - n + 0.5) /
  (n + 0.5)), but Weaviate's formula (so weft's) leaves out Lucene's constant (k1 + 1) factor
  (scores are compared after multiplying weft's by 2.2), weft uses exact lengths, and, like
  Weaviate, takes the average property length over *distinct* tokens per document while the
  document's own length counts all tokens. Rankings therefore differ slightly; near-ties can
  swap at the 10th place.
- Tokenization: weft's `word` splits on every char that is not a Unicode letter or number
  (Go's IsLetter/IsNumber, as Weaviate) and lower-cases; tantivy's `default` tokenizer splits on
  non-alphanumerics (Rust's `char::is_alphanumeric`, nearly the same set), lower-cases, and in
  addition drops tokens of 40+ bytes. Weaviate removes its 33 English stopwords from queries
  only; tantivy removes none, so the generated queries contain no stopwords (nor long tokens).
- Import: weft's rate includes the client building protobufs and a durable (WAL) write per
  batch; tantivy's includes Python building `Document`s and the final commit, no fsync per
  batch.

The corpus: the Wikipedia sentences of `<data>/minilm-wiki-384-27k/base.jsonl`, then
paragraphs/sentences (5-60 words) of the machine's English man pages (troff stripped roughly),
then if needed `/usr/share/doc` text files, then shuffled sentence mixes; sources and counts are
printed. Everything is seeded (`--seed`).
"""

import argparse
import array
import datetime
import gzip
import json
import math
import os
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_DATA = Path(os.environ.get("WEFT_SHARED_DATA") or (ROOT / ".." / "shared" / "data"))

# Weaviate's `en` stopword preset (removed from BM25 queries by weft, never by tantivy).
WEAVIATE_STOPWORDS = set(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)
# A broader English list: query terms are never drawn from it.
ENGLISH_STOPWORDS = WEAVIATE_STOPWORDS | set(
    "about above after again against all am any because been before being below between both "
    "can cannot could did do does doing down during each few from further had has have having "
    "he her here hers herself him himself his how i its itself just me more most my myself nor "
    "now off once only other ought our ours ourselves out over own same she should so some than "
    "theirs them themselves those through too under until up very we were what when where which "
    "while who whom why would you your yours yourself yourselves also may must one two us use "
    "used using see e g eg ie etc".split()
)

K1 = 1.2
WORD_RE = re.compile(r"[^\W_]+")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def tokens(text: str) -> list:
    """weft's `word` tokenization: alphanumeric runs, lower-cased."""
    return WORD_RE.findall(text.lower())


# ---------------------------------------------------------------------------------------------
# Corpus


TROFF_BREAK = re.compile(r"^[.']\s*(PP|LP|P|SH|SS|TP|IP|HP|sp|br|nf|fi|TH|RS|RE|in|ti|bp|Sh|Pp|Bl|El|It)\b")
TROFF_SUBS = [
    (re.compile(r"\\f(\[[^\]]*\]|\(..|.)"), ""),  # font changes \fB \f[CR] \f(CW
    (re.compile(r"\\[ ~0|^]"), " "),  # non-breaking / fixed spaces
    (re.compile(r"\\-"), "-"),
    (re.compile(r"\\e"), "\\\\"),
    (re.compile(r"\\\(em|\\\(en|\\\[em\]|\\\[en\]"), " - "),
    (re.compile(r"\\\*(\(..|\[[^\]]*\]|.)"), ""),  # strings
    (re.compile(r"\\\(..|\\\[[^\]]*\]"), " "),  # special characters
    (re.compile(r"\\[sS][+-]?\d+"), ""),  # size changes
    (re.compile(r"\\[nwhvlLDxXoNbkzZ]('[^']*'|\[[^\]]*\]|\(..|.)?"), ""),
    (re.compile(r"\\\\"), ""),
    (re.compile(r"\\."), ""),  # every other escape
    (re.compile(r"\\$"), ""),
]
SENTENCE_SPLIT = re.compile(r"(?<=[.!?;:])\s+")
ALPHA_WORD = re.compile(r"[A-Za-z]{2,}")


def strip_troff(src: str) -> list:
    """Paragraphs (lists of text lines) of a man page, troff markup stripped roughly."""
    paras, cur = [], []
    for line in src.splitlines():
        if line.startswith(".") or line.startswith("'"):
            if TROFF_BREAK.match(line) and cur:
                paras.append(cur)
                cur = []
            continue
        for rx, rep in TROFF_SUBS:
            line = rx.sub(rep, line)
        line = line.strip()
        if not line:
            if cur:
                paras.append(cur)
                cur = []
            continue
        cur.append(line)
    if cur:
        paras.append(cur)
    return paras


def chunks_of(paragraph: str, lo: int = 5, hi: int = 60) -> list:
    """A paragraph as itself if it has lo..hi words, else its sentences grouped up to hi words."""
    words = paragraph.split()
    if len(words) < lo:
        return []
    if len(words) <= hi:
        out = [" ".join(words)]
    else:
        out, cur = [], []
        for sent in SENTENCE_SPLIT.split(" ".join(words)):
            sw = sent.split()
            while len(sw) > hi:
                if cur:
                    out.append(" ".join(cur))
                    cur = []
                out.append(" ".join(sw[:hi]))
                sw = sw[hi:]
            if len(cur) + len(sw) > hi:
                out.append(" ".join(cur))
                cur = []
            cur.extend(sw)
        if cur:
            out.append(" ".join(cur))
    # Keep prose: at least 5 words, at least 3 of them alphabetic.
    return [c for c in out if len(c.split()) >= lo and len(ALPHA_WORD.findall(c)) >= 3]


def build_corpus(args) -> tuple:
    rnd = random.Random(args.seed)
    n = args.docs
    wiki = [r["text"] for r in read_jsonl(args.data / "minilm-wiki-384-27k" / "base.jsonl")]
    docs = list(wiki[:n])
    seen = set(docs)
    sources = {"wikipedia sentences (minilm-wiki-384-27k/base.jsonl)": len(docs)}

    def take(chunks, key) -> bool:
        added = 0
        for c in chunks:
            if len(docs) >= n:
                break
            if c in seen:
                continue
            seen.add(c)
            docs.append(c)
            added += 1
        if added:
            sources[key] = sources.get(key, 0) + added
        return len(docs) >= n

    man_files = sorted(p for p in Path(args.man_dir).glob("man*/*.gz") if p.is_file())
    rnd.shuffle(man_files)
    man_used = 0
    # One family of pages (name up to the first - _ .; e.g. the thousands of `gcloud-*` pages)
    # gives at most --max-family-share of the man page documents.
    family_cap = max(1, int((n - len(docs)) * args.max_family_share))
    family = Counter()
    for p in man_files:
        if len(docs) >= n:
            break
        fam = re.split(r"[-_.]", p.name, maxsplit=1)[0]
        room = min(args.max_per_file, family_cap - family[fam])
        if room <= 0:
            continue
        try:
            src = gzip.decompress(p.read_bytes()).decode("utf-8", errors="replace")
        except (OSError, EOFError):
            continue
        if src.startswith(".so "):  # a link to another page
            continue
        chunks = []
        for para in strip_troff(src):
            chunks.extend(chunks_of(" ".join(para)))
        before = len(docs)
        take(chunks[:room], f"man pages ({args.man_dir}/man*/*.gz)")
        family[fam] += len(docs) - before
        man_used += len(docs) > before
    if len(docs) < n:
        doc_files = sorted(
            p for p in Path(args.doc_dir).rglob("*") if p.is_file() and (p.suffix == ".txt" or p.name == "copyright")
        )
        rnd.shuffle(doc_files)
        for p in doc_files:
            if len(docs) >= n:
                break
            try:
                text = p.read_text(errors="replace")
            except OSError:
                continue
            chunks = []
            for para in re.split(r"\n\s*\n", text):
                chunks.extend(chunks_of(" ".join(para.split())))
            take(chunks[: args.max_per_file], f"{args.doc_dir} *.txt and copyright files")
    if len(docs) < n:
        pool = [s for d in docs for s in SENTENCE_SPLIT.split(d) if len(s.split()) >= 3]
        key = "shuffled mixes of 2-4 sentences of the above"
        while len(docs) < n:
            mix = " ".join(rnd.sample(pool, rnd.randint(2, 4)))
            take([" ".join(mix.split()[:60])], key)
    words = [len(d.split()) for d in docs]
    desc = {
        "documents": len(docs),
        "sources": sources,
        "man_pages_used": man_used,
        "man_pages_available": len(man_files),
        "man_families_top": dict(family.most_common(5)),
        "words_per_doc_mean": round(statistics.mean(words), 1),
        "words_total": sum(words),
    }
    return docs, desc


def make_queries(docs, args) -> tuple:
    n = len(docs)
    df = Counter()
    for d in docs:
        df.update(set(tokens(d)))
    lo, hi = max(2, math.ceil(n * args.df_min)), n * args.df_max

    def ok(w):
        return w not in ENGLISH_STOPWORDS and len(w.encode()) < 40 and not w.isdigit() and len(w) > 1

    mid = sorted(w for w, c in df.items() if lo <= c <= hi and ok(w))
    frequent = sorted(w for w, c in df.items() if c > hi and ok(w))
    mid_w = [math.sqrt(df[w]) for w in mid]
    rnd = random.Random(args.seed + 1)
    queries = []
    for _ in range(args.queries):
        k = rnd.randint(1, 4)
        terms = []
        while len(terms) < k:
            if frequent and rnd.random() < args.frequent_share:
                w = rnd.choice(frequent)
            else:
                w = rnd.choices(mid, mid_w)[0]
            if w not in terms:
                terms.append(w)
        queries.append(" ".join(terms))
    desc = {
        "queries": len(queries),
        "vocabulary": len(df),
        "mid_frequency_terms": len(mid),
        "frequent_terms": len(frequent),
        "df_range": [lo, int(hi)],
        "frequent_share": args.frequent_share,
        "terms_per_query_mean": round(statistics.mean(len(q.split()) for q in queries), 2),
        "examples": queries[:5],
    }
    postings = [sum(df[w] for w in q.split()) for q in queries]
    return queries, desc, postings


def read_jsonl(path: Path) -> list:
    with open(path) as f:
        return [json.loads(line) for line in f]


def read_vecs(path: Path, rows: int | None = None, typecode: str = "f") -> list:
    raw = path.read_bytes()
    d = int.from_bytes(raw[:4], "little", signed=True)
    step = 4 + 4 * d
    count = len(raw) // step if rows is None else min(rows, len(raw) // step)
    out = []
    for i in range(count):
        a = array.array(typecode)
        a.frombytes(raw[i * step + 4 : (i + 1) * step])
        if sys.byteorder != "little":
            a.byteswap()
        out.append(a.tolist())
    return out


# ---------------------------------------------------------------------------------------------
# Helpers


def fs_type(path: Path) -> str:
    best, kind = "", "?"
    p = str(path.resolve())
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1]
                if (p == mnt or p.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, kind = mnt, parts[2]
    except OSError:
        pass
    return kind


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(xs, q) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def timed(fn, items, warmup) -> dict:
    """Calls fn on the first `warmup` items untimed, then on every item timed; QPS, p50, p99."""
    for it in items[:warmup]:
        fn(it)
    lat, results = [], []
    t0 = time.perf_counter()
    for it in items:
        s = time.perf_counter()
        results.append(fn(it))
        lat.append(time.perf_counter() - s)
    wall = time.perf_counter() - t0
    return {"qps": len(items) / wall, "mean_ms": statistics.mean(lat) * 1e3, "p50_ms": pct(lat, 50) * 1e3,
            "p99_ms": pct(lat, 99) * 1e3, "n": len(items), "results": results, "lat": lat}


def strip(r: dict) -> dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items() if k not in ("results", "lat")}


class Weft:
    """The weft binary on one data directory, started like tests/e2e/conftest.py does."""

    def __init__(self, binary: Path, base: Path):
        self.bin, self.base, self.data = binary, base, base / "data"
        self.port, self.grpc_port, self.proc, self.runs = free_port(), free_port(), None, 0

    def start(self, timeout: float = 600.0, extra_env: dict | None = None) -> float:
        self.runs += 1
        env = dict(os.environ)
        env.pop("LOG_LEVEL", None)
        env.update(PERSISTENCE_DATA_PATH=str(self.data), GRPC_PORT=str(self.grpc_port), CLUSTER_HOSTNAME="node1")
        env.update(extra_env or {})
        self.log_path = self.base / f"weft-{self.runs}.log"
        self.log_file = open(self.log_path, "wb")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [str(self.bin), "--host", "127.0.0.1", "--port", str(self.port), "--scheme", "http"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log_file,
        )
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weft exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                url = f"http://127.0.0.1:{self.port}/v1/.well-known/ready"
                with urllib.request.urlopen(url, timeout=1) as r:
                    if r.status == 200:
                        return time.monotonic() - t0
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"weft not ready in {timeout}s:\n{self.log_tail()}")

    def terminate(self) -> float:
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=600)
        self.log_file.close()
        self.proc = None
        if code != 0:
            log(f"weft exited with {code} after SIGTERM")
        return time.monotonic() - t0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)
        self.proc = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def warnings(self) -> list:
        out = []
        for path in sorted(self.base.glob("weft-*.log")):
            for line in path.read_text(errors="replace").splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                level = str(rec.get("level", "")).upper()
                if level in ("WARN", "WARNING", "ERROR"):
                    out.append(line[:300])
        return out

    def client(self):
        import weaviate
        from weaviate.classes.init import AdditionalConfig, Timeout

        return weaviate.connect_to_local(
            port=self.port, grpc_port=self.grpc_port,
            additional_config=AdditionalConfig(timeout=Timeout(init=30, query=120, insert=300)),
        )


# ---------------------------------------------------------------------------------------------
# tantivy


def run_tantivy(docs, queries, work: Path, args) -> dict:
    import tantivy

    path = work / "tantivy"
    path.mkdir()
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("text", stored=False, tokenizer_name="default", index_option="freq")
    sb.add_unsigned_field("id", stored=False, indexed=True, fast=True)
    index = tantivy.Index(sb.build(), path=str(path))
    log(f"tantivy: indexing {len(docs)} docs, {args.tantivy_threads} writer thread(s), heap {args.tantivy_heap_mb} MB")
    t0 = time.perf_counter()
    writer = index.writer(heap_size=args.tantivy_heap_mb * 1_000_000, num_threads=args.tantivy_threads)
    for i, text in enumerate(docs):
        d = tantivy.Document()
        d.add_unsigned("id", i)
        d.add_text("text", text)
        writer.add_document(d)
    writer.commit()
    writer.wait_merging_threads()
    import_s = time.perf_counter() - t0
    index.reload()
    searcher = index.searcher()
    size = dir_size(path)
    log(f"tantivy: {len(docs) / import_s:.0f} docs/s, {searcher.num_segments} segment(s), {size / len(docs):.1f} B/doc")

    def one(q):
        hits = searcher.search(index.parse_query(q, ["text"]), 10, count=False).hits
        ids = searcher.fast_field_values("id", [a for _, a in hits]) if hits else []
        return [(int(i), s) for i, (s, _) in zip(ids, hits)]

    r = timed(one, queries, args.warmup)
    log(f"tantivy: bm25 {r['qps']:.0f} QPS, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms")
    return {"import_s": import_s, "docs_per_s": len(docs) / import_s, "bytes": size, "segments": searcher.num_segments,
            "writer_threads": args.tantivy_threads, "heap_mb": args.tantivy_heap_mb, "bm25": r}


# ---------------------------------------------------------------------------------------------
# weft


def import_weft(client, name, docs, vectors=None, searchable=True, filterable=True, hnsw=False) -> float:
    from weaviate.classes.config import Configure, DataType, Property, VectorDistances
    from weaviate.classes.data import DataObject

    if hnsw:
        vc = Configure.Vectors.self_provided(
            vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE))
    else:
        vc = Configure.Vectors.self_provided()
    col = client.collections.create(
        name,
        properties=[Property(name="text", data_type=DataType.TEXT, index_searchable=searchable,
                             index_filterable=filterable)],
        vector_config=vc,
    )
    t0 = time.perf_counter()
    for start in range(0, len(docs), 1000):
        objs = [
            DataObject(properties={"text": docs[i]}, uuid=uuid.UUID(int=i + 1),
                       vector=vectors[i] if vectors is not None else None)
            for i in range(start, min(len(docs), start + 1000))
        ]
        res = col.data.insert_many(objs)
        if res.has_errors:
            first = next(iter(res.errors.values()))
            raise RuntimeError(f"{name}: insert_many errors ({len(res.errors)}), first: {first}")
    secs = time.perf_counter() - t0
    log(f"weft: {name}: {len(docs)} docs in {secs:.1f} s = {len(docs) / secs:.0f} docs/s")
    return secs


def doc_no(obj) -> int:
    return obj.uuid.int - 1


def threaded(server, name, fn, items, threads, warmup) -> dict:
    """`threads` clients, each on its own share of `items` (round robin), started together."""
    parts = [items[t::threads] for t in range(threads)]
    clients = [server.client() for _ in range(threads)]
    cols = [c.collections.get(name) for c in clients]
    for col, part in zip(cols, parts):
        for it in part[:warmup]:
            fn(col, it)
    lat = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    errors = []

    def worker(t):
        barrier.wait()
        try:
            for it in parts[t]:
                s = time.perf_counter()
                fn(cols[t], it)
                lat[t].append(time.perf_counter() - s)
        except Exception as e:  # noqa: BLE001  (reported after the run)
            errors.append(repr(e))

    ths = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in ths:
        th.start()
    barrier.wait()
    t0 = time.perf_counter()
    for th in ths:
        th.join()
    wall = time.perf_counter() - t0
    for c in clients:
        c.close()
    if errors:
        raise RuntimeError(f"{threads}-thread run failed: {errors[0]}")
    all_lat = [x for xs in lat for x in xs]
    return {"qps": len(all_lat) / wall, "mean_ms": statistics.mean(all_lat) * 1e3, "p50_ms": pct(all_lat, 50) * 1e3, "p99_ms": pct(all_lat, 99) * 1e3,
            "n": len(all_lat), "threads": threads}


def run_weft(docs, queries, work: Path, args) -> dict:
    from weaviate.classes.query import MetadataQuery

    out = {}
    server = Weft(args.weft_bin, work / "weft")
    server.base.mkdir()
    out["first_start_s"] = server.start()
    wiki = [r["text"] for r in read_jsonl(args.data / "minilm-wiki-384-27k" / "base.jsonl")]
    base_vecs = read_vecs(args.data / "minilm-wiki-384-27k" / "base.fvecs")
    assert len(base_vecs) == len(wiki), (len(base_vecs), len(wiki))
    full = not args.hybrid_docs or args.hybrid_docs >= len(wiki)
    if not full:  # a quick try: recall against gt.ivecs is then meaningless
        wiki, base_vecs = wiki[: args.hybrid_docs], base_vecs[: args.hybrid_docs]
    out["hyb_docs"] = len(wiki)
    hq = [r["text"] for r in read_jsonl(args.data / "minilm-wiki-384-27k" / "query.jsonl")]
    hq = hq[: args.hybrid_queries]
    hv = read_vecs(args.data / "minilm-wiki-384-27k" / "query.fvecs", len(hq))
    gt = read_vecs(args.data / "minilm-wiki-384-27k" / "gt.ivecs", len(hq), "i")
    try:
        with server.client() as client:
            out["import_s"] = import_weft(client, "Bench", docs)
            if not args.no_search_only:
                out["import_search_only_s"] = import_weft(client, "BenchSearch", docs, filterable=False)
            out["import_plain_s"] = import_weft(client, "BenchPlain", docs, searchable=False, filterable=False)
            out["import_hyb_s"] = import_weft(client, "Hyb", wiki, vectors=base_vecs, hnsw=True)
        log("weft: SIGTERM (flush) and start again")
        classes = ("bench", "benchsearch", "benchplain", "hyb")
        out["sigterm_s"] = server.terminate()
        # Stopped: everything on disk, including WAL files and compacted segments that weft keeps
        # for PERSISTENCE_FILE_DELETION_GRACE (15 min) after they became obsolete.
        out["bytes_with_obsolete"] = {c: dir_size(server.data / c) for c in classes}
        # Started again with a zero grace period, the obsolete files go at the flusher's next
        # tick; the sizes once they stop changing are the live data.
        out["restart_s"] = server.start(extra_env={"PERSISTENCE_FILE_DELETION_GRACE": "0"})
        log(f"weft: stopped in {out['sigterm_s']:.1f} s, ready again in {out['restart_s']:.1f} s")
        sizes, deadline = None, time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(1.0)
            now = {c: dir_size(server.data / c) for c in classes}
            if now == sizes:
                break
            sizes = now
        for c in classes:
            out[f"bytes_{c}"] = sizes[c]
        out["bytes_files"] = {
            c: {str(f.relative_to(server.data / c)): f.stat().st_size
                for f in sorted((server.data / c).rglob("*")) if f.is_file() and f.stat().st_size > 4096}
            for c in classes if c != "hyb"
        }
        log(f"weft: class dirs (live) {sizes}, with obsolete files {out['bytes_with_obsolete']}")

        with server.client() as client:
            col = client.collections.get("Bench")

            def bm25(q):
                res = col.query.bm25(q, limit=10, return_metadata=MetadataQuery(score=True))
                return [(doc_no(o), o.metadata.score) for o in res.objects]

            def bm25_bare(q):
                res = col.query.bm25(q, limit=10, return_metadata=MetadataQuery(score=True), return_properties=[])
                return [doc_no(o) for o in res.objects]

            def fetch(_):
                return len(col.query.fetch_objects(limit=10).objects)

            def fetch_bare(_):
                return len(col.query.fetch_objects(limit=10, return_properties=[]).objects)

            log("weft: bm25 queries")
            out["bm25"] = timed(bm25, queries, args.warmup)
            log(f"weft: bm25 {out['bm25']['qps']:.0f} QPS, p50 {out['bm25']['p50_ms']:.2f} ms, p99 {out['bm25']['p99_ms']:.2f} ms")
            out["bm25_no_props"] = strip(timed(bm25_bare, queries, args.warmup))
            out["fetch_objects"] = strip(timed(fetch, queries, args.warmup))
            out["fetch_objects_no_props"] = strip(timed(fetch_bare, queries, args.warmup))
            log(f"weft: fetch_objects floor {out['fetch_objects']['qps']:.0f} QPS; bm25 without properties "
                f"{out['bm25_no_props']['qps']:.0f} QPS")

            hyb = client.collections.get("Hyb")
            pairs = list(zip(hq, hv))
            nv = timed(lambda p: [doc_no(o) for o in hyb.query.near_vector(p[1], limit=10).objects],
                       pairs, args.warmup)
            recall = statistics.mean(len(set(r) & set(g[:10])) / 10 for r, g in zip(nv["results"], gt)) if full else None
            out["near_vector"] = dict(strip(nv), recall_at_10=recall)
            out["hybrid_bm25_only"] = strip(timed(lambda p: hyb.query.bm25(p[0], limit=10).objects, pairs, args.warmup))
        log("weft: hybrid, 1 and 2 client threads")
        hybrid = lambda c, p: c.query.hybrid(p[0], vector=p[1], alpha=0.5, limit=10).objects  # noqa: E731
        out["hybrid_1"] = threaded(server, "Hyb", hybrid, pairs, 1, args.warmup)
        out["hybrid_2"] = threaded(server, "Hyb", hybrid, pairs, 2, args.warmup)
        log(f"weft: hybrid {out['hybrid_1']['qps']:.0f} QPS (1 thread), {out['hybrid_2']['qps']:.0f} QPS (2 threads); "
            f"near_vector {out['near_vector']['qps']:.0f} QPS, recall@10 {recall}")
        out["shutdown_s"] = server.terminate()
        out["log_warnings"] = server.warnings()[:20]
    except BaseException:
        tail = server.log_tail()
        server.stop()
        log(f"weft log tail:\n{tail}")
        raise
    return out


# ---------------------------------------------------------------------------------------------
# Report


def overlap(w_results, t_results) -> dict:
    both, ov, ov_norm, diff_count, only_w, only_t, top1, rel = 0, [], [], 0, 0, 0, 0, []
    for w, t in zip(w_results, t_results):
        if len(w) != len(t):
            diff_count += 1
        if w and not t:
            only_w += 1
        if t and not w:
            only_t += 1
        if not w or not t:
            continue
        both += 1
        wi, ti = {d: s for d, s in w}, {d: s for d, s in t}
        common = wi.keys() & ti.keys()
        ov.append(len(common) / 10)
        ov_norm.append(len(common) / max(len(w), len(t)))
        top1 += w[0][0] == t[0][0]
        # Weaviate's BM25 leaves out Lucene's constant (k1 + 1) factor; tantivy keeps it.
        rel.extend(abs(wi[d] * (K1 + 1) - ti[d]) / ti[d] for d in common if ti[d] > 0)
    return {
        "queries_both_hit": both,
        "overlap_at_10": statistics.mean(ov) if ov else 0.0,
        "overlap_of_returned": statistics.mean(ov_norm) if ov_norm else 0.0,
        "top1_same": top1 / both if both else 0.0,
        "result_count_differs": diff_count,
        "only_weft_hits": only_w,
        "only_tantivy_hits": only_t,
        "score_rel_diff_median": statistics.median(rel) if rel else None,
        "score_rel_diff_p99": pct(rel, 99) if rel else None,
    }


def by_postings(queries, postings, w_lat, t_lat) -> tuple:
    """BM25 latency of both engines by the total document frequency of a query's terms."""
    buckets = [(0, 1_000), (1_001, 10_000), (10_001, 10**12)]
    rows = []
    for lo, hi in buckets:
        idx = [i for i, p in enumerate(postings) if lo <= p <= hi]
        if not idx:
            continue
        wl, tl = [w_lat[i] * 1e3 for i in idx], [t_lat[i] * 1e3 for i in idx]
        rows.append({"postings": f"{lo}-{hi}" if hi < 10**12 else f">{lo - 1}", "queries": len(idx),
                     "weft_mean_ms": statistics.mean(wl), "weft_p99_ms": pct(wl, 99),
                     "tantivy_mean_ms": statistics.mean(tl), "tantivy_p99_ms": pct(tl, 99)})
    slow = sorted(range(len(queries)), key=lambda i: -w_lat[i])[:5]
    slowest = [{"query": queries[i], "postings": postings[i], "weft_ms": round(w_lat[i] * 1e3, 2),
                "tantivy_ms": round(t_lat[i] * 1e3, 3)} for i in slow]
    return rows, slowest


def fmt(x, nd=0) -> str:
    if x is None:
        return "-"
    if nd == 0:
        return f"{x:,.0f}".replace(",", " ")
    return f"{x:.{nd}f}"


def report(args, corpus, qdesc, t, w, ov, elapsed) -> tuple:
    n = corpus["documents"]
    wb, tb = w["bm25"], t["bm25"]
    size_bench = w["bytes_bench"] / n
    size_plain = w["bytes_benchplain"] / n
    size_search = w.get("bytes_benchsearch", 0) / n if not args.no_search_only else None
    size_t = t["bytes"] / n
    idx_only = (size_search - size_plain) if size_search is not None else (size_bench - size_plain)
    imp_w = n / w["import_s"]
    imp_search = n / w["import_search_only_s"] if not args.no_search_only else None
    imp_plain = n / w["import_plain_s"]
    r = lambda a, b: f"{a / b:.2f}" if b else "-"  # noqa: E731
    lines = []
    lines.append(f"### BM25 and hybrid: weft (gRPC, Python client) vs tantivy-py {t['version']} (in-process)")
    lines.append("")
    lines.append(f"{datetime.date.today().isoformat()}, `nproc` = {os.cpu_count()}, {args.weft_version} "
                 f"(`{args.weft_bin_label}`, repo at {args.repo_head}), run took {elapsed / 60:.1f} min. Command:")
    lines.append("")
    lines.append("```sh")
    lines.append(args.command)
    lines.append("```")
    lines.append("")
    src = "; ".join(f"{k}: {fmt(v)}" for k, v in corpus["sources"].items())
    lines.append(f"Corpus: {fmt(n)} English documents, {corpus['words_per_doc_mean']} words each on average ({src}; "
                 f"{corpus['man_pages_used']} of {corpus['man_pages_available']} man pages used). "
                 f"Queries: {qdesc['queries']} of 1-4 terms ({qdesc['terms_per_query_mean']} on average), "
                 f"drawn from the {fmt(qdesc['mid_frequency_terms'])} non-stopword terms with document frequency "
                 f"{qdesc['df_range'][0]}-{fmt(qdesc['df_range'][1])} (weighted by sqrt(df)) and, "
                 f"{qdesc['frequent_share']:.0%} of the time, one of the {qdesc['frequent_terms']} more frequent ones; "
                 f"e.g. `{'`, `'.join(qdesc['examples'][:3])}`. Warm-up {args.warmup} queries, one client thread "
                 f"unless stated; tantivy: {t['writer_threads']} writer thread, {t['heap_mb']} MB heap, "
                 f"`default` tokenizer, `freq` index option, {t['segments']} segment(s) after commit.")
    lines.append("")
    lines.append("| metric | weft | tantivy | weft / tantivy |")
    lines.append("|---|---|---|---|")
    lines.append(f"| BM25 top-10, QPS | {fmt(wb['qps'])} | {fmt(tb['qps'])} | **{r(wb['qps'], tb['qps'])}** |")
    lines.append(f"| BM25 mean latency (ms) | {fmt(wb['mean_ms'], 2)} | {fmt(tb['mean_ms'], 2)} | {r(wb['mean_ms'], tb['mean_ms'])} |")
    lines.append(f"| BM25 p50 latency (ms) | {fmt(wb['p50_ms'], 2)} | {fmt(tb['p50_ms'], 2)} | {r(wb['p50_ms'], tb['p50_ms'])} |")
    lines.append(f"| BM25 p99 latency (ms) | {fmt(wb['p99_ms'], 2)} | {fmt(tb['p99_ms'], 2)} | {r(wb['p99_ms'], tb['p99_ms'])} |")
    lines.append(f"| import, docs/s (weft `Bench`: filterable + searchable) | {fmt(imp_w)} | {fmt(t['docs_per_s'])} | **{r(imp_w, t['docs_per_s'])}** |")
    if imp_search is not None:
        lines.append(f"| import, docs/s (weft `BenchSearch`: searchable only) | {fmt(imp_search)} | {fmt(t['docs_per_s'])} | {r(imp_search, t['docs_per_s'])} |")
    idx_label = "`BenchSearch` - `BenchPlain`" if size_search is not None else "`Bench` - `BenchPlain`"
    lines.append(f"| index bytes/doc (weft: {idx_label}) | {fmt(idx_only, 1)} | {fmt(size_t, 1)} | **{r(idx_only, size_t)}** |")
    lines.append(f"| top-10 overlap (mean \\|∩\\|/10, {ov['queries_both_hit']} queries with hits on both) | | | **{ov['overlap_at_10']:.3f}** |")
    lines.append("")
    lines.append("| weft, absolute | value |")
    lines.append("|---|---|")
    lines.append(f"| BM25 without properties returned (`return_properties=[]`), QPS / p50 / p99 ms | "
                 f"{fmt(w['bm25_no_props']['qps'])} / {fmt(w['bm25_no_props']['p50_ms'], 2)} / {fmt(w['bm25_no_props']['p99_ms'], 2)} |")
    lines.append(f"| client floor: `fetch_objects(limit=10)`, QPS / p50 / p99 ms | "
                 f"{fmt(w['fetch_objects']['qps'])} / {fmt(w['fetch_objects']['p50_ms'], 2)} / {fmt(w['fetch_objects']['p99_ms'], 2)} |")
    lines.append(f"| client floor without properties, QPS / p50 ms | "
                 f"{fmt(w['fetch_objects_no_props']['qps'])} / {fmt(w['fetch_objects_no_props']['p50_ms'], 2)} |")
    lines.append(f"| BM25 p50 minus floor p50 (ms) | {wb['p50_ms'] - w['fetch_objects']['p50_ms']:.2f} |")
    lines.append(f"| import `BenchPlain` (no searchable/filterable index), docs/s | {fmt(imp_plain)} |")
    wo = {c: v / n for c, v in w["bytes_with_obsolete"].items()}
    lines.append(f"| bytes/doc after restart, live: `Bench` / `BenchSearch` / `BenchPlain` | {fmt(size_bench, 1)} / "
                 f"{fmt(size_search, 1)} / {fmt(size_plain, 1)} |")
    lines.append(f"| bytes/doc incl. obsolete files kept for the deletion grace (WAL, compacted segments) | "
                 f"{fmt(wo['bench'], 1)} / {fmt(wo['benchsearch'], 1)} / {fmt(wo['benchplain'], 1)} |")
    lines.append(f"| SIGTERM to exit / start to ready (all 4 classes) (s) | {w['sigterm_s']:.2f} / {w['restart_s']:.2f} |")
    hyb_n = w["hyb_docs"]
    lines.append(f"| `Hyb` import ({fmt(hyb_n)} docs + 384-d vectors, HNSW cosine), docs/s | {fmt(hyb_n / w['import_hyb_s'])} |")
    h1, h2, nv, hb = w["hybrid_1"], w["hybrid_2"], w["near_vector"], w["hybrid_bm25_only"]
    lines.append(f"| hybrid alpha 0.5, 1 thread: QPS / p50 / p99 ms | {fmt(h1['qps'])} / {fmt(h1['p50_ms'], 2)} / {fmt(h1['p99_ms'], 2)} |")
    lines.append(f"| hybrid alpha 0.5, 2 threads: QPS / p50 / p99 ms | {fmt(h2['qps'])} / {fmt(h2['p50_ms'], 2)} / {fmt(h2['p99_ms'], 2)} |")
    rc = f"{nv['recall_at_10']:.3f}" if nv["recall_at_10"] is not None else "n/a, partial `Hyb`"
    lines.append(f"| near_vector only, 1 thread: QPS / p99 ms (recall@10 {rc}) | {fmt(nv['qps'])} / {fmt(nv['p99_ms'], 2)} |")
    lines.append(f"| bm25 only on `Hyb` (sentence queries), 1 thread: QPS / p99 ms | {fmt(hb['qps'])} / {fmt(hb['p99_ms'], 2)} |")
    lines.append("")
    lines.append("| agreement (BM25 top-10) | value |")
    lines.append("|---|---|")
    lines.append(f"| mean \\|∩\\| / 10 | {ov['overlap_at_10']:.3f} |")
    lines.append(f"| mean \\|∩\\| / max(returned) | {ov['overlap_of_returned']:.3f} |")
    lines.append(f"| same top-1 | {ov['top1_same']:.3f} |")
    lines.append(f"| queries whose result counts differ / hits only on weft / only on tantivy | "
                 f"{ov['result_count_differs']} / {ov['only_weft_hits']} / {ov['only_tantivy_hits']} |")
    if ov["score_rel_diff_median"] is not None:
        lines.append(f"| score relative difference, common docs: median / p99 | "
                     f"{ov['score_rel_diff_median']:.4f} / {ov['score_rel_diff_p99']:.4f} (weft × (k1 + 1) vs tantivy) |")
    lines.append("")
    lines.append("| BM25 by the query terms' total document frequency | queries | weft mean / p99 ms | "
                 "tantivy mean / p99 ms | weft / tantivy (mean) |")
    lines.append("|---|---|---|---|---|")
    for b in ov["by_postings"]:
        lines.append(f"| {b['postings']} | {b['queries']} | {b['weft_mean_ms']:.2f} / {b['weft_p99_ms']:.2f} | "
                     f"{b['tantivy_mean_ms']:.3f} / {b['tantivy_p99_ms']:.3f} | "
                     f"{b['weft_mean_ms'] / b['tantivy_mean_ms']:.1f} |")
    lines.append("")
    lines.append("Slowest weft BM25 queries: " + "; ".join(
        f"`{q['query']}` ({fmt(q['postings'])} postings) {q['weft_ms']} ms vs {q['tantivy_ms']} ms" for q in ov["slowest_weft"]))
    md = "\n".join(lines)
    summary = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": args.command,
        "nproc": os.cpu_count(),
        "weft_version": args.weft_version,
        "weft_bin": args.weft_bin_label,
        "repo_head": args.repo_head,
        "elapsed_s": round(elapsed, 1),
        "corpus": corpus,
        "queries": qdesc,
        "tantivy": {k: (strip(v) if isinstance(v, dict) else v) for k, v in t.items()},
        "weft": {k: (strip(v) if isinstance(v, dict) and "qps" in v else v) for k, v in w.items()},
        "ratios": {
            "bm25_qps": wb["qps"] / tb["qps"],
            "bm25_p50": wb["p50_ms"] / tb["p50_ms"],
            "bm25_p99": wb["p99_ms"] / tb["p99_ms"],
            "import": imp_w / t["docs_per_s"],
            "index_bytes_per_doc": idx_only / size_t,
        },
        "agreement": ov,
        "bytes_per_doc": {"weft_bench": size_bench, "weft_bench_search": size_search, "weft_bench_plain": size_plain,
                          "weft_index_only": idx_only, "tantivy": size_t},
    }
    return md, summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=120_000, help="corpus size N (default 120000)")
    ap.add_argument("--queries", type=int, default=1000, help="BM25 queries (default 1000)")
    ap.add_argument("--hybrid-queries", type=int, default=500, help="hybrid / near_vector queries (default 500)")
    ap.add_argument("--hybrid-docs", type=int, default=0,
                    help="Wikipedia docs in `Hyb` (default 0: all; fewer only for a quick try)")
    ap.add_argument("--warmup", type=int, default=50, help="untimed queries before each timed loop")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="shared data dir holding minilm-wiki-384-27k/ (default $WEFT_SHARED_DATA or ../shared/data "
                         "next to the repo)")
    ap.add_argument("--man-dir", default="/usr/share/man", help="man page root (man*/*.gz)")
    ap.add_argument("--doc-dir", default="/usr/share/doc", help="fallback text: *.txt and copyright files")
    ap.add_argument("--max-per-file", type=int, default=200, help="documents taken from one file at most")
    ap.add_argument("--max-family-share", type=float, default=0.2,
                    help="share of the man page documents one family of pages (gcloud-*, git-*, ...) may give")
    ap.add_argument("--weft-bin", type=Path, default=None, help="default: target/release/weft (built if missing)")
    ap.add_argument("--work-dir", type=Path, default=None,
                    help="parent of the temporary dir (default: the system temp dir unless it is tmpfs, else target/)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary dir (data dirs, logs)")
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--df-min", type=float, default=0.0001, help="mid-frequency terms: df >= this share of N")
    ap.add_argument("--df-max", type=float, default=0.05, help="mid-frequency terms: df <= this share of N")
    ap.add_argument("--frequent-share", type=float, default=0.15, help="share of query terms drawn above --df-max")
    ap.add_argument("--tantivy-threads", type=int, default=1)
    ap.add_argument("--tantivy-heap-mb", type=int, default=200)
    ap.add_argument("--no-search-only", action="store_true", help="skip the searchable-only `BenchSearch` collection")
    ap.add_argument("--out", type=Path, default=None, help="write the JSON summary here")
    args = ap.parse_args()
    exe = Path(sys.executable)
    try:
        exe = exe.relative_to(Path.cwd())
    except ValueError:
        exe = Path(exe.name)
    args.command = " ".join(shlex.quote(str(a)) for a in [exe, *sys.argv])
    args.data = args.data.resolve()
    started = time.perf_counter()

    try:
        import tantivy  # noqa: F401
        import weaviate  # noqa: F401
    except ImportError as e:
        sys.exit(f"{e}: run with the repo's venv (.venv/bin/python) and `pip install tantivy weaviate-client`")
    if args.weft_bin is None:
        args.weft_bin = ROOT / "target" / "release" / "weft"
        if not args.weft_bin.exists():
            log("building target/release/weft")
            subprocess.run(["cargo", "build", "--release", "-p", "weft"], cwd=ROOT, check=True)
    if not args.weft_bin.exists():
        sys.exit(f"{args.weft_bin} missing")
    args.weft_version = subprocess.run([str(args.weft_bin), "--version"], capture_output=True, text=True).stdout.strip()
    try:
        args.weft_bin_label = str(args.weft_bin.resolve().relative_to(ROOT))
    except ValueError:
        args.weft_bin_label = args.weft_bin.name
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    args.repo_head = head.stdout.strip() or "?"

    parent = args.work_dir
    if parent is None:
        parent = Path(tempfile.gettempdir())
        if fs_type(parent) in ("tmpfs", "ramfs"):
            parent = ROOT / "target"
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="weft-bm25-", dir=parent))
    log(f"work dir {work} ({fs_type(work)}), weft {args.weft_bin}")

    try:
        log(f"corpus: building {args.docs} documents")
        docs, corpus = build_corpus(args)
        log(f"corpus: {corpus['documents']} docs, {corpus['words_total']} words, sources {corpus['sources']}")
        queries, qdesc, postings = make_queries(docs, args)
        log(f"queries: {len(queries)}, e.g. {queries[:3]}")

        t = run_tantivy(docs, queries, work, args)
        from importlib.metadata import version

        t["version"] = version("tantivy")
        t["engine"] = getattr(tantivy, "__version__", "")
        shutil.rmtree(work / "tantivy", ignore_errors=True)
        w = run_weft(docs, queries, work, args)
        ov = overlap(w["bm25"]["results"], t["bm25"]["results"])
        ov["by_postings"], ov["slowest_weft"] = by_postings(queries, postings, w["bm25"]["lat"], t["bm25"]["lat"])
        md, summary = report(args, corpus, qdesc, t, w, ov, time.perf_counter() - started)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")
    print(md)
    print()
    print("```json")
    print(json.dumps(summary, indent=2, default=str))
    print("```")
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
        log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
