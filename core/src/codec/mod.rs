//! The conversation codec (DESIGN §5): compact JSON compressed with zstd,
//! optionally with a trained dictionary that each frame names by id. Legacy
//! gzip frames written by the original Python layer still read.
//!
//! - `frame`: frames themselves (zstd with or without a dictionary, gzip,
//!   bounded decoding), with one compression and one decompression context
//!   per thread, so a frame costs no allocation beyond its output buffer;
//! - `registry`: the dictionaries a codec knows, each prepared once (a
//!   zstd `CDict`/`DDict`), and which one new frames of each environment use
//!   ([`Codec::use_env_dictionary`]);
//! - `zstd_trainer`: zstd's dictionary trainer over a corpus.
//!
//! The dictionaries themselves live in the database (see
//! [`crate::dictionaries`]).

mod frame;
mod registry;
mod zstd_trainer;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};

pub use frame::{frame_dictionary_id, gzip9, GZIP_MAGIC, MAX_DECODED_BYTES, ZSTD_MAGIC};
pub use registry::Dictionary;
pub use zstd_trainer::{train_dictionary, MIN_TRAINING_SAMPLES};

use registry::Registry;

/// The zstd level new frames use unless configured otherwise.
pub const DEFAULT_LEVEL: i32 = 3;
/// The dictionary size [`train_dictionary`] aims for by default.
pub const DEFAULT_DICTIONARY_SIZE: usize = 256 << 10;

/// Encodes conversations into frames and decodes frames of any kind it knows.
/// Cheap to share behind an `Arc`; dictionaries can be added while in use.
#[derive(Debug)]
pub struct Codec {
    level: i32,
    registry: Registry,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new(DEFAULT_LEVEL)
    }
}

impl Codec {
    /// A codec writing zstd frames at `level` without a dictionary.
    pub fn new(level: i32) -> Self {
        Codec {
            level,
            registry: Registry::default(),
        }
    }

    /// The zstd level of new frames.
    pub fn level(&self) -> i32 {
        self.level
    }

    /// Makes `dict` readable (frames that name it decode).
    pub fn add_dictionary(&self, dict: &Dictionary) {
        self.registry.prepared(dict, self.level);
    }

    /// Whether frames naming dictionary `id` can be decoded.
    pub fn has_dictionary(&self, id: u32) -> bool {
        self.registry.get(id).is_some()
    }

    /// Makes `dict` readable and the one new frames are written with (for
    /// every environment without a dictionary of its own).
    pub fn use_dictionary(&self, dict: &Dictionary) {
        let p = self.registry.prepared(dict, self.level);
        self.registry.set_default(p);
    }

    /// Makes `dict` readable and the one new frames of `env` are written with.
    pub fn use_env_dictionary(&self, env: &str, dict: &Dictionary) {
        let p = self.registry.prepared(dict, self.level);
        self.registry.set_env(env, p);
    }

    /// Points new frames at already added dictionaries: `default` for every
    /// environment not in `envs`. Unknown ids are a not-found error and
    /// change nothing.
    pub fn set_targets(&self, default: Option<u32>, envs: &BTreeMap<String, u32>) -> Result<()> {
        self.registry.set_targets(default, envs)
    }

    /// The id of the dictionary new frames use by default, if any.
    pub fn current_dictionary(&self) -> Option<u32> {
        self.registry.target(None).map(|p| p.id)
    }

    /// The id of the dictionary new frames of `env` use, if any.
    pub fn dictionary_for(&self, env: &str) -> Option<u32> {
        self.registry.target(Some(env)).map(|p| p.id)
    }

    /// Whether the dictionaries were last synchronised with the database
    /// longer than `max_age` ago (or never).
    pub fn sync_due(&self, max_age: Duration) -> bool {
        self.registry.sync_due(max_age)
    }

    /// Records that the dictionaries were just synchronised.
    pub fn mark_synced(&self) {
        self.registry.mark_synced();
    }

