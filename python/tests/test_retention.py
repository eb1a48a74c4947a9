"""DataRetentionDAO on both backends."""

from __future__ import annotations

import time

import affine_db
from affine_db.dao import DataRetentionDAO, SampleResultsDAO

from helpers import now_ms, sample_args, unique

DAY_MS = 86_400_000


async def test_policies_protection_and_lists(store) -> None:
    dao = DataRetentionDAO()
    hk = unique()
    assert await dao.get_policy(hk) is None
    assert await dao.is_protected(hk) is False
    policy = await dao.set_policy(hk, False, retention_days=30)
    assert policy == {"miner_hotkey": hk, "is_protected": False, "protection_reason": None,
                      "retention_days": 30, "last_cleanup_at": None, "protected_since": None}
    before = int(time.time())
    protected = await dao.set_protected(hk, "Historical rank #1")
    assert protected["is_protected"] is True and protected["protection_reason"] == "Historical rank #1"
    assert protected["retention_days"] == 30 and before <= protected["protected_since"] <= int(time.time())
    assert await dao.is_protected(hk) is True
    dated = await dao.set_protected(hk, "rank #2", protected_since=1_600_000_000)
    assert dated["protected_since"] == 1_600_000_000
    other = unique()
    await dao.set_protected(other, "top-3")
    assert await dao.get_protected_miners() == sorted([hk, other])
    unprotected = await dao.set_unprotected(hk)
    assert unprotected["is_protected"] is False and unprotected["protected_since"] is None
    assert unprotected["retention_days"] == 30
    assert await dao.get_protected_miners() == [other]
    assert [p["miner_hotkey"] for p in await dao.get_all_policies()] == sorted([hk, other])
    assert await dao.get_policy(hk) == unprotected


async def test_update_cleanup_timestamp_creates_a_default_policy(store) -> None:
    dao = DataRetentionDAO()
    hk = unique()
    before = int(time.time())
    assert await dao.update_cleanup_timestamp(hk) is True
    policy = await dao.get_policy(hk)
    assert policy["retention_days"] == 90 and policy["is_protected"] is False
    assert before <= policy["last_cleanup_at"] <= int(time.time())


async def test_cleanup_spares_protected_miners(store) -> None:
    dao, samples = DataRetentionDAO(), SampleResultsDAO()
    keep, drop = unique(), unique()
    old = now_ms() - 100 * DAY_MS
    for hk in (keep, drop):
        await samples.save_sample(**sample_args(miner_hotkey=hk, timestamp=old))
        await samples.save_sample(**sample_args(miner_hotkey=hk))
    await dao.set_protected(keep, "top-3")
    dry = await dao.cleanup(dry_run=True)
    assert dry["dry_run"] is True and dry["deleted"] == 1
    assert len(await samples.get_samples_by_miner(drop, "v1.0.0")) == 2
    report = await dao.cleanup()
    assert report["deleted"] == 1
    entries = {e["miner_hotkey"]: e for e in report["entries"]}
    assert entries[keep]["protected"] is True and entries[drop]["deleted"] == 1
    assert len(await samples.get_samples_by_miner(keep, "v1.0.0")) == 2
    assert len(await samples.get_samples_by_miner(drop, "v1.0.0")) == 1
    assert (await dao.get_policy(drop))["last_cleanup_at"] is not None
    assert isinstance(affine_db.Error("x"), Exception)
