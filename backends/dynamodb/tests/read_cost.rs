//! What reads cost, metered at the emulator as DynamoDB bills them
//! (`affine_db_testkit::meter`): items read and read units, against the
//! original layer's single all-attribute query measured in the same test.

mod common;

use affine_db_core::conformance::sample;
use affine_db_core::schema::{ENV_TIMESTAMP_INDEX, LEAN_SAMPLES_INDEX};
use affine_db_core::{Conversation, MinerSamplesQuery, NewSample, SampleStore, Table};
use affine_db_testkit::meter::{self, Meter};
use aws_sdk_dynamodb::types::AttributeValue;

/// A sample whose conversation compresses to about 1.5 KB (hex digits of
/// a fixed pseudo-random sequence), as a real one of a few turns does.
fn heavy(hotkey: &str, env: &str, ts: i64) -> NewSample {
    let mut x = ts as u64 ^ 0x9e37_79b9_7f4a_7c15;
    let text: String = (0..3_000)
        .map(|_| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            char::from_digit(((x >> 33) % 16) as u32, 16).unwrap_or('0')
        })
        .collect();
    let mut s = sample(hotkey, "rev", env, ts);
    s.conversation = serde_json::json!([{"role": "assistant", "content": text}]);
    s
}

async fn metered(p: &str) -> (std::sync::Arc<affine_db_core::handles::Tables>, Meter) {
    let m = meter::start(&common::endpoint()).await.unwrap();
    let b = common::connect(common::config(p, &m.url), common::clock())
        .await
        .unwrap();
    (b, m)
}

/// The original layer's read of a miner's newest 50: one query of the
/// partition, every attribute, eventually consistent (boto3's default).
async fn original_newest_50(m: &Meter, p: &str) -> (u64, f64) {
    let client = affine_db_dynamodb::DynamoDriver::connect(common::config(p, &m.url))
        .await
        .unwrap()
        .client()
        .clone();
    m.reads.reset();
    let out = client
        .query()
        .table_name(Table::SampleResults.prefixed(p))
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("MINER#hk#REV#rev".into()))
        .scan_index_forward(false)
        .limit(50)
        .send()
        .await
        .unwrap();
    assert_eq!(out.items().len(), 50);
    (m.reads.items(), m.reads.units())
}

/// A miner's newest 50 cost 50 items whatever the history (300 or 1,200
/// samples): with conversations one query of the partition (the same
/// read units as the original's), without them one query of the lean
/// index at under half of them. Before the lean index, a read without
/// conversations was billed for the whole rows like the original's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_newest_50_of_a_miner_cost_50_items_whatever_the_history() {
    let (direct, p) = common::backend(common::clock()).await;
    let (b, m) = metered(&p).await;
    let mut cost = Vec::new();
    let mut saved = 0;
    for history in [300, 1_200] {
        let batch: Vec<NewSample> = (saved..history)
            .map(|i| heavy("hk", ["sat", "abd", "ded"][i as usize % 3], 1_000 + i))
            .collect();
        direct.save_samples(batch).await.unwrap();
        saved = history;
        let (orig_items, orig_units) = original_newest_50(&m, &p).await;
        assert_eq!(orig_items, 50);
        let read = |conversation| {
            let q = MinerSamplesQuery {
                env: None,
                limit: Some(50),
                newest_first: true,
                conversation,
            };
            let b = b.clone();
            async move { b.get_samples_by_miner("hk", "rev", &q).await.unwrap() }
        };
        m.reads.reset();
        let whole = read(Conversation::Include).await;
        assert_eq!(whole.len(), 50);
        assert!(whole.iter().all(|s| s.conversation.is_some()));
        let with = (m.reads.items(), m.reads.units(), m.reads.all());
        m.reads.reset();
        let lean = read(Conversation::Skip).await;
        assert_eq!(lean.len(), 50);
        let without = (m.reads.items(), m.reads.units(), m.reads.all());
        assert_eq!(with.0, 50, "{:?}", with.2);
        assert_eq!(without.0, 50, "{:?}", without.2);
        assert!(with.2.iter().all(|r| !r.consistent && r.index.is_none()));
        assert!(without
            .2
            .iter()
            .all(|r| r.index.as_deref() == Some(LEAN_SAMPLES_INDEX)));
        assert!(
            with.1 <= 2.5 * orig_units,
            "with conversations {} units, the original {orig_units}",
            with.1
        );
        assert!(
            without.1 <= 0.5 * orig_units,
            "without conversations {} units, the original {orig_units}",
            without.1
        );
        eprintln!(
            "history {history}: original {orig_units} units; with conversations {} ({} items), without {} ({} items)",
            with.1, with.0, without.1, without.0
        );
        cost.push((with.1, without.1));
    }
    assert_eq!(cost[0], cost[1], "the cost grew with the history");
}

