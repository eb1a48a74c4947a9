//! Conversation compression: the stored form against the original's gzip.
//!
//! The corpus's conversations (compact JSON, exactly what the codec
//! compresses) are split deterministically by index: even-indexed ones train
//! the dictionary, odd-indexed ones are measured, so the dictionary never
//! sees the data it is judged on. Every iteration handles the whole measured
//! half, one frame per conversation, with throughput in raw bytes.
//!
//! Variants:
//!
//! * `gzip9`: the original Python layer's stored form, gzip level 9
//!   ([`affine_db::codec::gzip9`]);
//! * `zstd1`, `zstd3`, `zstd9`, `zstd19`: zstd at that level, no dictionary;
//! * `zstd3_dict`: the default stored form, [`Codec::new`]`(DEFAULT_LEVEL)`
//!   with a dictionary of [`DEFAULT_DICTIONARY_SIZE`] made by
//!   [`train_dictionary`] on the training half (what `affine-db train-dict`
//!   stores).
//!
//! Groups: `compress` (one frame per conversation, as writes do) and
//! `decompress` (every frame through [`Codec::decode_bytes`], as reads do,
//! gzip frames included).
//!
//! Before the groups a ratio table is printed: each variant's total frame
//! bytes and its ratio against gzip-9 (`gzip_total / variant_total`), plus
//! the dictionary variant with the dictionary's own size added (its cost
//! amortised over this corpus). After the groups, this run's criterion
//! medians give the headline (`zstd3_dict vs gzip9: 1.48x smaller, compress
//! 6.1x faster, decompress 3.9x faster`), checked against the targets
//! (>= 1.4x smaller, >= 4x faster compression, >= 2x faster decompression)
//! and written as JSON to `<criterion dir>/compression-summary.json`
//! (`target/criterion/` unless `CRITERION_HOME` or `CARGO_TARGET_DIR` say
//! otherwise).
//!
//! Run:
//!
//! ```text
//! cargo bench --bench compression                                   # fixture corpus
//! AFFINE_BENCH_CORPUS=/path/to/bucket cargo bench --bench compression  # another corpus
//! cargo test --bench compression       # test mode: each bench once, ratio asserted
//! ```
//!
//! Another corpus is a directory laid out like the R2 bucket
//! (`affine/results/*.json`). In test mode (`cargo test --bench compression`
//! or `cargo test --all-targets`) criterion runs every bench once and writes
//! no estimates, so the timing summary is skipped; the ratio table is still
//! printed, every frame is checked to decode to its conversation, and the
//! default stored form must be at least 1.4x smaller than gzip-9 or the
//! test fails. To stay quick in a debug build, test mode runs the benches
//! (and computes `zstd19`'s ratio, marked as such) on every eighth measured
//! conversation only, and trains the dictionary while the plain variants
//! compress.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use affine_db::codec::{
    gzip9, train_dictionary, Codec, Dictionary, DEFAULT_DICTIONARY_SIZE, DEFAULT_LEVEL,
};
use affine_db::tools::corpus::{conversation_bytes, corpus_dir, load_samples};
use criterion::{Criterion, SamplingMode, Throughput};
use serde_json::{json, Value};

/// The baseline every ratio and speed-up is measured against.
const BASELINE: &str = "gzip9";
/// The default stored form.
const DEFAULT_FORM: &str = "zstd3_dict";
/// Targets for the default stored form against the baseline.
const TARGET_SMALLER: f64 = 1.4;
const TARGET_COMPRESS: f64 = 4.0;
const TARGET_DECOMPRESS: f64 = 2.0;
/// Plain zstd levels measured.
const LEVELS: [i32; 4] = [1, 3, 9, 19];
/// In test mode (an unoptimised build, every bench run once) the benches and
/// the level-19 ratio see only every n-th measured conversation; the other
/// ratios always cover the whole measured half.
const TEST_SUBSET_STEP: usize = 8;

/// How one variant makes frames.
enum Encoder {
    Gzip9,
    Zstd(Codec),
}

impl Encoder {
    fn encode(&self, raw: &[u8]) -> Vec<u8> {
        match self {
            Encoder::Gzip9 => gzip9(raw),
            Encoder::Zstd(codec) => codec.encode_bytes(raw).expect("zstd compresses"),
        }
    }
}

