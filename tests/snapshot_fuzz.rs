//! Fuzz-style property test of the snapshot reader: random bytes, and
//! valid snapshots mutated (bytes flipped, lengths and counts overwritten
//! with huge values, cut short, before and after compression), fed to
//! [`snapshot::Reader`]. Each case must end in items and the end entry or
//! in [`Error::Corrupt`] — never a panic — and the whole run must never
//! have more than [`BOUND`] bytes allocated at once, measured by a
//! counting global allocator that also refuses allocations past that
//! bound (so a reader that trusted a length prefix would abort this test
//! instead of allocating gigabytes).
//!
//! The allocator counts this test binary's allocations only (its two
//! tests and the harness). 256 cases unless `PROPTEST_CASES` says otherwise.

use std::alloc::System;

use affine_db::item::{Attr, AttrMap, Item};
use affine_db::tools::snapshot::{Entry, Next, Reader, MAGIC, VERSION};
use affine_db::Error;
use cap::Cap;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// The most bytes the process may have allocated at once: the reader holds
/// one item (at most 400 KB by DynamoDB's rules, a few MB in memory) and
/// zstd an 8 MiB window at most, plus what the test itself generates.
const BOUND: usize = 64 << 20;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, BOUND);

fn config() -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

fn leaf() -> impl Strategy<Value = Attr> {
    prop_oneof![
        "[a-z0-9#é]{0,12}".prop_map(Attr::S),
        (-1_000_000i64..1_000_000).prop_map(Attr::int),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(Attr::B),
        any::<bool>().prop_map(Attr::Bool),
        Just(Attr::Null),
    ]
}

fn attr() -> impl Strategy<Value = Attr> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Attr::L),
            proptest::collection::vec(("[a-z]{1,4}", inner), 0..4)
                .prop_map(|kv| Attr::M(kv.into_iter().collect::<AttrMap>())),
        ]
    })
}

fn item() -> impl Strategy<Value = Item> {
    (
        "[a-z#]{1,8}",
        "[a-z#]{1,8}",
        proptest::collection::btree_map("[a-z_]{1,6}", attr(), 0..5),
    )
        .prop_map(|(pk, sk, mut attrs)| {
            attrs.insert("pk".into(), Attr::S(pk));
            attrs.insert("sk".into(), Attr::S(sk));
            attrs
        })
}

const TABLES: [&str; 3] = ["scores", "task_queue", "system_config"];

/// The decompressed body of a valid snapshot: a few batches and the end.
fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        (0..TABLES.len(), proptest::collection::vec(item(), 0..4)),
        0..4,
    )
    .prop_map(|batches| {
        let mut out = Vec::new();
        let mut counts = std::collections::BTreeMap::<String, u64>::new();
        for (t, items) in batches {
            *counts.entry(TABLES[t].to_string()).or_default() += items.len() as u64;
            let e = Entry::Batch {
                table: TABLES[t].to_string(),
                items,
            };
            bincode::serialize_into(&mut out, &e).unwrap();
        }
        bincode::serialize_into(&mut out, &Entry::End { counts }).unwrap();
        out
    })
}

