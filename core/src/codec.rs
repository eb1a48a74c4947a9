//! The conversation codec (DESIGN §5): compact JSON compressed with zstd,
//! optionally with a trained dictionary that each frame names by id. Legacy
//! gzip frames written by the original Python layer still read.
//!
//! Dictionaries are prepared once (a zstd `CDict`/`DDict` per dictionary) and
//! every thread keeps one compression and one decompression context, so a
//! frame costs no allocation beyond its output buffer. A codec can write a
//! different dictionary per environment ([`Codec::use_env_dictionary`]); the
//! dictionaries themselves live in the database (see
//! [`crate::dictionaries`]).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use zstd::zstd_safe::{self, CCtx, CDict, DCtx, DDict};

use crate::error::{Error, Result};

/// The zstd frame magic number.
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// The gzip magic number.
pub const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];
/// The zstd level new frames use unless configured otherwise.
pub const DEFAULT_LEVEL: i32 = 3;
/// The largest conversation a frame may decode to; a frame claiming more is
/// corrupt (this bounds what a hostile or damaged frame can allocate).
pub const MAX_DECODED_BYTES: u64 = 256 << 20;
/// The dictionary size [`train_dictionary`] aims for by default.
pub const DEFAULT_DICTIONARY_SIZE: usize = 256 << 10;
/// Fewer training samples than this cannot make a useful dictionary.
pub const MIN_TRAINING_SAMPLES: usize = 16;

/// A zstd dictionary, known by the id written into its frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dictionary {
    /// The dictionary id (from the dictionary header).
    pub id: u32,
    /// The raw dictionary bytes.
    pub bytes: Vec<u8>,
}

impl Dictionary {
    /// Wraps trained dictionary bytes; rejects bytes that carry no dictionary id.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let id = zstd_safe::get_dict_id_from_dict(&bytes)
            .map(u32::from)
            .ok_or_else(|| Error::invalid("dictionary", "not a zstd dictionary with an id"))?;
        Ok(Dictionary { id, bytes })
    }
}

