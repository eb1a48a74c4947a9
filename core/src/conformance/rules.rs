//! The cross-table rules of `crate::rules`: retention cleanup, historical
//! top-3 protection, and the validated task claim.

use super::basics::{assert_store_empty, at_s, miner, sample, sample_with_id, score, task};
use super::Harness;
use crate::clock::Clock;
use crate::error::Error;
use crate::register;
use crate::rules::{claim_task, cleanup, retention_cutoff_ms, save_block_scores, CleanupReport};
use crate::tables::retention::DEFAULT_RETENTION_DAYS;
use crate::tables::samples::{Conversation, MinerSamplesQuery};
use crate::tables::tasks::{Claim, TaskStatus};

const NOW_DAYS: i64 = 400;

async fn count(h: &Harness, hotkey: &str, revision: &str) -> usize {
    h.store
        .samples
        .get_samples_by_miner(
            hotkey,
            revision,
            &MinerSamplesQuery {
                conversation: Conversation::Skip,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .len()
}

async fn timestamps(h: &Harness, hotkey: &str, revision: &str) -> Vec<i64> {
    h.store
        .samples
        .get_samples_by_miner(
            hotkey,
            revision,
            &MinerSamplesQuery {
                conversation: Conversation::Skip,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .iter()
        .map(|s| s.timestamp)
        .collect()
}

/// Fixture at `T0 + 400 days`: "hk" (10-day policy, two revisions),
/// "prot" (protected, ancient samples), "nopol" (no policy: 90 days).
/// Returns the two cut-offs (10 and 90 days).
async fn cleanup_fixture(h: &Harness) -> (i64, i64) {
    h.store
        .retention
        .set_policy("hk", false, None, 10)
        .await
        .unwrap();
    h.store
        .retention
        .set_protected("prot", "top", None)
        .await
        .unwrap();
    at_s(h, NOW_DAYS * 86_400);
    let now = h.clock.now_ms();
    let c10 = retention_cutoff_ms(now, 10);
    let c90 = retention_cutoff_ms(now, DEFAULT_RETENTION_DAYS);
    let batch = vec![
        sample("hk", "r1", "sat", 1),
        sample("hk", "r1", "abd", c10 - 1),
        sample("hk", "r1", "sat", c10),
        sample("hk", "r1", "zzz", c10 + 1),
        sample("hk", "r2", "sat", c10 - 5000),
        sample("hk", "r2", "sat", now),
        sample("prot", "r1", "sat", 1),
        sample("prot", "r1", "sat", c90 - 1),
        sample("nopol", "r1", "sat", c90 - 1),
        sample("nopol", "r1", "abd", c90),
        sample("nopol", "r1", "sat", c10 - 1),
    ];
    h.store.samples.save_samples(batch).await.unwrap();
    (c10, c90)
}

fn entry(report: &CleanupReport, hotkey: &str, revision: &str) -> (bool, i64, usize) {
    let e = report
        .entries
        .iter()
        .find(|e| e.miner_hotkey == hotkey && e.model_revision == revision)
        .unwrap_or_else(|| panic!("no entry for {hotkey}/{revision}: {report:?}"));
    (e.protected, e.retention_days, e.deleted)
}

/// Cleanup deletes exactly the samples older than each unprotected miner's
/// retention (a sample at exactly the cut-off is kept), uses 90 days without
/// a policy, and never deletes a protected miner's sample.
pub async fn cleanup_deletes_exactly_the_expired_samples(h: Harness) {
    let (c10, c90) = cleanup_fixture(&h).await;
    let report = cleanup(&h.store, false).await.unwrap();
    assert!(!report.dry_run);
    assert_eq!(report.deleted, 4);
    assert_eq!(report.entries.len(), 4);
    assert_eq!(entry(&report, "hk", "r1"), (false, 10, 2));
    assert_eq!(entry(&report, "hk", "r2"), (false, 10, 1));
    assert_eq!(
        entry(&report, "prot", "r1"),
        (true, DEFAULT_RETENTION_DAYS, 0)
    );
    assert_eq!(
        entry(&report, "nopol", "r1"),
        (false, DEFAULT_RETENTION_DAYS, 1)
    );
    assert_eq!(timestamps(&h, "hk", "r1").await, [c10, c10 + 1]);
    assert_eq!(timestamps(&h, "hk", "r2").await, [h.clock.now_ms()]);
    assert_eq!(timestamps(&h, "prot", "r1").await, [1, c90 - 1]);
    assert_eq!(timestamps(&h, "nopol", "r1").await, [c90, c10 - 1]);
    let again = cleanup(&h.store, false).await.unwrap();
    assert_eq!(again.deleted, 0);
}
register!(cleanup_deletes_exactly_the_expired_samples);

/// A dry run reports what would go and deletes nothing, records nothing.
pub async fn cleanup_dry_run_deletes_nothing(h: Harness) {
    cleanup_fixture(&h).await;
    let report = cleanup(&h.store, true).await.unwrap();
    assert!(report.dry_run);
    assert_eq!(report.deleted, 4);
    assert_eq!(entry(&report, "hk", "r1").2, 2);
    assert_eq!(count(&h, "hk", "r1").await, 4);
    assert_eq!(count(&h, "hk", "r2").await, 2);
    assert_eq!(count(&h, "nopol", "r1").await, 3);
    assert_eq!(h.store.retention.get_policy("nopol").await.unwrap(), None);
    let hk = h.store.retention.get_policy("hk").await.unwrap().unwrap();
    assert_eq!(hk.last_cleanup_at, None);
}
register!(cleanup_dry_run_deletes_nothing);

/// Cleanup records `last_cleanup_at` = now for every unprotected miner it
/// cleaned (creating a default policy for one without).
pub async fn cleanup_records_last_cleanup_at(h: Harness) {
    cleanup_fixture(&h).await;
    cleanup(&h.store, false).await.unwrap();
    let now = h.clock.now_s();
    let hk = h.store.retention.get_policy("hk").await.unwrap().unwrap();
    assert_eq!(hk.last_cleanup_at, Some(now));
    assert_eq!(hk.retention_days, 10);
    let nopol = h
        .store
        .retention
        .get_policy("nopol")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(nopol.last_cleanup_at, Some(now));
    assert!(!nopol.is_protected);
    assert_eq!(nopol.retention_days, DEFAULT_RETENTION_DAYS);
    let prot = h.store.retention.get_policy("prot").await.unwrap().unwrap();
    assert!(prot.is_protected);
}
register!(cleanup_records_last_cleanup_at);

/// A miner protected after its samples aged keeps them all; unprotecting
/// it lets the next cleanup delete the old ones.
pub async fn protection_change_takes_effect_at_the_next_cleanup(h: Harness) {
    h.store
        .retention
        .set_policy("hk", false, None, 1)
        .await
        .unwrap();
    let batch: Vec<_> = (0..20)
        .map(|i| sample_with_id("hk", "r", "sat", i, &format!("s{i}")))
        .collect();
    h.store.samples.save_samples(batch).await.unwrap();
    at_s(&h, 3 * 86_400);
    h.store
        .samples
        .save_sample(sample("hk", "r", "sat", h.clock.now_ms()))
        .await
        .unwrap();
    h.store
        .retention
        .set_protected("hk", "top", None)
        .await
        .unwrap();
    assert_eq!(cleanup(&h.store, false).await.unwrap().deleted, 0);
    assert_eq!(count(&h, "hk", "r").await, 21);
    h.store.retention.set_unprotected("hk").await.unwrap();
    assert_eq!(cleanup(&h.store, false).await.unwrap().deleted, 20);
    assert_eq!(count(&h, "hk", "r").await, 1);
}
register!(protection_change_takes_effect_at_the_next_cleanup);

/// `save_block_scores` writes the snapshot and protects the three highest
/// `overall_score` miners, ties broken by hotkey; the others stay
/// unprotected; protection survives later blocks.
pub async fn top_three_of_a_block_become_protected(h: Harness) {
    h.store
        .retention
        .set_policy("bob", false, None, 14)
        .await
        .unwrap();
    let rows = vec![
        score(10, "eve", 0.1),
        score(10, "dan", 0.5),
        score(10, "cat", 0.5),
        score(10, "amy", 0.9),
        score(10, "bob", 0.5),
    ];
    let top = save_block_scores(&h.store, 10, rows).await.unwrap();
    assert_eq!(top, ["amy", "bob", "cat"]);
    assert_eq!(
        h.store.scores.get_scores_at_block(10).await.unwrap().len(),
        5
    );
    for hk in ["amy", "bob", "cat"] {
        assert!(h.store.retention.is_protected(hk).await.unwrap(), "{hk}");
    }
    for hk in ["dan", "eve"] {
        assert!(!h.store.retention.is_protected(hk).await.unwrap(), "{hk}");
    }
    let bob = h.store.retention.get_policy("bob").await.unwrap().unwrap();
    assert_eq!(bob.retention_days, 14);
    assert_eq!(bob.protected_since, Some(h.clock.now_s()));
    at_s(&h, 3600);
    let rows = vec![
        score(11, "amy", 0.0),
        score(11, "dan", 0.7),
        score(11, "eve", 0.8),
        score(11, "fox", 0.6),
    ];
    let top = save_block_scores(&h.store, 11, rows).await.unwrap();
    assert_eq!(top, ["eve", "dan", "fox"]);
    let protected: Vec<String> = h
        .store
        .retention
        .get_protected_miners()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.miner_hotkey)
        .collect();
    assert_eq!(protected, ["amy", "bob", "cat", "dan", "eve", "fox"]);
    let amy = h.store.retention.get_policy("amy").await.unwrap().unwrap();
    assert_eq!(
        amy.protected_since,
        Some(super::T0_MS / 1000),
        "kept while protected"
    );
    let small = save_block_scores(&h.store, 12, vec![score(12, "gus", 0.3)])
        .await
        .unwrap();
    assert_eq!(small, ["gus"]);
}
register!(top_three_of_a_block_become_protected);

/// An invalid block (duplicate hotkeys, foreign rows, NaN) writes neither
/// scores nor protections.
pub async fn top_three_with_invalid_rows_writes_nothing(h: Harness) {
    let bad = [
        vec![score(5, "a", 0.9), score(5, "a", 0.8)],
        vec![score(5, "a", 0.9), score(6, "b", 0.8)],
        vec![score(5, "a", f64::NAN)],
    ];
    for rows in bad {
        let err = save_block_scores(&h.store, 5, rows).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    }
    assert_store_empty(&h).await;
}
register!(top_three_with_invalid_rows_writes_nothing);

/// The validated claim starts a task whose hash matches the miner's
/// current `model_hash`, removes a stale one, and claims as is when the
/// miner has no metadata.
pub async fn validated_claim_checks_the_current_model(h: Harness) {
    h.store
        .miners
        .save_metadata(miner("hk", "h1"))
        .await
        .unwrap();
    let good = h
        .store
        .tasks
        .create_task(task("hk", "rev", "h1", 0))
        .await
        .unwrap();
    let stale = h
        .store
        .tasks
        .create_task(task("hk", "rev", "h0", 0))
        .await
        .unwrap();
    let unknown = h
        .store
        .tasks
        .create_task(task("anon", "rev", "hx", 0))
        .await
        .unwrap();
    match claim_task(&h.store, "hk", "rev", &good.task_id)
        .await
        .unwrap()
    {
        Claim::Started(t) => assert_eq!(t.status, TaskStatus::Running),
        Claim::Stale => panic!("matching hash must start"),
    }
    assert_eq!(
        claim_task(&h.store, "hk", "rev", &stale.task_id)
            .await
            .unwrap(),
        Claim::Stale
    );
    assert_eq!(
        h.store
            .tasks
            .get_task("hk", "rev", &stale.task_id)
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        claim_task(&h.store, "anon", "rev", &unknown.task_id)
            .await
            .unwrap(),
        Claim::Started(_)
    ));
    let err = claim_task(&h.store, "hk", "rev", &good.task_id)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    // After the miner's model changes, its old tasks are stale.
    let old = h
        .store
        .tasks
        .create_task(task("hk", "rev", "h1", 0))
        .await
        .unwrap();
    h.store
        .miners
        .save_metadata(miner("hk", "h2"))
        .await
        .unwrap();
    assert_eq!(
        claim_task(&h.store, "hk", "rev", &old.task_id)
            .await
            .unwrap(),
        Claim::Stale
    );
}
register!(validated_claim_checks_the_current_model);
