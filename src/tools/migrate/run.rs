//! [`migrate`]: the pipeline of the module docs.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

use futures::stream::{self, StreamExt};

use affine_db_core::dictionaries;
use affine_db_core::error::{Error, Result};
use affine_db_core::store::Store;

use super::select::select;
use super::shard::{fetch, prepare, Fetched, Prepared, Record};
use super::source::Source;
use super::write::Writer;
use super::{MigrateOptions, MigrationSummary, Progress, SkippedRecord, SkippedShard, MAX_LISTED};

/// Migrates the shards of `source` into `store` (see the module docs).
/// `progress` is called after every shard and every written batch.
pub async fn migrate(
    store: &Store,
    source: &Source,
    opts: &MigrateOptions,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<MigrationSummary> {
    let started = Instant::now();
    let selection = select(source, opts).await?;
    let mut summary = MigrationSummary {
        source: source.describe(),
        windows: selection.windows(),
        processed: 0,
        migrated: 0,
        skipped: BTreeMap::new(),
        skipped_records: Vec::new(),
        miners_created: 0,
        shards_selected: selection.shards.len() as u64,
        shards_read: 0,
        shards_skipped: selection.skipped,
        skipped_shards: selection.skipped_list,
        index_duplicates: selection.index_duplicates,
        stopped_at_max_results: false,
        elapsed_s: 0.0,
        rate_per_s: 0.0,
    };
    let skip_shard = |summary: &mut MigrationSummary, key: String, reason: &'static str| {
        *summary.shards_skipped.entry(reason).or_default() += 1;
        if summary.skipped_shards.len() < MAX_LISTED {
            summary.skipped_shards.push(SkippedShard { key, reason });
        }
    };

    let known_miners: HashSet<String> = store
        .miners
        .get_all_miners()
        .await?
        .into_iter()
        .map(|m| m.miner_hotkey)
        .collect();
    // Write with the dictionaries new samples use, as `save_samples` would.
    dictionaries::sync_if_due(&store.codec, store.admin.as_ref()).await;
    let codec = store.codec.clone();
    let mut writer = Writer::new(
        store.clone(),
        opts.retry,
        opts.batch_size,
        opts.in_flight,
        known_miners,
    );
    // The ids seen so far (duplicates in the source are skipped). A B-tree
    // grows by nodes: a hash set of a million ids holds about 36 MB and,
    // while it doubles, old and new tables at once (53 MB); this holds
    // about 23 MB and never both.
    let mut signatures: BTreeSet<u128> = BTreeSet::new();
    let mut prog = Progress {
        shards_total: selection.shards.len() as u64,
        ..Progress::default()
    };
    progress(&prog);

    let (retry, limit) = (opts.retry, opts.max_shard_bytes);
    let mut shards = stream::iter(selection.shards)
        .map(|(window, key)| async move {
            let fetched = fetch(source, &key, limit, &retry).await;
            (window, key, fetched)
        })
        .buffered(opts.concurrency)
        .map(|(window, key, fetched)| {
            let codec = Arc::clone(&codec);
            async move {
                let prepared = match fetched {
                    Fetched::Skipped(reason) => Prepared::Skipped(reason),
                    Fetched::Bytes(bytes) => {
                        tokio::task::spawn_blocking(move || prepare(&bytes, window, &codec))
                            .await
                            .unwrap_or(Prepared::Skipped("unreadable"))
                    }
                };
                (key, prepared)
            }
        })
        .buffered(opts.workers);

    let mut failure: Option<Error> = None;
    'shards: while let Some((key, prepared)) = shards.next().await {
        prog.shards_done += 1;
        let records = match prepared {
            Prepared::Skipped(reason) => {
                skip_shard(&mut summary, key, reason);
                progress(&prog);
                continue;
            }
            Prepared::Records(r) => r,
        };
        summary.shards_read += 1;
        for (i, record) in records.into_iter().enumerate() {
            if opts.max_results.is_some_and(|m| summary.processed >= m) {
                summary.stopped_at_max_results = true;
                break 'shards;
            }
            summary.processed += 1;
            let (reason, signature) = match record {
                Record::Ready {
                    id,
                    item,
                    miner,
                    time_s,
                } => {
                    if signatures.insert(id) {
                        if let Err(e) = writer.add(*item, miner, time_s) {
                            failure = Some(e);
                            break 'shards;
                        }
                        if writer.full() {
                            if let Err(e) = writer.submit().await {
                                failure = Some(e);
                                break 'shards;
                            }
                            prog.processed = summary.processed;
                            prog.migrated = writer.migrated;
                            progress(&prog);
                        }
                        continue;
                    }
                    let signature = item.get("signature").and_then(|a| match a {
                        affine_db_core::item::Attr::S(s) => Some(s.clone()),
                        _ => None,
                    });
                    (super::SkipReason::Duplicate, signature)
                }
                Record::Skipped { reason, signature } => (reason, signature),
            };
            *summary.skipped.entry(reason.as_str()).or_default() += 1;
            if summary.skipped_records.len() < MAX_LISTED {
                summary.skipped_records.push(SkippedRecord {
                    shard: key.clone(),
                    index: i,
                    signature,
                    reason: reason.as_str(),
                });
            }
        }
        prog.processed = summary.processed;
        progress(&prog);
    }
    // Stop fetching and preparing before the last writes.
    drop(shards);
    let finished = match failure {
        Some(e) => {
            // The first error is the run's; later ones are consequences.
            let _ = writer.drain().await;
            Err(e)
        }
        None => writer.finish().await,
    };
    summary.migrated = writer.migrated;
    summary.miners_created = writer.miners_created;
    prog.processed = summary.processed;
    prog.migrated = summary.migrated;
    progress(&prog);
    finished?;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    summary.rate_per_s = if summary.elapsed_s > 0.0 {
        summary.processed as f64 / summary.elapsed_s
    } else {
        0.0
    };
    Ok(summary)
}
