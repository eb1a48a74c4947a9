//! A deterministic generator of R2-shaped buckets of any size.
//!
//! The layout is the real bucket's (and the fixture's,
//! `../shared/data/r2-bucket`): `affine/index.json` lists every shard key,
//! each shard `affine/results/{window:09}-{signer}.json` holds a JSON array
//! of result records. Records are the fixture's records ([`Templates`]),
//! resampled and mutated so that a large bucket has the fixture's mix of
//! layouts, environments, conversation sizes and defects (records without a
//! miner, non-numeric and null scores, repeated signatures) but no two
//! records alike:
//!
//! - each record gets a fresh 128-hex-digit signature (about one in 300
//!   repeats the signature of the record before it, as a duplicate);
//! - its miner is drawn from a pool of [`BucketSpec::miners`] miners (hotkey,
//!   uid, revision, model), its signer from [`BucketSpec::signers`];
//! - its timestamp follows its shard's window; a numeric score is redrawn;
//! - every digit of its conversation text is redrawn, so texts differ but
//!   keep their length and structure (what compression sees).
//!
//! Everything is a pure function of the spec, the templates and the shard
//! number: [`Bucket::shard_json`] of shard `j` is the same bytes on every
//! call, so a bucket can be written to a directory ([`Bucket::write_to`])
//! or served shard by shard ([`Bucket::get`]) without storing it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

/// Fixture records larger than this (compact JSON) are not used as
/// templates: the fixture's one oversize conversation (680 KB) would
/// otherwise be resampled hundreds of times in a large bucket.
pub const MAX_TEMPLATE_BYTES: usize = 128 * 1024;
/// The window of shard 0.
pub const FIRST_WINDOW: i64 = 7_000_000;
/// Blocks between windows (the old validator's window size).
pub const WINDOW_BLOCKS: i64 = 20;
/// Seconds per block.
pub const BLOCK_SECONDS: f64 = 12.0;
/// The time of the first window, in seconds since the epoch.
pub const FIRST_TIME_S: f64 = 1_770_000_000.0;
/// The key of the index.
pub const INDEX_KEY: &str = "affine/index.json";
/// One record in this many repeats the signature of the record before it.
pub const DUPLICATE_EVERY: u32 = 300;

/// The records new ones are made from.
#[derive(Debug, Clone)]
pub struct Templates {
    records: Vec<Value>,
}

impl Templates {
    /// Every record (object) of every shard under `dir/affine/results/`
    /// that parses (shards in name order), up to [`MAX_TEMPLATE_BYTES`] each.
    pub fn load(dir: &Path) -> io::Result<Templates> {
        let results = dir.join("affine").join("results");
        let mut shards: Vec<PathBuf> = fs::read_dir(&results)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        shards.sort();
        let mut records = Vec::new();
        for shard in shards {
            let Ok(bytes) = fs::read(&shard) else {
                continue;
            };
            let Ok(Value::Array(recs)) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            records.extend(recs.into_iter().filter(|r| {
                r.is_object() && serde_json::to_vec(r).map_or(0, |b| b.len()) <= MAX_TEMPLATE_BYTES
            }));
        }
        if records.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("no usable records under {}", results.display()),
            ));
        }
        Ok(Templates { records })
    }

    /// Templates from records given directly (tests).
    pub fn from_records(records: Vec<Value>) -> Templates {
        assert!(!records.is_empty(), "at least one template record");
        Templates { records }
    }

    /// How many templates.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSpec {
    /// Records in all.
    pub records: u64,
    /// Records per shard (the fixture has about 40).
    pub per_shard: usize,
    /// Distinct miners.
    pub miners: usize,
    /// Distinct signers (validators); each window has one shard per signer.
    pub signers: usize,
    /// The seed: same seed, same bucket.
    pub seed: u64,
}

impl Default for BucketSpec {
    fn default() -> Self {
        BucketSpec {
            records: 40_000,
            per_shard: 40,
            miners: 64,
            signers: 4,
            seed: 0,
        }
    }
}

/// One miner of the pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerId {
    /// SS58-looking hotkey.
    pub hotkey: String,
    /// Uid.
    pub uid: i64,
    /// Model revision (40 hex digits).
    pub revision: String,
    /// Model name.
    pub model: String,
}

/// A generated bucket (nothing is generated until asked for).
#[derive(Debug, Clone)]
pub struct Bucket {
    spec: BucketSpec,
    templates: Arc<Templates>,
    miners: Vec<MinerId>,
    signers: Vec<String>,
}

/// What [`Bucket::write_to`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Shard files.
    pub shards: u64,
    /// Bytes of shard files.
    pub shard_bytes: u64,
}

