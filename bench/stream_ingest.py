"""Benchmark: JSON messages from a Redis stream into a Parquet dataset with at-least-once acks — assay vs the limit.

- ``limit``: the bare redis client's consumer-group loop with no processing at all — XREADGROUP 10,000 entries,
  XACK them, repeat. Nothing can ingest faster than this through the same client, so it is the ceiling.
- ``assay``: :func:`assay.sources._ingest.ingest` — the loop behind ``assay ingest`` — fetching the same micro-batches,
  parsing every message (one NDJSON parse per batch), writing an fsynced, atomically renamed Parquet file per batch,
  then acking. Goal: ≥ 50% of the limit's rate.

Both read the same stream through their own consumer group (a fresh one per run), in the same process run,
alternating order; medians of ``--runs`` are printed with the ratio.

Usage::

    .venv/bin/python bench/stream_ingest.py                      # 1,000,000 messages on redis://127.0.0.1:6379
    .venv/bin/python bench/stream_ingest.py --messages 200000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

BATCH = 10_000


def _fill(client: object, stream: str, n: int) -> None:
    rng = random.Random(7)
    cities = ["Lyon", "Oslo", "Kyiv", "Lima", "Pune", "Kobe"]
    pipe = client.pipeline(transaction=False)  # type: ignore[attr-defined]
    for i in range(n):
        row = {"order_id": i, "customer": f"c{rng.randrange(50_000)}", "city": rng.choice(cities),
               "amount": round(rng.uniform(1, 500), 2), "qty": rng.randrange(1, 9),
               "ts": f"2024-05-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00", "paid": rng.random() < 0.9}
        pipe.xadd(stream, {"data": json.dumps(row)})
        if i % 20_000 == 19_999:
            pipe.execute()
    pipe.execute()


def _limit(client: object, stream: str, n: int) -> float:
    group = f"limit-{uuid.uuid4().hex[:8]}"
    client.xgroup_create(stream, group, id="0")  # type: ignore[attr-defined]
    done = 0
    start = time.perf_counter()
    while done < n:
        got = client.xreadgroup(group, "c", {stream: ">"}, count=BATCH, block=1000)  # type: ignore[attr-defined]
        if not got:
            break
        ids = [i for i, _ in got[0][1]]
        client.xack(stream, group, *ids)  # type: ignore[attr-defined]
        done += len(ids)
    seconds = time.perf_counter() - start
    client.xgroup_destroy(stream, group)  # type: ignore[attr-defined]
    if done != n:
        raise SystemExit(f"limit loop read {done:,} of {n:,}")
    return n / seconds


def _assay(uri: str, stream: str, n: int, out: Path) -> float:
    from assay.sources._ingest import ingest
    from assay.sources._sinks import ParquetSink, Quarantine
    from assay.sources._streams import RedisStreamSource

    group = f"assay-{uuid.uuid4().hex[:8]}"
    source = RedisStreamSource(f"{uri}/{stream}?group={group}")
    sink = ParquetSink(out)
    start = time.perf_counter()
    stats = ingest(source, sink, quarantine=Quarantine(out.with_suffix(".quarantine.ndjson")), batch_size=BATCH,
                   batch_seconds=1.0, max_messages=n)
    seconds = time.perf_counter() - start
    if stats.written != n:
        raise SystemExit(f"assay wrote {stats.written:,} of {n:,}")
    import redis

    redis.Redis.from_url(uri).xgroup_destroy(stream, group)
    return n / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default="redis://127.0.0.1:6379")
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import redis

    client = redis.Redis.from_url(args.uri)
    stream = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    print(f"filling {stream} with {args.messages:,} JSON messages …", flush=True)
    _fill(client, stream, args.messages)
    work = Path(tempfile.mkdtemp(prefix="assay-bench-ingest-"))
    rates: dict[str, list[float]] = {"limit": [], "assay": []}
    try:
        # a warm-up pass of each way (imports, page cache) that is not counted
        _limit(client, stream, args.messages)
        for run in range(args.runs):
            for way in (("limit", "assay") if run % 2 == 0 else ("assay", "limit")):
                if way == "limit":
                    rate = _limit(client, stream, args.messages)
                else:
                    out = work / f"run{run}"
                    rate = _assay(args.uri, stream, args.messages, out)
                    shutil.rmtree(out)
                rates[way].append(rate)
                print(f"run {run + 1}: {way:6s} {rate:12,.0f} messages/s", flush=True)
    finally:
        client.delete(stream)
        shutil.rmtree(work, ignore_errors=True)
    limit, assay = statistics.median(rates["limit"]), statistics.median(rates["assay"])
    print(f"\n{args.messages:,} JSON messages, Redis Streams → Parquet, at-least-once acks; median of {args.runs} runs:")
    print(f"  limit (bare XREADGROUP + XACK, no processing) {limit:12,.0f} messages/s")
    print(f"  assay ingest (parse + Parquet + fsync + ack)   {assay:12,.0f} messages/s")
    print(f"assay/limit rate = {assay / limit:.3f}  (goal ≥ 0.5)")


if __name__ == "__main__":
    main()
