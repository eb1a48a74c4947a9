//! `sample_results` on DynamoDB. The `env-timestamp-index` projects every
//! attribute but `conversation_compressed`; reads that need conversations
//! fetch them by key (BatchGetItem), so each is stored once.

use std::collections::{BTreeSet, HashMap};

use affine_db_core::cond::Cond;
use affine_db_core::dictionaries;
use affine_db_core::rules::samples as rules;
use affine_db_core::schema::{ENV_TIMESTAMP_INDEX, PK, SK};
use affine_db_core::tables::samples::BY_ENV;
use affine_db_core::{
    keys, Attr, Conversation, Error, Item, MinerSamplesQuery, NewSample, Result, Sample, SampleKey,
    SampleStore, Table,
};
use async_trait::async_trait;

use crate::batch::{self, WriteOp};
use crate::convert;
use crate::query::{self, Request};
use crate::DynamoBackend;

const T: Table = Table::SampleResults;
const CONVERSATION: &str = "conversation_compressed";
const TIMESTAMP: &str = "timestamp";
const SAMPLE_ID: &str = "sample_id";

/// Every attribute of a sample item except the conversation.
fn without_conversation() -> Vec<&'static str> {
    let mut attrs = vec![PK, SK];
    attrs.extend(
        T.def()
            .attrs
            .iter()
            .map(|a| a.name)
            .filter(|n| *n != CONVERSATION),
    );
    attrs
}

impl DynamoBackend {
    /// Fetches the conversations of `items` by key and merges them in.
    async fn attach_conversations(&self, items: &mut [Item]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let keys = items
            .iter()
            .map(|i| convert::item_key(i).ok_or_else(|| DynamoBackend::corrupt_key(T)))
            .collect::<Result<Vec<_>>>()?;
        let fetched = batch::get(
            &self.client,
            self.table_name(T),
            &keys,
            Some(&[PK, SK, CONVERSATION]),
        )
        .await?;
        let mut by_key: HashMap<(String, String), Attr> = HashMap::new();
        for map in fetched {
            let item = convert::from_map(&map)?;
            if let (Some(k), Some(c)) = (convert::item_key(&item), item.get(CONVERSATION)) {
                by_key.insert(k, c.clone());
            }
        }
        for (item, key) in items.iter_mut().zip(keys) {
            if let Some(c) = by_key.remove(&key) {
                item.insert(CONVERSATION.into(), c);
            }
        }
        Ok(())
    }

    /// Validates every sample, looks up the stored samples the re-save rule
    /// supersedes (one query per partition with a given id), then writes the
    /// winners and deletes those. Returns the validated samples (input order)
    /// and the plan carried out.
    async fn save_batch(&self, samples: Vec<NewSample>) -> Result<(Vec<Sample>, rules::SavePlan)> {
        let now = self.now_ms();
        dictionaries::sync_if_due(self.codec(), self).await;
        let given: Vec<bool> = samples.iter().map(|s| s.sample_id.is_some()).collect();
        let samples = samples
            .into_iter()
            .map(|s| s.into_sample(now))
            .collect::<Result<Vec<_>>>()?;
        let plan = rules::plan_saves(&samples, &given);
        let mut ops = plan
            .write
            .iter()
            .map(|&i| Ok(WriteOp::Put(samples[i].to_item(self.codec())?)))
            .collect::<Result<Vec<_>>>()?;
        let mut by_pk: HashMap<&str, Vec<Cond>> = HashMap::new();
        for (pk, id, sk) in &plan.replaces {
            by_pk
                .entry(pk.as_str())
                .or_default()
                .push(rules::superseded_by(pk, id, sk));
        }
        let name = self.table_name(T);
        for (pk, conds) in by_pk {
            let b = self
                .client
                .query()
                .table_name(name)
                .key_condition_expression("pk = :pk AND begins_with(sk, :env)")
                .expression_attribute_values(":pk", convert::s(pk))
                .expression_attribute_values(":env", convert::s(keys::sample_sk_prefix()))
                .consistent_read(true);
            let b = query::project_query(b, &[PK, SK, SAMPLE_ID]);
            let stale = query::collect(Request::Query(b), name, &Cond::Or(conds), None)
                .await
                .map_err(|e| batch::none_written(e, &ops))?;
            for item in stale {
                let (pk, sk) =
                    convert::item_key(&item).ok_or_else(|| DynamoBackend::corrupt_key(T))?;
                ops.push(WriteOp::Delete(pk, sk));
            }
        }
        if ops.len() == 1 {
            if let Some(WriteOp::Put(item)) = ops.first() {
                self.put(T, item).await?;
                return Ok((samples, plan));
            }
        }
        batch::write_with(&self.client, name, ops, self.batch_concurrency()).await?;
        Ok((samples, plan))
    }

    /// Keys of a partition's samples before `before_ms`.
    async fn keys_before(
        &self,
        hotkey: &str,
        revision: &str,
        before_ms: i64,
    ) -> Result<Vec<(String, String)>> {
        let pk = rules::owner(hotkey, revision)?;
        let name = self.table_name(T);
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk AND begins_with(sk, :env)")
            .expression_attribute_values(":pk", convert::s(pk))
            .expression_attribute_values(":env", convert::s(keys::sample_sk_prefix()))
            .consistent_read(true);
        let b = query::project_query(b, &[PK, SK, TIMESTAMP]);
        let items =
            query::collect(Request::Query(b), name, &rules::before(before_ms), None).await?;
        items
            .iter()
            .map(|i| convert::item_key(i).ok_or_else(|| DynamoBackend::corrupt_key(T)))
            .collect()
    }
}

