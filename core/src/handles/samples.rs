//! `sample_results`: samples are validated and defaulted by the records,
//! encoded with the shared codec (dictionaries synced first), and read by
//! partition (one miner and revision) or through the env/time index.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, StreamExt, TryStreamExt};

use super::{index, Tables};
use crate::dictionaries;
use crate::driver::{key_of, Consistency, Query, RangeCond, Select, Target};
use crate::error::{Error, Result};
use crate::item::{Attr, Item};
use crate::keys;
use crate::rules::samples as rules;
use crate::schema::{Projection, Table, ENV_TIMESTAMP_INDEX, LEAN_SAMPLES_INDEX};
use crate::tables::samples::{
    Conversation, MinerSamplesQuery, NewSample, Sample, SampleKey, SampleStore, SampleStream,
    BY_ENV, BY_MINER,
};

const T: Table = Table::SampleResults;

/// What a read selects: with the conversation, or without the attributes
/// the env index leaves out (the conversation, named once in the schema).
fn select(conversation: Conversation) -> Result<Select> {
    Ok(
        match (conversation, index(T, ENV_TIMESTAMP_INDEX)?.projection) {
            (Conversation::Skip, Projection::AllExcept(skip)) => Select::Without(skip),
            _ => Select::All,
        },
    )
}

/// The read of `env`'s samples in the inclusive time range, through the
/// env index, in [`BY_ENV`] order.
fn env_read(env: &str, start_ms: i64, end_ms: i64, limit: Option<usize>) -> Result<Query> {
    keys::validate_part("env", env)?;
    let target = Target::Index {
        index: index(T, ENV_TIMESTAMP_INDEX)?,
        hash: Attr::s(env),
    };
    Ok(
        Query::new(target, rules::in_env_range(env, start_ms, end_ms))
            .range(RangeCond::Between(Attr::int(start_ms), Attr::int(end_ms)))
            .ordered(&BY_ENV, false)
            .limit(limit),
    )
}

fn warn_missing(table: &str, index: &str) {
    tracing::warn!(%table, %index, "index missing: reading the partition; `affine-db init` creates it");
}

/// Where a stream of samples is: the read (its cursor at the last page
/// read), what to read instead when its index is missing, how much of the
/// limit is left, and whether rows are read whole after their keys.
struct Paging {
    tables: Arc<Tables>,
    query: Query,
    fallback: Option<Query>,
    left: Option<usize>,
    conversation: Conversation,
    whole: bool,
    done: bool,
}

impl Paging {
    /// The next page of samples (at most [`rules::STREAM_PAGE`]), `None`
    /// after the last.
    async fn next(&mut self) -> Result<Option<Vec<Sample>>> {
        if self.done || self.left == Some(0) {
            return Ok(None);
        }
        let size = self
            .left
            .map_or(rules::STREAM_PAGE, |l| l.min(rules::STREAM_PAGE));
        let page = loop {
            let q = self
                .query
                .clone()
                .limit(Some(size))
                .consistency(self.tables.reads(T));
            // The fallback serves only the first page: a later one resumes
            // the read that answered.
            match (self.tables.driver.query(T, &q).await, self.fallback.take()) {
                (Err(Error::MissingIndex { table, index, .. }), Some(fallback)) => {
                    warn_missing(&table, &index);
                    self.query = fallback;
                }
                (page, _) => break page?,
            }
        };
        if let Some(left) = &mut self.left {
            *left = left.saturating_sub(page.items.len());
        }
        match page.cursor {
            Some(cursor) => {
                self.resume_after(page.items.last());
                self.query.cursor = Some(cursor);
            }
            None => self.done = true,
        }
        let items = if self.whole {
            self.tables
                .whole(page.items.iter().filter_map(key_of).collect())
                .await?
        } else {
            page.items
        };
        Ok(Some(self.tables.decode(&items, self.conversation).await?))
    }

    /// An index read in its range order resumes at the range value of the
    /// last item read, so no page reads again what an earlier one passed
    /// (the cursor then skips the ties already returned).
    fn resume_after(&mut self, last: Option<&Item>) {
        let Target::Index { index, .. } = self.query.target else {
            return;
        };
        let (Some(first), Some(at)) = (
            self.query.order.first(),
            last.and_then(|i| i.get(index.range)),
        ) else {
            return;
        };
        if first.attr != index.range {
            return;
        }
        if let RangeCond::Between(lo, hi) = &self.query.range {
            self.query.range = if first.descending {
                RangeCond::Between(lo.clone(), at.clone())
            } else {
                RangeCond::Between(at.clone(), hi.clone())
            };
        }
    }

