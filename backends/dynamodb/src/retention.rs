//! `data_retention_policy` on DynamoDB. Every change is the core's rule
//! ([`affine_db_core::rules::retention`]), each branch one conditional
//! UpdateItem: `protected_since` is kept by a conditional update while the
//! stored policy is protected, and set otherwise.

use affine_db_core::cond::Cond;
use affine_db_core::rules::retention as rules;
use affine_db_core::schema::SK;
use affine_db_core::tables::retention::{RetentionPolicy, RetentionStore, BY_HOTKEY};
use affine_db_core::{keys, Result, Table};
use async_trait::async_trait;

use crate::query::{self, Request};
use crate::DynamoBackend;

const T: Table = Table::DataRetentionPolicy;

#[async_trait]
impl RetentionStore for DynamoBackend {
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
        let name = self.table_name(T);
        let b = self.client.scan().table_name(name).consistent_read(true);
        let policies = Cond::eq_s(SK, keys::METADATA_SK);
        let mut all = query::collect(Request::Scan(b), name, &policies, None)
            .await?
            .iter()
            .map(RetentionPolicy::from_item)
            .collect::<Result<Vec<_>>>()?;
        BY_HOTKEY.sort(&mut all, false);
        Ok(all)
    }
}
