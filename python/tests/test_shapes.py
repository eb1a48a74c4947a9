"""Side by side with the original layer's documented return shapes (DESIGN
§2's attributes and §9's table, the seed README's examples): every method's
result has the original's type and keys (extra keys may be added, none
renamed or dropped), numbers of the original's kind. Both backends."""

from __future__ import annotations

from typing import Any

import affine_db  # noqa: F401
from affine_db.dao import (
    DataRetentionDAO,
    ExecutionLogsDAO,
    MinerMetadataDAO,
    SampleResultsDAO,
    ScoresDAO,
    SystemConfigDAO,
    TaskQueueDAO,
)

from helpers import now_ms, sample_args, score_args, unique

SAMPLE = {"sample_id", "miner_hotkey", "model_revision", "model_hash", "uid", "env", "subset", "dataset_index",
          "task_id", "score", "success", "latency_ms", "timestamp", "validator_hotkey", "block_number", "signature",
          "conversation"}
TASK = {"task_id", "miner_hotkey", "model_revision", "model_hash", "env", "status", "priority", "created_at",
        "started_at", "completed_at", "error_count", "last_error", "validator_hotkey", "ttl"}
LOG = {"log_id", "miner_hotkey", "uid", "task_id", "status", "env", "error_type", "error_message",
       "execution_time_ms", "timestamp", "ttl"}
SCORE = {"block_number", "miner_hotkey", "uid", "model_revision", "calculated_at", "overall_score",
         "confidence_interval_lower", "confidence_interval_upper", "average_score", "scores_by_layer",
         "scores_by_env", "total_samples", "is_eligible", "meets_criteria"}
PARAM = {"param_name", "param_value", "param_type", "description", "updated_at", "updated_by", "version"}
MINER = {"miner_hotkey", "uid", "current_revision", "model_hash", "model_name", "chutes_slug", "chutes_status",
         "chutes_last_checked", "last_commit_block", "first_commit_block", "updated_at", "total_samples",
         "success_count", "error_count", "last_sample_time", "is_paused", "pause_reason", "pause_until",
         "consecutive_errors"}
POLICY = {"miner_hotkey", "is_protected", "protection_reason", "retention_days", "last_cleanup_at", "protected_since"}
STATS = {"total_executions", "success_count", "failure_count", "by_env", "avg_execution_time_ms"}
ERROR = {"timestamp", "env", "error_type", "error_message", "task_id"}


def has(record: Any, keys: set[str]) -> None:
    assert isinstance(record, dict), record
    missing = keys - set(record)
    assert not missing, f"missing {sorted(missing)} in {sorted(record)}"


async def test_every_method_returns_the_originals_shape(store) -> None:
    hk = unique()
    samples = SampleResultsDAO()
    t0 = now_ms() - 1000
    s = await samples.save_sample(**sample_args(miner_hotkey=hk, timestamp=t0))
    has(s, SAMPLE)
    assert "conversation_compressed" not in s
    assert type(s["uid"]) is int and type(s["score"]) is float and type(s["success"]) is bool
    rows = await samples.get_samples_by_miner(hk, "v1.0.0")
    assert isinstance(rows, list) and len(rows) == 1
    has(rows[0], SAMPLE)
    by_env = await samples.get_samples_by_env("L3", t0, t0)
    assert isinstance(by_env, list) and any(r["miner_hotkey"] == hk for r in by_env)
    assert type(await samples.delete_samples_before(hk, "v1.0.0", t0 + 1)) is int

    tasks = TaskQueueDAO()
    t = await tasks.create_task(hk, "v1.0.0", "abc123", "L3", "v")
    has(t, TASK)
    assert t["status"] == "pending" and type(t["priority"]) is int
    has(await tasks.get_task(hk, "v1.0.0", t["task_id"]), TASK)
    assert all(isinstance(x, dict) for x in await tasks.get_pending_tasks(limit=5))
    assert await tasks.start_task(hk, "v1.0.0", t["task_id"]) is True
    assert await tasks.fail_task(hk, "v1.0.0", t["task_id"], "boom") is True
    [listed] = await tasks.get_tasks_by_miner(hk, "v1.0.0")
    has(listed, TASK)
    assert await tasks.complete_task(hk, "v1.0.0", t["task_id"]) is True
    assert type(await tasks.delete_miner_tasks(hk, "v1.0.0")) is int

    logs = ExecutionLogsDAO()
    has(await logs.log_execution(hk, 42, "t", "failed", "L3", "Timeout", "slow", 120), LOG)
    [recent] = await logs.get_recent_logs(hk)
    has(recent, LOG)
    assert await logs.check_consecutive_errors(hk, threshold=1) is True
    [err] = await logs.get_error_summary(hk)
    has(err, ERROR)
    stats = await logs.get_execution_stats(hk)
    has(stats, STATS)
    assert type(stats["failure_count"]) is int and type(stats["avg_execution_time_ms"]) is int
    assert stats["by_env"]["L3"]["failed"] == 1 and stats["by_env"]["L3"]["success"] == 0

    scores = ScoresDAO()
    block = 7_000_000 + int(now_ms() % 1_000_000)
    sc = await scores.save_score(**score_args(block_number=block, miner_hotkey=hk))
    has(sc, SCORE)
    assert type(sc["overall_score"]) is float and isinstance(sc["scores_by_env"], dict)
    [at] = [r for r in await scores.get_scores_at_block(block) if r["miner_hotkey"] == hk]
    has(at, SCORE)
    latest = await scores.get_latest_scores()
    has(latest, {"block_number", "calculated_at", "scores"})
    has(await scores.get_miner_score_at_block(block, hk), SCORE)
    [hist] = await scores.get_miner_score_history(hk)
    has(hist, SCORE)

    config = SystemConfigDAO()
    has(await config.set_param("p_" + hk, 10, "int", "d"), PARAM)
    has(await config.get_param("p_" + hk), PARAM)
    assert await config.get_param_value("p_" + hk) == 10
    assert (await config.get_all_params())["p_" + hk] == 10
    assert all(isinstance(c, dict) for c in await config.list_all_configs())
    assert await config.delete_param("p_" + hk) is True

    miners = MinerMetadataDAO()
    has(await miners.save_metadata(hk, 42, "v1.0.0", "abc123", "org/model", last_commit_block=9), MINER)
    has(await miners.get_metadata(hk), MINER)
    assert await miners.update_statistics(hk, True) is True
    assert await miners.pause_miner(hk, "r", 60) is True
    assert await miners.check_pause_expired(hk) is False
    assert await miners.unpause_miner(hk) is True
    assert all(isinstance(m, dict) for m in await miners.get_all_miners())

    retention = DataRetentionDAO()
    has(await retention.set_policy(hk, False), POLICY)
    has(await retention.get_policy(hk), POLICY)
    assert await retention.is_protected(hk) is False
    has(await retention.set_protected(hk, "top"), POLICY)
    assert hk in await retention.get_protected_miners()
    has(await retention.set_unprotected(hk), POLICY)
    assert await retention.update_cleanup_timestamp(hk) is True
    assert all(isinstance(p, dict) for p in await retention.get_all_policies())
