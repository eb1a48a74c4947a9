"""SampleResultsDAO on both backends."""

from __future__ import annotations

import os

import pytest

import affine_db
from affine_db.dao import SampleResultsDAO

from helpers import now_ms, sample_args, unique

DAY_MS = 86_400_000


async def test_save_sample_returns_the_stored_sample_and_reads_back(store) -> None:
    dao = SampleResultsDAO()
    hk = unique()
    conversation = {"messages": [{"role": "user", "content": "2+2?"}], "temperature": 1.0, "n": 3}
    before = now_ms()
    saved = await dao.save_sample(**sample_args(miner_hotkey=hk, score=1.0, conversation=conversation))
    assert before <= saved["timestamp"] <= now_ms()
    assert saved["score"] == 1.0 and isinstance(saved["score"], float)
    assert saved["conversation"] == conversation
    assert isinstance(saved["conversation"]["temperature"], float)
    assert isinstance(saved["conversation"]["n"], int)
    assert "conversation_compressed" not in saved
    assert len(saved["sample_id"]) == 36
    rows = await dao.get_samples_by_miner(hk, "v1.0.0")
    assert rows == [saved]
    # The list reads convert samples field by field: same keys, same order.
    assert list(rows[0]) == list(saved)
    by_env = await dao.get_samples_by_env(saved["env"], saved["timestamp"], saved["timestamp"])
    assert [list(r) for r in by_env] == [list(saved)] and by_env == [saved]
    for key, value in sample_args(miner_hotkey=hk, score=1.0, conversation=conversation).items():
        assert rows[0][key] == value, key


async def test_explicit_sample_id_and_timestamp_make_resaving_idempotent(store) -> None:
    dao = SampleResultsDAO()
    hk = unique()
    args = sample_args(miner_hotkey=hk, sample_id="fixed-id", timestamp=1_700_000_000_000)
    first = await dao.save_sample(**args)
    second = await dao.save_sample(**{**args, "score": 0.5})
    assert first["sample_id"] == second["sample_id"] == "fixed-id"
    rows = await dao.get_samples_by_miner(hk, "v1.0.0")
    assert [r["score"] for r in rows] == [0.5]
    assert rows[0]["timestamp"] == 1_700_000_000_000


async def test_get_samples_by_miner_orders_filters_then_limits(store) -> None:
    dao = SampleResultsDAO()
    hk = unique()
    t0 = now_ms() - 10_000
    envs = ["SAT", "ABD", "SAT", "ABD", "SAT"]
    for i, env in enumerate(envs):
        await dao.save_sample(**sample_args(miner_hotkey=hk, env=env, timestamp=t0 + i, dataset_index=i))
    await dao.save_sample(**sample_args(miner_hotkey=hk, model_revision="other", timestamp=t0))
    newest = await dao.get_samples_by_miner(hk, "v1.0.0")
    # Sort key order, as the original's query: env, then time (reversed by default).
    assert [r["dataset_index"] for r in newest] == [4, 2, 0, 3, 1]
    oldest = await dao.get_samples_by_miner(hk, "v1.0.0", reverse=False)
    assert [r["dataset_index"] for r in oldest] == [1, 3, 0, 2, 4]
    sat = await dao.get_samples_by_miner(hk, "v1.0.0", env="SAT", limit=2)
    assert [r["dataset_index"] for r in sat] == [4, 2]
    assert await dao.get_samples_by_miner(hk, "v1.0.0", limit=0) == []
    lean = await dao.get_samples_by_miner(hk, "v1.0.0", limit=1, include_conversation=False)
    assert lean[0]["conversation"] is None and lean[0]["dataset_index"] == 4


async def test_get_samples_by_env_is_an_inclusive_range_across_miners(store) -> None:
    dao = SampleResultsDAO()
    env = unique("env")
    a, b = unique(), unique()
    t0 = now_ms() - 100_000
    for i, hk in enumerate([a, b, a, b]):
        await dao.save_sample(**sample_args(miner_hotkey=hk, env=env, timestamp=t0 + 10 * i, dataset_index=i))
    await dao.save_sample(**sample_args(miner_hotkey=a, env="other", timestamp=t0 + 10))
    rows = await dao.get_samples_by_env(env, t0 + 10, t0 + 30)
    assert [(r["miner_hotkey"], r["dataset_index"]) for r in rows] == [(b, 1), (a, 2), (b, 3)]
    assert rows[0]["conversation"] == sample_args()["conversation"]
    limited = await dao.get_samples_by_env(env, t0, t0 + 30, limit=2, include_conversation=False)
    assert [r["dataset_index"] for r in limited] == [0, 1]
    assert all(r["conversation"] is None for r in limited)