/// A read by env with conversations reads the lean env index, then each
/// miner's rows as one span of its partition (billed once per span rather
/// than 4 KB per row as a batch get is): within 1.5 times the units of
/// reading the same rows whole in one pass, which is what the original's
/// all-attribute index costs. Getting the rows by key cost twice that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_by_env_with_conversations_costs_about_the_rows_it_returns() {
    let (direct, p) = common::backend(common::clock()).await;
    let batch: Vec<NewSample> = (0..240)
        .map(|i| heavy(&format!("hk{}", i % 4), "sat", 1_000 + i))
        .collect();
    direct.save_samples(batch).await.unwrap();
    let (b, m) = metered(&p).await;
    m.reads.reset();
    let found = b
        .get_samples_by_env("sat", 0, i64::MAX / 2, None, Conversation::Include)
        .await
        .unwrap();
    assert_eq!(found.len(), 240);
    let reads = m.reads.all();
    let ours = m.reads.units();
    assert!(reads.iter().all(|r| r.operation == "Query"), "{reads:?}");
    assert_eq!(
        reads
            .iter()
            .filter(|r| r.index.as_deref() == Some(ENV_TIMESTAMP_INDEX))
            .count(),
        1
    );
    // The same rows read whole, one pass per miner: the all-attribute
    // index's bill (one rounding per page of rows).
    let client = affine_db_dynamodb::DynamoDriver::connect(common::config(&p, &m.url))
        .await
        .unwrap()
        .client()
        .clone();
    m.reads.reset();
    for h in 0..4 {
        client
            .query()
            .table_name(Table::SampleResults.prefixed(&p))
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("MINER#hk{h}#REV#rev")))
            .send()
            .await
            .unwrap();
    }
    let whole = m.reads.units();
    eprintln!("240 samples by env with conversations: {ours} units, the rows whole {whole}");
    assert!(ours <= 1.5 * whole, "{ours} units against {whole}");
}

/// A stream reads one page before it yields its first sample, not the
/// whole result: of 1,100 samples by env (or by miner), the first comes
/// after one query of at most a page of index entries; the rest follow
/// page by page, each page starting where the last ended (no entry read
/// twice but the ties at a page's end).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reads_a_page_before_its_first_sample() {
    use affine_db_core::rules::samples::STREAM_PAGE;
    use futures::StreamExt;
    let (direct, p) = common::backend(common::clock()).await;
    let batch: Vec<NewSample> = (0..1_100)
        .map(|i| {
            let mut s = sample("hk", "rev", "sat", 1_000 + i / 2);
            s.conversation = serde_json::json!([{"role": "user", "content": "x"}]);
            s
        })
        .collect();
    direct.save_samples(batch).await.unwrap();
    let (b, m) = metered(&p).await;
    m.reads.reset();
    let mut by_env =
        b.clone()
            .stream_samples_by_env("sat".into(), 0, i64::MAX / 2, None, Conversation::Skip);
    let first = by_env.next().await.unwrap().unwrap();
    assert_eq!(first.timestamp, 1_000);
    let reads = m.reads.all();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert!(reads[0].items <= STREAM_PAGE as u64 + 1, "{reads:?}");
    let mut n = 1;
    while let Some(s) = by_env.next().await {
        s.unwrap();
        n += 1;
    }
    assert_eq!(n, 1_100);
    // Each resumed page reads again a few entries the cursor skips.
    assert!(m.reads.items() * 100 <= 1_100 * 104, "{:?}", m.reads.all());
    assert_eq!(m.reads.all().len(), 3, "{:?}", m.reads.all());
    m.reads.reset();
    let q = MinerSamplesQuery {
        conversation: Conversation::Include,
        ..MinerSamplesQuery::default()
    };
    let mut by_miner = b
        .clone()
        .stream_samples_by_miner("hk".into(), "rev".into(), q);
    assert!(by_miner
        .next()
        .await
        .unwrap()
        .unwrap()
        .conversation
        .is_some());
    assert_eq!(m.reads.all().len(), 1);
    assert_eq!(m.reads.items(), STREAM_PAGE as u64);
}
