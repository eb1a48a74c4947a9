"""The scorer's refresh: every miner revision's samples without conversations.

A validator's scorer reads, every few minutes, all samples of every miner
revision without their conversations (the original's later versions: 256
miners x about 3,000 samples every 10 minutes). This bench seeds N miners x M
samples into a fresh store, then reads them all back, each way in its own
process (so each peak RSS is its own), in the same run:

- ``affine_db``: ``SampleResultsDAO.get_samples_by_miner(hk, rev,
  include_conversation=False)`` for every miner revision (``--stream``: also
  ``iter_samples_by_miner``);
- on SQLite, plain ``sqlite3`` selecting the same columns of the same file
  into dicts, one ``pk`` at a time in sort key order (the baseline);
- on DynamoDB (``--url dynamodb://...``), a raw ``boto3`` query loop over each
  partition, every attribute (the original's read), when ``boto3`` is
  importable.

It prints rows/s and peak RSS of each and the ratios to the baseline, and
``--json`` writes them as one object.

    python python/bench/scoring.py [--miners 256] [--samples 3000] [--url sqlite://PATH]

Use a release build of the package (``pip install ./python``); a dev build
measures the debug binary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

ENVS = ["SAT", "ABD", "DED", "ELR"]


def miner(n: int) -> tuple[str, str]:
    return f"score-hk-{n:04d}", f"score-rev-{n:04d}"


def answer(seed: int) -> str:
    """3,000 hex digits of a fixed pseudo-random sequence: a conversation
    that compresses to about 1.5 KB, as a real one of a few turns."""
    rng = random.Random(seed)
    return "%03000x" % rng.getrandbits(12_000)


def peak_rss_mb() -> float:
    # Linux reports kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def seed(url: str, miners: int, samples: int) -> float:
    from affine_db import close_client, init_client, init_tables
    from affine_db.dao import SampleResultsDAO

    await init_client(url)
    await init_tables()
    dao = SampleResultsDAO()
    start = time.perf_counter()
    base = 1_700_000_000_000
    try:
        for m in range(miners):
            hk, rev = miner(m)
            calls = [
                dao.save_sample(
                    miner_hotkey=hk, model_revision=rev, model_hash=f"hash-{m}", uid=m,
                    env=ENVS[i % len(ENVS)], subset="bench", dataset_index=i, task_id=f"task-{m}-{i}",
                    score=(i % 100) / 100, success=i % 10 != 0, latency_ms=200 + i % 5_000,
                    conversation=[{"role": "user", "content": f"question {i}"},
                                  {"role": "assistant", "content": answer(m * 1_000_003 + i)}],
                    validator_hotkey="bench-validator", block_number=1_000_000 + i,
                    signature="%064x" % (m * 1_000_003 + i), timestamp=base + i * 1_000)
                for i in range(samples)
            ]
            for start_at in range(0, len(calls), 250):
                await asyncio.gather(*calls[start_at:start_at + 250])
    finally:
        await close_client()
    return time.perf_counter() - start


async def read_affine(url: str, miners: int, stream: bool) -> dict[str, Any]:
    from affine_db import close_client, init_client
    from affine_db.dao import SampleResultsDAO

    await init_client(url)
    dao = SampleResultsDAO()
    rows = 0
    checksum = 0
    start = time.perf_counter()
    try:
        for m in range(miners):
            hk, rev = miner(m)
            if stream:
                async for row in dao.iter_samples_by_miner(hk, rev, include_conversation=False):
                    rows += 1
                    checksum += row["dataset_index"]
            else:
                found = await dao.get_samples_by_miner(hk, rev, include_conversation=False)
                rows += len(found)
                checksum += sum(r["dataset_index"] for r in found)
    finally:
        await close_client()
    wall = time.perf_counter() - start
    return {"rows": rows, "checksum": checksum, "wall_s": wall}


def read_sqlite3(path: str, miners: int) -> dict[str, Any]:
    import sqlite3

    con = sqlite3.connect(path)
    cols = [r[1] for r in con.execute("SELECT * FROM pragma_table_info('sample_results')")]
    cols = [c for c in cols if c not in ("pk", "sk", "conversation_compressed")]
    sql = "SELECT {} FROM sample_results WHERE pk = ? ORDER BY sk DESC".format(
        ", ".join(f'"{c}"' for c in cols))
    rows = 0
    checksum = 0
    start = time.perf_counter()
    for m in range(miners):
        hk, rev = miner(m)
        found = [dict(zip(cols, r)) for r in con.execute(sql, (f"MINER#{hk}#REV#{rev}",))]
        rows += len(found)
        checksum += sum(r["dataset_index"] for r in found)
    wall = time.perf_counter() - start
    con.close()
    return {"rows": rows, "checksum": checksum, "wall_s": wall}


def read_boto3(url: str, miners: int) -> dict[str, Any]:
    import urllib.parse

    import boto3  # type: ignore[import-not-found]

    q = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    client = boto3.client("dynamodb", endpoint_url=q.get("endpoint", [None])[0],
                          region_name=q.get("region", ["us-east-1"])[0])
    table = f"{q.get('prefix', ['affine'])[0]}_sample_results"
    rows = 0
    checksum = 0
    start = time.perf_counter()
    for m in range(miners):
        hk, rev = miner(m)
        kwargs: dict[str, Any] = dict(
            TableName=table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"MINER#{hk}#REV#{rev}"}},
            ScanIndexForward=False)
        while True:
            page = client.query(**kwargs)
            found = [{k: next(iter(v.values())) for k, v in item.items()} for item in page["Items"]]
            rows += len(found)
            checksum += sum(int(r["dataset_index"]) for r in found)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    wall = time.perf_counter() - start
    return {"rows": rows, "checksum": checksum, "wall_s": wall}


def child(args: argparse.Namespace) -> None:
    if args.child == "affine":
        out = asyncio.run(read_affine(args.url, args.miners, False))
    elif args.child == "affine-stream":
        out = asyncio.run(read_affine(args.url, args.miners, True))
    elif args.child == "sqlite3":
        out = read_sqlite3(args.url.removeprefix("sqlite://"), args.miners)
    else:
        out = read_boto3(args.url, args.miners)
    out["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(out))


def run_child(way: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", way, "--url", args.url, "--miners", str(args.miners)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["rows_s"] = result["rows"] / result["wall_s"]
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--miners", type=int, default=256)
    p.add_argument("--samples", type=int, default=3_000, help="samples per miner revision")
    p.add_argument("--url", help="store to seed (default: a fresh SQLite file)")
    p.add_argument("--rounds", type=int, default=3, help="reads of each way, interleaved")
    p.add_argument("--stream", action="store_true", help="also read with iter_samples_by_miner")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    tmp = None
    if not args.url:
        tmp = tempfile.TemporaryDirectory()
        args.url = f"sqlite://{os.path.join(tmp.name, 'scoring.db')}"
    print(f"seeding {args.miners} x {args.samples} samples into {args.url.split('?')[0]} ...", file=sys.stderr)
    seed_s = asyncio.run(seed(args.url, args.miners, args.samples))
    print(f"seeded in {seed_s:.1f} s", file=sys.stderr)
    ways = ["affine"] + (["affine-stream"] if args.stream else [])
    if args.url.startswith("sqlite://"):
        baseline = "sqlite3"
    else:
        try:
            import boto3  # type: ignore[import-not-found]  # noqa: F401
            baseline = "boto3"
        except ImportError:
            baseline = ""
    if baseline:
        ways.append(baseline)
    results: dict[str, list[dict[str, Any]]] = {w: [] for w in ways}
    for r in range(args.rounds):
        for way in ways:
            res = run_child(way, args)
            results[way].append(res)
            print(f"round {r + 1} {way:14} {res['rows']:>8} rows {res['rows_s']:>10,.0f} rows/s "
                  f"peak RSS {res['peak_rss_mb']:.0f} MB", file=sys.stderr)
    rows = {w: {res["rows"] for res in rs} for w, rs in results.items()}
    checks = {w: {res["checksum"] for res in rs} for w, rs in results.items()}
    assert len({frozenset(v) for v in rows.values()}) == 1, rows
    assert len({frozenset(v) for v in checks.values()}) == 1, checks

    def median(values: list[float]) -> float:
        values = sorted(values)
        return values[len(values) // 2]

    summary = {
        "miners": args.miners, "samples": args.samples, "url": args.url.split("?")[0],
        "ways": {w: {"rows": rs[0]["rows"], "rows_s": median([x["rows_s"] for x in rs]),
                     "peak_rss_mb": median([x["peak_rss_mb"] for x in rs])} for w, rs in results.items()},
    }
    if baseline:
        base = summary["ways"][baseline]["rows_s"]
        for w in ways:
            if w != baseline:
                summary["ways"][w]["vs_" + baseline] = summary["ways"][w]["rows_s"] / base
    print(json.dumps(summary, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
