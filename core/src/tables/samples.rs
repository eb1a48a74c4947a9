//! `sample_results`: one evaluated sample with its compressed conversation.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::item::{check_item_size, Attr, Item, ItemReader};
use crate::keys;
use crate::order::{Field, Key, Order};
use crate::schema::{CONVERSATION_ATTR, PK, SK};

/// The table, as errors name it (the schema's name).
const TABLE: &str = crate::schema::Table::SampleResults.name();

/// A sample to save. `sample_id` defaults to a fresh UUID and `timestamp`
/// (milliseconds) to now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NewSample {
    /// Sample id; a fresh UUID when `None`. Give one (for example derived
    /// from a signature) to make re-saving idempotent: a save with an id
    /// already stored for the same miner and revision replaces that sample
    /// (whatever its env and timestamp), so retries keep one row
    /// ([`crate::rules::samples::plan_saves`]).
    pub sample_id: Option<String>,
    /// Milliseconds since the epoch; now when `None`.
    pub timestamp: Option<i64>,
    /// Miner hotkey (key part).
    pub miner_hotkey: String,
    /// Model revision (key part).
    pub model_revision: String,
    /// Model hash.
    pub model_hash: String,
    /// Miner uid.
    pub uid: i64,
    /// Environment (key part).
    pub env: String,
    /// Dataset subset.
    pub subset: String,
    /// Index in the dataset.
    pub dataset_index: i64,
    /// Task id the sample answers.
    pub task_id: String,
    /// Score, finite.
    pub score: f64,
    /// Whether the evaluation succeeded.
    pub success: bool,
    /// Latency in milliseconds.
    pub latency_ms: i64,
    /// The conversation, stored compressed.
    pub conversation: Value,
    /// Hotkey of the validator that produced the sample.
    pub validator_hotkey: String,
    /// Block number at evaluation.
    pub block_number: i64,
    /// Signature of the result.
    pub signature: String,
}

/// A stored sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// Sample id.
    pub sample_id: String,
    /// Miner hotkey.
    pub miner_hotkey: String,
    /// Model revision.
    pub model_revision: String,
    /// Model hash.
    pub model_hash: String,
    /// Miner uid.
    pub uid: i64,
    /// Environment.
    pub env: String,
    /// Dataset subset.
    pub subset: String,
    /// Index in the dataset.
    pub dataset_index: i64,
    /// Task id.
    pub task_id: String,
    /// Score.
    pub score: f64,
    /// Whether the evaluation succeeded.
    pub success: bool,
    /// Latency in milliseconds.
    pub latency_ms: i64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// The decompressed conversation; `None` when read with
    /// [`Conversation::Skip`].
    pub conversation: Option<Value>,
    /// Validator hotkey.
    pub validator_hotkey: String,
    /// Block number.
    pub block_number: i64,
    /// Signature.
    pub signature: String,
}

/// The full key of one sample.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SampleKey {
    /// Miner hotkey.
    pub miner_hotkey: String,
    /// Model revision.
    pub model_revision: String,
    /// Environment.
    pub env: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Sample id.
    pub sample_id: String,
}

/// Whether a read decompresses and returns conversations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Conversation {
    /// Return the decoded conversation.
    #[default]
    Include,
    /// Leave it out (cheaper: on DynamoDB index reads never fetch it).
    Skip,
}

/// Options of [`SampleStore::get_samples_by_miner`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MinerSamplesQuery {
    /// Only samples of this env.
    pub env: Option<String>,
    /// At most this many (after the env filter).
    pub limit: Option<usize>,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
    /// Whether to return conversations.
    pub conversation: Conversation,
}

impl NewSample {
    /// Validates, fills the defaults and returns the sample to store.
    /// Nothing is written by this; backends call it before any write.
    pub fn into_sample(self, now_ms: i64) -> Result<Sample> {
        let sample_id = match self.sample_id {
            Some(id) => id,
            None => uuid::Uuid::new_v4().to_string(),
        };
        let sample = Sample {
            sample_id,
            miner_hotkey: self.miner_hotkey,
            model_revision: self.model_revision,
            model_hash: self.model_hash,
            uid: self.uid,
            env: self.env,
            subset: self.subset,
            dataset_index: self.dataset_index,
            task_id: self.task_id,
            score: self.score,
            success: self.success,
            latency_ms: self.latency_ms,
            timestamp: self.timestamp.unwrap_or(now_ms),
            conversation: Some(self.conversation),
            validator_hotkey: self.validator_hotkey,
            block_number: self.block_number,
            signature: self.signature,
        };
        sample.validate()?;
        Ok(sample)
    }
}

