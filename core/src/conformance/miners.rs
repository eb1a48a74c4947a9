//! `miner_metadata`: saves that keep state, statistics, pausing, listing.

use super::basics::{assert_store_empty, at_s, miner};
use super::Harness;
use crate::clock::Clock;
use crate::error::Error;
use crate::register;
use crate::tables::miners::{ChutesStatus, MinerInfo};

/// A first save stores the metadata with zeroed statistics, not paused,
/// `updated_at` and (by default) `chutes_last_checked` = now.
pub async fn save_metadata_creates_a_fresh_record(h: Harness) {
    assert_eq!(h.store.miners.get_metadata("hk").await.unwrap(), None);
    let m = h
        .store
        .miners
        .save_metadata(miner("hk", "h1"))
        .await
        .unwrap();
    let now = h.clock.now_s();
    assert_eq!(m.miner_hotkey, "hk");
    assert_eq!(
        (m.uid, m.model_hash.as_str(), m.model_name.as_str()),
        (5, "h1", "org/model")
    );
    assert_eq!(m.chutes_slug.as_deref(), Some("slug"));
    assert_eq!(m.chutes_status, ChutesStatus::Hot);
    assert_eq!((m.chutes_last_checked, m.updated_at), (now, now));
    assert_eq!(
        (m.first_commit_block, m.last_commit_block),
        (Some(100), Some(200))
    );
    assert_eq!(
        (
            m.total_samples,
            m.success_count,
            m.error_count,
            m.consecutive_errors
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(m.last_sample_time, None);
    assert!(!m.is_paused);
    assert_eq!((m.pause_reason.as_deref(), m.pause_until), (None, None));
    assert_eq!(h.store.miners.get_metadata("hk").await.unwrap(), Some(m));
    let given = MinerInfo {
        chutes_last_checked: Some(12345),
        chutes_slug: None,
        chutes_status: ChutesStatus::Unknown,
        first_commit_block: None,
        last_commit_block: None,
        ..miner("hk2", "h")
    };
    let m2 = h.store.miners.save_metadata(given).await.unwrap();
    assert_eq!(m2.chutes_last_checked, 12345);
    assert_eq!(
        (m2.chutes_slug, m2.first_commit_block, m2.last_commit_block),
        (None, None, None)
    );
    assert_eq!(
        h.store
            .miners
            .get_metadata("hk2")
            .await
            .unwrap()
            .unwrap()
            .chutes_status,
        ChutesStatus::Unknown
    );
    // Without a first commit block, the last one is the first (as the original).
    let m3 = h
        .store
        .miners
        .save_metadata(MinerInfo {
            first_commit_block: None,
            last_commit_block: Some(300),
            ..miner("hk3", "h")
        })
        .await
        .unwrap();
    assert_eq!(
        (m3.first_commit_block, m3.last_commit_block),
        (Some(300), Some(300))
    );
}
register!(save_metadata_creates_a_fresh_record);

/// Saving again replaces the metadata but keeps statistics, pause state and
/// the earliest `first_commit_block` ever given.
pub async fn save_metadata_keeps_statistics_pause_and_first_commit(h: Harness) {
    h.store
        .miners
        .save_metadata(miner("hk", "h1"))
        .await
        .unwrap();
    h.store
        .miners
        .update_statistics("hk", true, true)
        .await
        .unwrap();
    h.store
        .miners
        .update_statistics("hk", false, true)
        .await
        .unwrap();
    let paused = h
        .store
        .miners
        .pause_miner("hk", "too many errors", Some(600))
        .await
        .unwrap();
    at_s(&h, 30);
    let info = MinerInfo {
        current_revision: "rev2".into(),
        model_hash: "h2".into(),
        first_commit_block: Some(150),
        last_commit_block: Some(300),
        ..miner("hk", "h2")
    };
    let m = h.store.miners.save_metadata(info).await.unwrap();
    assert_eq!(
        (m.current_revision.as_str(), m.model_hash.as_str()),
        ("rev2", "h2")
    );
    assert_eq!(m.last_commit_block, Some(300));
    assert_eq!(m.first_commit_block, Some(100), "earliest kept");
    assert_eq!(m.updated_at, h.clock.now_s());
    assert_eq!(
        (
            m.total_samples,
            m.success_count,
            m.error_count,
            m.consecutive_errors
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(m.last_sample_time, paused.last_sample_time);
    assert!(m.is_paused);
    assert_eq!(m.pause_reason.as_deref(), Some("too many errors"));
    assert_eq!(m.pause_until, paused.pause_until);
    assert_eq!(h.store.miners.get_metadata("hk").await.unwrap(), Some(m));
    let m = h
        .store
        .miners
        .save_metadata(MinerInfo {
            first_commit_block: None,
            ..miner("hk", "h2")
        })
        .await
        .unwrap();
    assert_eq!(m.first_commit_block, Some(100), "None keeps the stored one");
    let m = h
        .store
        .miners
        .save_metadata(MinerInfo {
            first_commit_block: Some(50),
            ..miner("hk", "h2")
        })
        .await
        .unwrap();
    assert_eq!(m.first_commit_block, Some(50), "an earlier block wins");
}
register!(save_metadata_keeps_statistics_pause_and_first_commit);

/// `update_statistics` with `increment_samples = false` counts the outcome
/// (success/error counts, consecutive errors, last sample time) but not
/// `total_samples`.
pub async fn update_statistics_without_counting_the_sample(h: Harness) {
    h.store
        .miners
        .save_metadata(miner("hk", "h"))
        .await
        .unwrap();
    h.store
        .miners
        .update_statistics("hk", false, true)
        .await
        .unwrap();
    at_s(&h, 5);
    let m = h
        .store
        .miners
        .update_statistics("hk", false, false)
        .await
        .unwrap();
    assert_eq!(
        (
            m.total_samples,
            m.success_count,
            m.error_count,
            m.consecutive_errors
        ),
        (1, 0, 2, 2)
    );
    assert_eq!(m.last_sample_time, Some(h.clock.now_s()));
    let m = h
        .store
        .miners
        .update_statistics("hk", true, false)
        .await
        .unwrap();
    assert_eq!(
        (
            m.total_samples,
            m.success_count,
            m.error_count,
            m.consecutive_errors
        ),
        (1, 1, 2, 0)
    );
    assert_eq!(h.store.miners.get_metadata("hk").await.unwrap(), Some(m));
}
register!(update_statistics_without_counting_the_sample);

/// `update_statistics` counts samples; success resets `consecutive_errors`,
/// failure increments it; `last_sample_time` = now; unknown miner → `NotFound`.
pub async fn update_statistics_counts_and_resets(h: Harness) {
    h.store
        .miners
        .save_metadata(miner("hk", "h"))
        .await
        .unwrap();
    for _ in 0..3 {
        h.store
            .miners
            .update_statistics("hk", false, true)
            .await
            .unwrap();
    }
    at_s(&h, 40);
    let m = h
        .store
        .miners
        .update_statistics("hk", false, true)
        .await
        .unwrap();
    assert_eq!(
        (
            m.total_samples,
            m.success_count,
            m.error_count,
            m.consecutive_errors
        ),
        (4, 0, 4, 4)
    );
    assert_eq!(m.last_sample_time, Some(h.clock.now_s()));
    at_s(&h, 41);
    let m = h
        .store
        .miners
        .update_statistics("hk", true, true)
        .await
        .unwrap();
    assert_eq!(
        (
            m.total_samples,
            m.success_count,
            m.error_count,
            m.consecutive_errors
        ),
        (5, 1, 4, 0)
    );
    assert_eq!(m.last_sample_time, Some(h.clock.now_s()));
    let m = h
        .store
        .miners
        .update_statistics("hk", false, true)
        .await
        .unwrap();
    assert_eq!(m.consecutive_errors, 1);
    assert_eq!(h.store.miners.get_metadata("hk").await.unwrap(), Some(m));
    let err = h
        .store
        .miners
        .update_statistics("ghost", true, true)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(h.store.miners.get_metadata("ghost").await.unwrap(), None);
}
register!(update_statistics_counts_and_resets);

/// `pause_miner` with a duration sets `pause_until` = now + duration;
/// `unpause_miner` clears reason and until.
pub async fn pause_with_duration_and_unpause(h: Harness) {
    h.store
        .miners
        .save_metadata(miner("hk", "h"))
        .await
        .unwrap();
    let m = h
        .store
        .miners
        .pause_miner("hk", "slow", Some(3600))
        .await
        .unwrap();
    assert!(m.is_paused);
    assert_eq!(m.pause_reason.as_deref(), Some("slow"));
    assert_eq!(m.pause_until, Some(h.clock.now_s() + 3600));
    assert_eq!(
        h.store.miners.get_metadata("hk").await.unwrap(),
        Some(m.clone())
    );
    let u = h.store.miners.unpause_miner("hk").await.unwrap();
    assert!(!u.is_paused);
    assert_eq!((u.pause_reason, u.pause_until), (None, None));
    assert_eq!(u.model_hash, m.model_hash);
    assert!(
        !h.store
            .miners
            .get_metadata("hk")
            .await
            .unwrap()
            .unwrap()
            .is_paused
    );
}
register!(pause_with_duration_and_unpause);

/// Without a duration the pause has no end: it never expires on its own.
pub async fn pause_without_duration_never_expires(h: Harness) {
    h.store
        .miners
        .save_metadata(miner("hk", "h"))
        .await
        .unwrap();
    let m = h
        .store
        .miners
        .pause_miner("hk", "manual", None)
        .await
        .unwrap();
    assert!(m.is_paused);
    assert_eq!(m.pause_until, None);
    at_s(&h, 10 * 365 * 86_400);
    assert!(!h.store.miners.check_pause_expired("hk").await.unwrap());
    assert!(
        h.store
            .miners
            .get_metadata("hk")
            .await
            .unwrap()
            .unwrap()
            .is_paused
    );
}
register!(pause_without_duration_never_expires);

/// `check_pause_expired` unpauses exactly when `pause_until` == now (not a
/// second earlier), says so once, and is false for unpaused or unknown miners.
pub async fn check_pause_expired_at_the_boundary(h: Harness) {
    h.store
        .miners
        .save_metadata(miner("hk", "h"))
        .await
        .unwrap();
    assert!(!h.store.miners.check_pause_expired("hk").await.unwrap());
    let m = h
        .store
        .miners
        .pause_miner("hk", "cool down", Some(100))
        .await
        .unwrap();
    let until = m.pause_until.unwrap();
    h.clock.set_ms(until * 1000 - 1);
    assert!(!h.store.miners.check_pause_expired("hk").await.unwrap());
    assert!(
        h.store
            .miners
            .get_metadata("hk")
            .await
            .unwrap()
            .unwrap()
            .is_paused
    );
    h.clock.set_ms(until * 1000);
    assert!(h.store.miners.check_pause_expired("hk").await.unwrap());
    let m = h.store.miners.get_metadata("hk").await.unwrap().unwrap();
    assert!(!m.is_paused);
    assert_eq!((m.pause_reason, m.pause_until), (None, None));
    assert!(!h.store.miners.check_pause_expired("hk").await.unwrap());
    let unknown = h.store.miners.check_pause_expired("ghost").await;
    assert!(
        matches!(unknown, Ok(false) | Err(Error::NotFound(_))),
        "{unknown:?}"
    );
}
register!(check_pause_expired_at_the_boundary);

/// `get_all_miners` lists every miner by hotkey.
pub async fn get_all_miners_by_hotkey(h: Harness) {
    assert!(h.store.miners.get_all_miners().await.unwrap().is_empty());
    for hk in ["m3", "m1", "M2", "m10"] {
        h.store.miners.save_metadata(miner(hk, "h")).await.unwrap();
    }
    h.store
        .miners
        .save_metadata(miner("m1", "h9"))
        .await
        .unwrap();
    let all = h.store.miners.get_all_miners().await.unwrap();
    let keys: Vec<&str> = all.iter().map(|m| m.miner_hotkey.as_str()).collect();
    assert_eq!(keys, ["M2", "m1", "m10", "m3"]);
    assert_eq!(all[1].model_hash, "h9");
}
register!(get_all_miners_by_hotkey);

/// Metadata with a bad hotkey is an input error and nothing is written.
pub async fn miner_bad_hotkey_rejected(h: Harness) {
    for bad in ["", "a#b", "\u{1b}[0m"] {
        let err = h
            .store
            .miners
            .save_metadata(miner(bad, "h"))
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "{bad:?}: {err:?}"
        );
    }
    assert_store_empty(&h).await;
}
register!(miner_bad_hotkey_rejected);
