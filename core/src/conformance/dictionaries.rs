//! zstd dictionaries stored in the database: written frames name the
//! target dictionary, per-environment targets override the default, frames
//! of dictionaries another writer stored read back, and a frame whose
//! dictionary is not stored is corrupt data.

use crate::register;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};

use super::basics::{put_raw, read_sample, sample_with_id};
use super::{Harness, T0_MS};
use crate::codec::{frame_dictionary_id, train_dictionary, Codec, Dictionary, DEFAULT_LEVEL};
use crate::dictionaries::{self, DictionaryInfo, Targets};
use crate::error::Error;
use crate::item::{Attr, Item};
use crate::maintenance::recompress::{recompress, RecompressOptions};
use crate::maintenance::train_dict::{train_from_store, TrainOptions};
use crate::schema::Table;
use crate::tables::samples::{Conversation, MinerSamplesQuery, SampleKey};

/// A conversation shaped like the ones the test dictionaries learn from.
pub fn chat(salt: &str, i: usize) -> Value {
    json!([
        {"role": "system", "content": "You are a careful assistant. Think step by step and give the final answer on its own line."},
        {"role": "user", "content": format!("{salt} question {i}: what is {} times {}?", i % 89, i % 17)},
        {"role": "assistant", "content": format!("Multiply {} by {}. The product is {}.\nFinal answer: {}", i % 89, i % 17, (i % 89) * (i % 17), (i % 89) * (i % 17))}
    ])
}

/// A dictionary trained on 300 [`chat`] conversations of `salt`, trained
/// once per process and salt.
pub fn test_dictionary(salt: &str) -> Dictionary {
    static CACHE: OnceLock<Mutex<HashMap<String, Dictionary>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(d) = cache.lock().unwrap().get(salt) {
        return d.clone();
    }
    let corpus: Vec<Vec<u8>> = (0..300)
        .map(|i| serde_json::to_vec(&chat(salt, i)).unwrap())
        .collect();
    let dict = train_dictionary(&corpus, 8 << 10, DEFAULT_LEVEL).unwrap();
    cache.lock().unwrap().insert(salt.to_string(), dict.clone());
    dict
}

fn info(dict: &Dictionary, env: Option<&str>) -> DictionaryInfo {
    DictionaryInfo {
        id: dict.id,
        size: dict.bytes.len() as u64,
        env: env.map(str::to_string),
        samples: 300,
        sample_bytes: 0,
        created_at: T0_MS / 1000,
        created_by: "conformance".into(),
    }
}

async fn raw_frame(h: &Harness, key: &SampleKey) -> Vec<u8> {
    let items = h
        .store
        .admin
        .get_items(Table::SampleResults, vec![(key.pk(), key.sk())])
        .await
        .unwrap();
    match items.first().and_then(|i| i.get("conversation_compressed")) {
        Some(Attr::B(frame)) => frame.clone(),
        other => panic!("no conversation frame: {other:?}"),
    }
}

/// Stores `dict` in `h` and returns a raw sample item whose conversation
/// was written by another codec with `dict`.
fn foreign_item(dict: &Dictionary, id: &str, conversation: &Value) -> (Item, SampleKey) {
    let writer = Codec::default();
    writer.use_dictionary(dict);
    let mut new = sample_with_id("hk", "rev", "sat", 2_000, id);
    new.conversation = conversation.clone();
    let sample = new.into_sample(T0_MS).unwrap();
    (sample.to_item(&writer).unwrap(), sample.key())
}

/// A stored, activated dictionary is what new frames use; they name it,
/// read back through every read path, and the dictionary stays out of
/// `list_all_configs`. Storing it again changes nothing.
pub async fn activated_dictionary_writes_named_frames(h: Harness) {
    let dict = test_dictionary("a");
    let admin = &*h.store.admin;
    assert!(dictionaries::store(admin, &dict, &info(&dict, None))
        .await
        .unwrap());
    assert!(!dictionaries::store(admin, &dict, &info(&dict, None))
        .await
        .unwrap());
    let t = dictionaries::activate(admin, dict.id, None, "test", 1)
        .await
        .unwrap();
    assert_eq!(t.default, Some(dict.id));

    let mut new = sample_with_id("hk", "rev", "sat", 1_000, "s1");
    new.conversation = chat("a", 7);
    let saved = h.store.samples.save_sample(new).await.unwrap();
    assert_eq!(
        frame_dictionary_id(&raw_frame(&h, &saved.key()).await),
        Some(dict.id)
    );
    let got = read_sample(&h, &saved.key()).await;
    assert_eq!(got.conversation, Some(chat("a", 7)));
    let by_miner = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &MinerSamplesQuery::default())
        .await
        .unwrap();
    assert_eq!(by_miner[0].conversation, Some(chat("a", 7)));

    let listed = dictionaries::list(admin).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, dict.id);
    assert_eq!(listed[0].size, dict.bytes.len() as u64);
    let (loaded, _) = dictionaries::load(admin, dict.id).await.unwrap().unwrap();
    assert_eq!(loaded, dict);
    assert!(h.store.config.list_all_configs().await.unwrap().is_empty());
}
register!(activated_dictionary_writes_named_frames);

