//! `sample_results`: save, get, queries, deletes, validation and size.

use crate::register;
use futures::StreamExt;
use serde_json::json;

use super::basics::{
    assert_store_empty, incompressible_conversation, read_sample, sample, sample_with_id,
};
use super::Harness;
use crate::clock::Clock;
use crate::error::Error;
use crate::tables::samples::{
    env_order, miner_order, Conversation, MinerSamplesQuery, NewSample, Sample, SampleKey,
};

fn ids(samples: &[Sample]) -> Vec<String> {
    samples.iter().map(|s| s.sample_id.clone()).collect()
}

fn query(env: Option<&str>, limit: Option<usize>, newest_first: bool) -> MinerSamplesQuery {
    MinerSamplesQuery {
        env: env.map(str::to_string),
        limit,
        newest_first,
        conversation: Conversation::Include,
    }
}

/// A saved sample reads back field for field, conversation included, and
/// equals what `save_sample` returned.
pub async fn save_and_get_sample_round_trips(h: Harness) {
    let new = NewSample {
        sample_id: Some("s-1".into()),
        timestamp: Some(1_700_000_000_123),
        miner_hotkey: "5Hk".into(),
        model_revision: "abc123".into(),
        model_hash: "mh".into(),
        uid: 17,
        env: "SAT".into(),
        subset: "train".into(),
        dataset_index: 99,
        task_id: "t-9".into(),
        score: 0.1 + 0.2,
        success: false,
        latency_ms: 1234,
        conversation: json!([
            {"role": "user", "content": "solve x", "n": 1, "f": 0.5},
            {"role": "assistant", "content": "ünïcode ✓", "tools": [null, true]}
        ]),
        validator_hotkey: "val".into(),
        block_number: 4_000_000,
        signature: "0xsig".into(),
    };
    let saved = h.store.samples.save_sample(new.clone()).await.unwrap();
    assert_eq!(saved.sample_id, "s-1");
    assert_eq!(saved.timestamp, 1_700_000_000_123);
    assert_eq!(saved.conversation.as_ref(), Some(&new.conversation));
    let got = h
        .store
        .samples
        .get_sample(&saved.key(), Conversation::Include)
        .await
        .unwrap()
        .expect("saved sample");
    assert_eq!(got, saved);
    assert_eq!(got.score.to_bits(), (0.1f64 + 0.2).to_bits());
    assert_eq!(got.uid, 17);
    assert_eq!(got.dataset_index, 99);
    assert!(!got.success);
    assert_eq!(got.block_number, 4_000_000);
}
register!(save_and_get_sample_round_trips);

/// Without an id and timestamp, a sample gets a fresh UUID and the clock's
/// now in milliseconds.
pub async fn save_sample_fills_id_and_timestamp(h: Harness) {
    h.clock.advance_ms(7);
    let mut new = sample("hk", "rev", "sat", 0);
    new.timestamp = None;
    let a = h.store.samples.save_sample(new.clone()).await.unwrap();
    let b = h.store.samples.save_sample(new).await.unwrap();
    assert_eq!(a.timestamp, h.clock.now_ms());
    assert!(
        uuid::Uuid::parse_str(&a.sample_id).is_ok(),
        "{}",
        a.sample_id
    );
    assert_ne!(a.sample_id, b.sample_id);
    let all = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(None, None, false))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
}
register!(save_sample_fills_id_and_timestamp);

/// `Conversation::Skip` returns every field but the conversation.
pub async fn get_sample_can_skip_the_conversation(h: Harness) {
    let saved = h
        .store
        .samples
        .save_sample(sample_with_id("hk", "rev", "sat", 10, "id"))
        .await
        .unwrap();
    let got = h
        .store
        .samples
        .get_sample(&saved.key(), Conversation::Skip)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.conversation, None);
    assert_eq!(
        Sample {
            conversation: saved.conversation.clone(),
            ..got
        },
        saved
    );
}
register!(get_sample_can_skip_the_conversation);

/// A missing key reads as `None`; so does a key differing in one part.
pub async fn get_missing_sample_is_none(h: Harness) {
    let saved = h
        .store
        .samples
        .save_sample(sample_with_id("hk", "rev", "sat", 10, "id"))
        .await
        .unwrap();
    let key = saved.key();
    for other in [
        SampleKey {
            timestamp: 11,
            ..key.clone()
        },
        SampleKey {
            env: "abd".into(),
            ..key.clone()
        },
        SampleKey {
            sample_id: "id2".into(),
            ..key.clone()
        },
        SampleKey {
            model_revision: "rev2".into(),
            ..key.clone()
        },
    ] {
        let got = h
            .store
            .samples
            .get_sample(&other, Conversation::Include)
            .await
            .unwrap();
        assert!(got.is_none(), "{other:?}");
    }
}
register!(get_missing_sample_is_none);