/// One compression variant with its frames of the measured conversations.
struct Variant {
    name: String,
    encoder: Encoder,
    /// Which measured conversations this variant handles (all but in test mode's slow case).
    inputs: Vec<usize>,
    frames: Vec<Vec<u8>>,
    raw_bytes: u64,
    frame_bytes: u64,
}

/// The output directory criterion writes to, resolved the way criterion does.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("criterion"),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion"),
    }
}

/// Whether criterion runs in test mode (each bench once, no estimates), or
/// only lists benches; decided from the arguments exactly as criterion does.
fn quick_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    !has("--bench") || has("--test") || has("--list")
}

/// This run's median time (ns) of `group/function`; `None` when criterion did
/// not measure it in this run (test mode, filtered out, or stale files).
fn median_ns(dir: &Path, group: &str, function: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(group).join(function).join("new/estimates.json");
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    if modified < since {
        return None;
    }
    let estimates: Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

fn mib_per_s(bytes: u64, ns: f64) -> f64 {
    bytes as f64 / (1 << 20) as f64 / (ns / 1e9)
}

fn main() {
    let quick = quick_mode();
    let mut criterion = Criterion::default().configure_from_args();

    let corpus = corpus_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    let corpus_shown = corpus.canonicalize().unwrap_or_else(|_| corpus.clone());
    let samples = load_samples(&corpus).expect("the corpus directory is readable");
    let conversations = conversation_bytes(&samples);
    drop(samples);
    let (mut train, mut measured) = (Vec::new(), Vec::new());
    for (i, conversation) in conversations.iter().enumerate() {
        if i % 2 == 0 {
            train.push(conversation.as_slice());
        } else {
            measured.push(conversation.as_slice());
        }
    }

    // Reads go through one codec that knows every dictionary.
    let reader = Codec::new(DEFAULT_LEVEL);
    let all: Vec<usize> = (0..measured.len()).collect();
    let build = |name: String, encoder: Encoder| -> Variant {
        let inputs: Vec<usize> = if quick && name == "zstd19" {
            all.iter().copied().step_by(TEST_SUBSET_STEP).collect()
        } else {
            all.clone()
        };
        let frames: Vec<Vec<u8>> = inputs
            .iter()
            .map(|&i| encoder.encode(measured[i]))
            .collect();
        for (&i, frame) in inputs.iter().zip(&frames) {
            let decoded = reader.decode_bytes(frame).expect("a frame decodes");
            assert!(
                decoded == measured[i],
                "{name}: frame {i} does not decode to its conversation"
            );
        }
        Variant {
            raw_bytes: inputs.iter().map(|&i| measured[i].len() as u64).sum(),
            frame_bytes: frames.iter().map(|f| f.len() as u64).sum(),
            name,
            encoder,
            inputs,
            frames,
        }
    };

    // Training is single-threaded and the slowest part of the setup (very
    // slow in debug builds), so the plain variants are made meanwhile.
    let (dictionary, training_time, mut variants) = std::thread::scope(|scope| {
        let trainer = scope.spawn(|| {
            let started = Instant::now();
            let dictionary = train_dictionary(&train, DEFAULT_DICTIONARY_SIZE, DEFAULT_LEVEL);
            (dictionary, started.elapsed())
        });
        let mut variants = vec![build(BASELINE.to_string(), Encoder::Gzip9)];
        for level in LEVELS {
            variants.push(build(
                format!("zstd{level}"),
                Encoder::Zstd(Codec::new(level)),
            ));
        }
        let (dictionary, training_time) = trainer.join().expect("the training thread finishes");
        let dictionary: Dictionary = dictionary.expect("the training half trains a dictionary");
        (dictionary, training_time, variants)
    });
    reader.add_dictionary(&dictionary);
    let default_form = Codec::new(DEFAULT_LEVEL);
    default_form.use_dictionary(&dictionary);
    // Right after the baseline, so the two headline benches run back to back
    // (on a shared machine, under the most similar load).
    variants.insert(
        1,
        build(DEFAULT_FORM.to_string(), Encoder::Zstd(default_form)),
    );

    let raw_total: u64 = measured.iter().map(|c| c.len() as u64).sum();
    let baseline = &variants[0];
    // A variant measured on a subset is compared with gzip-9 on the same subset.
    let baseline_bytes_on = |v: &Variant| -> u64 {
        if v.inputs.len() == measured.len() {
            baseline.frame_bytes
        } else {
            v.inputs
                .iter()
                .map(|&i| baseline.frames[i].len() as u64)
                .sum()
        }
    };
    let ratio = |v: &Variant| baseline_bytes_on(v) as f64 / v.frame_bytes as f64;
    let default = variants
        .iter()
        .find(|v| v.name == DEFAULT_FORM)
        .expect("default form present");
    let default_ratio = ratio(default);
    let amortised_ratio =
        baseline.frame_bytes as f64 / (default.frame_bytes + dictionary.bytes.len() as u64) as f64;

    println!();
    println!("compression corpus: {}", corpus_shown.display());
    println!(
        "conversations: {} (training half {}, measured half {}); measured raw bytes: {raw_total}",
        conversations.len(),
        train.len(),
        measured.len()
    );
    println!(
        "dictionary: id {}, {} bytes (asked for at most {DEFAULT_DICTIONARY_SIZE}), trained in {:.2} s",
        dictionary.id,
        dictionary.bytes.len(),
        training_time.as_secs_f64()
    );
    println!(
        "{:<28} {:>14} {:>10} {:>14}",
        "variant", "total bytes", "raw/total", "vs gzip9"
    );
    for v in &variants {
        let note = if v.inputs.len() == measured.len() {
            String::new()
        } else {
            format!(
                "  (test mode: {} of {} conversations)",
                v.inputs.len(),
                measured.len()
            )
        };
        println!(
            "{:<28} {:>14} {:>9.2}x {:>13.3}x{note}",
            v.name,
            v.frame_bytes,
            v.raw_bytes as f64 / v.frame_bytes as f64,
            ratio(v)
        );
        if v.name == DEFAULT_FORM {
            let with_dictionary = v.frame_bytes + dictionary.bytes.len() as u64;
            println!(
                "{:<28} {:>14} {:>9.2}x {:>13.3}x",
                format!("{DEFAULT_FORM} + dictionary"),
                with_dictionary,
                v.raw_bytes as f64 / with_dictionary as f64,
                amortised_ratio
            );
        }
    }
    println!();

    if quick {
        assert!(
            default_ratio >= TARGET_SMALLER,
            "the default stored form ({DEFAULT_FORM}) is only {default_ratio:.3}x smaller than {BASELINE}, \
             the target is {TARGET_SMALLER}x"
        );
    }

    let since = SystemTime::now();

    let step = if quick { TEST_SUBSET_STEP } else { 1 };
    // Every iteration takes tens of milliseconds or more: flat sampling (the
    // same iteration count in every sample) suits that and keeps runs short.
    let mut group = criterion.benchmark_group("compress");
    group.sampling_mode(SamplingMode::Flat);
    for v in &variants {
        let inputs: Vec<&[u8]> = v
            .inputs
            .iter()
            .step_by(step)
            .map(|&i| measured[i])
            .collect();
        group.throughput(Throughput::Bytes(
            inputs.iter().map(|r| r.len() as u64).sum(),
        ));
        if v.name == "zstd19" {
            group
                .sample_size(10)
                .measurement_time(Duration::from_secs(20));
        } else {
            group
                .sample_size(20)
                .measurement_time(Duration::from_secs(6));
        }
        group.bench_function(v.name.as_str(), |b| {
            b.iter(|| {
                let mut total = 0usize;
                for raw in &inputs {
                    total += black_box(v.encoder.encode(raw)).len();
                }
                total
            })
        });
    }
    group.finish();

    let mut group = criterion.benchmark_group("decompress");
    group.sampling_mode(SamplingMode::Flat);
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    for v in &variants {
        let frames: Vec<&[u8]> = v.frames.iter().step_by(step).map(Vec::as_slice).collect();
        let raw: u64 = v
            .inputs
            .iter()
            .step_by(step)
            .map(|&i| measured[i].len() as u64)
            .sum();
        group.throughput(Throughput::Bytes(raw));
        group.bench_function(v.name.as_str(), |b| {
            b.iter(|| {
                let mut total = 0usize;
                for frame in &frames {
                    total += black_box(reader.decode_bytes(frame).expect("a frame decodes")).len();
                }
                total
            })
        });
    }
    group.finish();
    criterion.final_summary();

    let dir = criterion_dir();
    let medians: Vec<(Option<f64>, Option<f64>)> = variants
        .iter()
        .map(|v| {
            (
                median_ns(&dir, "compress", &v.name, since),
                median_ns(&dir, "decompress", &v.name, since),
            )
        })
        .collect();
    let default_index = variants
        .iter()
        .position(|v| v.name == DEFAULT_FORM)
        .expect("present");
    let (Some(gzip_c), Some(gzip_d), Some(dict_c), Some(dict_d)) = (
        medians[0].0,
        medians[0].1,
        medians[default_index].0,
        medians[default_index].1,
    ) else {
        println!(
            "compression summary skipped: criterion wrote no estimates for {BASELINE} and \
             {DEFAULT_FORM} in this run (test mode or filtered)"
        );
        return;
    };

    let compress_speedup = gzip_c / dict_c;
    let decompress_speedup = gzip_d / dict_d;
    println!(
        "{:<12} {:>14} {:>14} {:>14} {:>14}",
        "variant", "compress", "MiB/s", "decompress", "MiB/s"
    );
    for (v, (c, d)) in variants.iter().zip(&medians) {
        let cell = |ns: &Option<f64>| match ns {
            Some(ns) => (
                format!("{:.2} ms", ns / 1e6),
                format!("{:.1}", mib_per_s(v.raw_bytes, *ns)),
            ),
            None => ("-".into(), "-".into()),
        };
        let ((ct, cs), (dt, ds)) = (cell(c), cell(d));
        println!("{:<12} {ct:>14} {cs:>14} {dt:>14} {ds:>14}", v.name);
    }
    println!(
        "{DEFAULT_FORM} vs {BASELINE}: {default_ratio:.2}x smaller ({amortised_ratio:.2}x with the dictionary), \
         compress {compress_speedup:.1}x faster, decompress {decompress_speedup:.1}x faster"
    );
    let targets = [
        ("smaller", default_ratio, TARGET_SMALLER),
        ("compress faster", compress_speedup, TARGET_COMPRESS),
        ("decompress faster", decompress_speedup, TARGET_DECOMPRESS),
    ];
    for (what, got, target) in targets {
        let verdict = if got >= target { "met" } else { "MISSED" };
        println!("  target {what} >= {target}x: {got:.2}x, {verdict}");
    }

    let summary = json!({
        "corpus": corpus_shown.display().to_string(),
        "conversations": conversations.len(),
        "training_conversations": train.len(),
        "measured_conversations": measured.len(),
        "measured_raw_bytes": raw_total,
        "dictionary": {
            "id": dictionary.id,
            "bytes": dictionary.bytes.len(),
            "max_bytes": DEFAULT_DICTIONARY_SIZE,
            "level": DEFAULT_LEVEL,
        },
        "baseline": BASELINE,
        "default_form": DEFAULT_FORM,
        "variants": variants.iter().zip(&medians).map(|(v, (c, d))| json!({
            "name": v.name,
            "conversations": v.inputs.len(),
            "raw_bytes": v.raw_bytes,
            "compressed_bytes": v.frame_bytes,
            "ratio_vs_gzip9": ratio(v),
            "compress_median_ns": c,
            "decompress_median_ns": d,
            "compress_mib_per_s": c.map(|ns| mib_per_s(v.raw_bytes, ns)),
            "decompress_mib_per_s": d.map(|ns| mib_per_s(v.raw_bytes, ns)),
        })).collect::<Vec<_>>(),
        "headline": {
            "smaller": default_ratio,
            "smaller_with_dictionary": amortised_ratio,
            "compress_faster": compress_speedup,
            "decompress_faster": decompress_speedup,
        },
        "targets": {
            "smaller": TARGET_SMALLER,
            "compress_faster": TARGET_COMPRESS,
            "decompress_faster": TARGET_DECOMPRESS,
            "met": targets.iter().all(|(_, got, target)| got >= target),
        },
    });
    let path = dir.join("compression-summary.json");
    let text = serde_json::to_string_pretty(&summary).expect("JSON serializes");
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text + "\n")) {
        Ok(()) => println!("summary written to {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}
