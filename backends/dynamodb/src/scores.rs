//! `scores` on DynamoDB. A snapshot is written under a header item: first
//! `writing`, then stale rows deleted and new rows batch-written, then
//! `complete`. Readers skip a block whose live header says `writing`
//! ([`block_visible`]), so they never see a snapshot half-written.

use std::collections::BTreeSet;

use affine_db_core::cond::Cond;
use affine_db_core::rules::scores as rules;
use affine_db_core::schema::{LATEST_BLOCK_INDEX, PK, SK};
use affine_db_core::tables::scores::{
    block_visible, latest_of, validate_block, LatestScores, Score, ScoreStore, BY_HOTKEY,
};
use affine_db_core::{keys, Attr, Result, Table};
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
        let filter = rules::block_rows(block, self.now_s());
        let mut rows = query::collect(Request::Query(b), name, &filter, None)
            .await?
            .iter()
            .map(Score::from_item)
            .collect::<Result<Vec<_>>>()?;
        BY_HOTKEY.sort(&mut rows, false);
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
        let indexed = rules::indexed_rows(self.now_s());
        while let Some(page) = self
            .via_index(T, LATEST_BLOCK_INDEX, pager.next_page().await)
            .await?
        {
            for item in page {
                if !indexed.eval(Some(&item)) {
                    continue;
                }
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
        self.put(T, &rules::save_item(&score, self.now_s())?).await
    }

    async fn save_snapshot(&self, block_number: i64, scores: Vec<Score>) -> Result<()> {
        let plan = rules::snapshot(block_number, &scores, self.now_s())?;
        let name = self.table_name(T);
        // One snapshot of a block at a time in this process (see lock_item).
        let _guard = self.lock_item(T, &plan.pk, keys::SNAPSHOT_SK).await;
        self.put(T, &plan.writing).await?;
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", convert::s(&plan.pk))
            .consistent_read(true);
        let b = query::project_query(b, &[PK, SK]);
        let existing = query::collect(Request::Query(b), name, &Cond::True, None).await?;
        let mut ops = Vec::new();
        for item in &existing {
            let sk = query::str_attr(item, SK)?;
            if plan.replaces(sk) {
                ops.push(WriteOp::Delete(plan.pk.clone(), sk.to_string()));
            }
        }
        ops.extend(plan.rows.iter().cloned().map(WriteOp::Put));
        batch::write(&self.client, name, ops).await?;
        self.put(T, &plan.complete).await
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
