//! `data_retention_policy`: what cleanup may delete.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::item::{Attr, Item, ItemReader};
use crate::keys;
use crate::order::{Field, Key, Order};
use crate::schema::{PK, SK};

/// The table, as errors name it (the schema's name).
const TABLE: &str = crate::schema::Table::DataRetentionPolicy.name();

/// Days samples of a miner without a policy are kept.
pub const DEFAULT_RETENTION_DAYS: i64 = 90;

/// A miner's retention policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Miner hotkey.
    pub miner_hotkey: String,
    /// Protected miners never lose a sample to cleanup.
    pub is_protected: bool,
    /// Why it is protected.
    pub protection_reason: Option<String>,
    /// Days samples are kept (when unprotected).
    pub retention_days: i64,
    /// Last cleanup of this miner, epoch seconds.
    pub last_cleanup_at: Option<i64>,
    /// Since when it is protected (kept while it stays protected).
    pub protected_since: Option<i64>,
}

impl RetentionPolicy {
    /// The default policy of a miner that has none.
    pub fn default_for(miner_hotkey: &str) -> RetentionPolicy {
        RetentionPolicy {
            miner_hotkey: miner_hotkey.to_string(),
            is_protected: false,
            protection_reason: None,
            retention_days: DEFAULT_RETENTION_DAYS,
            last_cleanup_at: None,
            protected_since: None,
        }
    }

    /// The stored item.
    pub fn to_item(&self) -> Item {
        let mut item = Item::new();
        item.insert(PK.into(), Attr::S(keys::retention_pk(&self.miner_hotkey)));
        item.insert(SK.into(), Attr::s(keys::METADATA_SK));
        item.insert("miner_hotkey".into(), Attr::s(&self.miner_hotkey));
        item.insert("is_protected".into(), Attr::Bool(self.is_protected));
        item.insert(
            "protection_reason".into(),
            Attr::opt_s(self.protection_reason.as_deref()),
        );
        item.insert("retention_days".into(), Attr::int(self.retention_days));
        item.insert(
            "last_cleanup_at".into(),
            Attr::opt_int(self.last_cleanup_at),
        );
        item.insert(
            "protected_since".into(),
            Attr::opt_int(self.protected_since),
        );
        item
    }

    /// Reads a stored item.
    pub fn from_item(item: &Item) -> Result<RetentionPolicy> {
        let r = ItemReader::new(TABLE, item);
        Ok(RetentionPolicy {
            miner_hotkey: r.s("miner_hotkey")?,
            is_protected: r.opt_bool("is_protected")?.unwrap_or_default(),
            protection_reason: r.opt_s("protection_reason")?,
            retention_days: r
                .opt_i64("retention_days")?
                .unwrap_or(DEFAULT_RETENTION_DAYS),
            last_cleanup_at: r.opt_i64("last_cleanup_at")?,
            protected_since: r.opt_i64("protected_since")?,
        })
    }

    /// The policy after [`RetentionStore::set_policy`] over `existing` at
    /// `now_s`: `protected_since` is kept while protected, set to now when
    /// becoming protected and cleared when unprotected; `last_cleanup_at` kept.
    ///
    /// `since` (from [`RetentionStore::set_protected`]) overrides the
    /// `protected_since` of a protected result. This is the rule
    /// [`rules::retention::write`](crate::rules::retention::write)
    /// evaluated in memory.
    pub fn apply(
        existing: Option<&RetentionPolicy>,
        miner_hotkey: &str,
        is_protected: bool,
        protection_reason: Option<String>,
        retention_days: i64,
        now_s: i64,
        since: Option<i64>,
    ) -> Result<RetentionPolicy> {
        let rule = crate::rules::retention::write(
            miner_hotkey,
            is_protected,
            protection_reason,
            Some(retention_days),
            since,
            now_s,
        )?;
        let current = existing.map(RetentionPolicy::to_item);
        Ok(rule.run(current.as_ref())?.1)
    }
}

/// The order of [`RetentionStore::get_all_policies`]: by hotkey.
pub static BY_HOTKEY: Order<RetentionPolicy> = Order {
    fields: &[Field {
        attr: "miner_hotkey",
        descending: false,
        get: |p| Key::str(&p.miner_hotkey),
    }],
};

/// Checks a policy's inputs.
pub fn validate_policy(miner_hotkey: &str, retention_days: i64) -> Result<()> {
    keys::validate_part("miner_hotkey", miner_hotkey)?;
    if retention_days < 0 {
        return Err(Error::invalid(
            "retention_days",
            format!("{retention_days} is negative"),
        ));
    }
    Ok(())
}

/// Checks an explicit `protected_since` (epoch seconds, not negative).
pub fn validate_protected_since(protected_since: Option<i64>) -> Result<()> {
    match protected_since {
        Some(s) => keys::validate_timestamp("protected_since", s),
        None => Ok(()),
    }
}

/// Retention policies.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Sets a miner's policy (see [`RetentionPolicy::apply`]), atomically.
    async fn set_policy(
        &self,
        miner_hotkey: &str,
        is_protected: bool,
        protection_reason: Option<String>,
        retention_days: i64,
    ) -> Result<RetentionPolicy>;

    /// One policy.
    async fn get_policy(&self, miner_hotkey: &str) -> Result<Option<RetentionPolicy>>;

    /// Whether the miner is protected (false without a policy).
    async fn is_protected(&self, miner_hotkey: &str) -> Result<bool> {
        Ok(self
            .get_policy(miner_hotkey)
            .await?
            .is_some_and(|p| p.is_protected))
    }

    /// Protects a miner, keeping its retention days (90 without a policy).
    /// `protected_since` becomes the one given; without one it is kept if
    /// the miner is already protected, else now.
    async fn set_protected(
        &self,
        miner_hotkey: &str,
        reason: &str,
        protected_since: Option<i64>,
    ) -> Result<RetentionPolicy>;

    /// Unprotects a miner, keeping its retention days.
    async fn set_unprotected(&self, miner_hotkey: &str) -> Result<RetentionPolicy>;

    /// Records `last_cleanup_at` = now (creating a default policy if none).
    async fn update_cleanup_timestamp(&self, miner_hotkey: &str) -> Result<RetentionPolicy>;

    /// Every policy, by hotkey.
    async fn get_all_policies(&self) -> Result<Vec<RetentionPolicy>>;

    /// Protected policies, by hotkey.
    async fn get_protected_miners(&self) -> Result<Vec<RetentionPolicy>> {
        let mut all = self.get_all_policies().await?;
        all.retain(|p| p.is_protected);
        Ok(all)
    }
}