#[async_trait]
impl SampleStore for DynamoBackend {
    async fn save_sample(&self, sample: NewSample) -> Result<Sample> {
        let (mut saved, _) = self.save_batch(vec![sample]).await?;
        Ok(saved.remove(0))
    }

    async fn save_samples(&self, samples: Vec<NewSample>) -> Result<Vec<SampleKey>> {
        if samples.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self.save_batch(samples).await?.1.keys)
    }

    async fn get_sample(
        &self,
        key: &SampleKey,
        conversation: Conversation,
    ) -> Result<Option<Sample>> {
        key.validate()?;
        match self.get_live(T, &key.pk(), &key.sk()).await? {
            None => Ok(None),
            Some(item) => {
                Ok(
                    dictionaries::decode_samples(self.codec(), self, &[item], conversation)
                        .await?
                        .pop(),
                )
            }
        }
    }

    async fn get_samples_by_miner(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        q: &MinerSamplesQuery,
    ) -> Result<Vec<Sample>> {
        let pk = rules::owner(miner_hotkey, model_revision)?;
        if let Some(env) = &q.env {
            keys::validate_part("env", env)?;
        }
        if q.limit == Some(0) {
            return Ok(Vec::new());
        }
        let name = self.table_name(T);
        let prefix = match &q.env {
            Some(env) => keys::sample_sk_env_prefix(env),
            None => keys::sample_sk_prefix(),
        };
        let b = self
            .client
            .query()
            .table_name(name)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", convert::s(pk))
            .expression_attribute_values(":prefix", convert::s(prefix))
            .consistent_read(true);
        let include = q.conversation == Conversation::Include;
        // The sort key order is BY_MINER (with or without an env), so the
        // limit applies while paging.
        let b = b.scan_index_forward(!q.newest_first);
        let b = if include {
            b
        } else {
            query::project_query(b, &without_conversation())
        };
        let mut items = query::collect(Request::Query(b), name, &Cond::True, q.limit).await?;
        if q.env.is_some() && !include {
            items.iter_mut().for_each(|i| {
                i.remove(CONVERSATION);
            });
        }
        dictionaries::decode_samples(self.codec(), self, &items, q.conversation).await
    }

    async fn get_samples_by_env(
        &self,
        env: &str,
        start_ms: i64,
        end_ms: i64,
        limit: Option<usize>,
        conversation: Conversation,
    ) -> Result<Vec<Sample>> {
        keys::validate_part("env", env)?;
        if rules::range_is_empty(start_ms, end_ms) || limit == Some(0) {
            return Ok(Vec::new());
        }
        let filter = rules::in_env_range(env, start_ms, end_ms);
        let name = self.table_name(T);
        let b = self
            .client
            .query()
            .table_name(name)
            .index_name(ENV_TIMESTAMP_INDEX)
            .key_condition_expression("#env = :env AND #ts BETWEEN :start AND :end")
            .expression_attribute_names("#env", "env")
            .expression_attribute_names("#ts", "timestamp")
            .expression_attribute_values(":env", convert::s(env))
            .expression_attribute_values(":start", convert::n(start_ms))
            .expression_attribute_values(":end", convert::n(end_ms));
        // The index orders by timestamp only: read past the limit until the
        // timestamp changes, so ties are broken by BY_ENV, not by the index.
        let mut pager = query::Pager::new(Request::Query(b), name);
        let mut pairs: Vec<(Sample, Item)> = Vec::new();
        'pages: while let Some(page) = self
            .via_index(T, ENV_TIMESTAMP_INDEX, pager.next_page().await)
            .await?
        {
            for item in page {
                if !filter.eval(Some(&item)) {
                    continue;
                }
                let sample = Sample::from_item(&item, None)?;
                if let Some(l) = limit {
                    if pairs.len() >= l && pairs[l - 1].0.timestamp < sample.timestamp {
                        break 'pages;
                    }
                }
                pairs.push((sample, item));
            }
        }
        pairs.sort_by(|a, b| BY_ENV.compare(&a.0, &b.0));
        if let Some(l) = limit {
            pairs.truncate(l);
        }
        let mut items: Vec<Item> = pairs.into_iter().map(|(_, i)| i).collect();
        if conversation == Conversation::Include {
            self.attach_conversations(&mut items).await?;
        }
        dictionaries::decode_samples(self.codec(), self, &items, conversation).await
    }

    async fn delete_samples_before(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        before_ms: i64,
    ) -> Result<usize> {
        let keys = self
            .keys_before(miner_hotkey, model_revision, before_ms)
            .await?;
        let n = keys.len();
        let ops = keys
            .into_iter()
            .map(|(pk, sk)| WriteOp::Delete(pk, sk))
            .collect();
        batch::write(&self.client, self.table_name(T), ops).await?;
        Ok(n)
    }

    async fn count_samples_before(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        before_ms: i64,
    ) -> Result<usize> {
        Ok(self
            .keys_before(miner_hotkey, model_revision, before_ms)
            .await?
            .len())
    }

    async fn list_sample_owners(&self) -> Result<Vec<(String, String)>> {
        let name = self.table_name(T);
        let b = query::project_scan(
            self.client.scan().table_name(name).consistent_read(true),
            &[PK],
        );
        let mut owners = BTreeSet::new();
        let mut pager = query::Pager::new(Request::Scan(b), name);
        while let Some(page) = pager.next_page().await? {
            for item in page {
                let pk = query::str_attr(&item, PK)?;
                owners.insert(keys::parse_miner_revision_pk(pk).map_err(|_| {
                    Error::corrupt(format!("{name}: malformed partition key {pk:?}"))
                })?);
            }
        }
        Ok(owners.into_iter().collect())
    }
}
