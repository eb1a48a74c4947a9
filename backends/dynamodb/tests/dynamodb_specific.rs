//! DynamoDB-specific behaviour: table layout, prefix isolation, items the
//! original Python layer wrote, URL parsing, and fault injection.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::Ordering;

use affine_db_core::admin::scan_all;
use affine_db_core::conformance::{sample, score};
use affine_db_core::{
    Admin, Conversation, Error, MinerSamplesQuery, MinerStore, RetentionStore, SampleKey,
    SampleStore, ScoreStore, Table,
};
use affine_db_dynamodb::DynamoDriver;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, BillingMode, ProjectionType, TimeToLiveStatus};

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.into())
}

#[tokio::test]
async fn tables_are_created_from_the_schema() {
    let (b, prefix) = common::backend(common::clock()).await;
    let c = &common::client().await;
    for table in Table::ALL {
        let name = table.prefixed(&prefix);
        let d = c.describe_table().table_name(&name).send().await.unwrap();
        let t = d.table().unwrap();
        let keys: Vec<(String, String)> = t
            .key_schema()
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_string(),
                    k.key_type().as_str().to_string(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            vec![("pk".into(), "HASH".into()), ("sk".into(), "RANGE".into())],
            "{name}"
        );
        assert_eq!(
            t.billing_mode_summary().and_then(|b| b.billing_mode()),
            Some(&BillingMode::PayPerRequest),
            "{name}"
        );
        let gsis = t.global_secondary_indexes();
        assert_eq!(gsis.len(), table.def().indexes.len(), "{name}");
        let ttl = c
            .describe_time_to_live()
            .table_name(&name)
            .send()
            .await
            .unwrap();
        let status = ttl
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status())
            .cloned();
        if table.def().ttl.is_some() {
            assert_eq!(status, Some(TimeToLiveStatus::Enabled), "{name}");
            assert_eq!(
                ttl.time_to_live_description().unwrap().attribute_name(),
                Some("ttl")
            );
        } else {
            assert_ne!(status, Some(TimeToLiveStatus::Enabled), "{name}");
        }
    }
    let d = c
        .describe_table()
        .table_name(Table::SampleResults.prefixed(&prefix))
        .send()
        .await
        .unwrap();
    let gsi = &d.table().unwrap().global_secondary_indexes()[0];
    assert_eq!(gsi.index_name(), Some("env-timestamp-index"));
    let p = gsi.projection().unwrap();
    assert_eq!(p.projection_type(), Some(&ProjectionType::Include));
    let attrs = p.non_key_attributes();
    assert!(
        !attrs.iter().any(|a| a == "conversation_compressed"),
        "{attrs:?}"
    );
    assert!(attrs.iter().any(|a| a == "score"), "{attrs:?}");
    let d = c
        .describe_table()
        .table_name(Table::Scores.prefixed(&prefix))
        .send()
        .await
        .unwrap();
    let gsi = &d.table().unwrap().global_secondary_indexes()[0];
    assert_eq!(
        gsi.projection().unwrap().projection_type(),
        Some(&ProjectionType::KeysOnly)
    );
    // init is idempotent.
    b.init().await.unwrap();
}

#[tokio::test]
async fn list_and_reset_never_touch_another_prefix() {
    let p = common::prefix();
    let ep = common::endpoint();
    let clock = common::clock();
    let main = common::connect(common::config(&p, &ep), clock.clone())
        .await
        .unwrap();
    let dev = common::connect(common::config(&format!("{p}_dev"), &ep), clock)
        .await
        .unwrap();
    main.init().await.unwrap();
    dev.init().await.unwrap();
    dev.save_sample(sample("hk", "rev", "env", 5))
        .await
        .unwrap();
    let listed = main.list_tables().await.unwrap();
    assert_eq!(listed.len(), 7);
    assert!(
        listed.iter().all(|t| Table::from_prefixed(&p, t).is_some()),
        "{listed:?}"
    );
    assert_eq!(dev.list_tables().await.unwrap().len(), 7);
    main.save_sample(sample("hk", "rev", "env", 5))
        .await
        .unwrap();
    main.reset().await.unwrap();
    assert!(main.list_sample_owners().await.unwrap().is_empty());
    assert_eq!(main.list_tables().await.unwrap().len(), 7);
    assert_eq!(
        dev.list_sample_owners().await.unwrap(),
        vec![("hk".to_string(), "rev".to_string())]
    );
    assert_eq!(dev.list_tables().await.unwrap().len(), 7);
}

