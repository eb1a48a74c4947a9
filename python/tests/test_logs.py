"""ExecutionLogsDAO on both backends."""

from __future__ import annotations

import time

import pytest

import affine_db
from affine_db.dao import ExecutionLogsDAO

from helpers import unique

DAY_S = 86_400


async def log(dao: ExecutionLogsDAO, hk: str, status: str = "success", **over):
    args = dict(miner_hotkey=hk, uid=7, task_id="t1", status=status, env="L3")
    args.update(over)
    return await dao.log_execution(**args)


async def test_log_execution_defaults_and_ttl(store) -> None:
    dao = ExecutionLogsDAO()
    hk = unique()
    before = int(time.time())
    entry = await log(dao, hk)
    assert entry["status"] == "success" and entry["execution_time_ms"] == 0
    assert entry["error_type"] is None and entry["error_message"] is None
    assert before <= entry["timestamp"] <= int(time.time())
    assert entry["ttl"] == entry["timestamp"] + 7 * DAY_S
    failed = await log(dao, hk, "failed", error_type="Timeout", error_message="slow", execution_time_ms=1500)
    assert (failed["error_type"], failed["error_message"], failed["execution_time_ms"]) == ("Timeout", "slow", 1500)
    with pytest.raises(affine_db.InvalidInput):
        await log(dao, hk, "maybe")


async def test_an_expired_log_is_invisible(store) -> None:
    dao = ExecutionLogsDAO()
    hk = unique()
    old = int(time.time()) - 8 * DAY_S
    written = await log(dao, hk, timestamp=old)
    assert written["timestamp"] == old
    assert await dao.get_recent_logs(hk) == []


async def test_get_recent_logs_newest_first_status_before_limit(store) -> None:
    dao = ExecutionLogsDAO()
    hk = unique()
    t0 = int(time.time()) - 100
    statuses = ["success", "failed", "success", "failed", "success"]
    for i, s in enumerate(statuses):
        await log(dao, hk, s, timestamp=t0 + i, task_id=f"t{i}")
    assert [l["task_id"] for l in await dao.get_recent_logs(hk)] == ["t4", "t3", "t2", "t1", "t0"]
    assert [l["task_id"] for l in await dao.get_recent_logs(hk, limit=2)] == ["t4", "t3"]
    assert [l["task_id"] for l in await dao.get_recent_logs(hk, limit=1, status="failed")] == ["t3"]
    assert [l["task_id"] for l in await dao.get_recent_logs(hk, status="success")] == ["t4", "t2", "t0"]


async def test_check_consecutive_errors(store) -> None:
    dao = ExecutionLogsDAO()
    hk = unique()
    t0 = int(time.time()) - 100
    assert await dao.check_consecutive_errors(hk, threshold=1) is False
    await log(dao, hk, "success", timestamp=t0)
    for i in range(3):
        await log(dao, hk, "failed", timestamp=t0 + 1 + i)
    assert await dao.check_consecutive_errors(hk, threshold=3) is True
    assert await dao.check_consecutive_errors(hk, threshold=4) is False
    assert await dao.check_consecutive_errors(hk) is False


async def test_get_error_summary_lists_newest_failures(store) -> None:
    dao = ExecutionLogsDAO()
    hk = unique()
    t0 = int(time.time()) - 100
    for i in range(4):
        await log(dao, hk, "failed" if i % 2 else "success", timestamp=t0 + i, task_id=f"t{i}", error_type="E" if i % 2 else None)
    summary = await dao.get_error_summary(hk)
    assert [l["task_id"] for l in summary] == ["t3", "t1"]
    # The original's five keys, nothing renamed or dropped.
    assert all(set(l) == {"timestamp", "env", "error_type", "error_message", "task_id"} for l in summary)
    assert [(l["timestamp"], l["error_type"]) for l in summary] == [(t0 + 3, "E"), (t0 + 1, "E")]
    assert [l["task_id"] for l in await dao.get_error_summary(hk, limit=1)] == ["t3"]


async def test_get_execution_stats_in_a_window(store) -> None:
    dao = ExecutionLogsDAO()
    hk = unique()
    now = int(time.time())
    await log(dao, hk, "success", env="SAT", execution_time_ms=100, timestamp=now - 10)
    await log(dao, hk, "success", env="SAT", execution_time_ms=200, timestamp=now - 20)
    await log(dao, hk, "failed", env="ABD", execution_time_ms=600, timestamp=now - 30)
    await log(dao, hk, "failed", env="ABD", execution_time_ms=9000, timestamp=now - 7200)
    stats = await dao.get_execution_stats(hk)
    assert stats["total_executions"] == 3
    assert (stats["success_count"], stats["failure_count"], stats["failed_count"]) == (2, 1, 1)
    assert stats["success_rate"] == pytest.approx(2 / 3)
    # An int, the mean rounded down, as the original's `total // n`.
    assert stats["avg_execution_time_ms"] == 300 and type(stats["avg_execution_time_ms"]) is int
    assert stats["by_env"] == {"ABD": {"total": 1, "success": 0, "failed": 1}, "SAT": {"total": 2, "success": 2, "failed": 0}}
    assert stats["time_window_seconds"] == 3600
    wide = await dao.get_execution_stats(hk, time_window_seconds=3 * 3600)
    assert wide["total_executions"] == 4
    empty = await dao.get_execution_stats(unique())
    assert (empty["total_executions"], empty["success_rate"], empty["avg_execution_time_ms"]) == (0, 0.0, 0)
