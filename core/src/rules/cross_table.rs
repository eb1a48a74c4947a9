//! The rules of DESIGN §4 that span tables, written once against the traits:
//! retention cleanup, historical top-3 protection, and the task claim
//! validated against the miner's current model.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::store::Store;
use crate::tables::scores::{top_three, validate_snapshot, Score};
use crate::tables::tasks::Claim;
use crate::ttl::DAY_S;

/// What one cleanup did (or, dry, would do) to one miner and revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanupEntry {
    /// Miner hotkey.
    pub miner_hotkey: String,
    /// Model revision.
    pub model_revision: String,
    /// Whether the miner was protected (nothing deleted).
    pub protected: bool,
    /// Retention applied, in days.
    pub retention_days: i64,
    /// Samples deleted (or that would be).
    pub deleted: usize,
}

/// The outcome of [`cleanup`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CleanupReport {
    /// Whether nothing was deleted on purpose.
    pub dry_run: bool,
    /// One entry per miner and revision with samples.
    pub entries: Vec<CleanupEntry>,
    /// Samples deleted in all (or that would be).
    pub deleted: usize,
}

/// The cut-off in ms: samples with `timestamp < cutoff` are older than
/// `retention_days` at `now_ms`.
pub fn retention_cutoff_ms(now_ms: i64, retention_days: i64) -> i64 {
    now_ms.saturating_sub(retention_days.saturating_mul(DAY_S * 1000))
}

/// Retention cleanup: for every miner and revision with samples, unless the
/// miner is protected, deletes the samples older than its `retention_days`
/// (90 without a policy) and keeps everything newer; then records
/// `last_cleanup_at` for each unprotected miner cleaned. Protection is read
/// right before each miner's deletion. With `dry_run` nothing is changed.
pub async fn cleanup(store: &Store, dry_run: bool) -> Result<CleanupReport> {
    let mut report = CleanupReport {
        dry_run,
        ..Default::default()
    };
    let owners = store.samples.list_sample_owners().await?;
    let mut cleaned = Vec::new();
    for (miner_hotkey, model_revision) in owners {
        let policy = store.retention.get_policy(&miner_hotkey).await?;
        let protected = policy.as_ref().is_some_and(|p| p.is_protected);
        let retention_days = super::retention::retention_days(policy.as_ref());
        let mut deleted = 0;
        if !protected {
            let cutoff = retention_cutoff_ms(store.clock.now_ms(), retention_days);
            deleted = if dry_run {
                store
                    .samples
                    .count_samples_before(&miner_hotkey, &model_revision, cutoff)
                    .await?
            } else {
                store
                    .samples
                    .delete_samples_before(&miner_hotkey, &model_revision, cutoff)
                    .await?
            };
            if !cleaned.contains(&miner_hotkey) {
                cleaned.push(miner_hotkey.clone());
            }
        }
        report.deleted += deleted;
        report.entries.push(CleanupEntry {
            miner_hotkey,
            model_revision,
            protected,
            retention_days,
            deleted,
        });
    }
    if !dry_run {
        for hotkey in cleaned {
            store.retention.update_cleanup_timestamp(&hotkey).await?;
        }
    }
    Ok(report)
}

/// Writes a block's snapshot, then protects the block's three highest
/// `overall_score` miners (ties by hotkey) as historical top-3. Returns the
/// hotkeys protected, best first.
pub async fn save_block_scores(
    store: &Store,
    block_number: i64,
    scores: Vec<Score>,
) -> Result<Vec<String>> {
    validate_snapshot(block_number, &scores)?;
    let top: Vec<String> = top_three(&scores)
        .into_iter()
        .map(|s| s.miner_hotkey.clone())
        .collect();
    store.scores.save_snapshot(block_number, scores).await?;
    for (rank, hotkey) in top.iter().enumerate() {
        store
            .retention
            .set_protected(
                hotkey,
                &format!(
                    "historical top-3: rank {} at block {block_number}",
                    rank + 1
                ),
                None,
            )
            .await?;
    }
    Ok(top)
}

/// Claims a task after checking the miner's current model: when the
/// miner's metadata names another `model_hash`, the task is removed and
/// [`Claim::Stale`] returned; a miner without metadata is claimed as is.
pub async fn claim_task(
    store: &Store,
    miner_hotkey: &str,
    model_revision: &str,
    task_id: &str,
) -> Result<Claim> {
    match store.miners.get_metadata(miner_hotkey).await? {
        Some(meta) => {
            store
                .tasks
                .start_task_checked(miner_hotkey, model_revision, task_id, &meta.model_hash)
                .await
        }
        None => store
            .tasks
            .start_task(miner_hotkey, model_revision, task_id)
            .await
            .map(Claim::Started),
    }
}
