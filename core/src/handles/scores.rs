//! `scores`: a snapshot is written as the core plans it
//! ([`crate::rules::scores::snapshot`]: the `writing` header, the deletion
//! of rows of miners not in it, the rows, the `complete` header), so
//! readers skip a block being written ([`block_visible`]) on any driver; a
//! driver whose batches are atomic writes a snapshot that fits one batch
//! as one [`Driver::replace_batch`](crate::driver::Driver::replace_batch)
//! (deletions, rows, `complete` header) instead. The newest blocks are
//! found through the latest-block index.

use async_trait::async_trait;

use super::{index, Tables};
use crate::cond::Cond;
use crate::driver::{key_of, Query, RangeCond, Select, Target};
use crate::error::Result;
use crate::item::{Attr, Item};
use crate::keys;
use crate::rules::scores as rules;
use crate::schema::{Table, LATEST_BLOCK_INDEX, SK};
use crate::tables::scores::{
    block_visible, latest_of, validate_block, LatestScores, Score, ScoreStore, BY_HOTKEY,
    NEWEST_BLOCK,
};

const T: Table = Table::Scores;

impl Tables {
    /// Whether `block` is visible: its live header (if any) does not say `writing`.
    async fn visible(&self, block: i64) -> Result<bool> {
        let header = self
            .get_live(T, &keys::score_pk(block), keys::SNAPSHOT_SK)
            .await?;
        Ok(block_visible(header.as_ref()))
    }

    /// The live rows of `block` by hotkey when it is visible (`None` when
    /// its live header says `writing`): header and rows in one read.
    async fn visible_rows(&self, block: i64) -> Result<Option<Vec<Score>>> {
        let q = Query::new(
            Target::Partition(keys::score_pk(block)),
            rules::block_items(block, self.now_s()),
        )
        .ordered(&BY_HOTKEY, false);
        let (headers, rows): (Vec<Item>, Vec<Item>) = self
            .read_items(T, q)
            .await?
            .into_iter()
            .partition(|i| matches!(i.get(SK), Some(Attr::S(sk)) if sk == keys::SNAPSHOT_SK));
        if !block_visible(headers.first()) {
            return Ok(None);
        }
        rows.iter()
            .map(Score::from_item)
            .collect::<Result<_>>()
            .map(Some)
    }

    /// The newest block below `below` with an entry in the latest-block
    /// index (visibility and expiry not checked).
    async fn newest_block_below(&self, below: i64) -> Result<Option<i64>> {
        if below == i64::MIN {
            return Ok(None);
        }
        let target = Target::Index {
            index: index(T, LATEST_BLOCK_INDEX)?,
            hash: Attr::s(keys::LATEST_MARKER),
        };
        let rows_only = Cond::eq_s(SK, keys::SNAPSHOT_SK).not();
        let q = Query::new(target, rows_only)
            .range(RangeCond::Between(
                Attr::int(i64::MIN),
                Attr::int(below - 1),
            ))
            .ordered(&NEWEST_BLOCK, false)
            .limit(Some(1))
            .select(Select::Keys);
        match self.read_items(T, q).await?.iter().find_map(key_of) {
            Some((pk, _)) => Ok(Some(keys::parse_score_pk(&pk)?)),
            None => Ok(None),
        }
    }

    /// The live rows of `block` (visibility not checked), by hotkey, at
    /// most `limit`.
    async fn block_rows(&self, block: i64, limit: Option<usize>) -> Result<Vec<Score>> {
        let q = Query::new(
            Target::Partition(keys::score_pk(block)),
            rules::block_rows(block, self.now_s()),
        )
        .ordered(&BY_HOTKEY, false)
        .limit(limit);
        self.read_items(T, q)
            .await?
            .iter()
            .map(Score::from_item)
            .collect()
    }

    /// Visible blocks with live rows, newest first, at most `n`. The index
    /// carries only keys, so it names the candidate blocks and each one's
    /// header and rows are read by key. The index is walked one block at a
    /// time, newest first ([`Tables::newest_block_below`] the last block
    /// seen), so finding the newest blocks reads a block's worth of index
    /// entries each, not the whole history.
    async fn visible_blocks(&self, n: usize) -> Result<Vec<i64>> {
        let mut out = Vec::new();
        let mut below = i64::MAX;
        while out.len() < n {
            let Some(block) = self.newest_block_below(below).await? else {
                break;
            };
            if self.visible(block).await? && !self.block_rows(block, Some(1)).await?.is_empty() {
                out.push(block);
            }
            below = block;
        }
        Ok(out)
    }
}

#[async_trait]
impl ScoreStore for Tables {
    async fn save_score(&self, score: Score) -> Result<()> {
        self.driver
            .put(T, rules::save_item(&score, self.now_s())?)
            .await
    }

    async fn save_snapshot(&self, block_number: i64, scores: Vec<Score>) -> Result<()> {
        let plan = rules::snapshot(block_number, &scores, self.now_s())?;
        for item in plan.rows.iter().chain([&plan.writing, &plan.complete]) {
            crate::driver::check_put(T, item)?;
        }
        // One snapshot of a block at a time in this process, as on DynamoDB.
        let _guard = self.lock_item(T, &plan.pk).await;
        let stored =
            Query::new(Target::Partition(plan.pk.clone()), Cond::True).select(Select::Keys);
        let gone: Vec<(String, String)> = self
            .items(T, stored)
            .await?
            .iter()
            .filter_map(key_of)
            .filter(|(_, sk)| plan.replaces(sk))
            .collect();
        let caps = self.driver.capabilities();
        let size = caps.max_batch_write.max(1);
        if caps.atomic_batch && gone.len() <= size && plan.rows.len() < caps.put_batch_items() {
            // One all-or-nothing write: no reader sees part of the block,
            // so it needs no `writing` header.
            let mut puts = plan.rows;
            puts.push(plan.complete);
            return self.driver.replace_batch(T, gone, puts).await;
        }
        self.driver.put(T, plan.writing.clone()).await?;
        for chunk in gone.chunks(size) {
            self.driver.delete_batch(T, chunk.to_vec()).await?;
        }
        self.put_all(T, plan.rows.clone()).await?;
        self.driver.put(T, plan.complete).await
    }

    async fn get_scores_at_block(&self, block_number: i64) -> Result<Vec<Score>> {
        validate_block(block_number)?;
        Ok(self.visible_rows(block_number).await?.unwrap_or_default())
    }

    /// The newest block, then each one below it, until one is visible with
    /// live rows: two reads when the newest block is.
    async fn get_latest_scores(&self) -> Result<Option<LatestScores>> {
        let mut below = i64::MAX;
        while let Some(block) = self.newest_block_below(below).await? {
            match self.visible_rows(block).await? {
                Some(scores) if !scores.is_empty() => return Ok(Some(latest_of(block, scores))),
                _ => below = block,
            }
        }
        Ok(None)
    }

    async fn get_miner_score_at_block(
        &self,
        block_number: i64,
        miner_hotkey: &str,
    ) -> Result<Option<Score>> {
        validate_block(block_number)?;
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        if !self.visible(block_number).await? {
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
        let sk = keys::score_sk(miner_hotkey);
        let mut out = Vec::new();
        for block in self.visible_blocks(blocks).await? {
            if let Some(item) = self.get_live(T, &keys::score_pk(block), &sk).await? {
                out.push(Score::from_item(&item)?);
            }
        }
        Ok(out)
    }
}