impl Sample {
    /// This sample's key.
    pub fn key(&self) -> SampleKey {
        SampleKey {
            miner_hotkey: self.miner_hotkey.clone(),
            model_revision: self.model_revision.clone(),
            env: self.env.clone(),
            timestamp: self.timestamp,
            sample_id: self.sample_id.clone(),
        }
    }

    /// Checks key parts, the timestamp and the score.
    pub fn validate(&self) -> Result<()> {
        self.key().validate()?;
        if !self.score.is_finite() {
            return Err(Error::invalid(
                "score",
                format!("{} is not a finite number", self.score),
            ));
        }
        Ok(())
    }

    /// Builds the stored item, compressing the conversation with `codec`,
    /// and checks the item size. A sample without a conversation stores `null`.
    pub fn to_item(&self, codec: &Codec) -> Result<Item> {
        let conversation = codec.encode_for(
            &self.env,
            self.conversation.as_ref().unwrap_or(&Value::Null),
        )?;
        let key = self.key();
        let mut item = Item::new();
        item.insert(PK.into(), Attr::S(key.pk()));
        item.insert(SK.into(), Attr::S(key.sk()));
        item.insert("sample_id".into(), Attr::s(&self.sample_id));
        item.insert("miner_hotkey".into(), Attr::s(&self.miner_hotkey));
        item.insert("model_revision".into(), Attr::s(&self.model_revision));
        item.insert("model_hash".into(), Attr::s(&self.model_hash));
        item.insert("uid".into(), Attr::int(self.uid));
        item.insert("env".into(), Attr::s(&self.env));
        item.insert("subset".into(), Attr::s(&self.subset));
        item.insert("dataset_index".into(), Attr::int(self.dataset_index));
        item.insert("task_id".into(), Attr::s(&self.task_id));
        item.insert("score".into(), Attr::float(self.score));
        item.insert("success".into(), Attr::Bool(self.success));
        item.insert("latency_ms".into(), Attr::int(self.latency_ms));
        item.insert("timestamp".into(), Attr::int(self.timestamp));
        item.insert(CONVERSATION_ATTR.into(), Attr::B(conversation));
        item.insert("validator_hotkey".into(), Attr::s(&self.validator_hotkey));
        item.insert("block_number".into(), Attr::int(self.block_number));
        item.insert("signature".into(), Attr::s(&self.signature));
        check_item_size(&format!("sample {}", self.sample_id), &item)?;
        Ok(item)
    }

    /// Reads a stored item. With `Some(codec)` the conversation is decoded;
    /// with `None` (or when the item carries none) it is left out.
    pub fn from_item(item: &Item, codec: Option<&Codec>) -> Result<Sample> {
        let r = ItemReader::new(TABLE, item);
        let conversation = match (codec, r.get(CONVERSATION_ATTR)) {
            (Some(codec), Some(_)) => Some(codec.decode(r.b(CONVERSATION_ATTR)?)?),
            _ => None,
        };
        Ok(Sample {
            sample_id: r.s("sample_id")?,
            miner_hotkey: r.s("miner_hotkey")?,
            model_revision: r.s("model_revision")?,
            model_hash: r.opt_s("model_hash")?.unwrap_or_default(),
            uid: r.opt_i64("uid")?.unwrap_or_default(),
            env: r.s("env")?,
            subset: r.opt_s("subset")?.unwrap_or_default(),
            dataset_index: r.opt_i64("dataset_index")?.unwrap_or_default(),
            task_id: r.opt_s("task_id")?.unwrap_or_default(),
            score: r.f64("score")?,
            success: r.opt_bool("success")?.unwrap_or_default(),
            latency_ms: r.opt_i64("latency_ms")?.unwrap_or_default(),
            timestamp: r.i64("timestamp")?,
            conversation,
            validator_hotkey: r.opt_s("validator_hotkey")?.unwrap_or_default(),
            block_number: r.opt_i64("block_number")?.unwrap_or_default(),
            signature: r.opt_s("signature")?.unwrap_or_default(),
        })
    }
}

