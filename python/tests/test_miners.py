"""MinerMetadataDAO on both backends."""

from __future__ import annotations

import asyncio
import time

import pytest

import affine_db
from affine_db.dao import MinerMetadataDAO

from helpers import unique


async def test_save_metadata_defaults_and_merge(store) -> None:
    dao = MinerMetadataDAO()
    hk = unique()
    saved = await dao.save_metadata(hk, 42, "v1", "abc123", "org/model", first_commit_block=500)
    assert saved["chutes_status"] == "unknown" and saved["chutes_slug"] is None
    assert (saved["total_samples"], saved["success_count"], saved["error_count"], saved["consecutive_errors"]) == (0, 0, 0, 0)
    assert saved["is_paused"] is False and saved["pause_until"] is None
    assert await dao.get_metadata(hk) == saved
    await dao.update_statistics(hk, True)
    again = await dao.save_metadata(hk, 43, "v2", "def456", "org/model", chutes_slug="slug", chutes_status="hot",
                                    last_commit_block=900, first_commit_block=700)
    assert (again["uid"], again["current_revision"], again["model_hash"], again["chutes_status"]) == (43, "v2", "def456", "hot")
    assert again["first_commit_block"] == 500 and again["last_commit_block"] == 900
    assert again["total_samples"] == 1 and again["success_count"] == 1
    assert await dao.get_metadata(unique()) is None
    with pytest.raises(affine_db.InvalidInput):
        await dao.save_metadata(hk, 1, "v", "h", "m", chutes_status="lukewarm")


async def test_update_statistics_counts_without_losing_updates(store) -> None:
    dao = MinerMetadataDAO()
    hk = unique()
    await dao.save_metadata(hk, 1, "v1", "h", "m")
    assert await dao.update_statistics(hk, False) is True
    assert await dao.update_statistics(hk, False, increment_samples=False) is True
    meta = await dao.get_metadata(hk)
    assert (meta["total_samples"], meta["error_count"], meta["consecutive_errors"]) == (1, 2, 2)
    assert meta["last_sample_time"] is not None
    results = await asyncio.gather(*[dao.update_statistics(hk, True) for _ in range(10)])
    assert results == [True] * 10
    meta = await dao.get_metadata(hk)
    assert (meta["total_samples"], meta["success_count"], meta["consecutive_errors"]) == (11, 10, 0)
    assert await dao.update_statistics(unique(), True) is False


async def test_pause_unpause_and_expiry(store) -> None:
    dao = MinerMetadataDAO()
    hk = unique()
    await dao.save_metadata(hk, 1, "v1", "h", "m")
    assert await dao.pause_miner(hk, "too many errors") is True
    meta = await dao.get_metadata(hk)
    assert meta["is_paused"] is True and meta["pause_reason"] == "too many errors" and meta["pause_until"] is None
    assert await dao.check_pause_expired(hk) is False
    assert await dao.unpause_miner(hk) is True
    meta = await dao.get_metadata(hk)
    assert meta["is_paused"] is False and meta["pause_reason"] is None
    now = int(time.time())
    assert await dao.pause_miner(hk, "cool down", duration_seconds=3600) is True
    assert now + 3600 <= (await dao.get_metadata(hk))["pause_until"] <= int(time.time()) + 3600
    assert await dao.check_pause_expired(hk) is False
    assert await dao.pause_miner(hk, "blink", duration_seconds=0) is True
    assert await dao.check_pause_expired(hk) is True
    assert (await dao.get_metadata(hk))["is_paused"] is False
    ghost = unique()
    assert await dao.pause_miner(ghost, "x") is False
    assert await dao.unpause_miner(ghost) is False
    assert await dao.check_pause_expired(ghost) is False


async def test_get_all_miners_by_hotkey(store) -> None:
    dao = MinerMetadataDAO()
    for hk in ["m-c", "m-a", "m-b"]:
        await dao.save_metadata(hk, 1, "v1", "h", "m")
    assert [m["miner_hotkey"] for m in await dao.get_all_miners()] == ["m-a", "m-b", "m-c"]