    /// The samples of every page, one by one.
    fn stream(self) -> SampleStream {
        stream::try_unfold(self, |mut paging| async move {
            Ok(paging.next().await?.map(|page| (page, paging)))
        })
        .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }
}

impl Tables {
    /// Validates and encodes every sample (nothing written when one is
    /// invalid), writes what the re-save rule keeps ([`rules::plan_saves`]),
    /// then deletes the samples it supersedes ([`rules::superseded_by`]),
    /// in one [`Driver::put_then_delete_where`](crate::driver::Driver::put_then_delete_where)
    /// call when the batch fits one (one transaction on an atomic store):
    /// elsewhere a fault between the two leaves a duplicate, never a lost
    /// sample.
    async fn save_batch(&self, samples: Vec<NewSample>) -> Result<(Vec<Sample>, rules::SavePlan)> {
        let now_ms = self.now_ms();
        dictionaries::sync_if_due(&self.codec, self).await;
        let given: Vec<bool> = samples.iter().map(|s| s.sample_id.is_some()).collect();
        let samples = samples
            .into_iter()
            .map(|s| s.into_sample(now_ms))
            .collect::<Result<Vec<_>>>()?;
        let plan = rules::plan_saves(&samples, &given);
        let mut items = Vec::with_capacity(plan.write.len());
        for &i in &plan.write {
            let item = samples[i].to_item(&self.codec)?;
            crate::driver::check_put(T, &item)?;
            items.push(item);
        }
        let superseded: Vec<Query> = plan
            .replaces
            .iter()
            .map(|(pk, id, sk)| {
                Query::new(
                    Target::Partition(pk.clone()),
                    rules::superseded_by(pk, id, sk),
                )
            })
            .collect();
        if items.len() <= self.driver.capabilities().put_batch_items() {
            // One call: one transaction on an atomic store.
            let mut items = items;
            items.iter_mut().for_each(crate::number::canonicalize_item);
            self.driver
                .put_then_delete_where(T, items, superseded)
                .await?;
        } else {
            self.put_all(T, items).await?;
            for q in superseded {
                self.driver.delete_where(T, q).await?;
            }
        }
        Ok((samples, plan))
    }

    /// The read of a miner's samples, and the partition query to read
    /// instead should it answer [`Error::MissingIndex`]. Without
    /// conversations the lean index holds the same rows in the same order
    /// for the price of their lean size and is the read (the partition its
    /// fallback, for a table made before the index until `init` adds it);
    /// it cannot be read strongly, so strong reads, and reads with
    /// conversations, are the partition query, without a fallback.
    fn miner_reads(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        query: &MinerSamplesQuery,
    ) -> Result<(Query, Option<Query>)> {
        let pk = rules::owner(miner_hotkey, model_revision)?;
        if let Some(env) = &query.env {
            keys::validate_part("env", env)?;
        }
        // The env is a prefix of the sort key: a key range, not a filter.
        let q = Query::new(Target::Partition(pk.clone()), rules::of_owner(&pk, None))
            .range(rules::env_range(query.env.as_deref()))
            .ordered(&BY_MINER, query.newest_first)
            .limit(query.limit)
            .select(select(query.conversation)?);
        Ok(match (query.conversation, self.reads(T)) {
            (Conversation::Skip, Consistency::Eventual) => {
                let lean = Query {
                    target: Target::Index {
                        index: index(T, LEAN_SAMPLES_INDEX)?,
                        hash: Attr::s(&pk),
                    },
                    ..q.clone()
                };
                (lean, Some(q))
            }
            _ => (q, None),
        })
    }

    async fn decode(&self, items: &[Item], conversation: Conversation) -> Result<Vec<Sample>> {
        dictionaries::decode_samples(&self.codec, self, items, conversation).await
    }

