"""Python and the `affine-db` binary read each other's writes, on both backends.

Forward: Python writes samples, tasks, scores, config (and logs, miners,
policies); the binary's read commands print them equal, value for value and
type for type (a float is a float on both sides). Reverse: the binary writes
config (`config set`), samples (`migrate` of a small bucket made here), and
tasks and scores (`copy` from another store), and Python reads them equal.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
from typing import Any

from affine_db import close_client, init_client, init_tables
from affine_db.dao import (
    DataRetentionDAO,
    ExecutionLogsDAO,
    MinerMetadataDAO,
    SampleResultsDAO,
    ScoresDAO,
    SystemConfigDAO,
    TaskQueueDAO,
)

from helpers import sample_args, score_args, unique


def same(a: Any, b: Any, path: str = "$") -> None:
    """`a == b` with the same types all the way down (1.0 is not 1)."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} {a!r} vs {type(b).__name__} {b!r}"
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f"{path}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def cli(binary: pathlib.Path, url: str, *args: str) -> str:
    result = subprocess.run(
        [str(binary), "--db", url, *args], capture_output=True, text=True, timeout=120, env=os.environ.copy()
    )
    assert result.returncode == 0, f"affine-db {' '.join(args)}: {result.stderr}"
    return result.stdout


def cli_json(binary: pathlib.Path, url: str, *args: str) -> Any:
    return json.loads(cli(binary, url, *args))


CONVERSATION = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Ünïcödé ✓ and \"quotes\"\nnew line"},
        {"role": "assistant", "content": "ok", "usage": {"prompt_tokens": 12, "cost": 0.5, "ratio": 1.0}},
    ],
    "seed": 9007199254740993,
    "nothing": None,
}

PARAMS = [
    ("name_str", "hello", "str"),
    ("name_int", -42, "int"),
    ("name_float", 1.0, "float"),
    ("name_bool", True, "bool"),
    ("name_dict", {"w": 0.5, "n": 3, "nested": {"ok": [1, 2.5]}}, "dict"),
    ("name_list", [1, 1.0, "x", False, None], "list"),
]


async def test_the_binary_reads_what_python_wrote(store, affine_db_bin) -> None:
    url = store.url
    samples, tasks, scores = SampleResultsDAO(), TaskQueueDAO(), ScoresDAO()
    config, logs, miners, retention = SystemConfigDAO(), ExecutionLogsDAO(), MinerMetadataDAO(), DataRetentionDAO()
    hk = unique()
    for i, env in enumerate(["SAT", "ABD", "SAT"]):
        await samples.save_sample(**sample_args(miner_hotkey=hk, env=env, dataset_index=i, score=float(i), conversation=CONVERSATION, timestamp=1_700_000_000_000 + i))
    made = [await tasks.create_task(hk, "v1.0.0", "abc123", env, "val", priority=p) for p, env in enumerate(["SAT", "ABD", "DED"])]
    await tasks.start_task(hk, "v1.0.0", made[0]["task_id"])
    await tasks.fail_task(hk, "v1.0.0", made[1]["task_id"], "boom")
    for block in (500, 501):
        for m in ("a", "b"):
            await scores.save_score(**score_args(block_number=block, miner_hotkey=f"{hk}-{m}", overall_score=1.0, scores_by_env={"SAT": 1.0, "ABD": 0.25}))
    for name, value, ty in PARAMS:
        await config.set_param(name, value, ty, description=f"the {ty}")
    await logs.log_execution(hk, 1, "t", "failed", "SAT", error_type="Timeout", error_message="slow", execution_time_ms=12)
    await miners.save_metadata(hk, 1, "v1.0.0", "abc123", "org/model", chutes_slug="s", chutes_status="hot", first_commit_block=7)
    await miners.update_statistics(hk, True)
    await retention.set_protected(hk, "top-3", protected_since=1_650_000_000)

    same(cli_json(affine_db_bin, url, "samples", "--miner", hk, "--revision", "v1.0.0"), await samples.get_samples_by_miner(hk, "v1.0.0", reverse=False))
    rows = cli_json(affine_db_bin, url, "samples", "--miner", hk, "--revision", "v1.0.0", "--env", "SAT")
    assert [r["dataset_index"] for r in rows] == [0, 2]
    same(rows[0]["conversation"], CONVERSATION)
    same(cli_json(affine_db_bin, url, "tasks", "--miner", hk, "--revision", "v1.0.0"), await tasks.get_tasks_by_miner(hk, "v1.0.0"))
    assert [t["status"] for t in cli_json(affine_db_bin, url, "tasks", "--miner", hk, "--revision", "v1.0.0", "--status", "failed")] == ["failed"]
    same(cli_json(affine_db_bin, url, "scores", "block", "500"), await scores.get_scores_at_block(500))
    same(cli_json(affine_db_bin, url, "scores", "latest"), (await scores.get_latest_scores())["scores"])
    same(cli_json(affine_db_bin, url, "config", "list"), await config.list_all_configs())
    for name, value, _ in PARAMS:
        got = cli_json(affine_db_bin, url, "config", "get", name)
        same(got, await config.get_param(name))
        same(got["param_value"], value)
    same(cli_json(affine_db_bin, url, "logs", "--miner", hk), await logs.get_recent_logs(hk, limit=100))
    same(cli_json(affine_db_bin, url, "miners"), await miners.get_all_miners())
    same(cli_json(affine_db_bin, url, "policies"), await retention.get_all_policies())