const BASE58: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

fn ss58(rng: &mut StdRng) -> String {
    let mut s = String::from("5");
    s.extend((0..47).map(|_| BASE58[rng.gen_range(0..BASE58.len())] as char));
    s
}

fn hex(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// A 64-bit mix of the inputs (splitmix64 steps), for per-shard seeds.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Bucket {
    /// A bucket of `spec` made from `templates`.
    pub fn new(spec: BucketSpec, templates: Arc<Templates>) -> Bucket {
        assert!(spec.per_shard > 0 && spec.miners > 0 && spec.signers > 0);
        let mut rng = StdRng::seed_from_u64(mix(spec.seed, 0xB0C4E7));
        let miners = (0..spec.miners)
            .map(|m| MinerId {
                hotkey: ss58(&mut rng),
                uid: m as i64,
                revision: hex(&mut rng, 40),
                model: format!("gen{m}/Affine-{}", rng.gen_range(1..100)),
            })
            .collect();
        let signers = (0..spec.signers).map(|_| ss58(&mut rng)).collect();
        Bucket {
            spec,
            templates,
            miners,
            signers,
        }
    }

    /// The spec.
    pub fn spec(&self) -> &BucketSpec {
        &self.spec
    }

    /// The miner pool.
    pub fn miners(&self) -> &[MinerId] {
        &self.miners
    }

    /// How many shards.
    pub fn shard_count(&self) -> u64 {
        self.spec.records.div_ceil(self.spec.per_shard as u64)
    }

    /// Records in shard `j`.
    pub fn records_in(&self, j: u64) -> usize {
        let per = self.spec.per_shard as u64;
        let start = j * per;
        usize::try_from(self.spec.records.saturating_sub(start).min(per)).unwrap_or(0)
    }

    fn window(&self, j: u64) -> i64 {
        FIRST_WINDOW + WINDOW_BLOCKS * (j / self.spec.signers as u64) as i64
    }

    /// The key of shard `j`.
    pub fn shard_key(&self, j: u64) -> String {
        let signer = &self.signers[(j % self.spec.signers as u64) as usize];
        format!("affine/results/{:09}-{signer}.json", self.window(j))
    }

    /// The shard number of `key`, if it is one of this bucket's.
    pub fn shard_of_key(&self, key: &str) -> Option<u64> {
        let name = key.strip_prefix("affine/results/")?.strip_suffix(".json")?;
        let (window, signer) = name.split_once('-')?;
        let window: i64 = window.parse().ok()?;
        let s = self.signers.iter().position(|x| x == signer)? as u64;
        let w = window.checked_sub(FIRST_WINDOW)?;
        if w < 0 || w % WINDOW_BLOCKS != 0 {
            return None;
        }
        let j = (w / WINDOW_BLOCKS) as u64 * self.spec.signers as u64 + s;
        (j < self.shard_count()).then_some(j)
    }

    /// `affine/index.json`: every shard key, in shard order.
    pub fn index_json(&self) -> Vec<u8> {
        let keys: Vec<String> = (0..self.shard_count()).map(|j| self.shard_key(j)).collect();
        serde_json::to_vec(&keys).expect("strings serialize")
    }

    /// Shard `j` as the JSON array its file holds.
    pub fn shard_json(&self, j: u64) -> Vec<u8> {
        let records: Vec<Value> = self.shard_records(j);
        serde_json::to_vec(&records).expect("values serialize")
    }

    /// The records of shard `j`.
    pub fn shard_records(&self, j: u64) -> Vec<Value> {
        let mut rng = StdRng::seed_from_u64(mix(self.spec.seed, j + 1));
        let window = self.window(j);
        let signer = &self.signers[(j % self.spec.signers as u64) as usize];
        let t0 = FIRST_TIME_S + (window - FIRST_WINDOW) as f64 * BLOCK_SECONDS;
        let mut out: Vec<Value> = Vec::with_capacity(self.records_in(j));
        let mut last_signature: Option<String> = None;
        for k in 0..self.records_in(j) {
            let t = &self.templates.records[rng.gen_range(0..self.templates.len())];
            let miner = &self.miners[rng.gen_range(0..self.miners.len())];
            let signature = match &last_signature {
                Some(s) if rng.gen_ratio(1, DUPLICATE_EVERY) => s.clone(),
                _ => hex(&mut rng, 128),
            };
            let time = t0 + k as f64 * 1.5 + f64::from(rng.gen_range(0..1000u32)) / 1000.0;
            let record = mutate(t, &mut rng, miner, signer, &signature, time);
            last_signature = Some(signature);
            out.push(record);
        }
        out
    }

    /// The object at `key` (the index or a shard), `None` for any other key.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        if key == INDEX_KEY {
            return Some(self.index_json());
        }
        self.shard_of_key(key).map(|j| self.shard_json(j))
    }

    /// Writes the bucket under `dir` (`dir/affine/index.json` and the
    /// shards), on `threads` threads.
    pub fn write_to(&self, dir: &Path, threads: usize) -> io::Result<Written> {
        let results = dir.join("affine").join("results");
        fs::create_dir_all(&results)?;
        fs::write(dir.join(INDEX_KEY), self.index_json())?;
        let n = self.shard_count();
        let threads = threads.clamp(1, 64) as u64;
        let totals: Vec<io::Result<u64>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || -> io::Result<u64> {
                        let mut bytes = 0u64;
                        let mut j = t;
                        while j < n {
                            let data = self.shard_json(j);
                            bytes += data.len() as u64;
                            fs::write(dir.join(self.shard_key(j)), data)?;
                            j += threads;
                        }
                        Ok(bytes)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("writer panicked")))
                })
                .collect()
        });
        let mut shard_bytes = 0;
        for t in totals {
            shard_bytes += t?;
        }
        Ok(Written {
            shards: n,
            shard_bytes,
        })
    }
}