    /// Compresses `conversation` as compact JSON with the default dictionary.
    pub fn encode(&self, conversation: &Value) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(conversation)
            .map_err(|e| Error::invalid("conversation", e.to_string()))?;
        self.encode_bytes(&json)
    }

    /// Compresses `conversation` as compact JSON with `env`'s dictionary.
    pub fn encode_for(&self, env: &str, conversation: &Value) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(conversation)
            .map_err(|e| Error::invalid("conversation", e.to_string()))?;
        self.encode_bytes_for(env, &json)
    }

    /// Compresses raw bytes into one zstd frame with the default dictionary.
    pub fn encode_bytes(&self, raw: &[u8]) -> Result<Vec<u8>> {
        frame::compress(raw, self.level, self.registry.target(None).as_deref())
    }

    /// Compresses raw bytes into one zstd frame with `env`'s dictionary.
    pub fn encode_bytes_for(&self, env: &str, raw: &[u8]) -> Result<Vec<u8>> {
        frame::compress(raw, self.level, self.registry.target(Some(env)).as_deref())
    }

    /// Decodes a stored frame (zstd with or without dictionary, or gzip) to JSON.
    pub fn decode(&self, frame: &[u8]) -> Result<Value> {
        let raw = self.decode_bytes(frame)?;
        serde_json::from_slice(&raw).map_err(|e| {
            Error::corrupt(format!("conversation is not JSON after decompression: {e}"))
        })
    }

    /// Decodes a stored frame to its raw bytes. A frame naming a dictionary
    /// this codec does not have is corrupt data.
    pub fn decode_bytes(&self, frame: &[u8]) -> Result<Vec<u8>> {
        frame::decompress(frame, |id| self.registry.get(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conv() -> Value {
        json!([{"role": "user", "content": "What is 2+2? ".repeat(20)},
               {"role": "assistant", "content": "4"}])
    }

    /// Conversations that share structure and phrases, as real ones do.
    fn corpus(n: usize, salt: &str) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                serde_json::to_vec(&json!([
                    {"role": "system", "content": "You are a careful assistant. Answer with a single number and explain the reasoning step by step."},
                    {"role": "user", "content": format!("{salt} problem {i}: a train leaves the station at {} km/h; how far does it go in {} hours?", i % 97, i % 13)},
                    {"role": "assistant", "content": format!("Step 1: distance is speed times time. Step 2: {} * {} = {}. The answer is {}.", i % 97, i % 13, (i % 97) * (i % 13), (i % 97) * (i % 13))}
                ]))
                .unwrap()
            })
            .collect()
    }

    fn trained() -> Dictionary {
        train_dictionary(&corpus(400, "train"), 16 << 10, DEFAULT_LEVEL).unwrap()
    }

    #[test]
    fn zstd_round_trip_and_magic() {
        let c = Codec::default();
        let frame = c.encode(&conv()).unwrap();
        assert!(frame.starts_with(&ZSTD_MAGIC));
        assert_eq!(frame_dictionary_id(&frame), None);
        assert_eq!(c.decode(&frame).unwrap(), conv());
    }

    #[test]
    fn legacy_gzip_reads() {
        let frame = gzip9(&serde_json::to_vec(&conv()).unwrap());
        assert_eq!(Codec::default().decode(&frame).unwrap(), conv());
    }

    #[test]
    fn garbage_is_corrupt_not_panic() {
        let c = Codec::default();
        for bad in [
            &b""[..],
            b"hello",
            &[0x28, 0xB5, 0x2F, 0xFD, 1, 2, 3],
            &[0x1F, 0x8B, 0, 0],
        ] {
            assert!(matches!(c.decode(bad), Err(Error::Corrupt(_))), "{bad:?}");
        }
    }

    #[test]
    fn dictionary_frames_name_their_dictionary_and_shrink() {
        let dict = trained();
        let c = Codec::default();
        c.use_dictionary(&dict);
        let held_out = corpus(50, "measure");
        let (mut with, mut without) = (0, 0);
        for raw in &held_out {
            let frame = c.encode_bytes(raw).unwrap();
            assert_eq!(frame_dictionary_id(&frame), Some(dict.id));
            assert_eq!(&c.decode_bytes(&frame).unwrap(), raw);
            with += frame.len();
            without += Codec::default().encode_bytes(raw).unwrap().len();
        }
        assert!(with * 2 < without, "dictionary {with} vs plain {without}");
    }

    #[test]
    fn frame_with_missing_dictionary_is_corrupt() {
        let dict = trained();
        let writer = Codec::default();
        writer.use_dictionary(&dict);
        let frame = writer.encode(&conv()).unwrap();
        let reader = Codec::default();
        assert!(!reader.has_dictionary(dict.id));
        assert!(matches!(reader.decode(&frame), Err(Error::Corrupt(_))));
        reader.add_dictionary(&dict);
        assert_eq!(reader.decode(&frame).unwrap(), conv());
    }

    #[test]
    fn older_dictionaries_and_plain_frames_keep_reading() {
        let old = trained();
        let new = train_dictionary(&corpus(400, "other"), 8 << 10, DEFAULT_LEVEL).unwrap();
        assert_ne!(old.id, new.id);
        let c = Codec::default();
        let plain = c.encode(&conv()).unwrap();
        c.use_dictionary(&old);
        let by_old = c.encode(&conv()).unwrap();
        c.use_dictionary(&new);
        let by_new = c.encode(&conv()).unwrap();
        assert_eq!(frame_dictionary_id(&by_old), Some(old.id));
        assert_eq!(frame_dictionary_id(&by_new), Some(new.id));
        for f in [&plain, &by_old, &by_new] {
            assert_eq!(c.decode(f).unwrap(), conv());
        }
    }

    #[test]
    fn env_dictionaries_override_the_default() {
        let a = trained();
        let b = train_dictionary(&corpus(400, "b-env"), 8 << 10, DEFAULT_LEVEL).unwrap();
        let c = Codec::default();
        let mut envs = BTreeMap::new();
        envs.insert("SAT".to_string(), b.id);
        assert!(matches!(
            c.set_targets(Some(a.id), &envs),
            Err(Error::NotFound(_))
        ));
        assert_eq!(c.current_dictionary(), None);
        c.add_dictionary(&a);
        c.add_dictionary(&b);
        c.set_targets(Some(a.id), &envs).unwrap();
        assert_eq!(c.dictionary_for("SAT"), Some(b.id));
        assert_eq!(c.dictionary_for("ABD"), Some(a.id));
        let f = c.encode_for("SAT", &conv()).unwrap();
        assert_eq!(frame_dictionary_id(&f), Some(b.id));
        let f = c.encode_for("ABD", &conv()).unwrap();
        assert_eq!(frame_dictionary_id(&f), Some(a.id));
    }

    #[test]
    fn damaged_dictionary_frame_is_corrupt() {
        let dict = trained();
        let c = Codec::default();
        c.use_dictionary(&dict);
        let mut frame = c.encode(&conv()).unwrap();
        let last = frame.len() - 3;
        frame[last] ^= 0xFF;
        frame.truncate(frame.len() - 1);
        assert!(matches!(c.decode(&frame), Err(Error::Corrupt(_))));
    }

    #[test]
    fn training_rejects_too_little_data() {
        let few = corpus(3, "x");
        assert!(matches!(
            train_dictionary(&few, 16 << 10, DEFAULT_LEVEL),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            train_dictionary(&corpus(100, "x"), 10, DEFAULT_LEVEL),
            Err(Error::InvalidInput { .. })
        ));
    }
}