/// A per-environment target overrides the default for that environment only.
pub async fn env_dictionary_overrides_the_default(h: Harness) {
    let (a, b) = (test_dictionary("a"), test_dictionary("b"));
    let admin = &*h.store.admin;
    dictionaries::store(admin, &a, &info(&a, None))
        .await
        .unwrap();
    dictionaries::store(admin, &b, &info(&b, Some("sat")))
        .await
        .unwrap();
    dictionaries::activate(admin, a.id, None, "test", 1)
        .await
        .unwrap();
    let t = dictionaries::activate(admin, b.id, Some("sat"), "test", 2)
        .await
        .unwrap();
    assert_eq!(t.for_env("sat"), Some(b.id));
    assert_eq!(t.for_env("abd"), Some(a.id));
    assert_eq!(dictionaries::targets(admin).await.unwrap(), t);

    let mut sat = sample_with_id("hk", "rev", "sat", 1_000, "s1");
    sat.conversation = chat("b", 1);
    let mut abd = sample_with_id("hk", "rev", "abd", 1_000, "s2");
    abd.conversation = chat("a", 1);
    let keys = h.store.samples.save_samples(vec![sat, abd]).await.unwrap();
    assert_eq!(
        frame_dictionary_id(&raw_frame(&h, &keys[0]).await),
        Some(b.id)
    );
    assert_eq!(
        frame_dictionary_id(&raw_frame(&h, &keys[1]).await),
        Some(a.id)
    );
}
register!(env_dictionary_overrides_the_default);

/// Frames written by another writer with a dictionary it stored read back,
/// even though this store's codec had never seen that dictionary; frames
/// written before any dictionary keep reading.
pub async fn frames_of_dictionaries_stored_elsewhere_read(h: Harness) {
    let mut plain = sample_with_id("hk", "rev", "sat", 1_000, "plain");
    plain.conversation = chat("a", 3);
    let plain = h.store.samples.save_sample(plain).await.unwrap();

    let dict = test_dictionary("a");
    dictionaries::store(&*h.store.admin, &dict, &info(&dict, None))
        .await
        .unwrap();
    let (item, key) = foreign_item(&dict, "foreign", &chat("a", 4));
    put_raw(&h, Table::SampleResults, vec![item]).await;
    let got = read_sample(&h, &key).await;
    assert_eq!(got.conversation, Some(chat("a", 4)));
    let both = h
        .store
        .samples
        .get_samples_by_env("sat", 0, 10_000, None, Conversation::Include)
        .await
        .unwrap();
    assert_eq!(both.len(), 2);
    assert_eq!(both[0].sample_id, plain.sample_id);
    assert_eq!(both[0].conversation, Some(chat("a", 3)));
    assert_eq!(both[1].conversation, Some(chat("a", 4)));
}
register!(frames_of_dictionaries_stored_elsewhere_read);

/// A frame naming a dictionary that is not stored is corrupt data when its
/// conversation is read, and still lists when the conversation is skipped.
pub async fn frame_of_an_unstored_dictionary_is_corrupt(h: Harness) {
    let dict = test_dictionary("c");
    let (item, key) = foreign_item(&dict, "orphan", &chat("c", 1));
    put_raw(&h, Table::SampleResults, vec![item]).await;
    let err = h
        .store
        .samples
        .get_sample(&key, Conversation::Include)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
    let skipped = h
        .store
        .samples
        .get_sample(&key, Conversation::Skip)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(skipped.conversation, None);
}
register!(frame_of_an_unstored_dictionary_is_corrupt);

