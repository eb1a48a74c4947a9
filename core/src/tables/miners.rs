//! `miner_metadata`: miner state, pause state and statistics.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::item::{Attr, Item, ItemReader};
use crate::keys;
use crate::order::{Field, Key, Order};
use crate::schema::{PK, SK};

/// The table, as errors name it (the schema's name).
const TABLE: &str = crate::schema::Table::MinerMetadata.name();

/// Chutes deployment status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ChutesStatus {
    /// Deployed and warm.
    Hot,
    /// Deployed, cold.
    Cold,
    /// Not known.
    #[default]
    Unknown,
}

impl ChutesStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ChutesStatus::Hot => "hot",
            ChutesStatus::Cold => "cold",
            ChutesStatus::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ChutesStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChutesStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "hot" => ChutesStatus::Hot,
            "cold" => ChutesStatus::Cold,
            "unknown" => ChutesStatus::Unknown,
            _ => {
                return Err(Error::invalid(
                    "chutes_status",
                    format!("{s:?} is not hot, cold or unknown"),
                ))
            }
        })
    }
}

/// What [`MinerStore::save_metadata`] writes; statistics and pause state
/// are kept from the stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MinerInfo {
    /// Miner hotkey (key part).
    pub miner_hotkey: String,
    /// Miner uid.
    pub uid: i64,
    /// Current model revision.
    pub current_revision: String,
    /// Current model hash.
    pub model_hash: String,
    /// Model name.
    pub model_name: String,
    /// Chutes slug.
    pub chutes_slug: Option<String>,
    /// Chutes status.
    pub chutes_status: ChutesStatus,
    /// When chutes was last checked; now when `None`.
    pub chutes_last_checked: Option<i64>,
    /// Block of the latest commit.
    pub last_commit_block: Option<i64>,
    /// Block of the first commit; `last_commit_block` when `None` (as the
    /// original). The earliest ever given is kept.
    pub first_commit_block: Option<i64>,
}

/// A stored miner record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MinerMetadata {
    /// Miner hotkey.
    pub miner_hotkey: String,
    /// Uid.
    pub uid: i64,
    /// Current revision.
    pub current_revision: String,
    /// Current model hash.
    pub model_hash: String,
    /// Model name.
    pub model_name: String,
    /// Chutes slug.
    pub chutes_slug: Option<String>,
    /// Chutes status.
    pub chutes_status: ChutesStatus,
    /// When chutes was last checked.
    pub chutes_last_checked: i64,
    /// Latest commit block.
    pub last_commit_block: Option<i64>,
    /// Earliest commit block.
    pub first_commit_block: Option<i64>,
    /// Last metadata change, epoch seconds.
    pub updated_at: i64,
    /// Samples counted by [`MinerStore::update_statistics`].
    pub total_samples: i64,
    /// Successful samples.
    pub success_count: i64,
    /// Failed samples.
    pub error_count: i64,
    /// When the last sample was counted.
    pub last_sample_time: Option<i64>,
    /// Whether the miner is paused.
    pub is_paused: bool,
    /// Why.
    pub pause_reason: Option<String>,
    /// Until when (epoch seconds); `None` pauses until unpaused.
    pub pause_until: Option<i64>,
    /// Failures since the last success.
    pub consecutive_errors: i64,
}

impl MinerInfo {
    /// Checks the hotkey.
    pub fn validate(&self) -> Result<()> {
        keys::validate_part("miner_hotkey", &self.miner_hotkey)
    }

    /// The record after saving `self` over `existing` at `now_s`: metadata
    /// from `self`, statistics and pause state from `existing`, the earliest
    /// `first_commit_block` of both. This is the rule
    /// [`rules::miners::save`](crate::rules::miners::save) evaluated in memory.
    pub fn merge(self, existing: Option<&MinerMetadata>, now_s: i64) -> Result<MinerMetadata> {
        let current = existing.map(MinerMetadata::to_item);
        let (_, record) = crate::rules::miners::save(self, now_s)?.run(current.as_ref())?;
        Ok(record)
    }
}

/// The order of [`MinerStore::get_all_miners`]: by hotkey.
pub static BY_HOTKEY: Order<MinerMetadata> = Order {
    fields: &[Field {
        attr: "miner_hotkey",
        descending: false,
        get: |m| Key::str(&m.miner_hotkey),
    }],
};

impl MinerMetadata {
    /// Partition key.
    pub fn pk(&self) -> String {
        keys::miner_pk(&self.miner_hotkey)
    }