/// Saving a sample with the key of a stored one replaces it.
pub async fn save_sample_replaces_the_same_key(h: Harness) {
    let first = h
        .store
        .samples
        .save_sample(sample_with_id("hk", "rev", "sat", 10, "id"))
        .await
        .unwrap();
    let mut second = sample_with_id("hk", "rev", "sat", 10, "id");
    second.score = 0.9;
    second.conversation = json!(["replaced"]);
    h.store.samples.save_sample(second).await.unwrap();
    let got = read_sample(&h, &first.key()).await;
    assert_eq!(got.score, 0.9);
    assert_eq!(got.conversation, Some(json!(["replaced"])));
    let all = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(None, None, false))
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
}
register!(save_sample_replaces_the_same_key);

/// `save_samples` writes more than one batch (60 samples), returns the
/// keys in input order, and every one reads back.
pub async fn save_samples_returns_keys_in_input_order(h: Harness) {
    let batch: Vec<NewSample> = (0..60)
        .map(|i| {
            let env = ["sat", "abd", "ded"][i % 3];
            sample_with_id("hk", "rev", env, 1000 - i as i64, &format!("id{i:03}"))
        })
        .collect();
    let keys = h.store.samples.save_samples(batch.clone()).await.unwrap();
    assert_eq!(keys.len(), 60);
    for (k, new) in keys.iter().zip(&batch) {
        assert_eq!(Some(&k.sample_id), new.sample_id.as_ref());
        assert_eq!(k.env, new.env);
        assert_eq!(Some(k.timestamp), new.timestamp);
    }
    for k in [&keys[0], &keys[29], &keys[59]] {
        let got = h
            .store
            .samples
            .get_sample(k, Conversation::Include)
            .await
            .unwrap();
        assert_eq!(got.map(|s| s.key()).as_ref(), Some(k));
    }
    let all = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(None, None, false))
        .await
        .unwrap();
    assert_eq!(all.len(), 60);
}
register!(save_samples_returns_keys_in_input_order);

/// An empty batch is fine and writes nothing.
pub async fn save_samples_empty_batch_is_a_no_op(h: Harness) {
    let keys = h.store.samples.save_samples(Vec::new()).await.unwrap();
    assert!(keys.is_empty());
    assert_store_empty(&h).await;
}
register!(save_samples_empty_batch_is_a_no_op);

/// One invalid sample among valid ones writes nothing at all.
pub async fn save_samples_with_one_invalid_writes_nothing(h: Harness) {
    let mut batch: Vec<NewSample> = (0..40).map(|i| sample("hk", "rev", "sat", i)).collect();
    batch[33].score = f64::NAN;
    let err = h.store.samples.save_samples(batch).await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert_store_empty(&h).await;
}
register!(save_samples_with_one_invalid_writes_nothing);

/// Non-finite scores (NaN, ±inf) and out-of-range timestamps are input errors.
pub async fn sample_non_finite_score_and_bad_timestamp_rejected(h: Harness) {
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let mut s = sample("hk", "rev", "sat", 1);
        s.score = bad;
        let err = h.store.samples.save_sample(s).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{bad}: {err:?}");
    }
    for bad in [-1, crate::keys::MAX_KEY_TIMESTAMP + 1] {
        let err = h
            .store
            .samples
            .save_sample(sample("hk", "rev", "sat", bad))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{bad}: {err:?}");
    }
    assert_store_empty(&h).await;
}
register!(sample_non_finite_score_and_bad_timestamp_rejected);

/// A sample whose compressed item exceeds 400 KB is `TooLarge` and nothing
/// is written; inside a batch it stops the whole batch.
pub async fn oversize_sample_is_too_large_and_not_written(h: Harness) {
    let mut big = sample("hk", "rev", "sat", 5);
    big.conversation = incompressible_conversation(1_000_000);
    let err = h.store.samples.save_sample(big.clone()).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    let batch = vec![
        sample("hk", "rev", "sat", 1),
        big,
        sample("hk", "rev", "sat", 9),
    ];
    let err = h.store.samples.save_samples(batch).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert_store_empty(&h).await;
}
register!(oversize_sample_is_too_large_and_not_written);

