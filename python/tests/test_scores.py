"""ScoresDAO on both backends."""

from __future__ import annotations

import time

import pytest

import affine_db
from affine_db.dao import DataRetentionDAO, ScoresDAO

from helpers import score_args, unique

DAY_S = 86_400


async def test_save_score_returns_the_row_and_floats_stay_floats(store) -> None:
    dao = ScoresDAO()
    before = int(time.time())
    row = await dao.save_score(**score_args(block_number=10, overall_score=1, average_score=1.0, scores_by_layer={"L1": 1}))
    assert row["overall_score"] == 1.0 and isinstance(row["overall_score"], float)
    assert isinstance(row["average_score"], float)
    assert row["scores_by_layer"] == {"L1": 1.0} and isinstance(row["scores_by_layer"]["L1"], float)
    assert before <= row["calculated_at"] <= int(time.time())
    stored = await dao.get_miner_score_at_block(10, "5miner")
    assert stored == row
    for key, value in score_args(block_number=10, overall_score=1, average_score=1.0, scores_by_layer={"L1": 1}).items():
        assert stored[key] == value, key
    assert isinstance(stored["overall_score"], float) and isinstance(stored["total_samples"], int)


async def test_get_scores_at_block_by_hotkey_with_limit(store) -> None:
    dao = ScoresDAO()
    for hk in ["c", "a", "b"]:
        await dao.save_score(**score_args(block_number=20, miner_hotkey=hk))
    await dao.save_score(**score_args(block_number=21, miner_hotkey="z"))
    assert [r["miner_hotkey"] for r in await dao.get_scores_at_block(20)] == ["a", "b", "c"]
    assert [r["miner_hotkey"] for r in await dao.get_scores_at_block(20, limit=2)] == ["a", "b"]
    assert await dao.get_scores_at_block(19) == []
    with pytest.raises(affine_db.InvalidInput):
        await dao.get_scores_at_block(-1)


async def test_get_latest_scores_shape(store) -> None:
    dao = ScoresDAO()
    assert await dao.get_latest_scores() == {"block_number": None, "calculated_at": None, "scores": []}
    await dao.save_score(**score_args(block_number=30, miner_hotkey="b"))
    await dao.save_score(**score_args(block_number=31, miner_hotkey="b"))
    await dao.save_score(**score_args(block_number=31, miner_hotkey="a"))
    latest = await dao.get_latest_scores()
    assert set(latest) == {"block_number", "calculated_at", "scores"}
    assert latest["block_number"] == 31
    assert [r["miner_hotkey"] for r in latest["scores"]] == ["a", "b"]
    assert latest["calculated_at"] == max(r["calculated_at"] for r in latest["scores"])
    assert all(set(r) >= {"overall_score", "scores_by_env", "block_number"} for r in latest["scores"])
    assert [r["miner_hotkey"] for r in (await dao.get_latest_scores(limit=1))["scores"]] == ["a"]


async def test_get_miner_score_at_block_and_history(store) -> None:
    dao = ScoresDAO()
    hk = unique()
    for block in [100, 101, 102, 103]:
        await dao.save_score(**score_args(block_number=block, miner_hotkey=hk, total_samples=block))
    await dao.save_score(**score_args(block_number=104, miner_hotkey="someone-else"))
    assert (await dao.get_miner_score_at_block(101, hk))["total_samples"] == 101
    assert await dao.get_miner_score_at_block(104, hk) is None
    history = await dao.get_miner_score_history(hk, num_blocks=3)
    assert [r["block_number"] for r in history] == [103, 102]
    assert [r["block_number"] for r in await dao.get_miner_score_history(hk)] == [103, 102, 101, 100]


async def test_save_block_scores_writes_the_block_and_protects_the_top_three(store) -> None:
    dao, retention = ScoresDAO(), DataRetentionDAO()
    rows = []
    for hk, overall in [("m1", 0.5), ("m2", 0.9), ("m3", 0.7), ("m4", 0.8)]:
        args = score_args(miner_hotkey=hk, overall_score=overall)
        del args["block_number"]
        rows.append(args)
    assert await dao.save_block_scores(40, rows) == ["m2", "m4", "m3"]
    assert [r["miner_hotkey"] for r in await dao.get_scores_at_block(40)] == ["m1", "m2", "m3", "m4"]
    assert await retention.get_protected_miners() == ["m2", "m3", "m4"]
    with pytest.raises(affine_db.InvalidInput):
        await dao.save_block_scores(41, [{"miner_hotkey": "x"}])
    assert await dao.get_scores_at_block(41) == []


@pytest.mark.parametrize(
    "bad",
    [
        {"overall_score": float("nan")},
        {"confidence_interval_upper": float("inf")},
        {"scores_by_env": {"e": float("nan")}},
        {"scores_by_layer": {"L": "high"}},
        {"miner_hotkey": "a#b"},
        {"block_number": -5},
    ],
)
async def test_bad_scores_raise_and_write_nothing(store, bad) -> None:
    dao = ScoresDAO()
    with pytest.raises(affine_db.InvalidInput):
        await dao.save_score(**score_args(**bad))
    assert await dao.get_latest_scores() == {"block_number": None, "calculated_at": None, "scores": []}
