//! `scores` on DynamoDB. A snapshot is written under a header item: first
//! `writing`, then stale rows deleted and new rows batch-written, then
//! `complete`. Readers skip a block whose live header says `writing`
//! ([`block_visible`]), so they never see a snapshot half-written.

use std::collections::BTreeSet;

use affine_db_core::schema::{LATEST_BLOCK_INDEX, PK, SK};
use affine_db_core::tables::scores::{
    block_visible, latest_of, snapshot_header, validate_block, validate_snapshot, LatestScores,
    Score, ScoreStore, SNAPSHOT_COMPLETE, SNAPSHOT_WRITING,
};
use affine_db_core::{keys, ttl, Attr, Result, Table};
use async_trait::async_trait;

use crate::batch::{self, WriteOp};
use crate::convert;
use crate::query::{self, Pager, Request};
use crate::DynamoBackend;

const T: Table = Table::Scores;

impl DynamoBackend {
    /// Whether `block` is visible: its live header (if any) does not say `writing`.
    async fn block_is_visible(&self, block: i64) -> Result<bool> {
        let header = self
            .get_live(T, &keys::score_pk(block), keys::SNAPSHOT_SK)
            .await?;
        Ok(block_visible(header.as_ref()))
    }

    /// The live rows of `block` (header excluded), by hotkey, visibility not checked.
    async fn block_rows(&self, block: i64) -> Result<Vec<Score>> {
        let name = self.table_name(T);
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", convert::s(keys::score_pk(block)))
            .consistent_read(true);
        let mut rows = query::collect(Request::Query(b), name, Some(self.now_s()), None, |i| {
            Ok(!matches!(i.get(SK), Some(Attr::S(s)) if s == keys::SNAPSHOT_SK))
        })
        .await?
        .iter()
        .map(Score::from_item)
        .collect::<Result<Vec<_>>>()?;
        rows.sort_by(|a, b| a.miner_hotkey.cmp(&b.miner_hotkey));
        Ok(rows)
    }

    /// Up to `n` visible blocks with live rows, newest first, with their rows.
    async fn recent_blocks(&self, n: usize) -> Result<Vec<(i64, Vec<Score>)>> {
        let mut out = Vec::new();
        if n == 0 {
            return Ok(out);
        }
        let name = self.table_name(T);
        let b = self
            .client
            .query()
            .table_name(name)
            .index_name(LATEST_BLOCK_INDEX)
            .key_condition_expression("latest_marker = :latest")
            .expression_attribute_values(":latest", convert::s(keys::LATEST_MARKER))
            .scan_index_forward(false);
        let mut seen = BTreeSet::new();
        let mut pager = Pager::new(Request::Query(b), name);
        while let Some(page) = pager.next_page().await? {
            for item in page {
                let block = match item.get("block_number") {
                    Some(Attr::N(v)) => v.parse::<i64>().ok(),
                    _ => None,
                };
                let Some(block) = block else { continue };
                if !seen.insert(block) {
                    continue;
                }
                if !self.block_is_visible(block).await? {
                    continue;
                }
                let rows = self.block_rows(block).await?;
                if rows.is_empty() {
                    continue;
                }
                out.push((block, rows));
                if out.len() >= n {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl ScoreStore for DynamoBackend {
    async fn save_score(&self, score: Score) -> Result<()> {
        score.validate()?;
        let expires = ttl::expires_at(self.now_s(), ttl::SCORE_TTL_DAYS);
        self.put(T, &score.to_item(expires)).await
    }

    async fn save_snapshot(&self, block_number: i64, scores: Vec<Score>) -> Result<()> {
        validate_snapshot(block_number, &scores)?;
        let now = self.now_s();
        let expires = ttl::expires_at(now, ttl::SCORE_TTL_DAYS);
        let calculated_at = scores.iter().map(|s| s.calculated_at).max().unwrap_or(now);
        let count = scores.len();
        let name = self.table_name(T);
        let pk = keys::score_pk(block_number);
        // One snapshot of a block at a time in this process (see lock_item).
        let _guard = self.lock_item(T, &pk, keys::SNAPSHOT_SK).await;
        self.put(
            T,
            &snapshot_header(
                block_number,
                SNAPSHOT_WRITING,
                count,
                calculated_at,
                expires,
            ),
        )
        .await?;
        let keep: BTreeSet<String> = scores
            .iter()
            .map(|s| keys::score_sk(&s.miner_hotkey))
            .collect();
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", convert::s(&pk))
            .consistent_read(true);
        let b = query::project_query(b, &[PK, SK]);
        let existing = query::collect(Request::Query(b), name, None, None, |_| Ok(true)).await?;
        let mut ops = Vec::new();
        for item in &existing {
            let sk = query::str_attr(item, SK)?;
            if sk != keys::SNAPSHOT_SK && !keep.contains(sk) {
                ops.push(WriteOp::Delete(pk.clone(), sk.to_string()));
            }
        }
        ops.extend(scores.iter().map(|s| WriteOp::Put(s.to_item(expires))));
        batch::write(&self.client, name, ops).await?;
        self.put(
            T,
            &snapshot_header(
                block_number,
                SNAPSHOT_COMPLETE,
                count,
                calculated_at,
                expires,
            ),
        )
        .await
    }

    async fn get_scores_at_block(&self, block_number: i64) -> Result<Vec<Score>> {
        validate_block(block_number)?;
        if !self.block_is_visible(block_number).await? {
            return Ok(Vec::new());
        }
        self.block_rows(block_number).await
    }

    async fn get_latest_scores(&self) -> Result<Option<LatestScores>> {
        Ok(self
            .recent_blocks(1)
            .await?
            .pop()
            .map(|(block, rows)| latest_of(block, rows)))
    }

    async fn get_miner_score_at_block(
        &self,
        block_number: i64,
        miner_hotkey: &str,
    ) -> Result<Option<Score>> {
        validate_block(block_number)?;
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        if !self.block_is_visible(block_number).await? {
            return Ok(None);
        }
        self.get_live(
            T,
            &keys::score_pk(block_number),
            &keys::score_sk(miner_hotkey),
        )
        .await?
        .map(|i| Score::from_item(&i))
        .transpose()
    }

    async fn get_miner_score_history(
        &self,
        miner_hotkey: &str,
        blocks: usize,
    ) -> Result<Vec<Score>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        Ok(self
            .recent_blocks(blocks)
            .await?
            .into_iter()
            .filter_map(|(_, rows)| rows.into_iter().find(|r| r.miner_hotkey == miner_hotkey))
            .collect())
    }
}
