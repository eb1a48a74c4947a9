//! `data_retention_policy`: every change is the core's rule
//! ([`crate::rules::retention`]).

use async_trait::async_trait;

use super::{all_where, Tables};
use crate::cond::Cond;
use crate::error::Result;
use crate::keys;
use crate::rules::retention as rules;
use crate::schema::{Table, SK};
use crate::tables::retention::{RetentionPolicy, RetentionStore, BY_HOTKEY};

const T: Table = Table::DataRetentionPolicy;

#[async_trait]
impl RetentionStore for Tables {
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
        self.run(rule).await
    }

    async fn get_policy(&self, miner_hotkey: &str) -> Result<Option<RetentionPolicy>> {
        let (pk, sk) = rules::policy_key(miner_hotkey)?;
        self.get_live(T, &pk, &sk)
            .await?
            .map(|i| RetentionPolicy::from_item(&i))
            .transpose()
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
        self.run(rule).await
    }

    async fn set_unprotected(&self, miner_hotkey: &str) -> Result<RetentionPolicy> {
        let rule = rules::write(miner_hotkey, false, None, None, None, self.now_s())?;
        self.run(rule).await
    }

    async fn update_cleanup_timestamp(&self, miner_hotkey: &str) -> Result<RetentionPolicy> {
        self.run(rules::cleanup_timestamp(miner_hotkey, self.now_s())?)
            .await
    }

    async fn get_all_policies(&self) -> Result<Vec<RetentionPolicy>> {
        let q = all_where(Cond::eq_s(SK, keys::METADATA_SK)).ordered(&BY_HOTKEY, false);
        self.items(T, q)
            .await?
            .iter()
            .map(RetentionPolicy::from_item)
            .collect()
    }
}
