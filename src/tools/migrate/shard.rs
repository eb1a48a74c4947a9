//! One shard through the first two stages: fetched, then parsed and its
//! records converted into stored items (on a blocking thread).

use serde_json::Value;

use affine_db_core::codec::Codec;
use affine_db_core::error::Error;
use affine_db_core::item::Item;
use affine_db_core::tables::miners::MinerInfo;

use super::record::{convert, SkipReason};
use super::source::{Object, Source};
use super::RetryPolicy;

/// A shard's bytes, or why there are none.
pub(super) enum Fetched {
    /// The object's bytes.
    Bytes(Vec<u8>),
    /// Not read: `missing`, `unreadable`, or a [`Refusal`]'s name.
    Skipped(&'static str),
}

/// Reads one shard of at most `limit` bytes, retrying transient errors.
pub(super) async fn fetch(source: &Source, key: &str, limit: u64, retry: &RetryPolicy) -> Fetched {
    match retry.run(|| source.get(key, limit)).await {
        Ok(Object::Bytes(bytes)) => Fetched::Bytes(bytes),
        Ok(Object::Missing) => Fetched::Skipped("missing"),
        Ok(Object::Refused(why, _)) => Fetched::Skipped(why.as_str()),
        Err(_) => Fetched::Skipped("unreadable"),
    }
}

/// Parses a shard's bytes into its records, or says why it cannot be read:
/// `truncated` (the JSON ends early), `invalid_json`, `not_an_array`.
pub(super) fn parse(bytes: &[u8]) -> Result<Vec<Value>, &'static str> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Array(records)) => Ok(records),
        Ok(_) => Err("not_an_array"),
        Err(e) if e.is_eof() => Err("truncated"),
        Err(_) => Err("invalid_json"),
    }
}

/// One record, converted and ready to write, or skipped.
pub(super) enum Record {
    /// A sample to write.
    Ready {
        /// The sample id as a number (ids derive from signatures).
        id: u128,
        /// The stored item, conversation compressed.
        item: Box<Item>,
        /// Its miner's metadata.
        miner: MinerInfo,
        /// The sample's time in seconds.
        time_s: i64,
    },
    /// Not migrated.
    Skipped {
        /// Why.
        reason: SkipReason,
        /// Its signature, when it has one.
        signature: Option<String>,
    },
}

/// A fetched shard after the prepare stage.
pub(super) enum Prepared {
    /// Its records, in shard order.
    Records(Vec<Record>),
    /// Not read, and why.
    Skipped(&'static str),
}

/// Parses a shard of `window` and prepares each record: converted, its id
/// derived, its item built and compressed with `codec` (size checked).
pub(super) fn prepare(bytes: &[u8], window: i64, codec: &Codec) -> Prepared {
    let records = match parse(bytes) {
        Ok(r) => r,
        Err(reason) => return Prepared::Skipped(reason),
    };
    Prepared::Records(
        records
            .into_iter()
            .map(|rec| prepare_record(&rec, window, codec))
            .collect(),
    )
}

fn prepare_record(rec: &Value, window: i64, codec: &Codec) -> Record {
    let skipped = |reason| Record::Skipped {
        reason,
        signature: rec
            .get("signature")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    let c = match convert(rec, window) {
        Ok(c) => c,
        Err(reason) => return skipped(reason),
    };
    let Ok(id) = uuid::Uuid::parse_str(c.sample.sample_id.as_deref().unwrap_or_default()) else {
        return skipped(SkipReason::Malformed);
    };
    let item = match c.sample.into_sample(0).map(|s| s.to_item(codec)) {
        Ok(Ok(item)) => item,
        Ok(Err(Error::TooLarge { .. })) => return skipped(SkipReason::TooLarge),
        Ok(Err(_)) | Err(_) => return skipped(SkipReason::Malformed),
    };
    Record::Ready {
        id: id.as_u128(),
        item: Box::new(item),
        miner: c.miner,
        time_s: c.time_s,
    }
}