/// One change to a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR the byte at (a fraction of the length) with a value.
    Flip(f64, u8),
    /// Overwrite 8 bytes there with a little-endian value (a length or a
    /// count: huge, just under 2^31, or small).
    Word(f64, u64),
    /// Overwrite 4 bytes there (a type tag).
    Tag(f64, u32),
    /// Cut the rest off there.
    Cut(f64),
    /// Insert bytes there.
    Insert(f64, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        (at.clone(), 1..=255u8).prop_map(|(a, v)| Mutation::Flip(a, v)),
        (
            at.clone(),
            prop_oneof![
                Just(u64::MAX),
                Just((1u64 << 31) - 1),
                Just(1u64 << 40),
                0..2000u64
            ]
        )
            .prop_map(|(a, v)| Mutation::Word(a, v)),
        (at.clone(), 0..10u32).prop_map(|(a, v)| Mutation::Tag(a, v)),
        at.clone().prop_map(Mutation::Cut),
        (at, proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(a, b)| Mutation::Insert(a, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let pos = |a: f64, len: usize| ((a * len as f64) as usize).min(len);
    match m {
        Mutation::Flip(a, v) => {
            if !bytes.is_empty() {
                let i = pos(*a, bytes.len() - 1);
                bytes[i] ^= v;
            }
        }
        Mutation::Word(a, v) => {
            let i = pos(*a, bytes.len().saturating_sub(8));
            let w = v.to_le_bytes();
            for (k, b) in w.iter().enumerate() {
                if let Some(slot) = bytes.get_mut(i + k) {
                    *slot = *b;
                }
            }
        }
        Mutation::Tag(a, v) => {
            let i = pos(*a, bytes.len().saturating_sub(4));
            for (k, b) in v.to_le_bytes().iter().enumerate() {
                if let Some(slot) = bytes.get_mut(i + k) {
                    *slot = *b;
                }
            }
        }
        Mutation::Cut(a) => {
            let i = pos(*a, bytes.len());
            bytes.truncate(i);
        }
        Mutation::Insert(a, b) => {
            let i = pos(*a, bytes.len());
            bytes.splice(i..i, b.iter().copied());
        }
    }
}

fn wrap(body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend(zstd::encode_all(body, 3).unwrap());
    out
}

/// Reads everything; `Ok(items)` or the error. Panics propagate.
fn read(file: &[u8]) -> Result<usize, Error> {
    let mut r = Reader::new(file)?;
    let mut n = 0;
    loop {
        match r.read_next()? {
            Next::Item(..) => n += 1,
            Next::End(_) => return Ok(n),
        }
    }
}

#[derive(Debug, Clone)]
enum Case {
    /// A valid body, mutated before compression.
    Body(Vec<u8>, Vec<Mutation>),
    /// A valid file, mutated after compression.
    File(Vec<u8>, Vec<Mutation>),
    /// Random bytes after a valid header, compressed or not.
    Random(Vec<u8>, bool),
}

fn case() -> impl Strategy<Value = Case> {
    let muts = || proptest::collection::vec(mutation(), 0..4);
    prop_oneof![
        4 => (body(), muts()).prop_map(|(b, m)| Case::Body(b, m)),
        2 => (body(), muts()).prop_map(|(b, m)| Case::File(b, m)),
        1 => (proptest::collection::vec(any::<u8>(), 0..512), any::<bool>())
            .prop_map(|(b, z)| Case::Random(b, z)),
    ]
}

#[test]
fn mutated_and_random_snapshots_decode_or_fail_as_corrupt_within_the_bound() {
    use std::sync::atomic::{AtomicU32, Ordering};
    let decoded = AtomicU32::new(0);
    let refused = AtomicU32::new(0);
    proptest!(config(), |(c in case())| {
        let file = match &c {
            Case::Body(body, muts) => {
                let mut b = body.clone();
                for m in muts {
                    apply(&mut b, m);
                }
                wrap(&b)
            }
            Case::File(body, muts) => {
                let mut f = wrap(body);
                for m in muts {
                    apply(&mut f, m);
                }
                f
            }
            Case::Random(bytes, compressed) => {
                if *compressed {
                    wrap(bytes)
                } else {
                    let mut f = MAGIC.to_vec();
                    f.extend_from_slice(&VERSION.to_le_bytes());
                    f.extend_from_slice(bytes);
                    f
                }
            }
        };
        match read(&file) {
            Ok(_) => {
                decoded.fetch_add(1, Ordering::Relaxed);
            }
            Err(Error::Corrupt(m)) => {
                prop_assert!(m.starts_with("snapshot: "), "{}", m);
                refused.fetch_add(1, Ordering::Relaxed);
            }
            Err(other) => prop_assert!(false, "not Corrupt: {:?}", other),
        }
        // Unmutated bodies always decode.
        if let Case::Body(body, muts) = &c {
            if muts.is_empty() {
                prop_assert!(read(&wrap(body)).is_ok());
            }
        }
    });
    let (decoded, refused) = (decoded.into_inner(), refused.into_inner());
    assert!(
        decoded > 0 && refused > 0,
        "{decoded} decoded, {refused} refused"
    );
    let peak = ALLOCATOR.max_allocated();
    assert!(peak <= BOUND, "{peak} bytes allocated at once");
    eprintln!("{decoded} decoded, {refused} refused, peak {peak} bytes allocated");
}

/// The two files of issue 16, crafted by hand, within the same bound: a
/// list nested 50,000 deep and a string claiming just under 2^31 bytes.
#[test]
fn the_crafted_files_of_issue_16_are_refused_within_the_bound() {
    let mut prefix = Vec::new();
    prefix.extend(0u32.to_le_bytes());
    prefix.extend(6u64.to_le_bytes());
    prefix.extend(b"scores");
    prefix.extend(1u64.to_le_bytes());
    prefix.extend(1u64.to_le_bytes());
    prefix.extend(1u64.to_le_bytes());
    prefix.extend(b"x");
    let mut deep = prefix.clone();
    for _ in 0..50_000 {
        deep.extend(6u32.to_le_bytes());
        deep.extend(1u64.to_le_bytes());
    }
    let mut long = prefix;
    long.extend(0u32.to_le_bytes());
    long.extend(((1u64 << 31) - 1).to_le_bytes());
    for body in [deep, long] {
        assert!(matches!(read(&wrap(&body)), Err(Error::Corrupt(_))));
    }
    assert!(ALLOCATOR.max_allocated() <= BOUND);
}
