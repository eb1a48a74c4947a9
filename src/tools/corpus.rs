//! Reading a directory laid out like the R2 bucket (DESIGN §7) straight into
//! samples, synchronously and without a store: what the benches, the
//! write-cost report and dictionary experiments feed on.
//!
//! Unreadable shards and records that do not convert are skipped, exactly as
//! a migration skips them; duplicates (same signature) are kept once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::tools::migrate::{convert, shard_window};
use affine_db_core::error::{Error, Result};
use affine_db_core::tables::samples::NewSample;

/// The environment variable naming a corpus directory for benches
/// (defaults to the fixture, `../shared/data/r2-bucket`).
pub const CORPUS_ENV: &str = "AFFINE_BENCH_CORPUS";

/// The corpus directory: `AFFINE_BENCH_CORPUS` if set, else
/// `<repo>/../shared/data/r2-bucket` relative to `repo_root`.
pub fn corpus_dir(repo_root: &Path) -> PathBuf {
    match std::env::var_os(CORPUS_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => repo_root.join("../shared/data/r2-bucket"),
    }
}

/// Every sample the result shards under `dir/affine/results/` convert to,
/// in shard-name then record order. Fails only when the directory itself
/// cannot be listed.
pub fn load_samples(dir: &Path) -> Result<Vec<NewSample>> {
    let results = dir.join("affine").join("results");
    let mut shards: Vec<PathBuf> = std::fs::read_dir(&results)
        .map_err(|e| Error::invalid("corpus", format!("cannot list {}: {e}", results.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    shards.sort();
    let mut seen = HashSet::new();
    let mut samples = Vec::new();
    for shard in shards {
        let name = shard.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some(window) = shard_window(name) else {
            continue;
        };
        let Ok(bytes) = std::fs::read(&shard) else {
            continue;
        };
        let Ok(Value::Array(records)) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        for record in &records {
            if let Ok(converted) = convert(record, window) {
                if seen.insert(converted.sample.signature.clone()) {
                    samples.push(converted.sample);
                }
            }
        }
    }
    Ok(samples)
}

/// The compact JSON of each sample's conversation, as the codec compresses it.
pub fn conversation_bytes(samples: &[NewSample]) -> Vec<Vec<u8>> {
    samples
        .iter()
        .map(|s| serde_json::to_vec(&s.conversation).expect("a JSON value serializes"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_loads_readable_shards_only() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/r2-bucket");
        let samples = load_samples(&dir).unwrap();
        // The truncated shard does not parse as a whole, so it contributes nothing here.
        assert!(samples.len() > 1500, "{}", samples.len());
        let convs = conversation_bytes(&samples);
        assert!(convs.iter().all(|c| c.starts_with(b"[")));
    }

    #[test]
    fn missing_directory_is_input_error() {
        let err = load_samples(Path::new("/nonexistent/affine-corpus")).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }));
    }
}
