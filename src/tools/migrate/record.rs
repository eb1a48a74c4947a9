//! Conversion of one R2 result record (either layout) into a [`NewSample`]
//! and the [`MinerInfo`] of its miner.

use serde_json::{json, Map, Value};

use affine_db_core::tables::miners::{ChutesStatus, MinerInfo};
use affine_db_core::tables::samples::NewSample;

/// Why a record was not migrated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// No `miner` object, or one without a hotkey or revision.
    MissingMiner,
    /// A score that is not a number (a string, a boolean, ...).
    BadScore,
    /// A `null` or absent score.
    NullScore,
    /// A number that is not finite, or a timestamp outside the key range.
    NonFinite,
    /// Another required field is missing or of the wrong type, or a key part
    /// the key scheme rejects.
    Malformed,
    /// No signature, so no stable id can be derived.
    MissingSignature,
    /// The same signature was already migrated in this run.
    Duplicate,
    /// The stored item would exceed the 400 KB item limit.
    TooLarge,
}

impl SkipReason {
    /// The stable name used in summaries and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::MissingMiner => "missing_miner",
            SkipReason::BadScore => "bad_score",
            SkipReason::NullScore => "null_score",
            SkipReason::NonFinite => "non_finite",
            SkipReason::Malformed => "malformed",
            SkipReason::MissingSignature => "missing_signature",
            SkipReason::Duplicate => "duplicate",
            SkipReason::TooLarge => "oversize",
        }
    }
}

/// A converted record: the sample and its miner's metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The sample to save (its id derived from the signature).
    pub sample: NewSample,
    /// Metadata for the miner, if it is not known yet. Time fields are the
    /// sample's time, so re-runs write identical records.
    pub miner: MinerInfo,
    /// The sample time in seconds (used as `updated_at` of a new miner).
    pub time_s: i64,
}

/// The namespace of sample ids derived from signatures (UUID v5).
pub const SAMPLE_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6166_6669_6e65_2d72_322d_7361_6d70_6c65);

/// The sample id of a record with this signature: a UUID v5 of the
/// signature, so migrating the same record again overwrites it.
pub fn sample_id(signature: &str) -> String {
    uuid::Uuid::new_v5(&SAMPLE_ID_NAMESPACE, signature.as_bytes()).to_string()
}

fn num(v: Option<&Value>) -> Result<Option<f64>, SkipReason> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(Some(f)),
            _ => Err(SkipReason::NonFinite),
        },
        Some(_) => Err(SkipReason::Malformed),
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn score(v: Option<&Value>) -> Result<f64, SkipReason> {
    match v {
        None | Some(Value::Null) => Err(SkipReason::NullScore),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f.is_finite() => Ok(f),
            _ => Err(SkipReason::NonFinite),
        },
        Some(_) => Err(SkipReason::BadScore),
    }
}

fn seconds_to_ms(s: f64) -> Result<i64, SkipReason> {
    let ms = (s * 1000.0).round();
    if !(0.0..=9.0e15).contains(&ms) {
        return Err(SkipReason::NonFinite);
    }
    Ok(ms as i64)
}

