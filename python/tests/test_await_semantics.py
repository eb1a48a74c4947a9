"""The original's `async def` semantics: for every public method, calling
it makes a coroutine and nothing else (no error, no write); awaiting it does
the work and raises the documented exception; `asyncio.run`, `gather(...,
return_exceptions=True)` and `create_task` work. Also: `bool` refused as a
number (naming the parameter), defaults from the core, idempotent re-saves,
and `init_client()` choosing DynamoDB from the original's variables."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
from typing import Any

import pytest

import affine_db
from affine_db import close_client, get_client, init_client, init_tables
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

BAD = "bad#key"  # a `#` is refused in every key part

# (class, method, valid arguments, arguments awaiting must refuse, exception)
METHODS: list[tuple[type, str, dict[str, Any], dict[str, Any], type]] = [
    (SampleResultsDAO, "save_sample", sample_args(), sample_args(miner_hotkey=BAD), affine_db.InvalidInput),
    (SampleResultsDAO, "get_samples_by_miner", dict(miner_hotkey="m", model_revision="r"), dict(miner_hotkey=BAD, model_revision="r"), affine_db.InvalidInput),
    (SampleResultsDAO, "get_samples_by_env", dict(env="e", start_timestamp=0, end_timestamp=1), dict(env=BAD, start_timestamp=0, end_timestamp=1), affine_db.InvalidInput),
    (SampleResultsDAO, "delete_samples_before", dict(miner_hotkey="m", model_revision="r", cutoff_timestamp=1), dict(miner_hotkey=BAD, model_revision="r", cutoff_timestamp=1), affine_db.InvalidInput),
    (TaskQueueDAO, "create_task", dict(miner_hotkey="m", model_revision="r", model_hash="h", env="e", validator_hotkey="v"), dict(miner_hotkey=BAD, model_revision="r", model_hash="h", env="e", validator_hotkey="v"), affine_db.InvalidInput),
    (TaskQueueDAO, "get_task", dict(miner_hotkey="m", model_revision="r", task_id="t"), dict(miner_hotkey=BAD, model_revision="r", task_id="t"), affine_db.InvalidInput),
    (TaskQueueDAO, "get_pending_tasks", dict(limit=5), dict(limit=-1), affine_db.InvalidInput),
    (TaskQueueDAO, "start_task", dict(miner_hotkey="m", model_revision="r", task_id="t"), dict(miner_hotkey=BAD, model_revision="r", task_id="t"), affine_db.InvalidInput),
    (TaskQueueDAO, "complete_task", dict(miner_hotkey="m", model_revision="r", task_id="t"), dict(miner_hotkey=BAD, model_revision="r", task_id="t"), affine_db.InvalidInput),
    (TaskQueueDAO, "fail_task", dict(miner_hotkey="m", model_revision="r", task_id="t", error_message="x"), dict(miner_hotkey=BAD, model_revision="r", task_id="t", error_message="x"), affine_db.InvalidInput),
    (TaskQueueDAO, "get_tasks_by_miner", dict(miner_hotkey="m", model_revision="r"), dict(miner_hotkey="m", model_revision="r", status="sleeping"), affine_db.InvalidInput),
    (TaskQueueDAO, "delete_miner_tasks", dict(miner_hotkey="m", model_revision="r"), dict(miner_hotkey=BAD, model_revision="r"), affine_db.InvalidInput),
    (ExecutionLogsDAO, "log_execution", dict(miner_hotkey="m", uid=1, task_id="t", status="failed", env="e"), dict(miner_hotkey="m", uid=1, task_id="t", status="maybe", env="e"), affine_db.InvalidInput),
    (ExecutionLogsDAO, "get_recent_logs", dict(miner_hotkey="m"), dict(miner_hotkey=BAD), affine_db.InvalidInput),
    (ExecutionLogsDAO, "check_consecutive_errors", dict(miner_hotkey="m"), dict(miner_hotkey=BAD), affine_db.InvalidInput),
    (ExecutionLogsDAO, "get_error_summary", dict(miner_hotkey="m"), dict(miner_hotkey=BAD), affine_db.InvalidInput),
    (ExecutionLogsDAO, "get_execution_stats", dict(miner_hotkey="m"), dict(miner_hotkey=BAD), affine_db.InvalidInput),
    (ScoresDAO, "save_score", score_args(), score_args(miner_hotkey=BAD), affine_db.InvalidInput),
    (ScoresDAO, "get_scores_at_block", dict(block_number=1), dict(block_number=1, limit=-1), affine_db.InvalidInput),
    (ScoresDAO, "get_latest_scores", dict(), dict(limit=-1), affine_db.InvalidInput),
    (ScoresDAO, "get_miner_score_at_block", dict(block_number=1, miner_hotkey="m"), dict(block_number=1, miner_hotkey=BAD), affine_db.InvalidInput),
    (ScoresDAO, "get_miner_score_history", dict(miner_hotkey="m"), dict(miner_hotkey=BAD), affine_db.InvalidInput),
    (SystemConfigDAO, "set_param", dict(param_name="p", param_value=1, param_type="int"), dict(param_name="p", param_value="abc", param_type="int"), affine_db.InvalidInput),
    (SystemConfigDAO, "get_param", dict(param_name="p"), dict(param_name=BAD), affine_db.InvalidInput),
    (SystemConfigDAO, "get_param_value", dict(param_name="p"), dict(param_name=BAD), affine_db.InvalidInput),
    (SystemConfigDAO, "delete_param", dict(param_name="p"), dict(param_name=BAD), affine_db.InvalidInput),
    (MinerMetadataDAO, "save_metadata", dict(miner_hotkey="m", uid=1, current_revision="r", model_hash="h", model_name="n"), dict(miner_hotkey=BAD, uid=1, current_revision="r", model_hash="h", model_name="n"), affine_db.InvalidInput),
    (MinerMetadataDAO, "get_metadata", dict(miner_hotkey="m"), dict(miner_hotkey=BAD), affine_db.InvalidInput),
    (MinerMetadataDAO, "update_statistics", dict(miner_hotkey="m", success=True), dict(miner_hotkey=BAD, success=True), affine_db.InvalidInput),
    (MinerMetadataDAO, "pause_miner", dict(miner_hotkey="m", reason="x"), dict(miner_hotkey=BAD, reason="x"), affine_db.InvalidInput),
    (MinerMetadataDAO, "unpause_miner", dict(miner_hotkey="m"), dict(miner_hotkey=BAD), affine_db.InvalidInput),
    (MinerMetadataDAO, "check_pause_expired", dict(miner_hotkey="m"), dict(miner_hotkey=BAD), affine_db.InvalidInput),
    (DataRetentionDAO, "set_policy", dict(miner_hotkey="m", is_protected=True), dict(miner_hotkey="m", is_protected=True, retention_days=-1), affine_db.InvalidInput),
    (DataRetentionDAO, "get_policy", dict(miner_hotkey="m"), dict(miner_hotkey=BAD), affine_db.InvalidInput),
    (DataRetentionDAO, "is_protected", dict(miner_hotkey="m"), dict(miner_hotkey=BAD), affine_db.InvalidInput),
    (DataRetentionDAO, "set_protected", dict(miner_hotkey="m", reason="x"), dict(miner_hotkey=BAD, reason="x"), affine_db.InvalidInput),
    (DataRetentionDAO, "set_unprotected", dict(miner_hotkey="m"), dict(miner_hotkey=BAD), affine_db.InvalidInput),
    (DataRetentionDAO, "update_cleanup_timestamp", dict(miner_hotkey="m"), dict(miner_hotkey=BAD), affine_db.InvalidInput),
]

NO_ARGS = [
    (SystemConfigDAO, "get_all_params"),
    (SystemConfigDAO, "list_all_configs"),
    (MinerMetadataDAO, "get_all_miners"),
    (DataRetentionDAO, "get_all_policies"),
    (DataRetentionDAO, "get_protected_miners"),
    (DataRetentionDAO, "cleanup"),
]


async def nothing_stored() -> None:
    assert await SystemConfigDAO().get_all_params() == {}
    assert await MinerMetadataDAO().get_all_miners() == []
    assert await DataRetentionDAO().get_all_policies() == []
    assert await TaskQueueDAO().get_pending_tasks() == []
    assert await SampleResultsDAO().get_samples_by_miner("5miner", "v1.0.0") == []
    assert await ExecutionLogsDAO().get_recent_logs("m") == []
    assert (await ScoresDAO().get_latest_scores())["block_number"] is None


def test_every_public_method_is_a_coroutine_function() -> None:
    listed = {(c, m) for c, m, *_ in METHODS} | set(NO_ARGS)
    for cls in (SampleResultsDAO, TaskQueueDAO, ExecutionLogsDAO, ScoresDAO, SystemConfigDAO, MinerMetadataDAO, DataRetentionDAO):
        for name in dir(cls):
            if name.startswith("_"):
                continue
            method = getattr(cls, name)
            # `iter_*` (an addition) are async generators: `async for` them.
            if name.startswith("iter_"):
                assert inspect.isasyncgenfunction(method), f"{cls.__name__}.{name}"
                continue
            assert inspect.iscoroutinefunction(method), f"{cls.__name__}.{name}"
    for f in (init_client, close_client, init_tables):
        assert inspect.iscoroutinefunction(f), f.__name__
    assert (TaskQueueDAO, "claim_task") not in listed  # an addition, checked by dir() above


async def test_unawaited_calls_raise_nothing_and_write_nothing(store) -> None:
    for cls, name, good, bad, _ in METHODS:
        for args in (good, bad):
            coro = getattr(cls(), name)(**args)
            assert inspect.iscoroutine(coro), name
            coro.close()
    for cls, name in NO_ARGS:
        getattr(cls(), name)().close()
    # Even an un-awaited call made before any client raises nothing.
    await nothing_stored()


@pytest.mark.parametrize("cls,name,good,bad,exc", METHODS, ids=[f"{c.__name__}.{m}" for c, m, *_ in METHODS])
async def test_awaiting_raises_the_documented_exception(store, cls, name, good, bad, exc) -> None:
    coro = getattr(cls(), name)(**bad)  # nothing raised here
    with pytest.raises(exc):
        await coro
    await getattr(cls(), name)(**good)


def test_asyncio_run_and_create_task_work(tmp_path) -> None:
    asyncio.run(init_client(f"sqlite://{tmp_path / 'a.db'}"))
    try:
        assert asyncio.run(SystemConfigDAO().get_param("x")) is None
        asyncio.run(SystemConfigDAO().set_param("x", 3, "int"))
        assert asyncio.run(SystemConfigDAO().get_param_value("x")) == 3

        async def tasks() -> Any:
            t = asyncio.create_task(TaskQueueDAO().get_task("m", "r", "t"))
            return await t

        assert asyncio.run(tasks()) is None
    finally:
        asyncio.run(close_client())


def test_before_init_client_the_error_comes_on_await() -> None:
    async def go() -> None:
        await close_client()
        coro = SystemConfigDAO().get_param("x")
        with pytest.raises(RuntimeError):
            await coro

    asyncio.run(go())


async def test_gather_returns_the_bad_items_exception_and_saves_the_others(store) -> None:
    dao = SampleResultsDAO()
    hk = unique()
    batch = [sample_args(miner_hotkey=hk, dataset_index=i, sample_id=f"s{i}") for i in range(5)]
    batch[2]["score"] = float("nan")
    results = await asyncio.gather(*[dao.save_sample(**s) for s in batch], return_exceptions=True)
    assert isinstance(results[2], affine_db.InvalidInput)
    assert all(isinstance(r, dict) for i, r in enumerate(results) if i != 2)
    rows = await dao.get_samples_by_miner(hk, "v1.0.0")
    assert sorted(r["dataset_index"] for r in rows) == [0, 1, 3, 4]


async def test_a_cancelled_await_is_cancelled(store) -> None:
    task = asyncio.create_task(SampleResultsDAO().get_samples_by_miner("m", "r"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(
    "call",
    [
        lambda: SampleResultsDAO().save_sample(**sample_args(uid=True)),
        lambda: SampleResultsDAO().save_sample(**sample_args(score=False)),
        lambda: TaskQueueDAO().create_task("m", "r", "h", "e", "v", ttl_days=True),
        lambda: TaskQueueDAO().get_tasks_by_miner("m", "r", limit=True),
        lambda: ScoresDAO().save_score(**score_args(block_number=True)),
        lambda: MinerMetadataDAO().save_metadata("m", True, "r", "h", "n"),
        lambda: DataRetentionDAO().set_policy("m", False, retention_days=True),
        lambda: ExecutionLogsDAO().get_recent_logs("m", limit=False),
    ],
)
async def test_bool_is_not_a_number(store, call) -> None:
    coro = call()
    with pytest.raises(TypeError, match=r"argument '\w+': expected a number, got bool"):
        await coro
    await nothing_stored()


async def test_defaults_come_from_the_core(store) -> None:
    task = await TaskQueueDAO().create_task("m", "r", "h", "e", "v")
    assert task["ttl"] - task["created_at"] == 7 * 86400
    policy = await DataRetentionDAO().set_policy("m", False)
    assert policy["retention_days"] == 90
    meta = await MinerMetadataDAO().save_metadata("m", 1, "r", "h", "n", last_commit_block=500)
    assert (meta["first_commit_block"], meta["last_commit_block"]) == (500, 500)


async def test_resave_with_the_same_sample_id_keeps_one_row(store) -> None:
    dao = SampleResultsDAO()
    hk = unique()
    first = await dao.save_sample(**sample_args(miner_hotkey=hk, sample_id="sig-1", score=0.1))
    second = await dao.save_sample(**sample_args(miner_hotkey=hk, sample_id="sig-1", score=0.2, env="ABD"))
    rows = await dao.get_samples_by_miner(hk, "v1.0.0")
    assert [(r["sample_id"], r["score"], r["env"]) for r in rows] == [("sig-1", 0.2, "ABD")]
    assert second["sample_id"] == first["sample_id"] == "sig-1"
    # Without an id, a retry is another sample.
    await dao.save_sample(**sample_args(miner_hotkey=hk, model_revision="v2"))
    await dao.save_sample(**sample_args(miner_hotkey=hk, model_revision="v2"))
    assert len(await dao.get_samples_by_miner(hk, "v2")) == 2


def test_init_client_follows_the_originals_dynamodb_variables(tmp_path) -> None:
    """No URL and no AFFINE_DB, but DYNAMODB_TABLE_PREFIX set: DynamoDB, named
    by get_client(), never a local file."""
    code = (
        "import asyncio, affine_db, os\n"
        "c = asyncio.run(affine_db.init_client())\n"
        "print(c.backend, affine_db.get_client().backend)\n"
        "print(os.path.exists('affine.db'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "AFFINE_DB"}
    env.update(DYNAMODB_TABLE_PREFIX="pyorig", AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="affine-test", AWS_SECRET_ACCESS_KEY="affine-test")
    env.setdefault("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["dynamodb", "dynamodb", "False"], out
    env.pop("DYNAMODB_TABLE_PREFIX")
    env.pop("AWS_ENDPOINT_URL_DYNAMODB")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["sqlite", "sqlite", "True"], out