#[tokio::test]
async fn items_written_by_the_python_layer_read_back() {
    let (b, prefix) = common::backend(common::clock()).await;
    let c = &common::client().await;
    let conversation = serde_json::json!([{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    gz.write_all(conversation.to_string().as_bytes()).unwrap();
    let frame = gz.finish().unwrap();
    let sk = "ENV#sat#TIME#0001735689600000#ID#legacy-1";
    let item: HashMap<String, AttributeValue> = HashMap::from([
        ("pk".into(), s("MINER#hk#REV#rev")),
        ("sk".into(), s(sk)),
        ("sample_id".into(), s("legacy-1")),
        ("miner_hotkey".into(), s("hk")),
        ("model_revision".into(), s("rev")),
        ("model_hash".into(), AttributeValue::Null(true)),
        ("uid".into(), n("7")),
        ("env".into(), s("sat")),
        ("subset".into(), s("train")),
        ("dataset_index".into(), n("3")),
        ("task_id".into(), s("t")),
        ("score".into(), n("1")),
        ("success".into(), AttributeValue::Bool(true)),
        ("latency_ms".into(), n("1200")),
        ("timestamp".into(), n("1735689600000")),
        (
            "conversation_compressed".into(),
            AttributeValue::B(Blob::new(frame)),
        ),
        ("validator_hotkey".into(), s("v")),
        ("block_number".into(), n("100")),
        ("signature".into(), s("sig")),
    ]);
    c.put_item()
        .table_name(Table::SampleResults.prefixed(&prefix))
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    let key = SampleKey::from_keys("MINER#hk#REV#rev", sk).unwrap();
    let got = b
        .get_sample(&key, Conversation::Include)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.score, 1.0);
    assert_eq!(got.model_hash, "");
    assert_eq!(got.conversation, Some(conversation.clone()));
    let by_env = b
        .get_samples_by_env("sat", 0, i64::MAX / 2, None, Conversation::Include)
        .await
        .unwrap();
    assert_eq!(by_env.len(), 1);
    assert_eq!(by_env[0].conversation, Some(conversation));

    let miner: HashMap<String, AttributeValue> = HashMap::from([
        ("pk".into(), s("MINER#hk")),
        ("sk".into(), s("METADATA")),
        ("miner_hotkey".into(), s("hk")),
        ("uid".into(), n("7")),
        ("current_revision".into(), s("rev")),
        ("model_hash".into(), s("h")),
        ("model_name".into(), s("m")),
        ("chutes_slug".into(), AttributeValue::Null(true)),
        ("chutes_status".into(), s("hot")),
        ("chutes_last_checked".into(), n("1")),
        ("last_commit_block".into(), AttributeValue::Null(true)),
        ("first_commit_block".into(), AttributeValue::Null(true)),
        ("updated_at".into(), n("1")),
        ("total_samples".into(), n("10")),
        ("success_count".into(), n("9")),
        ("error_count".into(), n("1")),
        ("last_sample_time".into(), AttributeValue::Null(true)),
        ("is_paused".into(), AttributeValue::Bool(false)),
        ("pause_reason".into(), AttributeValue::Null(true)),
        ("pause_until".into(), AttributeValue::Null(true)),
        ("consecutive_errors".into(), n("0")),
    ]);
    c.put_item()
        .table_name(Table::MinerMetadata.prefixed(&prefix))
        .set_item(Some(miner))
        .send()
        .await
        .unwrap();
    let m = b.get_metadata("hk").await.unwrap().unwrap();
    assert_eq!(
        (m.chutes_slug, m.first_commit_block, m.total_samples),
        (None, None, 10)
    );
    let m = b.update_statistics("hk", false, true).await.unwrap();
    assert_eq!(
        (m.total_samples, m.error_count, m.consecutive_errors),
        (11, 2, 1)
    );

    let policy: HashMap<String, AttributeValue> = HashMap::from([
        ("pk".into(), s("RETENTION#hk")),
        ("sk".into(), s("METADATA")),
        ("miner_hotkey".into(), s("hk")),
        ("is_protected".into(), AttributeValue::Bool(true)),
        ("protection_reason".into(), s("top3")),
        ("retention_days".into(), n("90")),
        ("last_cleanup_at".into(), AttributeValue::Null(true)),
        ("protected_since".into(), n("1000")),
    ]);
    c.put_item()
        .table_name(Table::DataRetentionPolicy.prefixed(&prefix))
        .set_item(Some(policy))
        .send()
        .await
        .unwrap();
    let p = b.set_protected("hk", "again", None).await.unwrap();
    assert_eq!((p.protected_since, p.last_cleanup_at), (Some(1000), None));

    let ttl = (affine_db_core::conformance::T0_MS / 1000 + 86_400).to_string();
    let score: HashMap<String, AttributeValue> = HashMap::from([
        ("pk".into(), s("SCORE#50")),
        ("sk".into(), s("MINER#hk")),
        ("block_number".into(), n("50")),
        ("miner_hotkey".into(), s("hk")),
        ("uid".into(), n("7")),
        ("model_revision".into(), s("rev")),
        ("calculated_at".into(), n("5")),
        ("overall_score".into(), n("1")),
        ("confidence_interval_lower".into(), n("0")),
        ("confidence_interval_upper".into(), n("2")),
        ("average_score".into(), n("1")),
        (
            "scores_by_layer".into(),
            AttributeValue::M(HashMap::from([("L1".into(), n("1"))])),
        ),
        ("scores_by_env".into(), AttributeValue::M(HashMap::new())),
        ("total_samples".into(), n("3")),
        ("is_eligible".into(), AttributeValue::Bool(true)),
        ("meets_criteria".into(), AttributeValue::Bool(false)),
        ("latest_marker".into(), s("LATEST")),
        ("ttl".into(), n(&ttl)),
    ]);
    c.put_item()
        .table_name(Table::Scores.prefixed(&prefix))
        .set_item(Some(score))
        .send()
        .await
        .unwrap();
    let latest = b.get_latest_scores().await.unwrap().unwrap();
    assert_eq!(latest.block_number, 50);
    assert_eq!(latest.scores[0].overall_score, 1.0);
    assert_eq!(
        latest.scores[0].scores_by_layer,
        BTreeMap::from([("L1".to_string(), 1.0)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_lose_and_duplicate_nothing() {
    let ep = common::endpoint();
    let proxy = common::proxy::start(&ep).await;
    let p = common::prefix();
    let clock = common::clock();
    let direct = common::connect(common::config(&p, &ep), clock.clone())
        .await
        .unwrap();
    direct.init().await.unwrap();
    let flaky = common::connect(common::config(&p, &proxy.url), clock)
        .await
        .unwrap();

    let batch: Vec<_> = (0..300)
        .map(|i| {
            let mut s = sample("hk", "rev", ["sat", "abd", "ded"][i % 3], 1_000 + i as i64);
            s.sample_id = Some(format!("batch-{i:03}"));
            s.score = i as f64 / 300.0;
            s
        })
        .collect();
    let keys = flaky.save_samples(batch.clone()).await.unwrap();
    assert_eq!(keys.len(), 300);
    for i in 0..30 {
        let mut s = sample("hk", "rev", "single", 5_000 + i);
        s.sample_id = Some(format!("single-{i:02}"));
        flaky.save_sample(s).await.unwrap();
        flaky
            .update_cleanup_timestamp(&format!("m{i}"))
            .await
            .unwrap();
    }
    let st = &proxy.stats;
    assert!(st.max_batch_items.load(Ordering::SeqCst) <= 25);
    assert_eq!(st.max_batch_items.load(Ordering::SeqCst), 25);
    assert!(st.throttled.load(Ordering::SeqCst) > 0);
    assert!(st.server_errors.load(Ordering::SeqCst) > 0);
    assert!(st.partial_batches.load(Ordering::SeqCst) > 0);

    let raw = scan_all(&*direct, Table::SampleResults).await.unwrap();
    assert_eq!(raw.len(), 330);
    let got = direct
        .get_samples_by_miner("hk", "rev", &MinerSamplesQuery::default())
        .await
        .unwrap();
    assert_eq!(got.len(), 330);
    let mut ids: Vec<&str> = got.iter().map(|s| s.sample_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 330);
    for (want, key) in batch.iter().zip(&keys) {
        let stored = direct
            .get_sample(key, Conversation::Include)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(Some(&stored.sample_id), want.sample_id.as_ref());
        assert_eq!(stored.score, want.score);
        assert_eq!(stored.conversation.as_ref(), Some(&want.conversation));
    }
    assert_eq!(direct.get_all_policies().await.unwrap().len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spent_budget_is_throttled_and_names_the_unwritten_keys() {
    let ep = common::endpoint();
    let proxy = common::proxy::start(&ep).await;
    let p = common::prefix();
    let clock = common::clock();
    let direct = common::connect(common::config(&p, &ep), clock.clone())
        .await
        .unwrap();
    direct.init().await.unwrap();
    let flaky = common::connect(common::config(&p, &proxy.url), clock)
        .await
        .unwrap();
    proxy.throttle_all.store(true, Ordering::SeqCst);
    let batch: Vec<_> = (0..30)
        .map(|i| {
            let mut s = sample("hk", "rev", "sat", 1_000 + i);
            s.sample_id = Some(format!("id-{i:02}"));
            s
        })
        .collect();
    let err = flaky.save_samples(batch).await.unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("MINER#hk#REV#rev/ENV#sat#TIME#0000000000001000#ID#id-00"),
        "{err}"
    );
    assert!(direct.list_sample_owners().await.unwrap().is_empty());
    let err = flaky.save_score(score(1, "hk", 0.5)).await.unwrap_err();
    assert!(matches!(err, Error::Throttled { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn save_samples_keeps_a_bounded_number_of_batches_in_flight() {
    use affine_db_testkit::link::{Link, LinkProxy};
    let ep = common::endpoint();
    let (direct, p) = common::backend(common::clock()).await;
    let connect = |url: &str| DynamoDriver::connect(common::config(&p, url));
    let default = connect(&ep).await.unwrap();
    assert_eq!(
        default.batch_concurrency(),
        affine_db_dynamodb::DEFAULT_BATCH_CONCURRENCY
    );
    for refused in [0, affine_db_dynamodb::MAX_BATCH_CONCURRENCY + 1] {
        assert!(matches!(
            connect(&ep).await.unwrap().with_batch_concurrency(refused),
            Err(Error::InvalidInput { .. })
        ));
    }
    let mut stored = 0;
    for (round, concurrency) in [1usize, 6].into_iter().enumerate() {
        // The proxy counts each request from its head to the last byte of
        // its response, and delivers no response until `concurrency`
        // requests are in flight at once: a backend that keeps that many
        // in flight reaches the peak exactly, one that keeps fewer never
        // does, and the bound is the peak's ceiling. Nothing depends on
        // timing.
        let proxy = LinkProxy::start(&ep, Link::round_trip_ms(2.0)).unwrap();
        let driver = connect(proxy.url())
            .await
            .unwrap()
            .with_batch_concurrency(concurrency)
            .unwrap();
        let b = affine_db_dynamodb::tables(driver, common::clock());
        // One sample first: the backend's one-at-a-time reads before its
        // first write (the dictionary targets) happen before the gate.
        let mut first = sample("hk", "rev", "sat", 999);
        first.sample_id = Some(format!("r{round}-first"));
        b.save_samples(vec![first]).await.unwrap();
        stored += 1;
        let writes_before = proxy.stats().operation("BatchWriteItem");
        proxy.hold_responses_until(concurrency as u64);
        // No given ids: a given id makes the backend look for the sample
        // it supersedes first (one query, alone in flight), which the gate
        // would hold forever; generated ids keep the rounds' keys apart.
        let batch: Vec<_> = (0..300)
            .map(|i| sample("hk", "rev", "sat", 1_000 + i))
            .collect();
        b.save_samples(batch).await.unwrap();
        stored += 300;
        let st = proxy.stats();
        // 300 samples are 12 full BatchWriteItem requests, none repeated.
        assert_eq!(st.operation("BatchWriteItem") - writes_before, 12);
        let peak = st.peak_in_flight.load(Ordering::SeqCst) as usize;
        assert_eq!(
            peak, concurrency,
            "{peak} requests in flight at most for a bound of {concurrency}"
        );
        assert_eq!(
            st.in_flight.load(Ordering::SeqCst),
            0,
            "every response delivered"
        );
    }
    let raw = scan_all(&*direct, Table::SampleResults).await.unwrap();
    assert_eq!(raw.len(), stored);
}

/// The read-modify-write rules (claims, checked starts, validated claims,
/// concurrent claims) give the same outcomes when a failed condition comes
/// back without the stored item: a shim strips the `Item` that
/// `ReturnValuesOnConditionCheckFailure=ALL_OLD` returns (dynalite never
/// returns one), so the backend must read the item itself to decide
/// between `NotFound`, `Conflict` and the next branch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_outcomes_do_not_need_the_returned_item() {
    use affine_db_core::conformance as c;
    use affine_db_testkit::dynalite::{self, Options};

    let shim = dynalite::start(
        &common::endpoint(),
        Options {
            emulate_ttl: false,
            strip_condition_items: true,
        },
    )
    .await;
    let harness = || async {
        let clock = c::Harness::new_clock();
        let b = common::connect(common::config(&common::prefix(), &shim.url), clock.clone())
            .await
            .unwrap();
        b.init().await.unwrap();
        c::Harness {
            store: affine_db_core::Store::new(b),
            clock,
        }
    };
    c::start_task_claims_once(harness().await).await;
    c::start_failed_task_conflicts(harness().await).await;
    c::start_task_checked_starts_or_removes_stale(harness().await).await;
    c::validated_claim_checks_the_current_model(harness().await).await;
    c::complete_task_deletes_once(harness().await).await;
    c::concurrent_claims_start_each_task_once(harness().await).await;
    let failures = shim.stats.condition_failures.load(Ordering::SeqCst);
    assert!(failures > 0, "no condition failed: the test tested nothing");
    if dynalite::Implementation::from_env() == dynalite::Implementation::Moto {
        // moto returns the item; every failure on a stored item lost it here.
        assert!(shim.stats.items_stripped.load(Ordering::SeqCst) > 0);
    }
}

/// A limited read in key order costs what it returns: the Query carries the
/// limit as `Limit` (nothing is filtered on the server), so the 5 newest of
/// a 300-sample revision are one request of a few items, not a page of the
/// partition. Measured in bytes the emulator sends back, not in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_key_order_read_transfers_what_it_returns() {
    use affine_db_testkit::link::{Link, LinkProxy};
    let (direct, p) = common::backend(common::clock()).await;
    let batch: Vec<_> = (0..300)
        .map(|i| {
            let mut s = sample("hk", "rev", "sat", 1_000 + i);
            s.conversation = serde_json::json!([{"role": "user", "content": format!("{i:0>400}")}]);
            s
        })
        .collect();
    direct.save_samples(batch).await.unwrap();
    let proxy = LinkProxy::start(&common::endpoint(), Link::round_trip_ms(0.0)).unwrap();
    let b = common::connect(common::config(&p, proxy.url()), common::clock())
        .await
        .unwrap();
    let read = |limit: Option<usize>| MinerSamplesQuery {
        limit,
        newest_first: true,
        ..MinerSamplesQuery::default()
    };
    let st = proxy.stats().clone();
    let before = st.bytes_down.load(Ordering::SeqCst);
    let five = b
        .get_samples_by_miner("hk", "rev", &read(Some(5)))
        .await
        .unwrap();
    let limited = st.bytes_down.load(Ordering::SeqCst) - before;
    assert_eq!(
        five.iter().map(|s| s.timestamp).collect::<Vec<_>>(),
        [1_299, 1_298, 1_297, 1_296, 1_295]
    );
    assert_eq!(st.operation("Query"), 1);
    let before = st.bytes_down.load(Ordering::SeqCst);
    let all = b
        .get_samples_by_miner("hk", "rev", &read(None))
        .await
        .unwrap();
    let whole = st.bytes_down.load(Ordering::SeqCst) - before;
    assert_eq!(all.len(), 300);
    assert!(
        limited * 20 < whole,
        "5 of 300 samples took {limited} bytes, all of them {whole}"
    );
}

/// The latest block costs the same whatever the history: the latest-block
/// index is read newest first and reading stops past the newest block's
/// entries (two pages of a 120-row block), so twelve blocks of history
/// transfer no more than three did. Before, the whole index was read:
/// four times the bytes here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_block_costs_the_same_whatever_the_history() {
    use affine_db_testkit::link::{Link, LinkProxy};
    let (direct, p) = common::backend(common::clock()).await;
    let rows = |b: i64| -> Vec<_> {
        (0..120)
            .map(|m| score(b, &format!("m{m:03}"), 0.5))
            .collect()
    };
    let proxy = LinkProxy::start(&common::endpoint(), Link::round_trip_ms(0.0)).unwrap();
    let b = common::connect(common::config(&p, proxy.url()), common::clock())
        .await
        .unwrap();
    let st = proxy.stats().clone();
    let mut cost = Vec::new();
    for history in [3, 12] {
        let from = cost.len() as i64 * 3 + 1;
        for block in from..=history {
            direct.save_snapshot(block, rows(block)).await.unwrap();
        }
        let (bytes, queries) = (st.bytes_down.load(Ordering::SeqCst), st.operation("Query"));
        let latest = b.get_latest_scores().await.unwrap().unwrap();
        assert_eq!(latest.block_number, history);
        assert_eq!(latest.scores.len(), 120);
        // Two index pages, then the block's header and rows in one query.
        assert_eq!(st.operation("Query") - queries, 3);
        assert_eq!(st.operation("BatchGetItem"), 0);
        cost.push(st.bytes_down.load(Ordering::SeqCst) - bytes);
    }
    assert!(
        cost[1] * 10 <= cost[0] * 12,
        "the latest of 3 blocks took {} bytes, of 12 blocks {}",
        cost[0],
        cost[1]
    );
}

/// A limited read of an env's samples reads the env index in time order
/// and stops past the limit: the 5 oldest of 300 transfer a page of index
/// entries, not the whole index (before, every entry of the env was read
/// and sorted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limited_env_read_stops_past_its_limit() {
    use affine_db_testkit::link::{Link, LinkProxy};
    let (direct, p) = common::backend(common::clock()).await;
    let batch: Vec<_> = (0..300)
        .map(|i| {
            let mut s = sample(&format!("hk{}", i % 3), "rev", "sat", 1_000 + i);
            s.conversation = serde_json::json!([{"role": "user", "content": "x"}]);
            s
        })
        .collect();
    direct.save_samples(batch).await.unwrap();
    let proxy = LinkProxy::start(&common::endpoint(), Link::round_trip_ms(0.0)).unwrap();
    let b = common::connect(common::config(&p, proxy.url()), common::clock())
        .await
        .unwrap();
    let st = proxy.stats().clone();
    let mut cost = Vec::new();
    for limit in [Some(5), None] {
        let before = st.bytes_down.load(Ordering::SeqCst);
        let found = b
            .get_samples_by_env("sat", 0, i64::MAX / 2, limit, Conversation::Skip)
            .await
            .unwrap();
        cost.push(st.bytes_down.load(Ordering::SeqCst) - before);
        assert_eq!(found.len(), limit.unwrap_or(300));
        assert_eq!(found[0].timestamp, 1_000);
        assert!(found.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    }
    assert!(
        cost[0] * 2 < cost[1],
        "5 of 300 took {} bytes, all of them {}",
        cost[0],
        cost[1]
    );
}
