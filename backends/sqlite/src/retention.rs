//! `data_retention_policy` on SQLite. Every change is a read-modify-write
//! inside one `BEGIN IMMEDIATE` transaction.

use affine_db_core::keys;
use affine_db_core::schema::Table;
use affine_db_core::tables::retention::{
    validate_policy, validate_protected_since, RetentionPolicy, RetentionStore,
    DEFAULT_RETENTION_DAYS,
};
use affine_db_core::Result;
use async_trait::async_trait;
use rusqlite::{params, Connection};

use crate::row::{self, Cols};
use crate::SqliteBackend;

const T: Table = Table::DataRetentionPolicy;

fn get_policy(conn: &Connection, hotkey: &str, now_s: i64) -> Result<Option<RetentionPolicy>> {
    row::get_item(
        conn,
        T,
        &keys::retention_pk(hotkey),
        keys::METADATA_SK,
        now_s,
    )?
    .map(|i| RetentionPolicy::from_item(&i))
    .transpose()
}

impl SqliteBackend {
    /// Replaces the policy with `f(existing, now)` atomically.
    async fn update_policy<F>(&self, miner_hotkey: &str, f: F) -> Result<RetentionPolicy>
    where
        F: FnOnce(Option<RetentionPolicy>, i64) -> RetentionPolicy + Send + 'static,
    {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let hotkey = miner_hotkey.to_string();
        let now = self.now_s();
        self.db
            .write_tx(move |tx| {
                let existing = get_policy(tx, &hotkey, now)?;
                let policy = f(existing, now);
                row::put_item(tx, T, &policy.to_item())?;
                Ok(policy)
            })
            .await
    }
}

fn days_of(p: Option<&RetentionPolicy>) -> i64 {
    p.map_or(DEFAULT_RETENTION_DAYS, |p| p.retention_days)
}

#[async_trait]
impl RetentionStore for SqliteBackend {
    async fn set_policy(
        &self,
        miner_hotkey: &str,
        is_protected: bool,
        protection_reason: Option<String>,
        retention_days: i64,
    ) -> Result<RetentionPolicy> {
        validate_policy(miner_hotkey, retention_days)?;
        let hotkey = miner_hotkey.to_string();
        self.update_policy(miner_hotkey, move |existing, now| {
            RetentionPolicy::apply(
                existing.as_ref(),
                &hotkey,
                is_protected,
                protection_reason,
                retention_days,
                now,
                None,
            )
        })
        .await
    }

    async fn get_policy(&self, miner_hotkey: &str) -> Result<Option<RetentionPolicy>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let hotkey = miner_hotkey.to_string();
        let now = self.now_s();
        self.db.read(move |tx| get_policy(tx, &hotkey, now)).await
    }

    async fn set_protected(
        &self,
        miner_hotkey: &str,
        reason: &str,
        protected_since: Option<i64>,
    ) -> Result<RetentionPolicy> {
        validate_protected_since(protected_since)?;
        let hotkey = miner_hotkey.to_string();
        let reason = reason.to_string();
        self.update_policy(miner_hotkey, move |existing, now| {
            let days = days_of(existing.as_ref());
            RetentionPolicy::apply(
                existing.as_ref(),
                &hotkey,
                true,
                Some(reason),
                days,
                now,
                protected_since,
            )
        })
        .await
    }

    async fn set_unprotected(&self, miner_hotkey: &str) -> Result<RetentionPolicy> {
        let hotkey = miner_hotkey.to_string();
        self.update_policy(miner_hotkey, move |existing, now| {
            let days = days_of(existing.as_ref());
            RetentionPolicy::apply(existing.as_ref(), &hotkey, false, None, days, now, None)
        })
        .await
    }

    async fn update_cleanup_timestamp(&self, miner_hotkey: &str) -> Result<RetentionPolicy> {
        let hotkey = miner_hotkey.to_string();
        self.update_policy(miner_hotkey, move |existing, now| {
            let mut p = existing.unwrap_or_else(|| RetentionPolicy::default_for(&hotkey));
            p.last_cleanup_at = Some(now);
            p
        })
        .await
    }

    async fn get_all_policies(&self) -> Result<Vec<RetentionPolicy>> {
        self.db
            .read(|tx| {
                let cols = Cols::all(T);
                let sql = cols.select("WHERE \"sk\" = ?1 ORDER BY \"miner_hotkey\", \"pk\"");
                cols.query(tx, &sql, params![keys::METADATA_SK])?
                    .iter()
                    .map(RetentionPolicy::from_item)
                    .collect()
            })
            .await
    }
}
