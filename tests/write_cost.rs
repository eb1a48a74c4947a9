//! The write-cost claim of BENCHMARKS.md, checked on the fixture (or on
//! `AFFINE_BENCH_CORPUS`): mean DynamoDB write units per saved sample in our
//! layout (zstd with a dictionary trained on the other half, an index that
//! leaves conversations out) are at most 55% of the original layout's
//! (gzip-9, index projecting everything).

use std::path::Path;

use affine_db::codec::{train_dictionary, Codec, DEFAULT_DICTIONARY_SIZE, DEFAULT_LEVEL};
use affine_db::tools::corpus::{conversation_bytes, corpus_dir, load_samples};
use affine_db::tools::write_cost::compare;

#[test]
fn write_units_per_sample_at_most_55_percent_of_the_original() {
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
    println!("ours / original = {share:.3}");
    assert!(share <= 0.55, "ours is {share:.3} of the original");
}
