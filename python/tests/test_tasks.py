"""TaskQueueDAO on both backends."""

from __future__ import annotations

import asyncio
import time

import pytest

import affine_db
from affine_db.dao import MinerMetadataDAO, TaskQueueDAO

from helpers import unique

DAY_S = 86_400


async def new_task(dao: TaskQueueDAO, hk: str, **over):
    args = dict(miner_hotkey=hk, model_revision="v1.0.0", model_hash="abc123", env="L3", validator_hotkey="owner")
    args.update(over)
    return await dao.create_task(**args)


async def test_create_task_defaults_and_get_task(store) -> None:
    dao = TaskQueueDAO()
    hk = unique()
    before = int(time.time())
    task = await new_task(dao, hk)
    assert task["status"] == "pending" and task["priority"] == 0 and task["error_count"] == 0
    assert task["started_at"] is None and task["completed_at"] is None and task["last_error"] is None
    assert before <= task["created_at"] <= int(time.time())
    assert task["ttl"] == task["created_at"] + 7 * DAY_S
    assert (await new_task(dao, hk, ttl_days=2))["ttl"] - task["created_at"] in (2 * DAY_S, 2 * DAY_S + 1)
    assert await dao.get_task(hk, "v1.0.0", task["task_id"]) == task
    assert await dao.get_task(hk, "v1.0.0", "0000000000000000-missing") is None


async def test_get_pending_tasks_by_priority_or_age_with_limit(store) -> None:
    dao = TaskQueueDAO()
    hk = unique()
    low = await new_task(dao, hk, priority=0)
    high = await new_task(dao, hk, priority=5)
    mid = await new_task(dao, unique(), priority=2)
    running = await new_task(dao, hk, priority=9)
    assert await dao.start_task(hk, "v1.0.0", running["task_id"]) is True
    ids = [t["task_id"] for t in await dao.get_pending_tasks()]
    assert ids == [high["task_id"], mid["task_id"], low["task_id"]]
    by_age = [t["task_id"] for t in await dao.get_pending_tasks(priority_order=False)]
    oldest_first = sorted([low, high, mid], key=lambda t: (t["created_at"], t["task_id"]))
    assert by_age == [t["task_id"] for t in oldest_first]
    assert [t["task_id"] for t in await dao.get_pending_tasks(limit=2)] == ids[:2]
    assert await dao.get_pending_tasks(limit=0) == []


async def test_start_task_is_the_atomic_claim(store) -> None:
    dao = TaskQueueDAO()
    hk = unique()
    task = await new_task(dao, hk)
    assert await dao.start_task(hk, "v1.0.0", task["task_id"]) is True
    claimed = await dao.get_task(hk, "v1.0.0", task["task_id"])
    assert claimed["status"] == "running" and claimed["started_at"] is not None
    assert await dao.start_task(hk, "v1.0.0", task["task_id"]) is False
    assert await dao.start_task(hk, "v1.0.0", "0000000000000000-missing") is False
    with pytest.raises(affine_db.InvalidInput):
        await dao.start_task(hk, "v1.0.0", "bad#id")


async def test_eight_concurrent_claims_have_exactly_one_winner(store) -> None:
    dao = TaskQueueDAO()
    hk = unique()
    for _ in range(3):
        task = await new_task(dao, hk)
        results = await asyncio.gather(*[dao.start_task(hk, "v1.0.0", task["task_id"]) for _ in range(8)])
        assert sorted(results) == [False] * 7 + [True]
        assert (await dao.get_task(hk, "v1.0.0", task["task_id"]))["status"] == "running"


async def test_complete_task_deletes_and_says_whether_it_existed(store) -> None:
    dao = TaskQueueDAO()
    hk = unique()
    task = await new_task(dao, hk)
    assert await dao.complete_task(hk, "v1.0.0", task["task_id"]) is True
    assert await dao.get_task(hk, "v1.0.0", task["task_id"]) is None
    assert await dao.complete_task(hk, "v1.0.0", task["task_id"]) is False


