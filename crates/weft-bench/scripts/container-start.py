"""Container start to ready: on an empty volume and on one holding N objects.

    .venv/bin/python crates/weft-bench/scripts/container-start.py [--objects 100000] [--image weft:local]

Fills a volume with the host's release binary (gRPC insert_many, 32-d vectors), stops it
orderly, hands the volume to uid 1000, then times from `docker run` until /v1/.well-known/ready
answers 200, three times each.
"""

import argparse
import os
import random
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, timeout=600):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/.well-known/ready", timeout=1) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.01)
    raise RuntimeError("not ready")


def fill(vol: Path, n: int):
    import weaviate
    from weaviate.classes.config import Configure
    from weaviate.classes.data import DataObject

    port, gport = free_port(), free_port()
    env = dict(os.environ, PERSISTENCE_DATA_PATH=str(vol), GRPC_PORT=str(gport))
    p = subprocess.Popen([str(ROOT / "target/release/weft"), "--host", "127.0.0.1", "--port", str(port)],
                         env=env, stderr=subprocess.DEVNULL)
    wait_ready(port)
    rnd = random.Random(7)
    with weaviate.connect_to_local(port=port, grpc_port=gport) as c:
        coll = c.collections.create("Doc", vector_config=Configure.Vectors.self_provided())
        for start in range(0, n, 2000):
            objs = [DataObject(properties={"n": i, "title": f"doc {i}"}, vector=[rnd.random() for _ in range(32)])
                    for i in range(start, min(n, start + 2000))]
            assert not coll.data.insert_many(objs).has_errors
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=120)
    subprocess.run(["chown", "-R", "1000:1000", str(vol)], check=True)


def start_container(image, vol: Path):
    port = free_port()
    t0 = time.monotonic()
    cid = subprocess.run(["docker", "run", "-d", "-p", f"127.0.0.1:{port}:8080", "-v", f"{vol}:/var/lib/weaviate", image],
                         check=True, capture_output=True, text=True).stdout.strip()
    try:
        wait_ready(port)
        return time.monotonic() - t0
    finally:
        subprocess.run(["docker", "stop", "-t", "60", cid], capture_output=True)
        subprocess.run(["docker", "rm", cid], capture_output=True)


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--objects", type=int, default=100_000)
    a.add_argument("--image", default="weft:local")
    args = a.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/var/tmp")) as d:
        empty, full = Path(d) / "empty", Path(d) / "full"
        empty.mkdir()
        os.chown(empty, 1000, 1000)
        t = time.monotonic()
        fill(full, args.objects)
        print(f"filled {args.objects} objects in {time.monotonic() - t:.1f} s")
        for name, vol in [("empty volume", empty), (f"{args.objects} objects", full)]:
            times = [start_container(args.image, vol) for _ in range(3)]
            print(f"| {name} | " + " / ".join(f"{x:.2f} s" for x in times) + " |")


if __name__ == "__main__":
    main()