async def test_get_samples_by_task_ids_reads_only_those_tasks(store) -> None:
    dao = SampleResultsDAO()
    hk = unique()
    t0 = now_ms() - 100_000
    for i, (env, task) in enumerate([("SAT", "t1"), ("ABD", "t2"), ("SAT", "t3"), ("DED", "t1")]):
        await dao.save_sample(**sample_args(miner_hotkey=hk, env=env, task_id=task, timestamp=t0 + i, dataset_index=i))
    rows = await dao.get_samples_by_task_ids(hk, "v1.0.0", ["t1", "t2", "t1", "nope"])
    assert [(r["env"], r["task_id"]) for r in rows] == [("ABD", "t2"), ("DED", "t1"), ("SAT", "t1")]
    assert rows[0]["conversation"] == sample_args()["conversation"]
    bare = await dao.get_samples_by_task_ids(hk, "v1.0.0", ["t3"], include_conversation=False)
    assert [r["dataset_index"] for r in bare] == [2] and bare[0]["conversation"] is None
    assert await dao.get_samples_by_task_ids(hk, "v1.0.0", []) == []
    pending = dao.get_samples_by_task_ids(hk, "v1.0.0", "t1")
    with pytest.raises(TypeError):
        await pending
    with pytest.raises(affine_db.InvalidInput) as info:
        await dao.get_samples_by_task_ids(hk, "v1.0.0", [f"t{i}" for i in range(1001)])
    assert info.value.field == "task_ids"


async def test_delete_samples_before_spans_every_env_and_counts(store) -> None:
    dao = SampleResultsDAO()
    hk = unique()
    t0 = now_ms() - 100 * DAY_MS
    for i, env in enumerate(["SAT", "ABD", "DED", "SAT"]):
        await dao.save_sample(**sample_args(miner_hotkey=hk, env=env, timestamp=t0 + i * DAY_MS, dataset_index=i))
    assert await dao.delete_samples_before(hk, "v1.0.0", t0 + 3 * DAY_MS) == 3
    left = await dao.get_samples_by_miner(hk, "v1.0.0")
    assert [r["dataset_index"] for r in left] == [3]
    assert await dao.delete_samples_before(hk, "v1.0.0", t0) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"miner_hotkey": "has#hash"},
        {"env": "L3#x"},
        {"model_revision": ""},
        {"score": float("nan")},
        {"score": float("inf")},
        {"conversation": {"x": float("nan")}},
        {"conversation": {"x": {1, 2}}},
        {"conversation": {1: "non-string key"}},
    ],
)
async def test_bad_input_raises_invalid_input_and_writes_nothing(store, bad) -> None:
    dao = SampleResultsDAO()
    hk = unique()
    args = sample_args(miner_hotkey=hk)
    args.update(bad)
    with pytest.raises(affine_db.InvalidInput) as info:
        await dao.save_sample(**args)
    assert isinstance(info.value, ValueError) and isinstance(info.value, affine_db.Error)
    assert info.value.kind == "invalid_input"
    if "miner_hotkey" not in bad and "model_revision" not in bad:
        assert await dao.get_samples_by_miner(hk, "v1.0.0") == []


async def test_an_item_over_400_kb_raises_too_large_and_writes_nothing(store) -> None:
    dao = SampleResultsDAO()
    hk = unique()
    noise = os.urandom(450_000).hex()  # incompressible
    with pytest.raises(affine_db.TooLarge) as info:
        await dao.save_sample(**sample_args(miner_hotkey=hk, conversation={"blob": noise}))
    assert info.value.size is not None and info.value.size > info.value.limit
    assert await dao.get_samples_by_miner(hk, "v1.0.0") == []


async def test_iter_samples_yield_the_lists_page_by_page(store) -> None:
    """``iter_samples_by_*`` yield exactly what the lists return, over more
    than one page of the stream (500), and read nothing until iterated."""
    import asyncio

    dao = SampleResultsDAO()
    hk = unique()
    t0 = now_ms() - 100_000
    saves = [
        dao.save_sample(
            **sample_args(miner_hotkey=hk, env=["SAT", "ABD"][i % 2], timestamp=t0 + i, dataset_index=i)
        )
        for i in range(520)
    ]
    for start in range(0, len(saves), 50):
        await asyncio.gather(*saves[start : start + 50])
    for kwargs in [{}, {"reverse": False}, {"env": "ABD"}, {"limit": 501, "include_conversation": False}]:
        listed = await dao.get_samples_by_miner(hk, "v1.0.0", **kwargs)
        streamed = [row async for row in dao.iter_samples_by_miner(hk, "v1.0.0", **kwargs)]
        assert len(streamed) == len(listed) and streamed == listed, kwargs
    listed = await dao.get_samples_by_env("SAT", t0, t0 + 1_000, include_conversation=False)
    rows = dao.iter_samples_by_env("SAT", t0, t0 + 1_000, include_conversation=False)
    assert [row async for row in rows] == listed
    assert len(listed) == 260
    never_iterated = dao.iter_samples_by_env("S#T", 0, 1)
    del never_iterated
    with pytest.raises(affine_db.InvalidInput):
        async for _ in dao.iter_samples_by_env("S#T", 0, 1):
            pass
