//! Training a zstd dictionary on a corpus of conversations.

use super::{Codec, Dictionary};
use crate::error::{Error, Result};

/// Fewer training samples than this cannot make a useful dictionary.
pub const MIN_TRAINING_SAMPLES: usize = 16;

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