/// A large conversation that compresses under the limit is stored and
/// reads back exactly.
pub async fn large_compressible_conversation_is_accepted(h: Harness) {
    let mut s = sample("hk", "rev", "sat", 5);
    let text = "the same sentence again and again. ".repeat(20_000);
    s.conversation = json!([{"role": "assistant", "content": text}]);
    let saved = h.store.samples.save_sample(s.clone()).await.unwrap();
    let got = read_sample(&h, &saved.key()).await;
    assert_eq!(got.conversation, Some(s.conversation));
}
register!(large_compressible_conversation_is_accepted);

fn miner_fixture() -> Vec<NewSample> {
    // Interleaved envs and timestamps, two samples sharing a timestamp.
    vec![
        sample_with_id("hk", "rev", "sat", 500, "a"),
        sample_with_id("hk", "rev", "abd", 100, "b"),
        sample_with_id("hk", "rev", "sat", 300, "c"),
        sample_with_id("hk", "rev", "ded", 300, "d"),
        sample_with_id("hk", "rev", "abd", 400, "e"),
        sample_with_id("hk", "rev", "sat", 200, "f"),
        sample_with_id("hk", "rev", "abd", 600, "g"),
        // Other revision and other miner: never returned.
        sample_with_id("hk", "rev2", "sat", 350, "x"),
        sample_with_id("hk2", "rev", "sat", 350, "y"),
    ]
}

/// `get_samples_by_miner` orders by `miner_order` across envs (the sort key
/// order: env, then oldest first; reversed when asked) and only returns that
/// miner and revision.
pub async fn samples_by_miner_are_ordered_across_envs(h: Harness) {
    h.store.samples.save_samples(miner_fixture()).await.unwrap();
    let oldest = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(None, None, false))
        .await
        .unwrap();
    // The sort key order, as the original's query: env, then time, then id.
    assert_eq!(ids(&oldest), ["b", "e", "g", "d", "f", "c", "a"]);
    let mut sorted = oldest.clone();
    sorted.sort_by(miner_order);
    assert_eq!(sorted, oldest);
    let newest = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(None, None, true))
        .await
        .unwrap();
    assert_eq!(ids(&newest), ["a", "c", "f", "d", "g", "e", "b"]);
    assert!(newest.iter().all(|s| s.conversation.is_some()));
    let none = h
        .store
        .samples
        .get_samples_by_miner("nobody", "rev", &query(None, None, false))
        .await
        .unwrap();
    assert!(none.is_empty());
}
register!(samples_by_miner_are_ordered_across_envs);

/// The env filter applies before the limit, in both directions; the limit
/// alone takes the first in order; `Skip` leaves conversations out.
pub async fn samples_by_miner_env_filter_before_limit(h: Harness) {
    h.store.samples.save_samples(miner_fixture()).await.unwrap();
    let sat_newest = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(Some("sat"), Some(2), true))
        .await
        .unwrap();
    assert_eq!(ids(&sat_newest), ["a", "c"]);
    let abd_oldest = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(Some("abd"), Some(2), false))
        .await
        .unwrap();
    assert_eq!(ids(&abd_oldest), ["b", "e"]);
    let newest3 = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(None, Some(3), true))
        .await
        .unwrap();
    assert_eq!(ids(&newest3), ["a", "c", "f"]);
    let skip = h
        .store
        .samples
        .get_samples_by_miner(
            "hk",
            "rev",
            &MinerSamplesQuery {
                env: Some("ded".into()),
                limit: Some(10),
                newest_first: false,
                conversation: Conversation::Skip,
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&skip), ["d"]);
    assert_eq!(skip[0].conversation, None);
    let zero = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(None, Some(0), false))
        .await
        .unwrap();
    assert!(zero.is_empty());
    let missing_env = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(Some("zzz"), None, false))
        .await
        .unwrap();
    assert!(missing_env.is_empty());
}
register!(samples_by_miner_env_filter_before_limit);

fn without_conversations(samples: &[Sample]) -> Vec<Sample> {
    samples
        .iter()
        .cloned()
        .map(|mut s| {
            s.conversation = None;
            s
        })
        .collect()
}

