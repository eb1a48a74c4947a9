//! The parse floor: what reading and parsing a bucket's shards costs with
//! nothing converted or stored, measured through the same fetch and parse
//! stages (same widths) as [`super::migrate`].

use std::time::Instant;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use affine_db_core::error::Result;

use super::select::select;
use super::shard::{fetch, parse, Fetched};
use super::source::Source;
use super::MigrateOptions;

/// The outcome of [`parse_floor`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FloorSummary {
    /// Shards selected.
    pub shards_selected: u64,
    /// Shards read and parsed.
    pub shards_read: u64,
    /// Bytes of the shards read.
    pub bytes: u64,
    /// Records parsed (every element of every readable shard, up to
    /// `max_results`).
    pub records: u64,
    /// Wall time in seconds.
    pub elapsed_s: f64,
    /// Records per second.
    pub rate_per_s: f64,
}

/// Reads the index and the shards `opts` selects from `source`, and parses
/// each shard into its records on `opts.workers` blocking threads, exactly
/// as [`super::migrate`] does before converting; converts, compresses and
/// stores nothing. Stops after `opts.max_results` records like a migration.
pub async fn parse_floor(source: &Source, opts: &MigrateOptions) -> Result<FloorSummary> {
    let started = Instant::now();
    let selection = select(source, opts).await?;
    let shards_selected = selection.shards.len() as u64;
    let (retry, limit) = (opts.retry, opts.max_shard_bytes);
    let mut shards = stream::iter(selection.shards)
        .map(|(_, key)| async move { fetch(source, &key, limit, &retry).await })
        .buffered(opts.concurrency)
        .map(|fetched| async move {
            match fetched {
                Fetched::Skipped(_) => None,
                Fetched::Bytes(bytes) => {
                    let n = bytes.len() as u64;
                    tokio::task::spawn_blocking(move || parse(&bytes).ok().map(|r| (n, r.len())))
                        .await
                        .ok()
                        .flatten()
                }
            }
        })
        .buffered(opts.workers);
    let (mut shards_read, mut bytes, mut records) = (0u64, 0u64, 0u64);
    while let Some(parsed) = shards.next().await {
        if let Some((n, count)) = parsed {
            shards_read += 1;
            bytes += n;
            records += count as u64;
            if opts.max_results.is_some_and(|m| records >= m) {
                records = opts.max_results.unwrap_or(records);
                break;
            }
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    Ok(FloorSummary {
        shards_selected,
        shards_read,
        bytes,
        records,
        elapsed_s,
        rate_per_s: if elapsed_s > 0.0 {
            records as f64 / elapsed_s
        } else {
            0.0
        },
    })
}
