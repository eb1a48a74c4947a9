//! The key scheme of every table (DESIGN §2), built and parsed in this one
//! place. Both backends store exactly these strings.
//!
//! Every key part is non-empty, at most [`MAX_KEY_PART_BYTES`] bytes of UTF-8,
//! and contains no `#`, no control character (category Cc) and no invisible
//! format character (category Cf: U+200B zero width space, U+202E
//! right-to-left override, U+FEFF, ...), which would let two different names
//! look the same. Timestamps inside sort keys are zero-padded to 16 digits so
//! text order is time order.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::error::{Error, Result};

/// The longest key part accepted, in bytes of UTF-8.
pub const MAX_KEY_PART_BYTES: usize = 256;

/// The largest timestamp that fits 16 zero-padded digits.
pub const MAX_KEY_TIMESTAMP: i64 = 9_999_999_999_999_999;

/// Checks one key part; `field` names it in the error.
pub fn validate_part(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_KEY_PART_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "is {} bytes; key parts are at most {MAX_KEY_PART_BYTES} bytes",
                value.len()
            ),
        ));
    }
    if value.contains('#') {
        return Err(Error::invalid(field, "must not contain '#'"));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.general_category() == GeneralCategory::Format)
    {
        return Err(Error::invalid(
            field,
            format!(
                "must not contain invisible format characters (found U+{:04X})",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// Checks a timestamp that goes into a sort key: 0 ≤ t ≤ [`MAX_KEY_TIMESTAMP`].
pub fn validate_timestamp(field: &str, value: i64) -> Result<()> {
    if !(0..=MAX_KEY_TIMESTAMP).contains(&value) {
        return Err(Error::invalid(
            field,
            format!("{value} is outside 0..={MAX_KEY_TIMESTAMP}"),
        ));
    }
    Ok(())
}

fn ts(value: i64) -> String {
    format!("{value:016}")
}

// The literal parts of the key scheme, only ever used through the builders
// and parsers below.
const MINER: &str = "MINER";
const REV: &str = "REV";
const ENV: &str = "ENV";
const TIME: &str = "TIME";
const ID: &str = "ID";
const TASK: &str = "TASK";
const SCORE: &str = "SCORE";
const PARAM: &str = "PARAM";
const RETENTION: &str = "RETENTION";
const ZSTD: &str = "ZSTD";

/// `MINER#{hotkey}#REV#{revision}`: partition of samples and tasks.
pub fn miner_revision_pk(hotkey: &str, revision: &str) -> String {
    format!("{MINER}#{hotkey}#{REV}#{revision}")
}

/// `ENV#{env}#TIME#{timestamp_ms:016}#ID#{sample_id}`.
pub fn sample_sk(env: &str, timestamp_ms: i64, sample_id: &str) -> String {
    format!("{ENV}#{env}#{TIME}#{}#{ID}#{sample_id}", ts(timestamp_ms))
}

/// `ENV#`: prefix of every sample sort key.
pub fn sample_sk_prefix() -> String {
    format!("{ENV}#")
}

/// `ENV#{env}#`: prefix of every sample sort key of one env.
pub fn sample_sk_env_prefix(env: &str) -> String {
    format!("{ENV}#{env}#")
}

/// `ENV#{env}#TIME#{timestamp_ms:016}`: sorts before every sample of `env`
/// at or after `timestamp_ms` (and after every earlier one).
pub fn sample_sk_time_bound(env: &str, timestamp_ms: i64) -> String {
    format!("{ENV}#{env}#{TIME}#{}", ts(timestamp_ms))
}

/// `TASK#{task_id}`.
pub fn task_sk(task_id: &str) -> String {
    format!("{TASK}#{task_id}")
}

/// `TASK#`: prefix of every task sort key.
pub fn task_sk_prefix() -> String {
    format!("{TASK}#")
}

/// A task id: `{created_ms:016}-{uuid}`, so ids sort by creation.
pub fn new_task_id(created_ms: i64) -> String {
    format!("{}-{}", ts(created_ms), uuid::Uuid::new_v4())
}

/// `MINER#{hotkey}`: partition of execution logs and miner metadata.
pub fn miner_pk(hotkey: &str) -> String {
    format!("{MINER}#{hotkey}")
}

/// `TIME#{timestamp_s:016}#ID#{log_id}`.
pub fn log_sk(timestamp_s: i64, log_id: &str) -> String {
    format!("{TIME}#{}#{ID}#{log_id}", ts(timestamp_s))
}

/// `TIME#`: prefix of every log sort key.
pub fn log_sk_prefix() -> String {
    format!("{TIME}#")
}

/// `TIME#{timestamp_s:016}#ID#`: sorts before every log at or after
/// `timestamp_s` (clamped into the key range) and after every earlier one.
pub fn log_sk_time_bound(timestamp_s: i64) -> String {
    log_sk(timestamp_s.clamp(0, MAX_KEY_TIMESTAMP), "")
}

/// `SCORE#{block_number}`.
pub fn score_pk(block_number: i64) -> String {
    format!("{SCORE}#{block_number}")
}

/// `MINER#{hotkey}`: sort key of a score row.
pub fn score_sk(hotkey: &str) -> String {
    miner_pk(hotkey)
}

/// Sort key of the header item of a block snapshot (see the scores table).
pub const SNAPSHOT_SK: &str = "SNAPSHOT";

/// `CONFIG`: the one partition of system config.
pub const CONFIG_PK: &str = "CONFIG";

/// `PARAM#{param_name}`.
pub fn config_sk(param_name: &str) -> String {
    format!("{PARAM}#{param_name}")
}

/// `PARAM#`: prefix of every config sort key.
pub fn config_sk_prefix() -> String {
    format!("{PARAM}#")
}

/// `DICTIONARY`: the `system_config` partition holding zstd dictionaries,
/// their targets and the recompress position (never listed as config).
pub const DICTIONARY_PK: &str = "DICTIONARY";

/// `ZSTD#{id:010}`: sort key of one stored dictionary.
pub fn dictionary_sk(id: u32) -> String {
    format!("{ZSTD}#{id:010}")
}

/// `TARGETS`: sort key of the item naming the dictionaries new frames use.
pub const DICTIONARY_TARGETS_SK: &str = "TARGETS";

/// `RECOMPRESS`: sort key of the saved position of a recompress run.
pub const RECOMPRESS_SK: &str = "RECOMPRESS";

/// `METADATA`: sort key of miner metadata and retention policies.
pub const METADATA_SK: &str = "METADATA";

/// `RETENTION#{hotkey}`.
pub fn retention_pk(hotkey: &str) -> String {
    format!("{RETENTION}#{hotkey}")
}

/// The value of `latest_marker` on score rows.
pub const LATEST_MARKER: &str = "LATEST";

/// The parts of a sample sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleSk {
    /// Environment name.
    pub env: String,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// Sample id.
    pub sample_id: String,
}

fn corrupt_key(kind: &str, key: &str) -> Error {
    Error::corrupt(format!("malformed {kind} key {key:?}"))
}

fn parse_ts(kind: &str, key: &str, digits: &str) -> Result<i64> {
    if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(corrupt_key(kind, key));
    }
    digits.parse().map_err(|_| corrupt_key(kind, key))
}

/// Parses `MINER#{hotkey}#REV#{revision}` into (hotkey, revision).
pub fn parse_miner_revision_pk(pk: &str) -> Result<(String, String)> {
    let parts: Vec<&str> = pk.split('#').collect();
    match parts.as_slice() {
        [MINER, hotkey, REV, revision] if !hotkey.is_empty() && !revision.is_empty() => {
            Ok((hotkey.to_string(), revision.to_string()))
        }
        _ => Err(corrupt_key("miner/revision partition", pk)),
    }
}

/// Parses `ENV#{env}#TIME#{ts:016}#ID#{id}`.
pub fn parse_sample_sk(sk: &str) -> Result<SampleSk> {
    let parts: Vec<&str> = sk.split('#').collect();
    match parts.as_slice() {
        [ENV, env, TIME, t, ID, id] if !env.is_empty() && !id.is_empty() => Ok(SampleSk {
            env: env.to_string(),
            timestamp_ms: parse_ts("sample sort", sk, t)?,
            sample_id: id.to_string(),
        }),
        _ => Err(corrupt_key("sample sort", sk)),
    }
}

/// Parses `TASK#{task_id}` into the task id.
pub fn parse_task_sk(sk: &str) -> Result<String> {
    match sk.strip_prefix(&task_sk_prefix()) {
        Some(id) if !id.is_empty() && !id.contains('#') => Ok(id.to_string()),
        _ => Err(corrupt_key("task sort", sk)),
    }
}

/// Parses `MINER#{hotkey}` into the hotkey.
pub fn parse_miner_pk(pk: &str) -> Result<String> {
    match pk.strip_prefix(&miner_pk("")) {
        Some(h) if !h.is_empty() && !h.contains('#') => Ok(h.to_string()),
        _ => Err(corrupt_key("miner", pk)),
    }
}

/// Parses `TIME#{ts:016}#ID#{log_id}` into (timestamp_s, log_id).
pub fn parse_log_sk(sk: &str) -> Result<(i64, String)> {
    let parts: Vec<&str> = sk.split('#').collect();
    match parts.as_slice() {
        [TIME, t, ID, id] if !id.is_empty() => Ok((parse_ts("log sort", sk, t)?, id.to_string())),
        _ => Err(corrupt_key("log sort", sk)),
    }
}

fn score_pk_prefix() -> String {
    format!("{SCORE}#")
}

/// Parses `SCORE#{block}` into the block number.
pub fn parse_score_pk(pk: &str) -> Result<i64> {
    pk.strip_prefix(&score_pk_prefix())
        .and_then(|b| b.parse().ok())
        .ok_or_else(|| corrupt_key("score", pk))
}

/// Parses `PARAM#{name}` into the parameter name.
pub fn parse_config_sk(sk: &str) -> Result<String> {
    match sk.strip_prefix(&config_sk_prefix()) {
        Some(n) if !n.is_empty() && !n.contains('#') => Ok(n.to_string()),
        _ => Err(corrupt_key("config sort", sk)),
    }
}

/// Parses `RETENTION#{hotkey}` into the hotkey.
pub fn parse_retention_pk(pk: &str) -> Result<String> {
    match pk.strip_prefix(&retention_pk("")) {
        Some(h) if !h.is_empty() && !h.contains('#') => Ok(h.to_string()),
        _ => Err(corrupt_key("retention", pk)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_keys_round_trip_and_sort_by_time() {
        let pk = miner_revision_pk("5Abc", "v1.0");
        assert_eq!(pk, "MINER#5Abc#REV#v1.0");
        assert_eq!(
            parse_miner_revision_pk(&pk).unwrap(),
            ("5Abc".into(), "v1.0".into())
        );
        let early = sample_sk("L3", 999, "a");
        let late = sample_sk("L3", 1_000, "a");
        assert_eq!(early, "ENV#L3#TIME#0000000000000999#ID#a");
        assert!(early < late, "zero padding keeps text order = time order");
        let parsed = parse_sample_sk(&late).unwrap();
        assert_eq!(parsed.timestamp_ms, 1_000);
        assert_eq!(parsed.env, "L3");
        assert_eq!(parsed.sample_id, "a");
    }

    #[test]
    fn invalid_parts_are_rejected() {
        for bad in [
            "",
            "a#b",
            "tab\there",
            &"x".repeat(257),
            "evil\u{202E}gnp",
            "zero\u{200B}width",
            "\u{FEFF}bom",
            "tag\u{E0041}",
        ] {
            assert!(matches!(
                validate_part("hotkey", bad),
                Err(Error::InvalidInput { .. })
            ));
        }
        validate_part("hotkey", &"é".repeat(128)).unwrap();
        assert!(validate_part("hotkey", &"é".repeat(129)).is_err());
        assert!(validate_timestamp("timestamp", -1).is_err());
        assert!(validate_timestamp("timestamp", MAX_KEY_TIMESTAMP + 1).is_err());
    }

    #[test]
    fn malformed_keys_are_corrupt() {
        assert!(matches!(
            parse_sample_sk("ENV#a#TIME#12#ID#x"),
            Err(Error::Corrupt(_))
        ));
        assert!(parse_log_sk("TIME#0000000000000001#ID#x").is_ok());
        assert!(parse_score_pk("SCORE#x").is_err());
        assert_eq!(parse_task_sk("TASK#t1").unwrap(), "t1");
    }
}
