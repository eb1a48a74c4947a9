//! The write-cost claim of BENCHMARKS.md, checked on the fixture (or on
//! `AFFINE_BENCH_CORPUS`): mean DynamoDB write units per saved sample in our
//! layout (zstd with a dictionary trained on the other half, an env index
//! that leaves conversations out) are at most 55% of the original layout's
//! (gzip-9, index projecting everything); with the lean samples index,
//! which makes every read by miner without conversations cost its lean
//! size, at most 70%.

use std::path::Path;

use affine_db::codec::{train_dictionary, Codec, DEFAULT_DICTIONARY_SIZE, DEFAULT_LEVEL};
use affine_db::tools::corpus::{conversation_bytes, corpus_dir, load_samples};
use affine_db::tools::write_cost::compare;

#[test]
fn write_units_per_sample_at_most_55_percent_of_the_original_70_with_the_lean_index() {
    let dir = corpus_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    let samples = load_samples(&dir).unwrap();
    assert!(
        samples.len() >= 100,
        "{} samples in {}",
        samples.len(),
        dir.display()
    );
    let (train, measure): (Vec<_>, Vec<_>) = samples
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let train: Vec<_> = train.into_iter().map(|(_, s)| s).collect();
    let measure: Vec<_> = measure.into_iter().map(|(_, s)| s).collect();
    let dict = train_dictionary(
        &conversation_bytes(&train),
        DEFAULT_DICTIONARY_SIZE,
        DEFAULT_LEVEL,
    )
    .unwrap();
    let codec = Codec::default();
    codec.use_dictionary(&dict);
    let (orig, ours) = compare(&measure, &codec, 1_735_689_600_000).unwrap();
    println!("original: {orig:?} mean {:.3}", orig.mean_write_units());
    println!("ours:     {ours:?} mean {:.3}", ours.mean_write_units());
    assert_eq!(orig.samples, ours.samples);
    assert!(orig.samples > 0);
    let share = ours.mean_write_units() / orig.mean_write_units();
    let lean = ours.lean_index_units as f64 / ours.samples as f64;
    let without_lean = (ours.mean_write_units() - lean) / orig.mean_write_units();
    println!("ours / original = {share:.3}; without the lean index {without_lean:.3}; lean index {lean:.3} units per sample");
    assert!(lean >= 1.0, "every sample writes a lean index entry");
    assert!(
        without_lean <= 0.55,
        "without the lean index ours is {without_lean:.3} of the original"
    );
    assert!(share <= 0.70, "ours is {share:.3} of the original");
}