def bucket(root: pathlib.Path, hk: str) -> list[dict[str, Any]]:
    """A one-shard bucket in the R2 layout (DESIGN §7) with three records."""
    records = []
    for i in range(3):
        records.append({
            "version": "0.0.0",
            "signature": f"sig-{hk}-{i}",
            "hotkey": "validator-hk",
            "miner": {"uid": 7, "hotkey": hk, "model": "org/model", "revision": "rev1", "block": 6_690_000, "slug": "org-model", "chute": {"hot": True}, "weights_shas": ["sha0"]},
            "env": ["SAT", "ABD", "SAT"][i],
            "score": [0.25, 1.0, 0.0][i],
            "latency_seconds": 1.5 + i,
            "success": i != 2,
            "error": None,
            "task_id": 100 + i,
            "extra": {"conversation": [{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": "answer", "tokens": 1.0}]},
            "timestamp": 1_763_000_000.25 + i,
        })
    shard = f"affine/results/006800000-{hk}.json"
    (root / "affine" / "results").mkdir(parents=True)
    (root / "affine" / "index.json").write_text(json.dumps([shard]))
    (root / shard).write_text(json.dumps(records))
    return records


async def test_python_reads_what_the_binary_wrote(target, affine_db_bin, tmp_path: pathlib.Path) -> None:
    url = target.url
    hk = unique()
    cli(affine_db_bin, url, "init")
    # Config, by `affine-db config set`.
    for name, value, ty in PARAMS:
        text = value if isinstance(value, str) else json.dumps(value) if ty in ("dict", "list") else str(value).lower() if ty == "bool" else repr(value)
        cli(affine_db_bin, url, "config", "set", "--type", ty, "--", name, text)
    # Samples (and their miner), by `affine-db migrate`.
    records = bucket(tmp_path / "bucket", hk)
    summary = json.loads(cli(affine_db_bin, url, "migrate", "--source", f"dir://{tmp_path / 'bucket'}", "--json"))
    assert summary["migrated"] == 3, summary
    # Tasks and scores: written by `affine-db copy` from a scratch store.
    scratch = f"sqlite://{tmp_path / 'scratch.db'}"
    await init_client(scratch)
    try:
        t = TaskQueueDAO()
        made = [await t.create_task(hk, "rev1", "sha0", "SAT", "val", priority=p) for p in range(3)]
        await t.start_task(hk, "rev1", made[0]["task_id"])
        await t.fail_task(hk, "rev1", made[2]["task_id"], "boom")
        s = ScoresDAO()
        for m in ("a", "b"):
            await s.save_score(**score_args(block_number=900, miner_hotkey=f"{hk}-{m}", overall_score=1.0))
        expected_tasks = await t.get_tasks_by_miner(hk, "rev1")
        expected_scores = await s.get_scores_at_block(900)
    finally:
        await close_client()
    cli(affine_db_bin, url, "copy", "--from", scratch, "--to", url)

    await init_client(url)
    try:
        config = SystemConfigDAO()
        for name, value, ty in PARAMS:
            same(await config.get_param_value(name), value)
            assert (await config.get_param(name))["updated_by"] == "affine-db-cli"
        same(await config.list_all_configs(), cli_json(affine_db_bin, url, "config", "list"))

        rows = await SampleResultsDAO().get_samples_by_miner(hk, "rev1", reverse=False)
        same(rows, cli_json(affine_db_bin, url, "samples", "--miner", hk, "--revision", "rev1"))
        # Sort key order, as the original's query: env, then time.
        in_order = sorted(records, key=lambda r: (r["env"], r["timestamp"]))
        assert [r["signature"] for r in rows] == [r["signature"] for r in in_order]
        for row, rec in zip(rows, in_order):
            same(row["conversation"], rec["extra"]["conversation"])
            same(row["score"], rec["score"])
            assert row["timestamp"] == round(rec["timestamp"] * 1000)
            assert (row["env"], row["uid"], row["validator_hotkey"], row["block_number"]) == (rec["env"], 7, "validator-hk", 6_800_000)
        meta = await MinerMetadataDAO().get_metadata(hk)
        assert (meta["model_name"], meta["chutes_status"], meta["chutes_slug"]) == ("org/model", "hot", "org-model")

        tasks = await TaskQueueDAO().get_tasks_by_miner(hk, "rev1")
        same(tasks, expected_tasks)
        same(tasks, cli_json(affine_db_bin, url, "tasks", "--miner", hk, "--revision", "rev1"))
        statuses = {x["task_id"]: x["status"] for x in tasks}
        assert statuses == {made[0]["task_id"]: "running", made[1]["task_id"]: "pending", made[2]["task_id"]: "failed"}
        scores = await ScoresDAO().get_scores_at_block(900)
        same(scores, expected_scores)
        same(scores, cli_json(affine_db_bin, url, "scores", "block", "900"))
        same((await ScoresDAO().get_latest_scores())["scores"], scores)
    finally:
        await close_client()