fn numbered(hotkey: &str, env: &str, ts: i64) -> NewSample {
    let mut s = sample(hotkey, "rev", env, ts);
    s.task_id = format!("{hotkey}-{env}-{ts}");
    s.conversation = json!([{"role": "user", "content": format!("{hotkey} {env} {ts}")}]);
    s
}

/// A read by miner without conversations (the lean index where a store
/// reads one) returns exactly the read with them, less the conversations:
/// every env or one, limited or not, in both directions, over more rows
/// than a small page.
pub async fn lean_reads_by_miner_equal_whole_reads(h: Harness) {
    let mut batch: Vec<NewSample> = (0..130)
        .map(|i| numbered("hk", ["sat", "abd", "ded"][i % 3], 1_000 + i as i64))
        .collect();
    batch.push(numbered("hk2", "sat", 1_050));
    h.store.samples.save_samples(batch).await.unwrap();
    for env in [None, Some("abd")] {
        for limit in [None, Some(7), Some(60)] {
            for newest_first in [false, true] {
                let read = |conversation| MinerSamplesQuery {
                    env: env.map(str::to_string),
                    limit,
                    newest_first,
                    conversation,
                };
                let whole = h
                    .store
                    .samples
                    .get_samples_by_miner("hk", "rev", &read(Conversation::Include))
                    .await
                    .unwrap();
                let lean = h
                    .store
                    .samples
                    .get_samples_by_miner("hk", "rev", &read(Conversation::Skip))
                    .await
                    .unwrap();
                let all = if env.is_some() { 43 } else { 130 };
                assert_eq!(whole.len(), limit.unwrap_or(all).min(all));
                assert!(whole.iter().all(|s| s.conversation.is_some()));
                assert!(whole.iter().all(|s| s.miner_hotkey == "hk"));
                assert!(env.is_none_or(|e| whole.iter().all(|s| s.env == e)));
                assert_eq!(lean, without_conversations(&whole), "{env:?} {limit:?}");
            }
        }
    }
}
register!(lean_reads_by_miner_equal_whole_reads);

/// A read by env with conversations returns the rows the read without
/// them returns, whole: where one miner holds many of them (read as a
/// span of its partition) and where it holds few (read by key), with the
/// rows of that span outside the time range or the limit left out.
pub async fn reads_by_env_with_conversations_return_whole_rows(h: Harness) {
    let mut batch: Vec<NewSample> = (0..40)
        .map(|i| numbered("many", "sat", 1_000 + 10 * i))
        .collect();
    batch.extend((0..3).map(|i| numbered("few", "sat", 1_005 + 100 * i)));
    batch.extend((0..5).map(|i| numbered("many", "abd", 1_001 + 10 * i)));
    h.store.samples.save_samples(batch).await.unwrap();
    for (start, end, limit) in [
        (1_000, 1_390, None),
        (1_100, 1_250, None),
        (1_100, 1_300, Some(9)),
        (0, i64::MAX / 2, Some(1)),
    ] {
        let read = |c| {
            h.store
                .samples
                .get_samples_by_env("sat", start, end, limit, c)
        };
        let whole = read(Conversation::Include).await.unwrap();
        let lean = read(Conversation::Skip).await.unwrap();
        assert!(!whole.is_empty());
        assert_eq!(
            lean,
            without_conversations(&whole),
            "{start}..{end} {limit:?}"
        );
        for s in &whole {
            assert!(s.env == "sat" && (start..=end).contains(&s.timestamp));
            let said = format!("{} sat {}", s.miner_hotkey, s.timestamp);
            assert_eq!(
                s.conversation,
                Some(json!([{"role": "user", "content": said}]))
            );
        }
        let mut sorted = whole.clone();
        sorted.sort_by(env_order);
        assert_eq!(sorted, whole);
    }
    let nine = h
        .store
        .samples
        .get_samples_by_env("sat", 1_100, 1_300, Some(9), Conversation::Include)
        .await
        .unwrap();
    let times: Vec<i64> = nine.iter().map(|s| s.timestamp).collect();
    assert_eq!(
        times,
        [1_100, 1_105, 1_110, 1_120, 1_130, 1_140, 1_150, 1_160, 1_170]
    );
}
register!(reads_by_env_with_conversations_return_whole_rows);