    /// The whole items of `keys` (read as the table's public reads are),
    /// in the keys' order. Where a partition holds at least
    /// [`rules::SPAN_READ_MIN`] of them, they are read as one query over
    /// the sort keys they span (every row in a span of one env's keys that
    /// a read by env did not return is left out); the rest by key, in
    /// batches.
    async fn whole(&self, keys: Vec<(String, String)>) -> Result<Vec<Item>> {
        let mut by_pk: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (pk, sk) in &keys {
            by_pk.entry(pk).or_default().push(sk);
        }
        let mut found = BTreeMap::new();
        let mut singles = Vec::new();
        for (pk, sks) in by_pk {
            if sks.len() < rules::SPAN_READ_MIN {
                singles.extend(sks.iter().map(|sk| (pk.to_string(), sk.to_string())));
                continue;
            }
            let (lo, hi) = (sks.iter().min(), sks.iter().max());
            let (Some(lo), Some(hi)) = (lo, hi) else {
                continue;
            };
            let span = Query::new(Target::Partition(pk.to_string()), rules::of_owner(pk, None))
                .range(RangeCond::Between(Attr::s(*lo), Attr::s(*hi)));
            for item in self.read_items(T, span).await? {
                if let Some(k) = key_of(&item) {
                    found.insert(k, item);
                }
            }
        }
        let size = self.driver.capabilities().max_batch_get.max(1);
        for chunk in singles.chunks(size) {
            for item in self
                .driver
                .get_batch(T, chunk.to_vec(), Select::All, self.reads(T))
                .await?
            {
                if let Some(k) = key_of(&item) {
                    found.insert(k, item);
                }
            }
        }
        Ok(keys.iter().filter_map(|k| found.remove(k)).collect())
    }
}