/// Activating a dictionary that is not stored is not-found, a bad
/// environment is an input error, and neither changes the targets.
pub async fn activating_an_unstored_dictionary_changes_nothing(h: Harness) {
    let admin = &*h.store.admin;
    let err = dictionaries::activate(admin, 4_242_424, None, "test", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    let dict = test_dictionary("a");
    dictionaries::store(admin, &dict, &info(&dict, None))
        .await
        .unwrap();
    let err = dictionaries::activate(admin, dict.id, Some("bad#env"), "test", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert_eq!(
        dictionaries::targets(admin).await.unwrap(),
        Targets::default()
    );
}
register!(activating_an_unstored_dictionary_changes_nothing);

async fn save_chats(h: &Harness, n: usize) -> Vec<SampleKey> {
    let samples = (0..n)
        .map(|i| {
            let env = if i % 2 == 0 { "sat" } else { "abd" };
            let mut s = sample_with_id("hk", "rev", env, 1_000 + i as i64, &format!("c{i:04}"));
            s.conversation = chat("store", i);
            s
        })
        .collect();
    h.store.samples.save_samples(samples).await.unwrap()
}

fn train_opts() -> TrainOptions {
    TrainOptions {
        max_size: 8 << 10,
        ..TrainOptions::default()
    }
}

/// `train-dict` trains on the stored conversations, stores and activates the
/// dictionary; `recompress` then rewrites every older frame (legacy gzip
/// included) smaller, everything reads back unchanged, and a second run
/// rewrites nothing.
pub async fn train_then_recompress_rewrites_older_frames(h: Harness) {
    let keys = save_chats(&h, 120).await;
    let legacy = {
        let mut s = sample_with_id("hk", "rev", "sat", 9_000, "legacy");
        s.conversation = chat("store", 999);
        let sample = s.into_sample(T0_MS).unwrap();
        let mut item = sample.to_item(&Codec::default()).unwrap();
        let raw = serde_json::to_vec(&chat("store", 999)).unwrap();
        item.insert(
            "conversation_compressed".into(),
            Attr::B(crate::codec::gzip9(&raw)),
        );
        put_raw(&h, Table::SampleResults, vec![item]).await;
        sample.key()
    };
    let report = train_from_store(&h.store, &train_opts(), &|_| {})
        .await
        .unwrap();
    assert_eq!(report.conversations_seen, 121);
    assert_eq!(report.dictionary.samples, 121);
    assert!(report.newly_stored);
    assert_eq!(report.targets.default, Some(report.dictionary.id));
    assert!(report.with_dictionary_bytes < report.stored_bytes);
    let id = report.dictionary.id;

    let sum = recompress(&h.store, &RecompressOptions::default(), &|_| {})
        .await
        .unwrap();
    assert!(sum.finished);
    assert_eq!(sum.scanned, 121);
    assert_eq!(sum.rewritten + sum.kept, 121);
    assert!(sum.rewritten >= 100, "{sum:?}");
    assert!(sum.bytes_after < sum.bytes_before);
    assert_eq!(frame_dictionary_id(&raw_frame(&h, &legacy).await), Some(id));
    for (i, key) in keys.iter().enumerate() {
        let got = read_sample(&h, key).await;
        assert_eq!(got.conversation, Some(chat("store", i)));
    }
    let again = recompress(&h.store, &RecompressOptions::default(), &|_| {})
        .await
        .unwrap();
    assert_eq!(again.rewritten, 0);
    assert_eq!(again.current, sum.rewritten);
    assert!(!again.resumed);
}
register!(train_then_recompress_rewrites_older_frames);

/// An interrupted recompress resumes where it stopped, with cumulative
/// totals; a dry run writes nothing.
pub async fn recompress_resumes_after_an_interruption(h: Harness) {
    let keys = save_chats(&h, 90).await;
    train_from_store(&h.store, &train_opts(), &|_| {})
        .await
        .unwrap();
    let dry = recompress(
        &h.store,
        &RecompressOptions {
            dry_run: true,
            ..RecompressOptions::default()
        },
        &|_| {},
    )
    .await
    .unwrap();
    assert!(dry.rewritten > 0);
    assert_eq!(frame_dictionary_id(&raw_frame(&h, &keys[0]).await), None);

    let opts = RecompressOptions {
        batch_size: 40,
        max_batches: Some(1),
        ..RecompressOptions::default()
    };
    let first = recompress(&h.store, &opts, &|_| {}).await.unwrap();
    assert!(!first.finished);
    assert_eq!(first.scanned, 40);
    let rest = recompress(
        &h.store,
        &RecompressOptions {
            batch_size: 40,
            ..RecompressOptions::default()
        },
        &|_| {},
    )
    .await
    .unwrap();
    assert!(rest.resumed && rest.finished);
    assert_eq!(rest.scanned, 90);
    assert_eq!(rest.rewritten, dry.rewritten);
    assert_eq!(rest.bytes_after, dry.bytes_after);
}
register!(recompress_resumes_after_an_interruption);

/// Training on too few conversations is an input error and stores nothing.
pub async fn train_with_too_few_conversations_stores_nothing(h: Harness) {
    save_chats(&h, 5).await;
    let err = train_from_store(&h.store, &train_opts(), &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(dictionaries::list(&*h.store.admin)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        dictionaries::targets(&*h.store.admin).await.unwrap(),
        Targets::default()
    );
}
register!(train_with_too_few_conversations_stores_nothing);