/// Streams yield exactly what the lists return, over more than one page
/// ([`crate::rules::samples::STREAM_PAGE`]): by miner in both directions,
/// every env or one, with and without conversations and limits; by env
/// across miners whose samples share timestamps at page boundaries; and a
/// refusal as the only item.
pub async fn streams_yield_the_lists(h: Harness) {
    use futures::TryStreamExt;
    let page = crate::rules::samples::STREAM_PAGE;
    let mut batch: Vec<NewSample> = (0..page + 40)
        .map(|i| numbered("big", ["sat", "abd"][i % 2], 1_000 + i as i64))
        .collect();
    // Seven miners per timestamp: ties across every page boundary.
    batch.extend(
        (0..page + 30).map(|i| numbered(&format!("m{}", i % 7), "ded", 5_000 + (i / 7) as i64)),
    );
    for chunk in batch.chunks(200) {
        h.store.samples.save_samples(chunk.to_vec()).await.unwrap();
    }
    let samples = h.store.samples.clone();
    for conversation in [Conversation::Include, Conversation::Skip] {
        for (env, limit, newest_first) in [
            (None, None, false),
            (None, None, true),
            (Some("abd"), None, true),
            (None, Some(page + 1), false),
            (Some("sat"), Some(3), true),
        ] {
            let q = MinerSamplesQuery {
                env: env.map(str::to_string),
                limit,
                newest_first,
                conversation,
            };
            let list = samples
                .get_samples_by_miner("big", "rev", &q)
                .await
                .unwrap();
            let streamed: Vec<Sample> = samples
                .clone()
                .stream_samples_by_miner("big".into(), "rev".into(), q)
                .try_collect()
                .await
                .unwrap();
            assert!(!list.is_empty());
            assert_eq!(
                streamed.len(),
                list.len(),
                "by miner {env:?} {limit:?} {newest_first}"
            );
            assert_eq!(streamed, list, "by miner {env:?} {limit:?} {newest_first}");
        }
        for (start, end, limit) in [
            (0, i64::MAX / 2, None),
            (5_010, 5_070, None),
            (0, i64::MAX / 2, Some(page + 3)),
        ] {
            let list = samples
                .get_samples_by_env("ded", start, end, limit, conversation)
                .await
                .unwrap();
            let streamed: Vec<Sample> = samples
                .clone()
                .stream_samples_by_env("ded".into(), start, end, limit, conversation)
                .try_collect()
                .await
                .unwrap();
            assert!(!list.is_empty());
            assert_eq!(
                streamed.len(),
                list.len(),
                "by env {start}..{end} {limit:?}"
            );
            assert_eq!(streamed, list, "by env {start}..{end} {limit:?}");
        }
    }
    let refused: Vec<Result<Sample, Error>> = samples
        .clone()
        .stream_samples_by_env("d#d".into(), 0, 1, None, Conversation::Skip)
        .collect()
        .await;
    assert!(
        matches!(refused.as_slice(), [Err(Error::InvalidInput { .. })]),
        "{refused:?}"
    );
}
register!(streams_yield_the_lists);

/// `get_samples_by_env`: inclusive range across miners and revisions,
/// ordered by `env_order`, limit after the range, other envs excluded.
pub async fn samples_by_env_inclusive_range_and_order(h: Harness) {
    let batch = vec![
        sample_with_id("m2", "r1", "sat", 100, "a"),
        sample_with_id("m1", "r2", "sat", 200, "b"),
        sample_with_id("m1", "r1", "sat", 200, "c"),
        sample_with_id("m0", "r1", "sat", 200, "d"),
        sample_with_id("m1", "r1", "sat", 300, "e"),
        sample_with_id("m1", "r1", "sat", 301, "f"),
        sample_with_id("m1", "r1", "sat", 99, "g"),
        sample_with_id("m1", "r1", "abd", 200, "h"),
        sample_with_id("m1", "r1", "sata", 200, "i"),
    ];
    h.store.samples.save_samples(batch).await.unwrap();
    let got = h
        .store
        .samples
        .get_samples_by_env("sat", 100, 300, None, Conversation::Include)
        .await
        .unwrap();
    assert_eq!(ids(&got), ["a", "d", "c", "b", "e"]);
    let mut sorted = got.clone();
    sorted.sort_by(env_order);
    assert_eq!(sorted, got);
    assert!(got.iter().all(|s| s.conversation.is_some()));
    let limited = h
        .store
        .samples
        .get_samples_by_env("sat", 100, 300, Some(3), Conversation::Skip)
        .await
        .unwrap();
    assert_eq!(ids(&limited), ["a", "d", "c"]);
    assert!(limited.iter().all(|s| s.conversation.is_none()));
    assert_eq!(limited[0].miner_hotkey, "m2");
    assert_eq!(limited[0].score, 0.5);
    let point = h
        .store
        .samples
        .get_samples_by_env("sat", 301, 301, None, Conversation::Skip)
        .await
        .unwrap();
    assert_eq!(ids(&point), ["f"]);
    let empty = h
        .store
        .samples
        .get_samples_by_env("sat", 302, 1000, None, Conversation::Skip)
        .await
        .unwrap();
    assert!(empty.is_empty());
    let reversed = h
        .store
        .samples
        .get_samples_by_env("sat", 300, 100, None, Conversation::Skip)
        .await
        .unwrap();
    assert!(reversed.is_empty(), "start after end matches nothing");
}
register!(samples_by_env_inclusive_range_and_order);