/// A record made from template `t`.
fn mutate(
    t: &Value,
    rng: &mut StdRng,
    miner: &MinerId,
    signer: &str,
    signature: &str,
    time_s: f64,
) -> Value {
    let mut r = t.clone();
    let Some(obj) = r.as_object_mut() else {
        return r;
    };
    if obj.contains_key("signature") {
        obj.insert("signature".into(), Value::from(signature));
    }
    obj.insert("hotkey".into(), Value::from(signer));
    if let Some(Value::Object(m)) = obj.get_mut("miner") {
        m.insert("hotkey".into(), Value::from(miner.hotkey.as_str()));
        m.insert("uid".into(), Value::from(miner.uid));
        m.insert("revision".into(), Value::from(miner.revision.as_str()));
        m.insert("model".into(), Value::from(miner.model.as_str()));
    }
    if obj.contains_key("challenge") {
        // The legacy layout: times in the challenge and the response.
        if let Some(Value::Object(c)) = obj.get_mut("challenge") {
            c.insert("timestamp".into(), Value::from(time_s - 30.0));
            if let Some(p) = c.get_mut("prompt") {
                redraw_digits(p, rng);
            }
        }
        if let Some(Value::Object(resp)) = obj.get_mut("response") {
            resp.insert("timestamp".into(), Value::from(time_s));
            if let Some(p) = resp.get_mut("response") {
                redraw_digits(p, rng);
            }
        }
        if let Some(Value::Object(e)) = obj.get_mut("evaluation") {
            if e.get("score").is_some_and(Value::is_number) {
                e.insert("score".into(), Value::from(rounded_score(rng)));
            }
        }
    } else {
        obj.insert("timestamp".into(), Value::from(time_s));
        if obj.get("score").is_some_and(Value::is_number) {
            obj.insert("score".into(), Value::from(rounded_score(rng)));
        }
        if obj.get("task_id").is_some_and(Value::is_number) {
            obj.insert("task_id".into(), Value::from(rng.gen_range(0..100_000)));
        }
        if let Some(Value::Object(extra)) = obj.get_mut("extra") {
            if let Some(c) = extra.get_mut("conversation") {
                redraw_digits(c, rng);
            }
        }
    }
    r
}

fn rounded_score(rng: &mut StdRng) -> f64 {
    (rng.gen::<f64>() * 10_000.0).round() / 10_000.0
}

