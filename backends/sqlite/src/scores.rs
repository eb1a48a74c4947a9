//! `scores` on SQLite. A snapshot is written in one transaction (readers
//! never see it half-written), but with the same header items as on
//! DynamoDB, so both backends store the same items; readers honour
//! [`block_visible`] for headers that say `writing` (imported data).

use affine_db_core::keys;
use affine_db_core::schema::Table;
use affine_db_core::tables::scores::{
    block_visible, latest_of, snapshot_header, validate_block, validate_snapshot, LatestScores,
    Score, ScoreStore, SNAPSHOT_COMPLETE, SNAPSHOT_WRITING,
};
use affine_db_core::{ttl, Result};
use async_trait::async_trait;
use rusqlite::{params, Connection};

use crate::db::SqlResult;
use crate::row::{self, live, Cols};
use crate::SqliteBackend;

const T: Table = Table::Scores;

/// Whether `block` is visible: its live header (if any) does not say `writing`.
fn visible(conn: &Connection, block: i64, now_s: i64) -> Result<bool> {
    let header = row::get_item(conn, T, &keys::score_pk(block), keys::SNAPSHOT_SK, now_s)?;
    Ok(block_visible(header.as_ref()))
}

/// The live rows of `block` (without checking visibility), by hotkey.
fn rows(conn: &Connection, block: i64, now_s: i64) -> Result<Vec<Score>> {
    let cols = Cols::all(T);
    let sql = cols.select(&format!(
        "WHERE \"pk\" = ?1 AND \"sk\" <> ?2 AND {} ORDER BY \"miner_hotkey\", \"sk\"",
        live(T, 3)
    ));
    cols.query(
        conn,
        &sql,
        params![keys::score_pk(block), keys::SNAPSHOT_SK, now_s],
    )?
    .iter()
    .map(Score::from_item)
    .collect()
}

/// Blocks that have live rows, newest first, through the latest-block index.
fn blocks_desc(conn: &Connection, now_s: i64) -> Result<Vec<i64>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT DISTINCT \"block_number\" FROM \"scores\" \
             WHERE \"latest_marker\" = ?1 AND \"sk\" <> ?2 AND {} ORDER BY \"block_number\" DESC",
            live(T, 3)
        ))
        .db()?;
    let rows = stmt
        .query_map(
            params![keys::LATEST_MARKER, keys::SNAPSHOT_SK, now_s],
            |r| r.get(0),
        )
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
        score.validate()?;
        let expires = ttl::expires_at(self.now_s(), ttl::SCORE_TTL_DAYS);
        let r = row::to_row(T, &score.to_item(expires))?;
        self.db.write_tx(move |tx| row::put_row(tx, T, r)).await
    }

    async fn save_snapshot(&self, block_number: i64, scores: Vec<Score>) -> Result<()> {
        validate_snapshot(block_number, &scores)?;
        let now = self.now_s();
        let expires = ttl::expires_at(now, ttl::SCORE_TTL_DAYS);
        let calculated_at = scores.iter().map(|s| s.calculated_at).max().unwrap_or(now);
        let count = scores.len();
        let writing = row::to_row(
            T,
            &snapshot_header(
                block_number,
                SNAPSHOT_WRITING,
                count,
                calculated_at,
                expires,
            ),
        )?;
        let complete = row::to_row(
            T,
            &snapshot_header(
                block_number,
                SNAPSHOT_COMPLETE,
                count,
                calculated_at,
                expires,
            ),
        )?;
        let new_rows = scores
            .iter()
            .map(|s| row::to_row(T, &s.to_item(expires)))
            .collect::<Result<Vec<_>>>()?;
        let keep: Vec<String> = scores
            .iter()
            .map(|s| keys::score_sk(&s.miner_hotkey))
            .collect();
        let pk = keys::score_pk(block_number);
        self.db
            .write_tx(move |tx| {
                row::put_row(tx, T, writing)?;
                let existing: Vec<String> = {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT \"sk\" FROM \"scores\" WHERE \"pk\" = ?1 AND \"sk\" <> ?2",
                        )
                        .db()?;
                    let rows = stmt
                        .query_map(params![pk, keys::SNAPSHOT_SK], |r| r.get(0))
                        .db()?;
                    rows.collect::<rusqlite::Result<_>>().db()?
                };
                for sk in existing.iter().filter(|sk| !keep.contains(sk)) {
                    row::delete_item(tx, T, &pk, sk)?;
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