/// `delete_samples_before` deletes the older samples in EVERY env of the
/// miner and revision (the original stopped at the first env), keeps the
/// sample at exactly `before_ms`, and touches no other revision or miner.
pub async fn delete_samples_before_covers_every_env(h: Harness) {
    let mut batch = Vec::new();
    for env in ["abd", "ded", "sat", "zzz"] {
        for ts in [10, 20, 50, 80] {
            batch.push(sample_with_id("hk", "rev", env, ts, &format!("{env}{ts}")));
        }
    }
    batch.push(sample_with_id("hk", "rev2", "sat", 10, "other-rev"));
    batch.push(sample_with_id("hk2", "rev", "sat", 10, "other-miner"));
    h.store.samples.save_samples(batch).await.unwrap();
    assert_eq!(
        h.store
            .samples
            .count_samples_before("hk", "rev", 50)
            .await
            .unwrap(),
        8
    );
    assert_eq!(
        h.store
            .samples
            .delete_samples_before("hk", "rev", 50)
            .await
            .unwrap(),
        8
    );
    let left = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(None, None, false))
        .await
        .unwrap();
    assert_eq!(left.len(), 8);
    assert!(left.iter().all(|s| s.timestamp >= 50));
    for env in ["abd", "ded", "sat", "zzz"] {
        assert_eq!(left.iter().filter(|s| s.env == env).count(), 2, "{env}");
    }
    assert_eq!(
        h.store
            .samples
            .delete_samples_before("hk", "rev", 50)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        h.store
            .samples
            .count_samples_before("hk", "rev", 50)
            .await
            .unwrap(),
        0
    );
    for (hk, rev) in [("hk", "rev2"), ("hk2", "rev")] {
        let kept = h
            .store
            .samples
            .get_samples_by_miner(hk, rev, &query(None, None, false))
            .await
            .unwrap();
        assert_eq!(kept.len(), 1, "{hk}/{rev}");
    }
}
register!(delete_samples_before_covers_every_env);

/// `count_samples_before` counts strictly older samples in every env and
/// deletes nothing.
pub async fn count_samples_before_deletes_nothing(h: Harness) {
    let batch: Vec<NewSample> = (0..30)
        .map(|i| sample("hk", "rev", ["a", "b", "c"][i % 3], i as i64 * 10))
        .collect();
    h.store.samples.save_samples(batch).await.unwrap();
    assert_eq!(
        h.store
            .samples
            .count_samples_before("hk", "rev", 0)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        h.store
            .samples
            .count_samples_before("hk", "rev", 150)
            .await
            .unwrap(),
        15
    );
    assert_eq!(
        h.store
            .samples
            .count_samples_before("hk", "rev", 151)
            .await
            .unwrap(),
        16
    );
    assert_eq!(
        h.store
            .samples
            .count_samples_before("hk", "rev", 10_000)
            .await
            .unwrap(),
        30
    );
    assert_eq!(
        h.store
            .samples
            .count_samples_before("hk", "nope", 10_000)
            .await
            .unwrap(),
        0
    );
    let all = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(None, None, false))
        .await
        .unwrap();
    assert_eq!(all.len(), 30);
}
register!(count_samples_before_deletes_nothing);