/// Redraws every ASCII digit of every string in `v`.
fn redraw_digits(v: &mut Value, rng: &mut StdRng) {
    match v {
        Value::String(s) if s.bytes().any(|b| b.is_ascii_digit()) => {
            let bytes: Vec<u8> = s
                .bytes()
                .map(|b| {
                    if b.is_ascii_digit() {
                        b'0' + rng.gen_range(0..10u8)
                    } else {
                        b
                    }
                })
                .collect();
            // Only ASCII digits were replaced by ASCII digits.
            *s = String::from_utf8(bytes).expect("still UTF-8");
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redraw_digits(i, rng)),
        Value::Object(map) => map.values_mut().for_each(|i| redraw_digits(i, rng)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn templates() -> Arc<Templates> {
        Arc::new(Templates::from_records(vec![
            json!({"version": "1", "signature": "s", "hotkey": "v",
                   "miner": {"uid": 1, "hotkey": "m", "revision": "r", "model": "x"},
                   "env": "affine:sat", "score": 0.5, "latency_seconds": 1.0, "success": true,
                   "task_id": 3, "timestamp": 1.0,
                   "extra": {"conversation": "[{'role': 'user', 'content': 'x = 12345'}]"}}),
            json!({"signature": "s", "hotkey": "v", "env": "affine:abd", "score": "bad",
                   "timestamp": 1.0, "extra": {"conversation": "no miner 42"}}),
            json!({"signature": "s", "hotkey": "v",
                   "miner": {"uid": 2, "hotkey": "m", "revision": "r"},
                   "challenge": {"env": "agentgym:webshop", "prompt": "P 7", "timestamp": 1.0},
                   "response": {"response": "R 8", "timestamp": 2.0, "success": true},
                   "evaluation": {"score": 1.0}}),
        ]))
    }

    #[test]
    fn same_spec_same_bytes_and_keys_round_trip() {
        let spec = BucketSpec {
            records: 1000,
            per_shard: 40,
            miners: 8,
            signers: 3,
            seed: 7,
        };
        let a = Bucket::new(spec.clone(), templates());
        let b = Bucket::new(spec.clone(), templates());
        assert_eq!(a.shard_count(), 25);
        for j in [0, 1, 24] {
            assert_eq!(a.shard_json(j), b.shard_json(j));
            assert_eq!(a.shard_of_key(&a.shard_key(j)), Some(j));
            assert_eq!(a.get(&a.shard_key(j)), Some(a.shard_json(j)));
        }
        assert_ne!(a.shard_json(0), a.shard_json(1));
        let other = Bucket::new(BucketSpec { seed: 8, ..spec }, templates());
        assert_ne!(a.shard_json(0), other.shard_json(0));
        assert_eq!(a.get("affine/results/nope.json"), None);
        let index: Vec<String> = serde_json::from_slice(&a.get(INDEX_KEY).unwrap()).unwrap();
        assert_eq!(index.len(), 25);
        assert_eq!(index[3], a.shard_key(3));
    }

    #[test]
    fn records_are_mutated_copies_with_fresh_signatures() {
        let spec = BucketSpec {
            records: 2000,
            per_shard: 50,
            miners: 4,
            signers: 2,
            seed: 1,
        };
        let bucket = Bucket::new(spec, templates());
        let mut total = 0;
        let mut signatures = std::collections::HashSet::new();
        let mut repeats = 0;
        for j in 0..bucket.shard_count() {
            let recs: Vec<Value> = serde_json::from_slice(&bucket.shard_json(j)).unwrap();
            assert_eq!(recs.len(), bucket.records_in(j));
            for r in &recs {
                total += 1;
                let sig = r["signature"].as_str().unwrap().to_string();
                assert_eq!(sig.len(), 128);
                if !signatures.insert(sig) {
                    repeats += 1;
                }
                if let Some(m) = r.get("miner") {
                    assert!(bucket
                        .miners()
                        .iter()
                        .any(|x| x.hotkey == m["hotkey"].as_str().unwrap()));
                }
                if let Some(c) = r.pointer("/extra/conversation").and_then(Value::as_str) {
                    // Same shape as its template, digits redrawn.
                    assert!(c.len() == 42 || c.len() == 11, "{c}");
                }
            }
        }
        assert_eq!(total, 2000);
        // About one in DUPLICATE_EVERY repeats the signature before it.
        assert!((1..30).contains(&repeats), "{repeats}");
    }

    #[test]
    fn writes_a_directory_like_the_fixture() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = Bucket::new(
            BucketSpec {
                records: 130,
                ..BucketSpec::default()
            },
            templates(),
        );
        let w = bucket.write_to(dir.path(), 3).unwrap();
        assert_eq!(w.shards, 4);
        let index: Vec<String> =
            serde_json::from_slice(&fs::read(dir.path().join(INDEX_KEY)).unwrap()).unwrap();
        let mut bytes = 0;
        for (j, key) in index.iter().enumerate() {
            let data = fs::read(dir.path().join(key)).unwrap();
            assert_eq!(data, bucket.shard_json(j as u64));
            bytes += data.len() as u64;
        }
        assert_eq!(bytes, w.shard_bytes);
    }

    #[test]
    fn loads_the_fixture_without_its_oversize_record() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/r2-bucket");
        let t = Templates::load(&dir).unwrap();
        // 1765 records in readable shards, one of them oversize.
        assert_eq!(t.len(), 1764);
        assert!(Templates::load(Path::new("/nonexistent")).is_err());
    }
}
