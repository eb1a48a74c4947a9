//! `miner_metadata` on DynamoDB. Every change is one UpdateItem: metadata
//! saves keep statistics and pause state with `if_not_exists` and the
//! earliest `first_commit_block` with a condition; counters use `ADD`.

use affine_db_core::tables::miners::{MinerInfo, MinerMetadata, MinerStore};
use affine_db_core::{keys, Error, Result, Table};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use crate::convert;
use crate::errors::{is_conditional, map_err};
use crate::expr::Update;
use crate::query::{self, Request};
use crate::DynamoBackend;

const T: Table = Table::MinerMetadata;

fn null() -> AttributeValue {
    AttributeValue::Null(true)
}

fn opt_s(v: Option<&str>) -> AttributeValue {
    v.map_or_else(null, convert::s)
}

fn opt_n(v: Option<i64>) -> AttributeValue {
    v.map_or_else(null, convert::n)
}

impl DynamoBackend {
    /// Runs `u` on the miner's item; `Ok(None)` when its condition failed.
    async fn update_miner(&self, hotkey: &str, u: Update) -> Result<Option<MinerMetadata>> {
        let name = self.table_name(T);
        let _guard = self
            .lock_item(T, &keys::miner_pk(hotkey), keys::METADATA_SK)
            .await;
        let b = self
            .client
            .update_item()
            .table_name(name)
            .set_key(Some(convert::key(
                keys::miner_pk(hotkey),
                keys::METADATA_SK,
            )))
            .return_values(ReturnValue::AllNew);
        match u.apply(b).send().await {
            Ok(out) => Ok(Some(MinerMetadata::from_item(&convert::from_map(
                &out.attributes.unwrap_or_default(),
            )?)?)),
            Err(e) if is_conditional(&e) => Ok(None),
            Err(e) => Err(map_err(e, &format!("{name}: update miner {hotkey}"))),
        }
    }

    /// Runs `u` on an existing miner; NotFound without one.
    async fn update_existing(&self, hotkey: &str, mut u: Update) -> Result<MinerMetadata> {
        keys::validate_part("miner_hotkey", hotkey)?;
        u.require_live(None, 0);
        self.update_miner(hotkey, u)
            .await?
            .ok_or_else(|| Error::NotFound(format!("miner {hotkey}")))
    }
}

fn unpause(u: &mut Update) {
    u.set("is_paused", AttributeValue::Bool(false))
        .set("pause_reason", null())
        .set("pause_until", null());
}

#[async_trait]
impl MinerStore for DynamoBackend {
    async fn save_metadata(&self, info: MinerInfo) -> Result<MinerMetadata> {
        info.validate()?;
        let now = self.now_s();
        let mut base = Update::new();
        base.set("miner_hotkey", convert::s(&info.miner_hotkey))
            .set("uid", convert::n(info.uid))
            .set("current_revision", convert::s(&info.current_revision))
            .set("model_hash", convert::s(&info.model_hash))
            .set("model_name", convert::s(&info.model_name))
            .set("chutes_slug", opt_s(info.chutes_slug.as_deref()))
            .set("chutes_status", convert::s(info.chutes_status.as_str()))
            .set(
                "chutes_last_checked",
                convert::n(info.chutes_last_checked.unwrap_or(now)),
            )
            .set("last_commit_block", opt_n(info.last_commit_block))
            .set("updated_at", convert::n(now))
            .keep_or("total_samples", convert::n(0))
            .keep_or("success_count", convert::n(0))
            .keep_or("error_count", convert::n(0))
            .keep_or("last_sample_time", null())
            .keep_or("is_paused", AttributeValue::Bool(false))
            .keep_or("pause_reason", null())
            .keep_or("pause_until", null())
            .keep_or("consecutive_errors", convert::n(0));
        if let Some(first) = info.first_commit_block {
            // Earlier than what is stored (or nothing stored): take it.
            let mut u = base.clone();
            u.set("first_commit_block", convert::n(first));
            let f = u.name("first_commit_block");
            let null_type = u.value(convert::s("NULL"));
            let v = u.value(convert::n(first));
            u.condition(format!(
                "attribute_not_exists({f}) OR attribute_type({f}, {null_type}) OR {f} > {v}"
            ));
            if let Some(m) = self.update_miner(&info.miner_hotkey, u).await? {
                return Ok(m);
            }
        }
        base.keep_or("first_commit_block", null());
        self.update_miner(&info.miner_hotkey, base)
            .await?
            .ok_or_else(|| {
                Error::Conflict(format!(
                    "miner {} changed during the save",
                    info.miner_hotkey
                ))
            })
    }

    async fn get_metadata(&self, miner_hotkey: &str) -> Result<Option<MinerMetadata>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        self.get_live(T, &keys::miner_pk(miner_hotkey), keys::METADATA_SK)
            .await?
            .map(|i| MinerMetadata::from_item(&i))
            .transpose()
    }

    async fn update_statistics(
        &self,
        miner_hotkey: &str,
        success: bool,
        increment_samples: bool,
    ) -> Result<MinerMetadata> {
        let mut u = Update::new();
        u.set("last_sample_time", convert::n(self.now_s()));
        if increment_samples {
            u.add("total_samples", 1);
        }
        if success {
            u.add("success_count", 1)
                .set("consecutive_errors", convert::n(0));
        } else {
            u.add("error_count", 1).add("consecutive_errors", 1);
        }
        self.update_existing(miner_hotkey, u).await
    }

    async fn pause_miner(
        &self,
        miner_hotkey: &str,
        reason: &str,
        duration_s: Option<i64>,
    ) -> Result<MinerMetadata> {
        if let Some(d) = duration_s.filter(|d| *d < 0) {
            return Err(Error::invalid("duration_s", format!("{d} is negative")));
        }
        let now = self.now_s();
        let mut u = Update::new();
        u.set("is_paused", AttributeValue::Bool(true))
            .set("pause_reason", convert::s(reason))
            .set(
                "pause_until",
                opt_n(duration_s.map(|d| now.saturating_add(d))),
            );
        self.update_existing(miner_hotkey, u).await
    }

    async fn unpause_miner(&self, miner_hotkey: &str) -> Result<MinerMetadata> {
        let mut u = Update::new();
        unpause(&mut u);
        self.update_existing(miner_hotkey, u).await
    }

    async fn check_pause_expired(&self, miner_hotkey: &str) -> Result<bool> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let mut u = Update::new();
        unpause(&mut u);
        let paused = u.name("is_paused");
        let until = u.name("pause_until");
        let t = u.value(AttributeValue::Bool(true));
        let now = u.value(convert::n(self.now_s()));
        u.require_live(None, 0)
            .condition(format!("{paused} = {t} AND {until} <= {now}"));
        Ok(self.update_miner(miner_hotkey, u).await?.is_some())
    }

    async fn get_all_miners(&self) -> Result<Vec<MinerMetadata>> {
        let name = self.table_name(T);
        let b = self.client.scan().table_name(name).consistent_read(true);
        let mut miners = query::collect(Request::Scan(b), name, None, None, |i| {
            Ok(matches!(i.get("sk"), Some(affine_db_core::Attr::S(s)) if s == keys::METADATA_SK))
        })
        .await?
        .iter()
        .map(MinerMetadata::from_item)
        .collect::<Result<Vec<_>>>()?;
        miners.sort_by(|a, b| a.miner_hotkey.cmp(&b.miner_hotkey));
        Ok(miners)
    }
}