/// `list_sample_owners` lists each (miner, revision) with samples once,
/// sorted, and forgets owners whose samples are all deleted.
pub async fn list_sample_owners_sorted_and_distinct(h: Harness) {
    assert!(h
        .store
        .samples
        .list_sample_owners()
        .await
        .unwrap()
        .is_empty());
    let batch = vec![
        sample("m2", "r1", "sat", 1),
        sample("m1", "r2", "sat", 2),
        sample("m1", "r1", "sat", 3),
        sample("m1", "r1", "abd", 4),
        sample("m2", "r1", "abd", 5),
    ];
    h.store.samples.save_samples(batch).await.unwrap();
    let owners = h.store.samples.list_sample_owners().await.unwrap();
    let expected: Vec<(String, String)> = [("m1", "r1"), ("m1", "r2"), ("m2", "r1")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(owners, expected);
    h.store
        .samples
        .delete_samples_before("m1", "r2", 100)
        .await
        .unwrap();
    let owners = h.store.samples.list_sample_owners().await.unwrap();
    assert_eq!(owners, vec![expected[0].clone(), expected[2].clone()]);
}
register!(list_sample_owners_sorted_and_distinct);

/// The re-save rule: a save whose given `sample_id` is already stored for
/// that miner and revision replaces it (whatever its env and timestamp), so
/// a retry with `timestamp: None` keeps one row; the same id of another
/// revision or miner is another sample; without an id every save is new.
pub async fn resave_with_the_same_id_keeps_one_row(h: Harness) {
    let all = |h: &Harness, hk: &'static str, rev: &'static str| {
        let store = h.store.clone();
        async move {
            store
                .samples
                .get_samples_by_miner(hk, rev, &query(None, None, false))
                .await
                .unwrap()
        }
    };
    let retry = |env: &str, score: f64| NewSample {
        timestamp: None,
        score,
        ..sample_with_id("hk", "rev", env, 0, "sig-1")
    };
    let first = h
        .store
        .samples
        .save_sample(retry("sat", 0.1))
        .await
        .unwrap();
    h.clock.advance_ms(5);
    let second = h
        .store
        .samples
        .save_sample(retry("sat", 0.2))
        .await
        .unwrap();
    assert_ne!(first.key(), second.key());
    h.clock.advance_ms(5);
    let third = h
        .store
        .samples
        .save_sample(retry("abd", 0.3))
        .await
        .unwrap();
    let rows = all(&h, "hk", "rev").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].key(), third.key());
    assert_eq!(rows[0].score, 0.3);
    for old in [first.key(), second.key()] {
        let got = h
            .store
            .samples
            .get_sample(&old, Conversation::Skip)
            .await
            .unwrap();
        assert!(got.is_none(), "{old:?}");
    }
    // Another revision and another miner with the same id are other samples.
    let other_rev = NewSample {
        model_revision: "rev2".into(),
        ..retry("sat", 0.4)
    };
    let other_miner = NewSample {
        miner_hotkey: "hk2".into(),
        ..retry("sat", 0.5)
    };
    h.store.samples.save_sample(other_rev).await.unwrap();
    h.store.samples.save_sample(other_miner).await.unwrap();
    assert_eq!(all(&h, "hk", "rev").await.len(), 1);
    assert_eq!(all(&h, "hk", "rev2").await.len(), 1);
    assert_eq!(all(&h, "hk2", "rev").await.len(), 1);
    // Without an id, a retry is a new sample.
    let no_id = || NewSample {
        sample_id: None,
        timestamp: None,
        ..sample("hk3", "rev", "sat", 0)
    };
    h.store.samples.save_sample(no_id()).await.unwrap();
    h.store.samples.save_sample(no_id()).await.unwrap();
    assert_eq!(all(&h, "hk3", "rev").await.len(), 2);
}
register!(resave_with_the_same_id_keeps_one_row);

/// `save_samples` follows the re-save rule: a batch replaces the stored
/// samples with its given ids, and of two with the same id in one batch the
/// last wins (both slots of the returned keys name it).
pub async fn save_samples_resaves_by_id(h: Harness) {
    let stored = h
        .store
        .samples
        .save_sample(sample_with_id("hk", "rev", "sat", 100, "a"))
        .await
        .unwrap();
    let mut last_b = sample_with_id("hk", "rev", "ded", 300, "b");
    last_b.score = 0.75;
    let batch = vec![
        sample_with_id("hk", "rev", "abd", 200, "a"),
        sample_with_id("hk", "rev", "sat", 250, "b"),
        last_b,
        sample("hk", "rev", "sat", 400),
    ];
    let keys = h.store.samples.save_samples(batch).await.unwrap();
    assert_eq!(keys.len(), 4);
    assert_eq!((keys[0].env.as_str(), keys[0].timestamp), ("abd", 200));
    assert_eq!(keys[1], keys[2]);
    assert_eq!((keys[2].env.as_str(), keys[2].timestamp), ("ded", 300));
    let rows = h
        .store
        .samples
        .get_samples_by_miner("hk", "rev", &query(None, None, false))
        .await
        .unwrap();
    let mut got: Vec<SampleKey> = rows.iter().map(Sample::key).collect();
    got.sort();
    let mut want = vec![keys[0].clone(), keys[2].clone(), keys[3].clone()];
    want.sort();
    assert_eq!(got, want);
    assert!(rows.iter().any(|s| s.sample_id == "b" && s.score == 0.75));
    let old = h
        .store
        .samples
        .get_sample(&stored.key(), Conversation::Skip)
        .await
        .unwrap();
    assert!(old.is_none());
}
register!(save_samples_resaves_by_id);

