//! `scores` on SQLite. A snapshot is written in one transaction (readers
//! never see it half-written), but with the same header items as on
//! DynamoDB ([`affine_db_core::rules::scores::snapshot`]), so both backends
//! store the same items; readers honour [`block_visible`] for headers that
//! say `writing` (imported data).

use affine_db_core::cond::Cond;
use affine_db_core::keys;
use affine_db_core::rules::scores as rules;
use affine_db_core::schema::{Table, PK, SK};
use affine_db_core::tables::scores::{
    block_visible, latest_of, validate_block, LatestScores, Score, ScoreStore, BY_HOTKEY,
};
use affine_db_core::{Attr, Result};
use async_trait::async_trait;
use rusqlite::Connection;

use crate::db::{ident, SqlResult};
use crate::row::{self, Cols};
use crate::sql::{self, order_by};
use crate::SqliteBackend;

const T: Table = Table::Scores;

/// Whether `block` is visible: its live header (if any) does not say `writing`.
fn visible(conn: &Connection, block: i64, now_s: i64) -> Result<bool> {
    let header = row::get_item(conn, T, &keys::score_pk(block), keys::SNAPSHOT_SK, now_s)?;
    Ok(block_visible(header.as_ref()))
}

/// The live rows of `block` (without checking visibility), by hotkey.
fn rows(conn: &Connection, block: i64, now_s: i64) -> Result<Vec<Score>> {
    let order = order_by(&BY_HOTKEY, false);
    row::select(
        conn,
        &Cols::all(T),
        &rules::block_rows(block, now_s),
        Some(&order),
        None,
    )?
    .iter()
    .map(Score::from_item)
    .collect()
}

/// Blocks that have live rows, newest first, through the latest-block index.
fn blocks_desc(conn: &Connection, now_s: i64) -> Result<Vec<i64>> {
    let w = sql::condition(T, &rules::indexed_rows(now_s))?;
    let block = ident("block_number");
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT DISTINCT {block} FROM {} WHERE {} ORDER BY {block} DESC",
            ident(T.name()),
            w.text
        ))
        .db()?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(w.params), |r| r.get(0))
        .db()?;
    rows.collect::<rusqlite::Result<Vec<i64>>>().db()
}

/// Visible blocks with live rows, newest first, at most `n`.
fn visible_blocks(conn: &Connection, now_s: i64, n: usize) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    for block in blocks_desc(conn, now_s)? {
        if out.len() >= n {
            break;
        }
        if visible(conn, block, now_s)? {
            out.push(block);
        }
    }
    Ok(out)
}

#[async_trait]
impl ScoreStore for SqliteBackend {
    async fn save_score(&self, score: Score) -> Result<()> {
        let r = row::to_row(T, &rules::save_item(&score, self.now_s())?)?;
        self.db.write_tx(move |tx| row::put_row(tx, T, r)).await
    }

    async fn save_snapshot(&self, block_number: i64, scores: Vec<Score>) -> Result<()> {
        let plan = rules::snapshot(block_number, &scores, self.now_s())?;
        let writing = row::to_row(T, &plan.writing)?;
        let complete = row::to_row(T, &plan.complete)?;
        let new_rows = plan
            .rows
            .iter()
            .map(|r| row::to_row(T, r))
            .collect::<Result<Vec<_>>>()?;
        self.db
            .write_tx(move |tx| {
                row::put_row(tx, T, writing)?;
                let block = Cond::eq_s(PK, &plan.pk);
                for item in row::select(tx, &Cols::all(T), &block, None, None)? {
                    if let Some(Attr::S(sk)) = item.get(SK) {
                        if plan.replaces(sk) {
                            row::delete_item(tx, T, &plan.pk, sk)?;
                        }
                    }
                }
                for r in new_rows {
                    row::put_row(tx, T, r)?;
                }
                row::put_row(tx, T, complete)
            })
            .await
    }

    async fn get_scores_at_block(&self, block_number: i64) -> Result<Vec<Score>> {
        validate_block(block_number)?;
        let now = self.now_s();
        self.db
            .read(move |tx| {
                if !visible(tx, block_number, now)? {
                    return Ok(Vec::new());
                }
                rows(tx, block_number, now)
            })
            .await
    }

    async fn get_latest_scores(&self) -> Result<Option<LatestScores>> {
        let now = self.now_s();
        self.db
            .read(move |tx| {
                for block in visible_blocks(tx, now, 1)? {
                    let scores = rows(tx, block, now)?;
                    if !scores.is_empty() {
                        return Ok(Some(latest_of(block, scores)));
                    }
                }
                Ok(None)
            })
            .await
    }

    async fn get_miner_score_at_block(
        &self,
        block_number: i64,
        miner_hotkey: &str,
    ) -> Result<Option<Score>> {
        validate_block(block_number)?;
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let sk = keys::score_sk(miner_hotkey);
        let now = self.now_s();
        self.db
            .read(move |tx| {
                if !visible(tx, block_number, now)? {
                    return Ok(None);
                }
                row::get_item(tx, T, &keys::score_pk(block_number), &sk, now)?
                    .map(|i| Score::from_item(&i))
                    .transpose()
            })
            .await
    }

    async fn get_miner_score_history(
        &self,
        miner_hotkey: &str,
        blocks: usize,
    ) -> Result<Vec<Score>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let sk = keys::score_sk(miner_hotkey);
        let now = self.now_s();
        self.db
            .read(move |tx| {
                let mut out = Vec::new();
                for block in visible_blocks(tx, now, blocks)? {
                    if let Some(item) = row::get_item(tx, T, &keys::score_pk(block), &sk, now)? {
                        out.push(Score::from_item(&item)?);
                    }
                }
                Ok(out)
            })
            .await
    }
}
