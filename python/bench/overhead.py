"""The Python binding's overhead on the `affine-db bench` workload.

Runs the validator-shaped mixed workload of `affine-db bench` (DESIGN §6;
cli/src/commands/bench.rs) twice on fresh SQLite files, back to back: once as
the Rust binary (the baseline, `affine-db bench --json`) and once through
this package's DAOs from asyncio, with the same operations, counts,
concurrency, miners and snapshot cadence. Prints both throughputs and their
ratio (Rust ops/s ÷ Python ops/s; 1.0 means no overhead).

Each of C asyncio workers runs iterations of a validator's loop; iteration i
works on miner i mod M: create a task, claim it (the validated claim,
`TaskQueueDAO.claim_task` = the binary's `rules::claim_task`), save a sample
with a conversation of a few KB, complete the task, log the execution; every
2nd iteration read the latest scores, every 4th read the miner's 50 newest
samples without conversations, every Kth write a score snapshot of all M
miners (`ScoresDAO.save_block_scores`). Every DAO call is one operation and
exactly N run. Conversations come from a pool generated before timing (the
workload's data, not the binding, is not what is measured).

    python python/bench/overhead.py --bin target/release/affine-db [--ops 2000]

Use release builds on both sides: `pip install ./python` and
`cargo build --release -p affine-db-cli`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from typing import Any

from affine_db import close_client, init_client, init_tables
from affine_db.dao import ExecutionLogsDAO, MinerMetadataDAO, SampleResultsDAO, ScoresDAO, TaskQueueDAO

ENVS = ["SAT", "ABD", "DED", "ELR"]
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "zen", "tor", "pla", "qui", "dra", "fen",
             "gal", "hos", "jun", "mer", "nol", "pri", "sul", "tek", "vim", "wex"]


def text(rng: random.Random, n: int) -> str:
    return " ".join("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(n)) + "."


def conversation(rng: random.Random) -> list[dict[str, Any]]:
    """A chat of 3 to 5 turns after a system prompt, a few KB of JSON (as the binary's)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": text(rng, 30)}]
    for _ in range(rng.randint(3, 5)):
        prompt, answer = rng.randint(30, 79), rng.randint(80, 199)
        messages.append({"role": "user", "content": text(rng, prompt)})
        messages.append({"role": "assistant", "content": text(rng, answer),
                         "usage": {"prompt_tokens": prompt * 2, "completion_tokens": answer * 2}})
    return messages


class Workload:
    def __init__(self, ops: int, concurrency: int, miners: int, snapshot_every: int, seed: int) -> None:
        self.ops, self.concurrency, self.snapshot_every = ops, concurrency, snapshot_every
        self.seed = seed
        self.miners = [(f"bench-py-{n}", f"bench-rev-{n}", f"bench-hash-{n}", n) for n in range(miners)]
        self.tickets = 0
        self.iterations = 0
        self.latencies: dict[str, list[float]] = {}
        self.block = 1
        self.block_lock = asyncio.Lock()
        pool_rng = random.Random(seed)
        self.conversations = [conversation(pool_rng) for _ in range(64)]
        self.tasks, self.samples, self.logs = TaskQueueDAO(), SampleResultsDAO(), ExecutionLogsDAO()
        self.scores, self.meta = ScoresDAO(), MinerMetadataDAO()

    def take(self) -> bool:
        if self.tickets >= self.ops:
            return False
        self.tickets += 1
        return True

    async def timed(self, name: str, awaitable: Any) -> Any:
        start = time.perf_counter()
        value = await awaitable
        self.latencies.setdefault(name, []).append(time.perf_counter() - start)
        return value

    async def register(self) -> None:
        for hk, rev, model_hash, uid in self.miners:
            await self.meta.save_metadata(hk, uid, rev, model_hash, f"bench/model-{uid}")

    def plan(self, i: int) -> list[str]:
        ops = ["create_task", "claim_task", "save_sample", "complete_task", "log_execution"]
        if i % 2 == 0:
            ops.append("read_latest_scores")
        if i % 4 == 0:
            ops.append("read_samples")
        if i % self.snapshot_every == 0:
            ops.append("save_scores")
        return ops

    async def worker(self) -> None:
        while True:
            i = self.iterations
            self.iterations += 1
            hk, rev, model_hash, uid = self.miners[i % len(self.miners)]
            rng = random.Random(self.seed ^ (i + 1) * 0x9E3779B97F4A7C15)
            env = ENVS[rng.randrange(len(ENVS))]
            success = rng.random() < 0.9
            latency_ms = rng.randrange(200, 20_000)
            task: dict[str, Any] = {}
            for op in self.plan(i):
                if not self.take():
                    return
                if op == "create_task":
                    task = await self.timed(op, self.tasks.create_task(hk, rev, model_hash, env, "bench-validator",
                                                                       priority=rng.randrange(3), ttl_days=1))
                elif op == "claim_task":
                    claimed = await self.timed(op, self.tasks.claim_task(hk, rev, task["task_id"]))
                    assert claimed is not None, "a bench claim came back stale"
                elif op == "save_sample":
                    await self.timed(op, self.samples.save_sample(
                        miner_hotkey=hk, model_revision=rev, model_hash=model_hash, uid=uid, env=env,
                        subset="bench", dataset_index=rng.randrange(100_000), task_id=task["task_id"],
                        score=rng.random() if success else 0.0, success=success, latency_ms=latency_ms,
                        conversation=self.conversations[i % len(self.conversations)],
                        validator_hotkey="bench-validator", block_number=rng.randrange(1_000_000),
                        signature="%064x" % rng.getrandbits(256)))
                elif op == "complete_task":
                    assert await self.timed(op, self.tasks.complete_task(hk, rev, task["task_id"]))
                elif op == "log_execution":
                    await self.timed(op, self.logs.log_execution(
                        hk, uid, task["task_id"], "success" if success else "failed", env,
                        error_type=None if success else "Timeout",
                        error_message=None if success else f"no answer within {latency_ms} ms",
                        execution_time_ms=latency_ms))
                elif op == "read_latest_scores":
                    await self.timed(op, self.scores.get_latest_scores())
                elif op == "read_samples":
                    await self.timed(op, self.samples.get_samples_by_miner(hk, rev, limit=50, reverse=True,
                                                                           include_conversation=False))
                else:
                    await self.save_scores(rng)

    async def save_scores(self, rng: random.Random) -> None:
        async with self.block_lock:
            while await self.scores.get_scores_at_block(self.block):
                self.block += 1
            block = self.block
            self.block += 1
            rows = []
            for hk, rev, _, uid in self.miners:
                overall = rng.random()
                margin = rng.uniform(0.01, 0.1)
                rows.append(dict(miner_hotkey=hk, uid=uid, model_revision=rev, overall_score=overall,
                                 confidence_interval_lower=max(overall - margin, 0.0),
                                 confidence_interval_upper=min(overall + margin, 1.0), average_score=overall,
                                 scores_by_layer={"L1": overall}, scores_by_env={e: rng.random() for e in ENVS},
                                 total_samples=rng.randrange(10, 500), is_eligible=overall > 0.2,
                                 meets_criteria=overall > 0.5))
            await self.timed("save_scores", self.scores.save_block_scores(block, rows))

    async def run(self) -> float:
        await self.register()
        start = time.perf_counter()
        await asyncio.gather(*[self.worker() for _ in range(self.concurrency)])
        return time.perf_counter() - start


async def python_run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    await init_client(url)
    await init_tables()
    try:
        w = Workload(args.ops, args.concurrency, args.miners, args.snapshot_every, args.seed)
        wall = await w.run()
    finally:
        await close_client()
    ops = sum(len(v) for v in w.latencies.values())
    assert ops == args.ops, (ops, args.ops)
    return {
        "wall_s": wall,
        "throughput_ops_s": ops / wall,
        "mean_ms": {k: 1000 * sum(v) / len(v) for k, v in sorted(w.latencies.items())},
    }


def rust_run(binary: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    out = subprocess.run(
        [binary, "--db", url, "bench", "--ops", str(args.ops), "--concurrency", str(args.concurrency),
         "--miners", str(args.miners), "--snapshot-every", str(args.snapshot_every), "--seed", str(args.seed),
         "--json"],
        check=True, capture_output=True, text=True)
    report = json.loads(out.stdout)
    return {
        "wall_s": report["wall_s"],
        "throughput_ops_s": report["throughput_ops_s"],
        "mean_ms": {k: v["mean_ms"] for k, v in sorted(report["operations"].items())},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the affine-db binary (a release build)")
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--miners", type=int, default=8)
    parser.add_argument("--snapshot-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="affine-overhead-") as tmp:
        rust = rust_run(args.bin, f"sqlite://{os.path.join(tmp, 'rust.db')}", args)
        python = asyncio.run(python_run(f"sqlite://{os.path.join(tmp, 'python.db')}", args))
    ratio = rust["throughput_ops_s"] / python["throughput_ops_s"]
    result = {"ops": args.ops, "concurrency": args.concurrency, "miners": args.miners,
              "rust": rust, "python": python, "ratio": ratio}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"workload: {args.ops} ops, {args.concurrency} workers, {args.miners} miners, SQLite")
    print(f"{'operation':<20} {'rust mean ms':>13} {'python mean ms':>15} {'ratio':>7}")
    for op, r in rust["mean_ms"].items():
        p = python["mean_ms"].get(op, float("nan"))
        print(f"{op:<20} {r:>13.3f} {p:>15.3f} {p / r if r else float('nan'):>7.2f}")
    print(f"rust:   {rust['throughput_ops_s']:>9.0f} ops/s  ({rust['wall_s']:.3f} s)")
    print(f"python: {python['throughput_ops_s']:>9.0f} ops/s  ({python['wall_s']:.3f} s)")
    print(f"overhead ratio (rust ops/s / python ops/s): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