/// [`sample_with_id`] with a task id.
fn task_sample(env: &str, ts: i64, id: &str, task: &str) -> NewSample {
    NewSample {
        task_id: task.into(),
        ..sample_with_id("hk", "rev", env, ts, id)
    }
}

/// `get_samples_by_task_ids` returns the miner revision's samples of the
/// given tasks, in every env, in [`miner_order`], with or without the
/// conversation; other tasks, other miners and duplicate ids do not count.
pub async fn get_samples_by_task_ids_reads_the_given_tasks(h: Harness) {
    let samples = &h.store.samples;
    let batch = vec![
        task_sample("sat", 30, "a", "t1"),
        task_sample("abd", 10, "b", "t2"),
        task_sample("sat", 20, "c", "t3"),
        task_sample("ded", 40, "d", "t1"),
        NewSample {
            task_id: "t1".into(),
            ..sample_with_id("other", "rev", "sat", 5, "e")
        },
    ];
    samples.save_samples(batch).await.unwrap();
    let want: Vec<String> = ["t1", "t2", "t1", "missing"].map(String::from).into();
    let got = samples
        .get_samples_by_task_ids("hk", "rev", &want, Conversation::Include)
        .await
        .unwrap();
    let mut sorted = got.clone();
    sorted.sort_by(miner_order);
    assert_eq!(got, sorted);
    let mut found = ids(&got);
    found.sort();
    assert_eq!(found, ["a", "b", "d"]);
    assert!(got.iter().all(|s| s.conversation.is_some()));
    let skipped = samples
        .get_samples_by_task_ids("hk", "rev", &want, Conversation::Skip)
        .await
        .unwrap();
    assert_eq!(ids(&skipped), ids(&got));
    assert!(skipped.iter().all(|s| s.conversation.is_none()));
    assert!(samples
        .get_samples_by_task_ids("hk", "rev", &[], Conversation::Include)
        .await
        .unwrap()
        .is_empty());
}
register!(get_samples_by_task_ids_reads_the_given_tasks);

/// More task ids than one query's filter names are read in several
/// queries and still come back whole and ordered; more than the most a
/// call takes, or an invalid miner, is `InvalidInput`.
pub async fn get_samples_by_task_ids_bounds_and_validates(h: Harness) {
    use crate::rules::samples::{MAX_TASK_IDS, TASK_IDS_PER_QUERY};
    let samples = &h.store.samples;
    let n = TASK_IDS_PER_QUERY + 7;
    let batch: Vec<NewSample> = (0..n)
        .map(|i| {
            task_sample(
                "sat",
                100 + i as i64,
                &format!("s{i:03}"),
                &format!("t{i:03}"),
            )
        })
        .collect();
    samples.save_samples(batch).await.unwrap();
    let every: Vec<String> = (0..n).rev().map(|i| format!("t{i:03}")).collect();
    let got = samples
        .get_samples_by_task_ids("hk", "rev", &every, Conversation::Skip)
        .await
        .unwrap();
    let want: Vec<String> = (0..n).map(|i| format!("s{i:03}")).collect();
    assert_eq!(ids(&got), want);
    let too_many: Vec<String> = (0..=MAX_TASK_IDS).map(|i| format!("t{i}")).collect();
    let err = samples
        .get_samples_by_task_ids("hk", "rev", &too_many, Conversation::Skip)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "task_ids"),
        "{err:?}"
    );
    let err = samples
        .get_samples_by_task_ids("h#k", "rev", &every, Conversation::Skip)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}
register!(get_samples_by_task_ids_bounds_and_validates);
