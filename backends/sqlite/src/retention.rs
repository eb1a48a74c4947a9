//! `data_retention_policy` on SQLite. Every change is the core's rule
//! ([`affine_db_core::rules::retention`]) run inside one `BEGIN IMMEDIATE`
//! transaction.

use affine_db_core::cond::Cond;
use affine_db_core::keys;
use affine_db_core::rules::retention as rules;
use affine_db_core::schema::{Table, SK};
use affine_db_core::tables::retention::{RetentionPolicy, RetentionStore, BY_HOTKEY};
use affine_db_core::Result;
use async_trait::async_trait;

use crate::row::{self, Cols};
use crate::sql::order_by;
use crate::SqliteBackend;

const T: Table = Table::DataRetentionPolicy;

#[async_trait]
impl RetentionStore for SqliteBackend {
    async fn set_policy(
        &self,
        miner_hotkey: &str,
        is_protected: bool,
        protection_reason: Option<String>,
        retention_days: i64,
    ) -> Result<RetentionPolicy> {
        let rule = rules::write(
            miner_hotkey,
            is_protected,
            protection_reason,
            Some(retention_days),
            None,
            self.now_s(),
        )?;
        self.execute(rule).await
    }

    async fn get_policy(&self, miner_hotkey: &str) -> Result<Option<RetentionPolicy>> {
        let (pk, sk) = rules::policy_key(miner_hotkey)?;
        let now = self.now_s();
        self.db
            .read(move |tx| {
                row::get_item(tx, T, &pk, &sk, now)?
                    .map(|i| RetentionPolicy::from_item(&i))
                    .transpose()
            })
            .await
    }

    async fn set_protected(
        &self,
        miner_hotkey: &str,
        reason: &str,
        protected_since: Option<i64>,
    ) -> Result<RetentionPolicy> {
        let rule = rules::write(
            miner_hotkey,
            true,
            Some(reason.to_string()),
            None,
            protected_since,
            self.now_s(),
        )?;
        self.execute(rule).await
    }

    async fn set_unprotected(&self, miner_hotkey: &str) -> Result<RetentionPolicy> {
        let rule = rules::write(miner_hotkey, false, None, None, None, self.now_s())?;
        self.execute(rule).await
    }

    async fn update_cleanup_timestamp(&self, miner_hotkey: &str) -> Result<RetentionPolicy> {
        self.execute(rules::cleanup_timestamp(miner_hotkey, self.now_s())?)
            .await
    }

    async fn get_all_policies(&self) -> Result<Vec<RetentionPolicy>> {
        self.db
            .read(|tx| {
                let order = order_by(&BY_HOTKEY, false);
                let policies = Cond::eq_s(SK, keys::METADATA_SK);
                row::select(tx, &Cols::all(T), &policies, Some(&order), None)?
                    .iter()
                    .map(RetentionPolicy::from_item)
                    .collect()
            })
            .await
    }
}
