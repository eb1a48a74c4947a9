//! `scores`: score snapshots by block, kept 30 days.
//!
//! A whole-block snapshot is written under a header item (sort key
//! `SNAPSHOT`) whose `snapshot_status` is `writing` while rows are being
//! written and `complete` afterwards. Readers treat a block whose header says
//! `writing` as not there at all, so they never see a snapshot half-written.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::item::{f64_map_attr, Attr, Item, ItemReader};
use crate::keys;
use crate::order::{Field, Key, Order};
use crate::schema::{PK, SK};

/// The table, as errors name it (the schema's name).
const TABLE: &str = crate::schema::Table::Scores.name();

/// `snapshot_status` of a header while its rows are being written.
pub const SNAPSHOT_WRITING: &str = "writing";
/// `snapshot_status` of a header once every row is written.
pub const SNAPSHOT_COMPLETE: &str = "complete";

/// One miner's score at one block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Score {
    /// Block number (≥ 0).
    pub block_number: i64,
    /// Miner hotkey (key part).
    pub miner_hotkey: String,
    /// Miner uid.
    pub uid: i64,
    /// Model revision.
    pub model_revision: String,
    /// When it was calculated, epoch seconds.
    pub calculated_at: i64,
    /// Overall score, finite.
    pub overall_score: f64,
    /// Lower bound of the confidence interval.
    pub confidence_interval_lower: f64,
    /// Upper bound of the confidence interval.
    pub confidence_interval_upper: f64,
    /// Average score.
    pub average_score: f64,
    /// Scores by layer.
    pub scores_by_layer: BTreeMap<String, f64>,
    /// Scores by env.
    pub scores_by_env: BTreeMap<String, f64>,
    /// Samples behind the score.
    pub total_samples: i64,
    /// Eligible for weights.
    pub is_eligible: bool,
    /// Meets the criteria.
    pub meets_criteria: bool,
}

/// The newest block's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatestScores {
    /// The block.
    pub block_number: i64,
    /// The newest `calculated_at` among its rows.
    pub calculated_at: i64,
    /// Its rows, by miner hotkey.
    pub scores: Vec<Score>,
}

fn finite(field: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid(field, format!("{v} is not a finite number")))
    }
}

impl Score {
    /// Checks the key parts and that every number is finite.
    pub fn validate(&self) -> Result<()> {
        keys::validate_part("miner_hotkey", &self.miner_hotkey)?;
        validate_block(self.block_number)?;
        finite("overall_score", self.overall_score)?;
        finite("confidence_interval_lower", self.confidence_interval_lower)?;
        finite("confidence_interval_upper", self.confidence_interval_upper)?;
        finite("average_score", self.average_score)?;
        for (k, v) in self.scores_by_layer.iter().chain(&self.scores_by_env) {
            finite(&format!("score of {k}"), *v)?;
        }
        Ok(())
    }

    /// The stored item, expiring at `ttl`.
    pub fn to_item(&self, ttl: i64) -> Item {
        let mut item = Item::new();
        item.insert(PK.into(), Attr::S(keys::score_pk(self.block_number)));
        item.insert(SK.into(), Attr::S(keys::score_sk(&self.miner_hotkey)));
        item.insert("block_number".into(), Attr::int(self.block_number));
        item.insert("miner_hotkey".into(), Attr::s(&self.miner_hotkey));
        item.insert("uid".into(), Attr::int(self.uid));
        item.insert("model_revision".into(), Attr::s(&self.model_revision));
        item.insert("calculated_at".into(), Attr::int(self.calculated_at));
        item.insert("overall_score".into(), Attr::float(self.overall_score));
        item.insert(
            "confidence_interval_lower".into(),
            Attr::float(self.confidence_interval_lower),
        );
        item.insert(
            "confidence_interval_upper".into(),
            Attr::float(self.confidence_interval_upper),
        );
        item.insert("average_score".into(), Attr::float(self.average_score));
        item.insert(
            "scores_by_layer".into(),
            f64_map_attr(&self.scores_by_layer),
        );
        item.insert("scores_by_env".into(), f64_map_attr(&self.scores_by_env));
        item.insert("total_samples".into(), Attr::int(self.total_samples));
        item.insert("is_eligible".into(), Attr::Bool(self.is_eligible));
        item.insert("meets_criteria".into(), Attr::Bool(self.meets_criteria));
        item.insert("latest_marker".into(), Attr::s(keys::LATEST_MARKER));
        item.insert("ttl".into(), Attr::int(ttl));
        item
    }

    /// Reads a stored row.
    pub fn from_item(item: &Item) -> Result<Score> {
        let r = ItemReader::new(TABLE, item);
        Ok(Score {
            block_number: r.i64("block_number")?,
            miner_hotkey: r.s("miner_hotkey")?,
            uid: r.opt_i64("uid")?.unwrap_or_default(),
            model_revision: r.opt_s("model_revision")?.unwrap_or_default(),
            calculated_at: r.opt_i64("calculated_at")?.unwrap_or_default(),
            overall_score: r.f64("overall_score")?,
            confidence_interval_lower: r.f64("confidence_interval_lower")?,
            confidence_interval_upper: r.f64("confidence_interval_upper")?,
            average_score: r.f64("average_score")?,
            scores_by_layer: r.f64_map("scores_by_layer")?,
            scores_by_env: r.f64_map("scores_by_env")?,
            total_samples: r.opt_i64("total_samples")?.unwrap_or_default(),
            is_eligible: r.opt_bool("is_eligible")?.unwrap_or_default(),
            meets_criteria: r.opt_bool("meets_criteria")?.unwrap_or_default(),
        })
    }
}