impl SampleKey {
    /// Checks every key part and the timestamp.
    pub fn validate(&self) -> Result<()> {
        keys::validate_part("miner_hotkey", &self.miner_hotkey)?;
        keys::validate_part("model_revision", &self.model_revision)?;
        keys::validate_part("env", &self.env)?;
        keys::validate_part("sample_id", &self.sample_id)?;
        keys::validate_timestamp("timestamp", self.timestamp)
    }

    /// The partition key.
    pub fn pk(&self) -> String {
        keys::miner_revision_pk(&self.miner_hotkey, &self.model_revision)
    }

    /// The sort key.
    pub fn sk(&self) -> String {
        keys::sample_sk(&self.env, self.timestamp, &self.sample_id)
    }

    /// Parses a stored key pair.
    pub fn from_keys(pk: &str, sk: &str) -> Result<SampleKey> {
        let (miner_hotkey, model_revision) = keys::parse_miner_revision_pk(pk)?;
        let parsed = keys::parse_sample_sk(sk)?;
        Ok(SampleKey {
            miner_hotkey,
            model_revision,
            env: parsed.env,
            timestamp: parsed.timestamp_ms,
            sample_id: parsed.sample_id,
        })
    }
}

const TIMESTAMP: Field<Sample> = Field {
    attr: "timestamp",
    descending: false,
    get: |s| Key::Int(s.timestamp),
};
const SAMPLE_ID: Field<Sample> = Field {
    attr: "sample_id",
    descending: false,
    get: |s| Key::str(&s.sample_id),
};
const SORT_KEY: Field<Sample> = Field {
    attr: SK,
    descending: false,
    get: |s| Key::Str(std::borrow::Cow::Owned(s.key().sk())),
};
const MINER_HOTKEY: Field<Sample> = Field {
    attr: "miner_hotkey",
    descending: false,
    get: |s| Key::str(&s.miner_hotkey),
};
const MODEL_REVISION: Field<Sample> = Field {
    attr: "model_revision",
    descending: false,
    get: |s| Key::str(&s.model_revision),
};

/// The order of [`SampleStore::get_samples_by_miner`]: the sort key order
/// (env, then timestamp, then sample id; reversed for newest first), as the
/// original's partition query, with or without an env filter.
pub static BY_MINER: Order<Sample> = Order {
    fields: &[SORT_KEY],
};

/// The order of [`SampleStore::get_samples_by_env`]: by timestamp, then
/// miner, revision and sample id.
pub static BY_ENV: Order<Sample> = Order {
    fields: &[TIMESTAMP, MINER_HOTKEY, MODEL_REVISION, SAMPLE_ID],
};

/// [`BY_MINER`] as a comparator.
pub fn miner_order(a: &Sample, b: &Sample) -> std::cmp::Ordering {
    BY_MINER.compare(a, b)
}

/// [`BY_ENV`] as a comparator.
pub fn env_order(a: &Sample, b: &Sample) -> std::cmp::Ordering {
    BY_ENV.compare(a, b)
}

/// Samples yielded one by one as a read's pages arrive
/// ([`SampleStore::stream_samples_by_miner`],
/// [`SampleStore::stream_samples_by_env`]); an error ends it.
pub type SampleStream = BoxStream<'static, Result<Sample>>;

/// The samples `list` resolves to, as a stream (what the provided stream
/// methods yield: the whole list is read first).
pub fn list_as_stream<F>(list: F) -> SampleStream
where
    F: std::future::Future<Output = Result<Vec<Sample>>> + Send + 'static,
{
    stream::once(list)
        .map(|read| match read {
            Ok(samples) => stream::iter(samples.into_iter().map(Ok)).left_stream(),
            Err(e) => stream::once(async move { Err(e) }).right_stream(),
        })
        .flatten()
        .boxed()
}