    /// The stored item.
    pub fn to_item(&self) -> Item {
        let mut item = Item::new();
        item.insert(PK.into(), Attr::S(self.pk()));
        item.insert(SK.into(), Attr::s(keys::METADATA_SK));
        item.insert("miner_hotkey".into(), Attr::s(&self.miner_hotkey));
        item.insert("uid".into(), Attr::int(self.uid));
        item.insert("current_revision".into(), Attr::s(&self.current_revision));
        item.insert("model_hash".into(), Attr::s(&self.model_hash));
        item.insert("model_name".into(), Attr::s(&self.model_name));
        item.insert(
            "chutes_slug".into(),
            Attr::opt_s(self.chutes_slug.as_deref()),
        );
        item.insert("chutes_status".into(), Attr::s(self.chutes_status.as_str()));
        item.insert(
            "chutes_last_checked".into(),
            Attr::int(self.chutes_last_checked),
        );
        item.insert(
            "last_commit_block".into(),
            Attr::opt_int(self.last_commit_block),
        );
        item.insert(
            "first_commit_block".into(),
            Attr::opt_int(self.first_commit_block),
        );
        item.insert("updated_at".into(), Attr::int(self.updated_at));
        item.insert("total_samples".into(), Attr::int(self.total_samples));
        item.insert("success_count".into(), Attr::int(self.success_count));
        item.insert("error_count".into(), Attr::int(self.error_count));
        item.insert(
            "last_sample_time".into(),
            Attr::opt_int(self.last_sample_time),
        );
        item.insert("is_paused".into(), Attr::Bool(self.is_paused));
        item.insert(
            "pause_reason".into(),
            Attr::opt_s(self.pause_reason.as_deref()),
        );
        item.insert("pause_until".into(), Attr::opt_int(self.pause_until));
        item.insert(
            "consecutive_errors".into(),
            Attr::int(self.consecutive_errors),
        );
        item
    }

    /// Reads a stored item.
    pub fn from_item(item: &Item) -> Result<MinerMetadata> {
        let r = ItemReader::new(TABLE, item);
        Ok(MinerMetadata {
            miner_hotkey: r.s("miner_hotkey")?,
            uid: r.opt_i64("uid")?.unwrap_or_default(),
            current_revision: r.opt_s("current_revision")?.unwrap_or_default(),
            model_hash: r.opt_s("model_hash")?.unwrap_or_default(),
            model_name: r.opt_s("model_name")?.unwrap_or_default(),
            chutes_slug: r.opt_s("chutes_slug")?,
            chutes_status: match r.opt_s("chutes_status")? {
                None => ChutesStatus::Unknown,
                Some(s) => s
                    .parse()
                    .map_err(|_| Error::corrupt(format!("{TABLE}: unknown chutes_status {s:?}")))?,
            },
            chutes_last_checked: r.opt_i64("chutes_last_checked")?.unwrap_or_default(),
            last_commit_block: r.opt_i64("last_commit_block")?,
            first_commit_block: r.opt_i64("first_commit_block")?,
            updated_at: r.opt_i64("updated_at")?.unwrap_or_default(),
            total_samples: r.opt_i64("total_samples")?.unwrap_or_default(),
            success_count: r.opt_i64("success_count")?.unwrap_or_default(),
            error_count: r.opt_i64("error_count")?.unwrap_or_default(),
            last_sample_time: r.opt_i64("last_sample_time")?,
            is_paused: r.opt_bool("is_paused")?.unwrap_or_default(),
            pause_reason: r.opt_s("pause_reason")?,
            pause_until: r.opt_i64("pause_until")?,
            consecutive_errors: r.opt_i64("consecutive_errors")?.unwrap_or_default(),
        })
    }
}

/// Miner metadata.
#[async_trait]
pub trait MinerStore: Send + Sync {
    /// Saves metadata (see [`MinerInfo::merge`]) and returns the stored record.
    async fn save_metadata(&self, info: MinerInfo) -> Result<MinerMetadata>;

    /// One miner.
    async fn get_metadata(&self, miner_hotkey: &str) -> Result<Option<MinerMetadata>>;

    /// Counts one sample atomically: `total_samples` + 1 (unless
    /// `increment_samples` is false), `success_count` or `error_count` + 1,
    /// `consecutive_errors` reset on success or + 1 on failure,
    /// `last_sample_time` = now. No concurrent update is lost.
    /// [`Error::NotFound`] for an unknown miner.
    async fn update_statistics(
        &self,
        miner_hotkey: &str,
        success: bool,
        increment_samples: bool,
    ) -> Result<MinerMetadata>;

    /// Pauses a miner, until now + `duration_s` or until unpaused.
    async fn pause_miner(
        &self,
        miner_hotkey: &str,
        reason: &str,
        duration_s: Option<i64>,
    ) -> Result<MinerMetadata>;

    /// Clears the pause state.
    async fn unpause_miner(&self, miner_hotkey: &str) -> Result<MinerMetadata>;

    /// Unpauses a miner whose `pause_until` is at or before now; whether it did.
    async fn check_pause_expired(&self, miner_hotkey: &str) -> Result<bool>;

    /// Every miner, by hotkey.
    async fn get_all_miners(&self) -> Result<Vec<MinerMetadata>>;
}