/// Checks a block number (≥ 0).
pub fn validate_block(block_number: i64) -> Result<()> {
    if block_number < 0 {
        return Err(Error::invalid(
            "block_number",
            format!("{block_number} is negative"),
        ));
    }
    Ok(())
}

/// Checks a snapshot: every row valid, of `block_number`, hotkeys distinct.
pub fn validate_snapshot(block_number: i64, scores: &[Score]) -> Result<()> {
    validate_block(block_number)?;
    let mut seen = std::collections::BTreeSet::new();
    for s in scores {
        s.validate()?;
        if s.block_number != block_number {
            return Err(Error::invalid(
                "block_number",
                format!(
                    "row of {} is for block {}, not {block_number}",
                    s.miner_hotkey, s.block_number
                ),
            ));
        }
        if !seen.insert(&s.miner_hotkey) {
            return Err(Error::invalid(
                "miner_hotkey",
                format!("{} appears twice in the snapshot", s.miner_hotkey),
            ));
        }
    }
    Ok(())
}

/// The header item of a snapshot of `block_number` in `status`.
pub fn snapshot_header(
    block_number: i64,
    status: &str,
    miner_count: usize,
    calculated_at: i64,
    ttl: i64,
) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), Attr::S(keys::score_pk(block_number)));
    item.insert(SK.into(), Attr::s(keys::SNAPSHOT_SK));
    item.insert("block_number".into(), Attr::int(block_number));
    item.insert("snapshot_status".into(), Attr::s(status));
    item.insert("miner_count".into(), Attr::int(miner_count as i64));
    item.insert("calculated_at".into(), Attr::int(calculated_at));
    item.insert("ttl".into(), Attr::int(ttl));
    item
}

/// Whether a block's items (header and rows, as read) are visible: a block
/// whose live header says `writing` is not.
pub fn block_visible(header: Option<&Item>) -> bool {
    match header.and_then(|h| h.get("snapshot_status")) {
        Some(Attr::S(s)) => s != SNAPSHOT_WRITING,
        _ => true,
    }
}

/// The order of a block's rows: by miner hotkey.
pub static BY_HOTKEY: Order<Score> = Order {
    fields: &[Field {
        attr: "miner_hotkey",
        descending: false,
        get: |s| Key::str(&s.miner_hotkey),
    }],
};

/// The order of the latest-block index walk: newest block first.
pub static NEWEST_BLOCK: Order<Score> = Order {
    fields: &[Field {
        attr: "block_number",
        descending: true,
        get: |s| Key::Int(s.block_number),
    }],
};

/// Builds [`LatestScores`] from a block's rows (which must not be empty).
pub fn latest_of(block_number: i64, mut scores: Vec<Score>) -> LatestScores {
    BY_HOTKEY.sort(&mut scores, false);
    LatestScores {
        block_number,
        calculated_at: scores
            .iter()
            .map(|s| s.calculated_at)
            .max()
            .unwrap_or_default(),
        scores,
    }
}

/// The three highest `overall_score` rows (ties by hotkey) — the historical
/// top-3 rule's choice.
pub fn top_three(scores: &[Score]) -> Vec<&Score> {
    let mut v: Vec<&Score> = scores.iter().collect();
    v.sort_by(|a, b| {
        b.overall_score
            .total_cmp(&a.overall_score)
            .then_with(|| a.miner_hotkey.cmp(&b.miner_hotkey))
    });
    v.truncate(3);
    v
}

/// Score snapshots.
#[async_trait]
pub trait ScoreStore: Send + Sync {
    /// Writes one row (replacing the miner's row at that block), visible at
    /// once, expiring 30 days from now.
    async fn save_score(&self, score: Score) -> Result<()>;

    /// Writes the whole block: afterwards the block holds exactly `scores`.
    /// Readers see the previous content or none of the block until every
    /// row is written, never part of it.
    async fn save_snapshot(&self, block_number: i64, scores: Vec<Score>) -> Result<()>;

    /// The live rows of a visible block, by miner hotkey.
    async fn get_scores_at_block(&self, block_number: i64) -> Result<Vec<Score>>;

    /// The highest visible block that has live rows, with its rows.
    async fn get_latest_scores(&self) -> Result<Option<LatestScores>>;

    /// One miner's live row at a visible block.
    async fn get_miner_score_at_block(
        &self,
        block_number: i64,
        miner_hotkey: &str,
    ) -> Result<Option<Score>>;

    /// The miner's rows among the `blocks` most recent visible blocks that
    /// have live rows, newest block first.
    async fn get_miner_score_history(
        &self,
        miner_hotkey: &str,
        blocks: usize,
    ) -> Result<Vec<Score>>;
}