#[async_trait]
impl SampleStore for Tables {
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
        let item = self
            .driver
            .get(
                T,
                &key.pk(),
                &key.sk(),
                select(conversation)?,
                self.reads(T),
            )
            .await?;
        let items: Vec<Item> = item.into_iter().collect();
        Ok(self.decode(&items, conversation).await?.into_iter().next())
    }

    async fn get_samples_by_miner(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        query: &MinerSamplesQuery,
    ) -> Result<Vec<Sample>> {
        let (q, fallback) = self.miner_reads(miner_hotkey, model_revision, query)?;
        let items = match (self.read_items(T, q).await, fallback) {
            (Err(Error::MissingIndex { table, index, .. }), Some(fallback)) => {
                warn_missing(&table, &index);
                self.read_items(T, fallback).await?
            }
            (read, _) => read?,
        };
        self.decode(&items, query.conversation).await
    }

    async fn get_samples_by_task_ids(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_ids: &[String],
        conversation: Conversation,
    ) -> Result<Vec<Sample>> {
        let pk = rules::owner(miner_hotkey, model_revision)?;
        let wanted = rules::task_ids(task_ids)?;
        let mut items = Vec::new();
        for chunk in wanted.chunks(rules::TASK_IDS_PER_QUERY) {
            let q = Query::new(
                Target::Partition(pk.clone()),
                rules::with_task_ids(&pk, chunk),
            )
            .ordered(&BY_MINER, false)
            .select(select(conversation)?);
            items.extend(self.read_items(T, q).await?);
        }
        let mut found = self.decode(&items, conversation).await?;
        found.sort_by(|a, b| BY_MINER.compare(a, b));
        Ok(found)
    }

    async fn get_samples_by_env(
        &self,
        env: &str,
        start_ms: i64,
        end_ms: i64,
        limit: Option<usize>,
        conversation: Conversation,
    ) -> Result<Vec<Sample>> {
        let q = env_read(env, start_ms, end_ms, limit)?;
        let items = match conversation {
            Conversation::Skip => self.read_items(T, q).await?,
            // The index does not carry conversations: read the rows whole.
            Conversation::Include => {
                let found = self.read_items(T, q.select(Select::Keys)).await?;
                self.whole(found.iter().filter_map(key_of).collect())
                    .await?
            }
        };
        self.decode(&items, conversation).await
    }

    fn stream_samples_by_miner(
        self: Arc<Self>,
        miner_hotkey: String,
        model_revision: String,
        query: MinerSamplesQuery,
    ) -> SampleStream {
        let (q, fallback) = match self.miner_reads(&miner_hotkey, &model_revision, &query) {
            Ok(reads) => reads,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        Paging {
            tables: self,
            left: query.limit,
            query: q,
            fallback,
            conversation: query.conversation,
            whole: false,
            done: false,
        }
        .stream()
    }

    fn stream_samples_by_env(
        self: Arc<Self>,
        env: String,
        start_ms: i64,
        end_ms: i64,
        limit: Option<usize>,
        conversation: Conversation,
    ) -> SampleStream {
        let q = match env_read(&env, start_ms, end_ms, limit) {
            Ok(q) => q,
            Err(e) => return stream::once(async move { Err(e) }).boxed(),
        };
        let whole = conversation == Conversation::Include;
        Paging {
            tables: self,
            query: if whole { q.select(Select::Keys) } else { q },
            fallback: None,
            left: limit,
            conversation,
            whole,
            done: false,
        }
        .stream()
    }

    async fn delete_samples_before(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        before_ms: i64,
    ) -> Result<usize> {
        let pk = rules::owner(miner_hotkey, model_revision)?;
        let filter = rules::of_owner(&pk, None).and(rules::before(before_ms));
        self.driver
            .delete_where(T, Query::new(Target::Partition(pk), filter))
            .await
    }

    async fn count_samples_before(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        before_ms: i64,
    ) -> Result<usize> {
        let pk = rules::owner(miner_hotkey, model_revision)?;
        let filter = rules::of_owner(&pk, None).and(rules::before(before_ms));
        self.driver
            .count(T, Query::new(Target::Partition(pk), filter))
            .await
    }

    async fn list_sample_owners(&self) -> Result<Vec<(String, String)>> {
        let pks = self.driver.partitions(T).await?;
        let mut owners = pks
            .iter()
            .map(|pk| keys::parse_miner_revision_pk(pk))
            .collect::<Result<Vec<_>>>()?;
        owners.sort();
        owners.dedup();
        Ok(owners)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::driver::InMemory;

    /// Forwards every method but `get_samples_by_task_ids` to the handles,
    /// so that one is the trait's provided method.
    struct Plain(Tables);

    #[async_trait]
    impl SampleStore for Plain {
        async fn save_sample(&self, sample: NewSample) -> Result<Sample> {
            self.0.save_sample(sample).await
        }
        async fn save_samples(&self, samples: Vec<NewSample>) -> Result<Vec<SampleKey>> {
            self.0.save_samples(samples).await
        }
        async fn get_sample(&self, key: &SampleKey, c: Conversation) -> Result<Option<Sample>> {
            self.0.get_sample(key, c).await
        }
        async fn get_samples_by_miner(
            &self,
            hk: &str,
            rev: &str,
            q: &MinerSamplesQuery,
        ) -> Result<Vec<Sample>> {
            self.0.get_samples_by_miner(hk, rev, q).await
        }
        async fn get_samples_by_env(
            &self,
            env: &str,
            start_ms: i64,
            end_ms: i64,
            limit: Option<usize>,
            c: Conversation,
        ) -> Result<Vec<Sample>> {
            self.0
                .get_samples_by_env(env, start_ms, end_ms, limit, c)
                .await
        }
        async fn delete_samples_before(&self, hk: &str, rev: &str, before: i64) -> Result<usize> {
            self.0.delete_samples_before(hk, rev, before).await
        }
        async fn count_samples_before(&self, hk: &str, rev: &str, before: i64) -> Result<usize> {
            self.0.count_samples_before(hk, rev, before).await
        }
        async fn list_sample_owners(&self) -> Result<Vec<(String, String)>> {
            self.0.list_sample_owners().await
        }
    }

    fn new_sample(env: &str, ts: i64, task: &str) -> NewSample {
        NewSample {
            timestamp: Some(ts),
            miner_hotkey: "hk".into(),
            model_revision: "rev".into(),
            env: env.into(),
            task_id: task.into(),
            conversation: serde_json::json!([{"role": "user", "content": task}]),
            ..NewSample::default()
        }
    }

    /// The provided `get_samples_by_task_ids` (what the reference model
    /// and wrappers use) and the handles' filtered queries agree: same
    /// samples, same order, same refusals.
    #[test]
    fn the_provided_lookup_by_task_ids_agrees_with_the_handles() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let plain = Plain(Tables::new(
                Arc::new(InMemory::new()),
                Arc::new(ManualClock::new(1_700_000_000_000)),
            ));
            let batch: Vec<NewSample> = (0..120)
                .map(|i| {
                    new_sample(
                        ["sat", "abd"][i % 2],
                        1_000 + i as i64,
                        &format!("t{}", i % 70),
                    )
                })
                .collect();
            plain.save_samples(batch).await.unwrap();
            let ids: Vec<String> = (0..80).rev().map(|i| format!("t{}", i * 3 % 90)).collect();
            for c in [Conversation::Include, Conversation::Skip] {
                let provided = plain
                    .get_samples_by_task_ids("hk", "rev", &ids, c)
                    .await
                    .unwrap();
                let handles = plain
                    .0
                    .get_samples_by_task_ids("hk", "rev", &ids, c)
                    .await
                    .unwrap();
                assert!(!provided.is_empty());
                assert_eq!(provided, handles);
            }
            let bad = |r: Result<Vec<Sample>>| matches!(r, Err(crate::Error::InvalidInput { .. }));
            assert!(bad(plain
                .get_samples_by_task_ids("h#k", "rev", &ids, Conversation::Skip)
                .await));
            assert!(bad(plain
                .0
                .get_samples_by_task_ids("h#k", "rev", &ids, Conversation::Skip)
                .await));
        });
    }
}