/// Storage of evaluated samples.
#[async_trait]
pub trait SampleStore: Send + Sync {
    /// Saves one sample and returns what was stored. An existing sample with
    /// the same key is replaced, and so is one of the same miner and revision
    /// with the same given `sample_id` (the re-save rule).
    async fn save_sample(&self, sample: NewSample) -> Result<Sample>;

    /// Saves many samples in batches. Every sample is validated before
    /// anything is written: one bad sample writes nothing. The re-save rule
    /// holds as in `save_sample`; of samples in the batch with the same
    /// partition and given id the last wins. Returns the keys in input order
    /// (a replaced sample's slot holds the key of the one that won).
    async fn save_samples(&self, samples: Vec<NewSample>) -> Result<Vec<SampleKey>>;

    /// One sample by key.
    async fn get_sample(
        &self,
        key: &SampleKey,
        conversation: Conversation,
    ) -> Result<Option<Sample>>;

    /// Samples of one miner and revision, ordered by [`miner_order`]
    /// (reversed when `newest_first`), env filter applied before the limit.
    async fn get_samples_by_miner(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        query: &MinerSamplesQuery,
    ) -> Result<Vec<Sample>>;

    /// Samples of one miner and revision whose `task_id` is one of
    /// `task_ids` (duplicates ignored, at most
    /// [`crate::rules::samples::MAX_TASK_IDS`] distinct), in every env,
    /// ordered by [`miner_order`]. An empty list reads nothing.
    ///
    /// Provided over [`SampleStore::get_samples_by_miner`]; the core's
    /// handles read only the matching samples.
    async fn get_samples_by_task_ids(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_ids: &[String],
        conversation: Conversation,
    ) -> Result<Vec<Sample>> {
        crate::rules::samples::owner(miner_hotkey, model_revision)?;
        let wanted = crate::rules::samples::task_ids(task_ids)?;
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let query = MinerSamplesQuery {
            conversation,
            ..MinerSamplesQuery::default()
        };
        let mut found = self
            .get_samples_by_miner(miner_hotkey, model_revision, &query)
            .await?;
        found.retain(|s| wanted.binary_search(&s.task_id.as_str()).is_ok());
        Ok(found)
    }

    /// Samples of `env` with `start_ms <= timestamp <= end_ms`, across
    /// miners, ordered by [`env_order`], at most `limit`.
    async fn get_samples_by_env(
        &self,
        env: &str,
        start_ms: i64,
        end_ms: i64,
        limit: Option<usize>,
        conversation: Conversation,
    ) -> Result<Vec<Sample>>;

    /// [`SampleStore::get_samples_by_miner`] as a stream: the same samples
    /// in the same order, validated the same way (a refusal is the
    /// stream's only item). The core's handles read a page at a time, so
    /// what the stream holds is bounded by a page
    /// ([`crate::rules::samples::STREAM_PAGE`]), not by the result; the
    /// provided method reads the whole list first.
    fn stream_samples_by_miner(
        self: Arc<Self>,
        miner_hotkey: String,
        model_revision: String,
        query: MinerSamplesQuery,
    ) -> SampleStream
    where
        Self: 'static,
    {
        list_as_stream(async move {
            self.get_samples_by_miner(&miner_hotkey, &model_revision, &query)
                .await
        })
    }

    /// [`SampleStore::get_samples_by_env`] as a stream, as
    /// [`SampleStore::stream_samples_by_miner`] is of its list.
    fn stream_samples_by_env(
        self: Arc<Self>,
        env: String,
        start_ms: i64,
        end_ms: i64,
        limit: Option<usize>,
        conversation: Conversation,
    ) -> SampleStream
    where
        Self: 'static,
    {
        list_as_stream(async move {
            self.get_samples_by_env(&env, start_ms, end_ms, limit, conversation)
                .await
        })
    }

    /// Deletes every sample of the miner and revision, in every env, whose
    /// timestamp is before `before_ms`. Returns how many were deleted.
    async fn delete_samples_before(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        before_ms: i64,
    ) -> Result<usize>;

    /// How many samples [`SampleStore::delete_samples_before`] would delete.
    async fn count_samples_before(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        before_ms: i64,
    ) -> Result<usize>;

    /// Every (miner hotkey, model revision) that has samples, sorted.
    async fn list_sample_owners(&self) -> Result<Vec<(String, String)>>;
}
