//! `data_retention_policy` on DynamoDB. Each change is one UpdateItem;
//! `protected_since` is kept by a conditional update while the stored
//! policy is protected, and set to now otherwise.

use affine_db_core::tables::retention::{
    validate_policy, validate_protected_since, RetentionPolicy, RetentionStore,
    DEFAULT_RETENTION_DAYS,
};
use affine_db_core::{keys, Error, Result, Table};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::convert;
use crate::errors::{is_conditional, map_err};
use crate::expr::Update;
use crate::query::{self, Request};
use crate::DynamoBackend;

const T: Table = Table::DataRetentionPolicy;

fn null() -> AttributeValue {
    AttributeValue::Null(true)
}

impl DynamoBackend {
    async fn update_policy(&self, hotkey: &str, u: Update) -> Result<Option<RetentionPolicy>> {
        let name = self.table_name(T);
        let b = self
            .client
            .update_item()
            .table_name(name)
            .set_key(Some(convert::key(
                keys::retention_pk(hotkey),
                keys::METADATA_SK,
            )))
            .return_values(ReturnValue::AllNew);
        match u.apply(b).send().await {
            Ok(out) => Ok(Some(RetentionPolicy::from_item(&convert::from_map(
                &out.attributes.unwrap_or_default(),
            )?)?)),
            Err(e) if is_conditional(&e) => Ok(None),
            Err(e) => Err(map_err(e, &format!("{name}: update policy {hotkey}"))),
        }
    }

    /// Sets protection; `days` `None` keeps the stored retention days (90
    /// without); `since` sets `protected_since` of a protected policy
    /// instead of keeping it.
    async fn write_policy(
        &self,
        hotkey: &str,
        protected: bool,
        reason: Option<String>,
        days: Option<i64>,
        since: Option<i64>,
    ) -> Result<RetentionPolicy> {
        keys::validate_part("miner_hotkey", hotkey)?;
        let pk = keys::retention_pk(hotkey);
        let _guard = self.lock_item(T, &pk, keys::METADATA_SK).await;
        let now = self.now_s();
        let mut base = Update::new();
        base.set("miner_hotkey", convert::s(hotkey))
            .set("is_protected", AttributeValue::Bool(protected))
            .keep_or("last_cleanup_at", null());
        match days {
            Some(d) => base.set("retention_days", convert::n(d)),
            None => base.keep_or("retention_days", convert::n(DEFAULT_RETENTION_DAYS)),
        };
        if !protected {
            base.set("protection_reason", null())
                .set("protected_since", null());
            return self
                .update_policy(hotkey, base)
                .await?
                .ok_or_else(|| Error::backend("unconditional update reported a failed condition"));
        }
        base.set(
            "protection_reason",
            reason.as_deref().map_or_else(null, convert::s),
        );
        if let Some(since) = since {
            base.set("protected_since", convert::n(since));
            return self
                .update_policy(hotkey, base)
                .await?
                .ok_or_else(|| Error::backend("unconditional update reported a failed condition"));
        }
        // Already protected since some time: keep it.
        let mut keep = base.clone();
        let p = keep.name("is_protected");
        let since = keep.name("protected_since");
        let t = keep.value(AttributeValue::Bool(true));
        let n = keep.value(convert::s("N"));
        keep.condition(format!("{p} = {t} AND attribute_type({since}, {n})"));
        if let Some(policy) = self.update_policy(hotkey, keep).await? {
            return Ok(policy);
        }
        base.set("protected_since", convert::n(now));
        self.update_policy(hotkey, base)
            .await?
            .ok_or_else(|| Error::backend("unconditional update reported a failed condition"))
    }
}

#[async_trait]
impl RetentionStore for DynamoBackend {
    async fn set_policy(
        &self,
        miner_hotkey: &str,
        is_protected: bool,
        protection_reason: Option<String>,
        retention_days: i64,
    ) -> Result<RetentionPolicy> {
        validate_policy(miner_hotkey, retention_days)?;
        self.write_policy(
            miner_hotkey,
            is_protected,
            protection_reason,
            Some(retention_days),
            None,
        )
        .await
    }

    async fn get_policy(&self, miner_hotkey: &str) -> Result<Option<RetentionPolicy>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        self.get_live(T, &keys::retention_pk(miner_hotkey), keys::METADATA_SK)
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
        validate_protected_since(protected_since)?;
        self.write_policy(
            miner_hotkey,
            true,
            Some(reason.to_string()),
            None,
            protected_since,
        )
        .await
    }

    async fn set_unprotected(&self, miner_hotkey: &str) -> Result<RetentionPolicy> {
        self.write_policy(miner_hotkey, false, None, None, None)
            .await
    }

    async fn update_cleanup_timestamp(&self, miner_hotkey: &str) -> Result<RetentionPolicy> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let pk = keys::retention_pk(miner_hotkey);
        let _guard = self.lock_item(T, &pk, keys::METADATA_SK).await;
        let mut u = Update::new();
        u.set("miner_hotkey", convert::s(miner_hotkey))
            .set("last_cleanup_at", convert::n(self.now_s()))
            .keep_or("is_protected", AttributeValue::Bool(false))
            .keep_or("protection_reason", null())
            .keep_or("retention_days", convert::n(DEFAULT_RETENTION_DAYS))
            .keep_or("protected_since", null());
        self.update_policy(miner_hotkey, u)
            .await?
            .ok_or_else(|| Error::backend("unconditional update reported a failed condition"))
    }

    async fn get_all_policies(&self) -> Result<Vec<RetentionPolicy>> {
        let name = self.table_name(T);
        let b = self.client.scan().table_name(name).consistent_read(true);
        let mut all = query::collect(Request::Scan(b), name, None, None, |i| {
            Ok(matches!(i.get("sk"), Some(affine_db_core::Attr::S(s)) if s == keys::METADATA_SK))
        })
        .await?
        .iter()
        .map(RetentionPolicy::from_item)
        .collect::<Result<Vec<_>>>()?;
        all.sort_by(|a, b| a.miner_hotkey.cmp(&b.miner_hotkey));
        Ok(all)
    }
}