/// Trains a dictionary on `samples` (raw conversation JSON) of at most
/// `max_size` bytes, for frames written at `level`.
///
/// zstd's trainer is erratic near its limits: asked for more than the data
/// supports it silently returns a tiny dictionary, and sizes a few percent
/// apart can differ by several points of ratio. So every eighth sample is
/// held out, a few sizes up to `max_size` are tried on the rest, and the
/// dictionary that compresses the held-out samples smallest wins (sizes
/// scaled to the data are among those tried, so a small corpus still gets
/// a dictionary that fits it). Too few samples is an input error; nothing
/// is stored either way.
pub fn train_dictionary<S: AsRef<[u8]>>(
    samples: &[S],
    max_size: usize,
    level: i32,
) -> Result<Dictionary> {
    if samples.len() < MIN_TRAINING_SAMPLES {
        return Err(Error::invalid(
            "samples",
            format!(
                "{} conversations are too few to train a dictionary (need {MIN_TRAINING_SAMPLES})",
                samples.len()
            ),
        ));
    }
    if max_size < 4096 {
        return Err(Error::invalid(
            "size",
            "a dictionary needs at least 4096 bytes",
        ));
    }
    let (mut train, mut held_out) = (Vec::new(), Vec::new());
    for (i, s) in samples.iter().enumerate() {
        if i % 8 == 7 {
            held_out.push(s.as_ref());
        } else {
            train.push(s.as_ref());
        }
    }
    let mut best: Option<(usize, Dictionary)> = None;
    let mut last_error = None;
    let train_bytes: usize = train.iter().map(|s| s.len()).sum();
    let mut sizes = vec![
        max_size,
        max_size * 3 / 4,
        max_size / 2,
        max_size / 4,
        train_bytes / 20,
        train_bytes / 50,
    ];
    sizes.retain(|&s| (4096..=max_size).contains(&s));
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes.dedup();
    for size in sizes {
        let dict = match zstd::dict::from_samples(&train, size)
            .map_err(|e| e.to_string())
            .and_then(|b| Dictionary::from_bytes(b).map_err(|e| e.to_string()))
        {
            Ok(d) => d,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        let codec = Codec::new(level);
        codec.use_dictionary(&dict);
        let mut total = 0;
        for s in &held_out {
            total += codec.encode_bytes(s)?.len();
        }
        if best.as_ref().is_none_or(|(b, _)| total < *b) {
            best = Some((total, dict));
        }
    }
    best.map(|(_, d)| d).ok_or_else(|| {
        Error::invalid(
            "samples",
            format!(
                "zstd could not train a dictionary from these conversations: {}",
                last_error.unwrap_or_default()
            ),
        )
    })
}

/// One dictionary, prepared for both directions.
struct Prepared {
    id: u32,
    raw: Arc<Vec<u8>>,
    cdict: CDict<'static>,
    ddict: DDict<'static>,
}

impl Prepared {
    fn new(dict: &Dictionary, level: i32) -> Prepared {
        Prepared {
            id: dict.id,
            raw: Arc::new(dict.bytes.clone()),
            cdict: CDict::create(&dict.bytes, level),
            ddict: DDict::create(&dict.bytes),
        }
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("id", &self.id)
            .field("size", &self.raw.len())
            .finish()
    }
}

#[derive(Debug, Default)]
struct State {
    known: HashMap<u32, Arc<Prepared>>,
    default: Option<Arc<Prepared>>,
    envs: HashMap<String, Arc<Prepared>>,
    synced_at: Option<Instant>,
}

thread_local! {
    static CCTX: RefCell<CCtx<'static>> = RefCell::new(CCtx::create());
    static DCTX: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

fn zstd_error(what: &str, code: usize) -> String {
    format!("{what}: {}", zstd_safe::get_error_name(code))
}

/// Encodes conversations into frames and decodes frames of any kind it knows.
/// Cheap to share behind an `Arc`; dictionaries can be added while in use.
#[derive(Debug)]
pub struct Codec {
    level: i32,
    state: RwLock<State>,
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
            state: RwLock::new(State::default()),
        }
    }

    /// The zstd level of new frames.
    pub fn level(&self) -> i32 {
        self.level
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn prepared(&self, dict: &Dictionary) -> Arc<Prepared> {
        if let Some(p) = self.state().known.get(&dict.id) {
            return p.clone();
        }
        let p = Arc::new(Prepared::new(dict, self.level));
        self.state_mut()
            .known
            .entry(dict.id)
            .or_insert_with(|| p.clone())
            .clone()
    }

    /// Makes `dict` readable (frames that name it decode).
    pub fn add_dictionary(&self, dict: &Dictionary) {
        self.prepared(dict);
    }

    /// Whether frames naming dictionary `id` can be decoded.
    pub fn has_dictionary(&self, id: u32) -> bool {
        self.state().known.contains_key(&id)
    }

    /// Makes `dict` readable and the one new frames are written with (for
    /// every environment without a dictionary of its own).
    pub fn use_dictionary(&self, dict: &Dictionary) {
        let p = self.prepared(dict);
        self.state_mut().default = Some(p);
    }

    /// Makes `dict` readable and the one new frames of `env` are written with.
    pub fn use_env_dictionary(&self, env: &str, dict: &Dictionary) {
        let p = self.prepared(dict);
        self.state_mut().envs.insert(env.to_string(), p);
    }

    /// Points new frames at already added dictionaries: `default` for every
    /// environment not in `envs`. Unknown ids are a not-found error and
    /// change nothing.
    pub fn set_targets(&self, default: Option<u32>, envs: &BTreeMap<String, u32>) -> Result<()> {
        let mut st = self.state_mut();
        let find = |id: u32| {
            st.known
                .get(&id)
                .cloned()
                .ok_or_else(|| Error::NotFound(format!("zstd dictionary {id} is not loaded")))
        };
        let default = default.map(find).transpose()?;
        let envs = envs
            .iter()
            .map(|(env, id)| Ok((env.clone(), find(*id)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        st.default = default;
        st.envs = envs;
        Ok(())
    }

    /// The id of the dictionary new frames use by default, if any.
    pub fn current_dictionary(&self) -> Option<u32> {
        self.target(None).map(|p| p.id)
    }

    /// The id of the dictionary new frames of `env` use, if any.
    pub fn dictionary_for(&self, env: &str) -> Option<u32> {
        self.target(Some(env)).map(|p| p.id)
    }

    /// The dictionary new frames of `env` use (`None`: the default one).
    fn target(&self, env: Option<&str>) -> Option<Arc<Prepared>> {
        let st = self.state();
        env.and_then(|e| st.envs.get(e))
            .or(st.default.as_ref())
            .cloned()
    }

    /// Whether the dictionaries were last synchronised with the database
    /// longer than `max_age` ago (or never).
    pub fn sync_due(&self, max_age: Duration) -> bool {
        self.state()
            .synced_at
            .is_none_or(|at| at.elapsed() >= max_age)
    }

    /// Records that the dictionaries were just synchronised.
    pub fn mark_synced(&self) {
        self.state_mut().synced_at = Some(Instant::now());
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
        self.compress(raw, self.target(None).as_deref())
    }

    /// Compresses raw bytes into one zstd frame with `env`'s dictionary.
    pub fn encode_bytes_for(&self, env: &str, raw: &[u8]) -> Result<Vec<u8>> {
        self.compress(raw, self.target(Some(env)).as_deref())
    }

    fn compress(&self, raw: &[u8], dict: Option<&Prepared>) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(zstd_safe::compress_bound(raw.len()));
        CCTX.with(|cctx| {
            let mut cctx = cctx.borrow_mut();
            match dict {
                Some(p) => cctx.compress_using_cdict(&mut out, raw, &p.cdict),
                None => cctx.compress(&mut out, raw, self.level),
            }
        })
        .map_err(|code| Error::backend(zstd_error("zstd compress", code)))?;
        Ok(out)
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
        if frame.starts_with(&GZIP_MAGIC) {
            return read_bounded(flate2::read::GzDecoder::new(frame), "gzip frame");
        }
        if !frame.starts_with(&ZSTD_MAGIC) {
            return Err(Error::corrupt(
                "conversation is neither a zstd nor a gzip frame",
            ));
        }
        let dict = match frame_dictionary_id(frame) {
            None => None,
            Some(id) => Some(self.state().known.get(&id).cloned().ok_or_else(|| {
                Error::corrupt(format!(
                    "frame needs zstd dictionary {id}, which is not stored"
                ))
            })?),
        };
        let size = match zstd_safe::get_frame_content_size(frame) {
            Ok(Some(n)) => n,
            Ok(None) => return decode_streaming(frame, dict.as_deref()),
            Err(_) => return Err(Error::corrupt("zstd frame header is damaged")),
        };
        if size > MAX_DECODED_BYTES {
            return Err(Error::corrupt(format!(
                "zstd frame claims {size} bytes, more than the {MAX_DECODED_BYTES} allowed"
            )));
        }
        let mut out = Vec::with_capacity(size as usize);
        DCTX.with(|dctx| {
            let mut dctx = dctx.borrow_mut();
            match &dict {
                Some(p) => dctx.decompress_using_ddict(&mut out, frame, &p.ddict),
                None => dctx.decompress(&mut out, frame),
            }
        })
        .map_err(|code| Error::corrupt(zstd_error("zstd frame", code)))?;
        if out.len() as u64 != size {
            return Err(Error::corrupt(format!(
                "zstd frame decoded to {} bytes, its header says {size}",
                out.len()
            )));
        }
        Ok(out)
    }
}

/// Frames without a content size (streamed by other writers) decode here.
fn decode_streaming(frame: &[u8], dict: Option<&Prepared>) -> Result<Vec<u8>> {
    let decoder = match dict {
        Some(p) => zstd::stream::read::Decoder::with_dictionary(frame, &p.raw),
        None => zstd::stream::read::Decoder::with_buffer(frame),
    }
    .map_err(|e| Error::corrupt(format!("zstd frame: {e}")))?;
    read_bounded(decoder, "zstd frame")
}

fn read_bounded(reader: impl Read, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    reader
        .take(MAX_DECODED_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::corrupt(format!("{what}: {e}")))?;
    if out.len() as u64 > MAX_DECODED_BYTES {
        return Err(Error::corrupt(format!(
            "{what} decodes to more than {MAX_DECODED_BYTES} bytes"
        )));
    }
    Ok(out)
}

/// The dictionary id a zstd frame names, or `None` for frames without one
/// (and for anything that is not a zstd frame).
pub fn frame_dictionary_id(frame: &[u8]) -> Option<u32> {
    if !frame.starts_with(&ZSTD_MAGIC) {
        return None;
    }
    zstd_safe::get_dict_id_from_frame(frame).map(u32::from)
}

/// Compresses bytes with gzip level 9, as the original Python layer did.
pub fn gzip9(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    e.write_all(raw).expect("writing to a Vec cannot fail");
    e.finish().expect("writing to a Vec cannot fail")
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

    #[test]
    fn dictionary_bytes_without_id_are_rejected() {
        assert!(matches!(
            Dictionary::from_bytes(b"just some text".to_vec()),
            Err(Error::InvalidInput { .. })
        ));
    }
}