async def test_fail_task_records_the_error(store) -> None:
    dao = TaskQueueDAO()
    hk = unique()
    task = await new_task(dao, hk)
    assert await dao.fail_task(hk, "v1.0.0", task["task_id"], "timeout") is True
    failed = await dao.get_task(hk, "v1.0.0", task["task_id"])
    assert failed["status"] == "failed" and failed["error_count"] == 1
    assert failed["last_error"] == "timeout" and failed["completed_at"] is not None
    assert await dao.fail_task(hk, "v1.0.0", task["task_id"], "again") is True
    assert (await dao.get_task(hk, "v1.0.0", task["task_id"]))["error_count"] == 2
    assert await dao.fail_task(hk, "v1.0.0", "0000000000000000-missing", "x") is False


async def test_get_tasks_by_miner_filters_status_before_limit(store) -> None:
    dao = TaskQueueDAO()
    hk = unique()
    # Creation order is task id order (ids made in one millisecond sort by their uuid).
    tasks = sorted([await new_task(dao, hk) for _ in range(4)], key=lambda t: t["task_id"])
    await new_task(dao, hk, model_revision="other")
    await dao.start_task(hk, "v1.0.0", tasks[0]["task_id"])
    await dao.start_task(hk, "v1.0.0", tasks[2]["task_id"])
    # Newest first, as the original: limit=1 is the latest task.
    all_ids = [t["task_id"] for t in await dao.get_tasks_by_miner(hk, "v1.0.0")]
    assert all_ids == [t["task_id"] for t in reversed(tasks)]
    pending = await dao.get_tasks_by_miner(hk, "v1.0.0", status="pending", limit=1)
    assert [t["task_id"] for t in pending] == [tasks[3]["task_id"]]
    running = await dao.get_tasks_by_miner(hk, "v1.0.0", status="running")
    assert [t["task_id"] for t in running] == [tasks[2]["task_id"], tasks[0]["task_id"]]
    with pytest.raises(affine_db.InvalidInput):
        await dao.get_tasks_by_miner(hk, "v1.0.0", status="sleeping")


async def test_delete_miner_tasks_counts_what_it_deleted(store) -> None:
    dao = TaskQueueDAO()
    hk = unique()
    for _ in range(3):
        await new_task(dao, hk)
    other = await new_task(dao, hk, model_revision="v2")
    assert await dao.delete_miner_tasks(hk, "v1.0.0") == 3
    assert await dao.get_tasks_by_miner(hk, "v1.0.0") == []
    assert await dao.get_task(hk, "v2", other["task_id"]) == other
    assert await dao.delete_miner_tasks(hk, "v1.0.0") == 0


async def test_claim_task_validates_the_model_hash(store) -> None:
    dao, miners = TaskQueueDAO(), MinerMetadataDAO()
    hk = unique()
    await miners.save_metadata(hk, 1, "v1.0.0", "abc123", "org/model")
    fresh = await new_task(dao, hk)
    started = await dao.claim_task(hk, "v1.0.0", fresh["task_id"])
    assert started["status"] == "running" and started["task_id"] == fresh["task_id"]
    with pytest.raises(affine_db.Conflict):
        await dao.claim_task(hk, "v1.0.0", fresh["task_id"])
    stale = await new_task(dao, hk, model_hash="old-hash")
    assert await dao.claim_task(hk, "v1.0.0", stale["task_id"]) is None
    assert await dao.get_task(hk, "v1.0.0", stale["task_id"]) is None
    with pytest.raises(affine_db.NotFound) as info:
        await dao.claim_task(hk, "v1.0.0", stale["task_id"])
    assert isinstance(info.value, LookupError)


async def test_requeue_stale_tasks_puts_running_tasks_back(store) -> None:
    dao = TaskQueueDAO()
    hk = unique()
    task = await new_task(dao, hk)
    await dao.start_task(hk, "v1.0.0", task["task_id"])
    assert await dao.requeue_stale_tasks(3600) == 0
    assert await dao.requeue_stale_tasks(0) == 1
    back = await dao.get_task(hk, "v1.0.0", task["task_id"])
    assert back["status"] == "pending" and back["started_at"] is None


async def test_bad_task_input_writes_nothing(store) -> None:
    dao = TaskQueueDAO()
    hk = unique()
    for bad in ({"env": "a#b"}, {"ttl_days": 0}, {"model_revision": "x\ny"}):
        with pytest.raises(affine_db.InvalidInput):
            await new_task(dao, hk, **bad)
    assert await dao.get_tasks_by_miner(hk, "v1.0.0") == []
