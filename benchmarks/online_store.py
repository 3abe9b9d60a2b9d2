"""Online store lookup latency: one BatchGetItem of 16 keys (~2 KB each, a customer's window state), as the
server would make it per checkout request, against moto's server on loopback; and the same lookup against
the embedded LmdbStore.

What this measures: botocore (request build, SigV4 signing, response parsing) + HTTP on loopback + moto's
Python emulation of DynamoDB, in a separate process. It is NOT DynamoDB's service time or the network
from a SageMaker instance to DynamoDB; AWS's own documented figures are stated separately in the JSON.

Normal and real-time (SCHED_FIFO) priority are measured in alternating blocks, so both see the same
machine load; under FIFO both the client and every thread of the moto server are raised.

    python benchmarks/online_store.py [--calls 3000] [--save]

Prints JSON; --save writes benchmarks/results/online_store.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from machine import machine  # benchmarks/machine.py: run as python benchmarks/<script>.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fraudcore.online.dynamo import DynamoStore, create_table  # noqa: E402
from fraudcore.online.store import Put, Store, StoreUnavailable  # noqa: E402

TABLE = "paylink-fraud-online"
KEYS_PER_LOOKUP = 16
KEYS_PER_WRITE = 6
ITEM_BYTES = 2048
CUSTOMERS = 256   # default; --customers
BLOCKS = 6
RT_PRIORITY = 1
AWS_DOCUMENTED = {
    "dynamodb": "AWS documents DynamoDB as 'single-digit millisecond performance at any scale' (service-side "
                "latency of GetItem/BatchGetItem within a region, from an in-region client); not measured here",
    "elasticache_redis": "AWS documents ElastiCache for Redis OSS / Valkey as 'microsecond' (sub-millisecond) "
                         "response times for in-memory reads from an in-VPC client; not measured here",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_moto(port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"moto_server did not listen on port {port} within 30 s")


def _keys(customer: int) -> list[str]:
    return [f"a|authorisations|customer_id|c{customer:06d}|f{j:02d}" for j in range(KEYS_PER_LOOKUP)]


def _fill(store: Store, customers: int, rng: random.Random) -> dict[str, int]:
    versions: dict[str, int] = {}
    for c in range(customers):
        puts = [Put(k, rng.randbytes(ITEM_BYTES), 0, 0) for k in _keys(c)]
        store.put_many(puts)
        versions.update({p.key: 1 for p in puts})
    return versions


def _set_fifo(pids_threads: list[int], on: bool) -> None:
    policy, param = (os.SCHED_FIFO, os.sched_param(RT_PRIORITY)) if on else (os.SCHED_OTHER, os.sched_param(0))
    for tid in pids_threads:
        try:
            os.sched_setscheduler(tid, policy, param)
        except ProcessLookupError:
            pass   # a request thread that has ended


def _threads(pid: int) -> list[int]:
    return [int(t) for t in os.listdir(f"/proc/{pid}/task")] if pid else []


def _summary(samples_s: list[float]) -> dict[str, Any]:
    ms = sorted(s * 1000 for s in samples_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"calls": len(ms), "median_ms": round(statistics.median(ms), 3), "p95_ms": round(q[94], 3),
            "p99_ms": round(q[98], 3), "max_ms": round(ms[-1], 3), "mean_ms": round(statistics.fmean(ms), 3)}


def _time_calls(call: Callable[[int], None], n: int, customers: int, rng: random.Random,
                errors: list[str] | None = None) -> list[float]:
    """Latency of n calls; a call the store could not answer (StoreUnavailable) counts in `errors`."""
    out = []
    for _ in range(n):
        customer = rng.randrange(customers)
        start = time.perf_counter()
        try:
            call(customer)
        except StoreUnavailable as err:
            if errors is None:
                raise
            errors.append(str(err))
            continue
        out.append(time.perf_counter() - start)
    return out


def _lookup(store: Store) -> Callable[[int], None]:
    def call(customer: int) -> None:
        got = store.get_many(_keys(customer))
        if len(got) != KEYS_PER_LOOKUP:
            raise RuntimeError(f"lookup of customer {customer} found {len(got)} of {KEYS_PER_LOOKUP} keys")
    return call


def _measure(store: Store, calls: int, customers: int, server_pid: int, rng: random.Random) -> dict[str, Any]:
    """Alternate normal and FIFO blocks of lookups; FIFO is reported refused if the kernel says no."""
    call = _lookup(store)
    _time_calls(call, 200, customers, rng)   # warm: connections open, code paths hot
    samples: dict[str, list[float]] = {"normal": [], "realtime": []}
    errors: dict[str, list[str]] = {"normal": [], "realtime": []}
    block_p99: dict[str, list[float]] = {"normal": [], "realtime": []}
    refused = None
    per_block = calls // BLOCKS
    for block in range(2 * BLOCKS):
        mode = "realtime" if block % 2 else "normal"
        if mode == "realtime" and refused is None:
            try:
                _set_fifo([0] + _threads(server_pid), True)
            except PermissionError as err:
                refused = f"sched_setscheduler(SCHED_FIFO, {RT_PRIORITY}) refused: {err}"
        if mode == "realtime" and refused:
            continue
        try:
            got = _time_calls(call, per_block, customers, rng, errors[mode])
        finally:
            if mode == "realtime":
                _set_fifo([0] + _threads(server_pid), False)
        samples[mode] += got
        if got:
            block_p99[mode].append(_summary(got)["p99_ms"])
    out: dict[str, Any] = {}
    for mode in ("normal", "realtime"):
        if not samples[mode]:
            out[mode] = {"refused": refused}
            continue
        out[mode] = {**_summary(samples[mode]), "p99_ms_of_each_block": block_p99[mode],
                     "unavailable": len(errors[mode]), "first_unavailable": errors[mode][:1]}
    return out


def _writes(store: Store, versions: dict[str, int], n: int, customers: int, rng: random.Random) -> dict[str, Any]:
    """put_many of 6 items with compare-and-set, as ingest writes one authorisation (normal priority)."""
    out = []
    for _ in range(n):
        keys = _keys(rng.randrange(customers))[:KEYS_PER_WRITE]
        puts = [Put(k, rng.randbytes(ITEM_BYTES), 0, versions[k]) for k in keys]
        start = time.perf_counter()
        store.put_many(puts)
        out.append(time.perf_counter() - start)
        versions.update({k: versions[k] + 1 for k in keys})
    return _summary(out)


def _embedded(calls: int, customers: int, rng: random.Random) -> dict[str, Any]:
    from fraudcore.online.store import LmdbStore
    with tempfile.TemporaryDirectory() as tmp:
        writer = LmdbStore(Path(tmp) / "online.lmdb", timeout_s=2.0)
        _fill(writer, customers, rng)
        writer.close()
        store = LmdbStore(Path(tmp) / "online.lmdb", timeout_s=2.0, readonly=True)   # as a server worker
        result = _measure(store, calls, customers, 0, rng)
        store.close()
    return {"measured": True, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000, help="lookups per priority")
    parser.add_argument("--writes", type=int, default=500, help="6-item conditional writes (normal priority)")
    parser.add_argument("--customers", type=int, default=CUSTOMERS, help=f"customers of {KEYS_PER_LOOKUP} items each")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--save", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
    port = _free_port()
    server = _start_moto(port)
    load_before = os.getloadavg()
    try:
        # a long budget: a stalled call is a latency sample here (or counted as unavailable past 10 s)
        store = DynamoStore(TABLE, timeout_s=10.0, endpoint_url=f"http://127.0.0.1:{port}")
        create_table(store.client, TABLE)
        versions = _fill(store, args.customers, rng)
        dynamo = _measure(store, args.calls, args.customers, server.pid, rng)
        dynamo["put_many_6_items_conditional"] = _writes(store, versions, args.writes, args.customers, rng)
        store.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:   # moto waits for open keep-alive connections
            server.kill()
            server.wait(timeout=5)
    result = {
        "benchmark": "online_store",
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/online_store.py " + " ".join(sys.argv[1:]),
        "what": f"latency of one get_many of {KEYS_PER_LOOKUP} keys (items of {ITEM_BYTES} bytes, "
                f"{args.customers * KEYS_PER_LOOKUP} items in the table), closed loop, one client thread; "
                f"normal and SCHED_FIFO {RT_PRIORITY} in {BLOCKS} alternating blocks each",
        "caveat": "dynamodb_on_moto measures the client (botocore build/sign/parse) + HTTP on loopback + moto's "
                  "Python emulation in its own process. It is not DynamoDB's service time, and it has no "
                  "network between an instance and the service. Use it for the client's own cost and for the "
                  "relative cost of the paths, not as a production latency.",
        "aws_documented_not_measured": AWS_DOCUMENTED,
        "machine": {**machine(), "load_avg_before": load_before, "load_avg_after": os.getloadavg(),
                    "note": "2 cores shared with other jobs while this ran"},
        "dynamodb_on_moto": dynamo,
        "lmdb": _embedded(args.calls, args.customers, rng),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.save:
        (ROOT / "benchmarks" / "results" / "online_store.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
