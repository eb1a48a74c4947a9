//! `scores` writes and filters: the 30-day lifetime of rows and snapshot
//! headers, the items a whole-block snapshot writes, and which items are a
//! block's live rows.

use std::collections::BTreeSet;

use crate::cond::Cond;
use crate::error::Result;
use crate::item::{Attr, Item};
use crate::keys;
use crate::schema::{Table, PK, SK};
use crate::tables::scores::{
    snapshot_header, validate_snapshot, Score, SNAPSHOT_COMPLETE, SNAPSHOT_WRITING,
};
use crate::ttl;

const T: Table = Table::Scores;

/// The `ttl` of score items written at `now_s`: 30 days later.
pub fn row_ttl(now_s: i64) -> i64 {
    ttl::expires_at(now_s, ttl::SCORE_TTL_DAYS)
}

/// The item [`ScoreStore::save_score`](crate::ScoreStore::save_score)
/// writes at `now_s`, after validating the row.
pub fn save_item(score: &Score, now_s: i64) -> Result<Item> {
    score.validate()?;
    Ok(score.to_item(row_ttl(now_s)))
}

/// What a whole-block snapshot writes, in order: the `writing` header, the
/// deletion of the block's rows of miners not in the snapshot, the rows,
/// then the `complete` header.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotWrite {
    /// The block's partition key.
    pub pk: String,
    /// The header written first.
    pub writing: Item,
    /// The rows.
    pub rows: Vec<Item>,
    /// The header written last.
    pub complete: Item,
    /// Sort keys of the rows written (every other row is deleted).
    keep: BTreeSet<String>,
}

impl SnapshotWrite {
    /// Whether the stored item with sort key `sk` in the block must be
    /// deleted: a row of a miner the snapshot does not have.
    pub fn replaces(&self, sk: &str) -> bool {
        sk != keys::SNAPSHOT_SK && !self.keep.contains(sk)
    }
}

/// The snapshot of `block_number` with `scores` at `now_s`, validated
/// (nothing is written when a row is bad). The headers carry the row count
/// and the newest `calculated_at` (now for an empty snapshot).
pub fn snapshot(block_number: i64, scores: &[Score], now_s: i64) -> Result<SnapshotWrite> {
    validate_snapshot(block_number, scores)?;
    let expires = row_ttl(now_s);
    let calculated_at = scores
        .iter()
        .map(|s| s.calculated_at)
        .max()
        .unwrap_or(now_s);
    let header =
        |status| snapshot_header(block_number, status, scores.len(), calculated_at, expires);
    Ok(SnapshotWrite {
        pk: keys::score_pk(block_number),
        writing: header(SNAPSHOT_WRITING),
        rows: scores.iter().map(|s| s.to_item(expires)).collect(),
        complete: header(SNAPSHOT_COMPLETE),
        keep: scores
            .iter()
            .map(|s| keys::score_sk(&s.miner_hotkey))
            .collect(),
    })
}

/// Live score rows (not snapshot headers) at `now_s`.
pub fn rows(now_s: i64) -> Cond {
    Cond::eq_s(SK, keys::SNAPSHOT_SK)
        .not()
        .and(ttl::unexpired(T, now_s))
}

/// Live rows of `block_number` at `now_s` (visibility not checked).
pub fn block_rows(block_number: i64, now_s: i64) -> Cond {
    Cond::eq_s(PK, keys::score_pk(block_number)).and(rows(now_s))
}

/// The live items of `block_number` at `now_s`: its header (if live) and
/// its rows, read together so one read tells visibility and rows.
pub fn block_items(block_number: i64, now_s: i64) -> Cond {
    Cond::eq_s(PK, keys::score_pk(block_number)).and(ttl::unexpired(T, now_s))
}

/// Live rows of any block at `now_s`, as the latest-block index has them.
pub fn indexed_rows(now_s: i64) -> Cond {
    Cond::Eq("latest_marker", Attr::s(keys::LATEST_MARKER)).and(rows(now_s))
}