/// Converts one record found in the shard of `window`.
pub fn convert(record: &Value, window: i64) -> Result<Converted, SkipReason> {
    let rec = record.as_object().ok_or(SkipReason::Malformed)?;
    let signature = match rec.get("signature") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(SkipReason::MissingSignature),
    };
    let miner = match rec.get("miner") {
        Some(Value::Object(m)) => m,
        _ => return Err(SkipReason::MissingMiner),
    };
    let hotkey = text(miner.get("hotkey"))
        .filter(|s| !s.is_empty())
        .ok_or(SkipReason::MissingMiner)?;
    let revision = text(miner.get("revision"))
        .filter(|s| !s.is_empty())
        .ok_or(SkipReason::MissingMiner)?;
    let validator = text(rec.get("hotkey")).unwrap_or_default();

    let legacy = rec.contains_key("challenge");
    let empty = Map::new();
    let (env, score, latency_s, success, time_s, task_id, conversation) = if legacy {
        let obj = |k: &str| match rec.get(k) {
            Some(Value::Object(o)) => Ok(o),
            None | Some(Value::Null) => Ok(&empty),
            Some(_) => Err(SkipReason::Malformed),
        };
        let (challenge, response, evaluation) =
            (obj("challenge")?, obj("response")?, obj("evaluation")?);
        let env = text(challenge.get("env")).or_else(|| text(evaluation.get("env")));
        let score = score(evaluation.get("score"))?;
        let time = match num(response.get("timestamp"))? {
            Some(t) => Some(t),
            None => num(challenge.get("timestamp"))?,
        };
        let conversation = json!([
            {"role": "user", "content": challenge.get("prompt").cloned().unwrap_or(Value::Null)},
            {"role": "assistant", "content": response.get("response").cloned().unwrap_or(Value::Null)},
        ]);
        (
            env,
            score,
            num(response.get("latency_seconds"))?,
            response.get("success"),
            time,
            text(challenge.get("challenge_id")),
            conversation,
        )
    } else {
        let score = score(rec.get("score"))?;
        let conversation = match rec.get("extra") {
            Some(Value::Object(extra)) => extra.get("conversation").cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        (
            text(rec.get("env")),
            score,
            num(rec.get("latency_seconds"))?,
            rec.get("success"),
            num(rec.get("timestamp"))?,
            text(rec.get("task_id")),
            conversation,
        )
    };
    let env = env.filter(|e| !e.is_empty()).ok_or(SkipReason::Malformed)?;
    let timestamp = seconds_to_ms(time_s.ok_or(SkipReason::Malformed)?)?;
    let latency_ms = match latency_s {
        Some(l) if (0.0..1.0e12).contains(&l) => (l * 1000.0).round() as i64,
        Some(_) => return Err(SkipReason::NonFinite),
        None => 0,
    };
    let success = match success {
        Some(Value::Bool(b)) => *b,
        None | Some(Value::Null) => false,
        Some(_) => return Err(SkipReason::Malformed),
    };
    let task_id = task_id.unwrap_or_default();
    let dataset_index = task_id.parse::<i64>().unwrap_or(0);
    let uid = match num(miner.get("uid")).map_err(|_| SkipReason::MissingMiner)? {
        Some(u) if u.fract() == 0.0 => u as i64,
        Some(_) => return Err(SkipReason::MissingMiner),
        None => 0,
    };
    let model_hash = text(miner.get("model_hash"))
        .or_else(|| match miner.get("weights_shas") {
            Some(Value::Array(a)) => a.first().and_then(|v| text(Some(v))),
            _ => None,
        })
        .unwrap_or_default();
    let model_name = text(miner.get("model")).unwrap_or_default();
    let commit_block = num(miner.get("block")).ok().flatten().map(|b| b as i64);
    let chute = match miner.get("chute") {
        Some(Value::Object(c)) => Some(c),
        _ => None,
    };
    let chutes_slug = text(miner.get("slug")).or_else(|| chute.and_then(|c| text(c.get("slug"))));
    let chutes_status = match chute.and_then(|c| c.get("hot")) {
        Some(Value::Bool(true)) => ChutesStatus::Hot,
        Some(Value::Bool(false)) => ChutesStatus::Cold,
        _ => ChutesStatus::Unknown,
    };
    let time_s = timestamp.div_euclid(1000);

    let sample = NewSample {
        sample_id: Some(sample_id(&signature)),
        timestamp: Some(timestamp),
        miner_hotkey: hotkey.clone(),
        model_revision: revision.clone(),
        model_hash: model_hash.clone(),
        uid,
        env,
        subset: String::new(),
        dataset_index,
        task_id,
        score,
        success,
        latency_ms,
        conversation,
        validator_hotkey: validator,
        block_number: window,
        signature,
    };
    let miner = MinerInfo {
        miner_hotkey: hotkey,
        uid,
        current_revision: revision,
        model_hash,
        model_name,
        chutes_slug,
        chutes_status,
        chutes_last_checked: Some(time_s),
        last_commit_block: commit_block,
        first_commit_block: commit_block,
    };
    Ok(Converted {
        sample,
        miner,
        time_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn miner() -> Value {
        json!({"uid": 7, "hotkey": "5Miner", "model": "m/x", "revision": "abc", "block": 100,
               "chute": {"hot": true}, "slug": "m-x", "weights_shas": ["h1"]})
    }

    #[test]
    fn converts_new_layout() {
        let r = json!({"signature": "sig1", "hotkey": "5Val", "miner": miner(), "env": "affine:sat",
            "score": 0.5, "latency_seconds": 1.25, "success": true, "task_id": 41, "timestamp": 1763000000.5,
            "extra": {"conversation": [{"role": "user", "content": "hi"}]}});
        let c = convert(&r, 6800000).unwrap();
        assert_eq!(
            c.sample.sample_id.as_deref(),
            Some(sample_id("sig1").as_str())
        );
        assert_eq!(c.sample.timestamp, Some(1763000000500));
        assert_eq!(c.sample.latency_ms, 1250);
        assert_eq!(c.sample.block_number, 6800000);
        assert_eq!(c.sample.task_id, "41");
        assert_eq!(c.sample.dataset_index, 41);
        assert_eq!(c.sample.validator_hotkey, "5Val");
        assert_eq!(c.sample.model_hash, "h1");
        assert_eq!(
            c.sample.conversation,
            json!([{"role": "user", "content": "hi"}])
        );
        assert_eq!(c.miner.chutes_status, ChutesStatus::Hot);
        assert_eq!(c.miner.first_commit_block, Some(100));
    }

    #[test]
    fn converts_legacy_layout() {
        let r = json!({"signature": "sig2", "hotkey": "5Val", "miner": miner(),
            "challenge": {"env": "agentgym:webshop", "prompt": "P", "challenge_id": "c1", "timestamp": 10.0},
            "response": {"response": "R", "latency_seconds": 2.0, "success": false, "timestamp": 12.0},
            "evaluation": {"score": 1.0}});
        let c = convert(&r, 20).unwrap();
        assert_eq!(c.sample.env, "agentgym:webshop");
        assert_eq!(c.sample.timestamp, Some(12000));
        assert!(!c.sample.success);
        assert_eq!(
            c.sample.conversation,
            json!([{"role":"user","content":"P"},{"role":"assistant","content":"R"}])
        );
    }

    #[test]
    fn classifies_defects() {
        let base = json!({"signature": "s", "hotkey": "v", "miner": miner(), "env": "e", "score": 0.1,
            "timestamp": 1.0, "extra": {}});
        let with = |k: &str, v: Value| {
            let mut r = base.clone();
            r[k] = v;
            convert(&r, 0).unwrap_err()
        };
        assert_eq!(with("miner", Value::Null), SkipReason::MissingMiner);
        assert_eq!(with("score", json!("abc")), SkipReason::BadScore);
        assert_eq!(with("score", Value::Null), SkipReason::NullScore);
        assert_eq!(with("timestamp", json!(1e300)), SkipReason::NonFinite);
        assert_eq!(with("signature", Value::Null), SkipReason::MissingSignature);
        assert_eq!(with("env", json!({})), SkipReason::Malformed);
        assert!(convert(&base, 0).is_ok());
    }
}
