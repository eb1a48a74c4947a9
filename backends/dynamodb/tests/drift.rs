//! The live schema held to the declared one, on the emulator
//! (`AFFINE_TEST_DYNAMODB_ENDPOINT`): each kind of drift is made with the
//! SDK directly, `check` reports it, `init` repairs it (UpdateTable for a
//! missing GSI, UpdateTimeToLive) or refuses it and changes nothing, and a
//! read through a missing index names it.

mod common;

use std::sync::{Arc, Mutex};

use affine_db_core::conformance::sample;
use affine_db_core::drift::{Drift, Repair};
use affine_db_core::schema::{
    ENV_TIMESTAMP_INDEX, LATEST_BLOCK_INDEX, LEAN_SAMPLES_INDEX, STATUS_CREATED_INDEX,
};
use affine_db_core::{
    Admin, Conversation, Error, MinerSamplesQuery, PendingOrder, SampleStore, ScoreStore, Table,
    TaskStore,
};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, DeleteGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;

async fn delete_index(c: &Client, table: &str, index: &str) {
    c.update_table()
        .table_name(table)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .delete(
                    DeleteGlobalSecondaryIndexAction::builder()
                        .index_name(index)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .unwrap()
}

fn attr(name: &str, ty: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ty)
        .build()
        .unwrap()
}

/// `init_with`, collecting what it reports.
async fn init_reporting(
    b: &affine_db_core::handles::Tables,
) -> (Result<Vec<Drift>, Error>, Vec<String>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let out = b
        .init_with(&move |l: &str| sink.lock().unwrap().push(l.to_string()))
        .await;
    let lines = lines.lock().unwrap().clone();
    (out, lines)
}

async fn ttl_status(c: &Client, table: &str) -> Option<TimeToLiveStatus> {
    c.describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status())
        .cloned()
}

#[tokio::test]
async fn a_fresh_store_matches_and_init_reports_the_tables_it_creates() {
    let clock = common::clock();
    let p = common::prefix();
    let b = common::connect(common::config(&p, &common::endpoint()), clock)
        .await
        .unwrap();
    let before = b.check().await.unwrap();
    assert_eq!(before.len(), 7);
    assert!(before.iter().all(|d| d.kind() == "missing_table"));
    let (out, lines) = init_reporting(&b).await;
    assert_eq!(out.unwrap().len(), 7);
    assert!(
        lines.contains(&format!("created table {p}_scores")),
        "{lines:?}"
    );
    assert_eq!(b.check().await.unwrap(), vec![]);
    // Idempotent: nothing to repair, nothing reported.
    let (out, lines) = init_reporting(&b).await;
    assert_eq!(out.unwrap(), vec![]);
    assert!(lines.is_empty(), "{lines:?}");
}

#[tokio::test]
async fn deleted_indexes_are_named_by_reads_and_recreated_by_init() {
    let (b, p) = common::backend(common::clock()).await;
    let c = common::client().await;
    let samples = Table::SampleResults.prefixed(&p);
    let tasks = Table::TaskQueue.prefixed(&p);
    let scores = Table::Scores.prefixed(&p);
    let saved = b
        .save_sample(sample("m", "r", "SAT", 1_700_000_000_000))
        .await
        .unwrap();
    delete_index(&c, &samples, ENV_TIMESTAMP_INDEX).await;
    delete_index(&c, &tasks, STATUS_CREATED_INDEX).await;
    delete_index(&c, &scores, LATEST_BLOCK_INDEX).await;

    let drifts = b.check().await.unwrap();
    let missing = |t: &str, i: &str| Drift::MissingIndex {
        table: t.to_string(),
        index: i.to_string(),
    };
    assert_eq!(
        drifts,
        vec![
            missing(&samples, ENV_TIMESTAMP_INDEX),
            missing(&tasks, STATUS_CREATED_INDEX),
            missing(&scores, LATEST_BLOCK_INDEX),
        ]
    );
    assert!(drifts.iter().all(|d| d.repair() == Repair::InPlace));

    let err = b
        .get_samples_by_env("SAT", 0, i64::MAX / 2, None, Conversation::Skip)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::MissingIndex {
            table: samples.clone(),
            index: ENV_TIMESTAMP_INDEX.into(),
            store: "DynamoDB".into()
        }
    );
    assert!(
        err.to_string()
            .contains("run `affine-db init` to create it"),
        "{err}"
    );
    let err = b
        .get_pending_tasks(10, PendingOrder::Priority)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingIndex { index, .. } if index == STATUS_CREATED_INDEX),
        "{err:?}"
    );
    let err = b.get_latest_scores().await.unwrap_err();
    assert!(
        matches!(&err, Error::MissingIndex { index, .. } if index == LATEST_BLOCK_INDEX),
        "{err:?}"
    );

    let (out, lines) = init_reporting(&b).await;
    assert_eq!(out.unwrap(), drifts);
    for (t, i) in [
        (&samples, ENV_TIMESTAMP_INDEX),
        (&tasks, STATUS_CREATED_INDEX),
        (&scores, LATEST_BLOCK_INDEX),
    ] {
        assert!(
            lines.contains(&format!("created index {i} on {t}")),
            "{lines:?}"
        );
        assert!(
            lines.contains(&format!("creating index {i} on {t}")),
            "{lines:?}"
        );
    }
    assert_eq!(b.check().await.unwrap(), vec![]);
    let found = b
        .get_samples_by_env("SAT", 0, i64::MAX / 2, None, Conversation::Skip)
        .await
        .unwrap();
    assert_eq!(
        found
            .iter()
            .map(|s| s.sample_id.clone())
            .collect::<Vec<_>>(),
        vec![saved.sample_id]
    );
    b.get_pending_tasks(10, PendingOrder::Priority)
        .await
        .unwrap();
    b.get_latest_scores().await.unwrap();
}

/// A table made before the lean index (an older layout) still answers a
/// read by miner without conversations, from the partition, exactly as
/// the index would; `check` names the index and `init` adds it, after
/// which the read goes through it.
#[tokio::test]
async fn a_table_without_the_lean_index_reads_the_partition_until_init_adds_it() {
    let (b, p) = common::backend(common::clock()).await;
    let c = common::client().await;
    let samples = Table::SampleResults.prefixed(&p);
    for (i, env) in ["SAT", "ABD", "SAT"].into_iter().enumerate() {
        b.save_sample(sample("m", "r", env, 1_700_000_000_000 + i as i64))
            .await
            .unwrap();
    }
    let lean = MinerSamplesQuery {
        limit: Some(2),
        newest_first: true,
        conversation: Conversation::Skip,
        ..MinerSamplesQuery::default()
    };
    let before = b.get_samples_by_miner("m", "r", &lean).await.unwrap();
    delete_index(&c, &samples, LEAN_SAMPLES_INDEX).await;
    assert_eq!(
        b.check().await.unwrap(),
        vec![Drift::MissingIndex {
            table: samples.clone(),
            index: LEAN_SAMPLES_INDEX.into(),
        }]
    );
    let without = b.get_samples_by_miner("m", "r", &lean).await.unwrap();
    assert_eq!(without, before);
    assert_eq!(without.len(), 2);
    assert!(without.iter().all(|s| s.conversation.is_none()));
    let (out, lines) = init_reporting(&b).await;
    assert_eq!(out.unwrap().len(), 1);
    assert!(
        lines.contains(&format!("created index {LEAN_SAMPLES_INDEX} on {samples}")),
        "{lines:?}"
    );
    assert_eq!(b.check().await.unwrap(), vec![]);
    assert_eq!(
        b.get_samples_by_miner("m", "r", &lean).await.unwrap(),
        before
    );
}

#[tokio::test]
async fn disabled_ttl_is_reported_and_enabled_by_init() {
    let (b, p) = common::backend(common::clock()).await;
    let c = common::client().await;
    let logs = Table::ExecutionLogs.prefixed(&p);
    c.update_time_to_live()
        .table_name(&logs)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(false)
                .attribute_name("ttl")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_ne!(ttl_status(&c, &logs).await, Some(TimeToLiveStatus::Enabled));
    let want = vec![Drift::TtlDisabled {
        table: logs.clone(),
        attribute: "ttl".into(),
    }];
    assert_eq!(b.check().await.unwrap(), want);
    let (out, lines) = init_reporting(&b).await;
    assert_eq!(out.unwrap(), want);
    assert_eq!(
        lines,
        vec![format!("enabled TTL on {logs} (attribute ttl)")]
    );
    assert_eq!(ttl_status(&c, &logs).await, Some(TimeToLiveStatus::Enabled));
    assert_eq!(b.check().await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_table_with_another_key_schema_is_refused_and_nothing_changes() {
    let clock = common::clock();
    let p = common::prefix();
    let b = common::connect(common::config(&p, &common::endpoint()), clock)
        .await
        .unwrap();
    let c = common::client().await;
    let config = Table::SystemConfig.prefixed(&p);
    c.create_table()
        .table_name(&config)
        .key_schema(key("pk", KeyType::Hash))
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let drifts = b.check().await.unwrap();
    let key_drift = Drift::KeySchema {
        table: config.clone(),
        want: "pk HASH / sk RANGE".into(),
        got: "pk HASH / no RANGE".into(),
    };
    assert!(drifts.contains(&key_drift), "{drifts:?}");
    assert_eq!(key_drift.repair(), Repair::Refused);
    // Six tables missing (repairable) and one wrong: init refuses first.
    assert_eq!(
        drifts
            .iter()
            .filter(|d| d.kind() == "missing_table")
            .count(),
        6
    );
    let (out, lines) = init_reporting(&b).await;
    let err = out.unwrap_err();
    assert!(matches!(err, Error::SchemaDrift(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&config), "{text}");
    assert!(text.contains("key schema is pk HASH / no RANGE"), "{text}");
    assert!(text.contains("nothing was changed"), "{text}");
    assert!(lines.is_empty(), "{lines:?}");
    // Nothing was created.
    assert_eq!(b.list_tables().await.unwrap(), vec![config]);
    assert_eq!(b.check().await.unwrap(), drifts);
}

#[tokio::test]
async fn an_index_with_other_keys_or_projection_is_refused_and_nothing_changes() {
    let (b, p) = common::backend(common::clock()).await;
    let c = common::client().await;
    let samples = Table::SampleResults.prefixed(&p);
    let scores = Table::Scores.prefixed(&p);
    // A repairable difference beside the refused ones: it stays unrepaired.
    delete_index(&c, &samples, ENV_TIMESTAMP_INDEX).await;
    c.delete_table().table_name(&scores).send().await.unwrap();
    c.create_table()
        .table_name(&scores)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk", ScalarAttributeType::S))
        .attribute_definitions(attr("sk", ScalarAttributeType::S))
        .attribute_definitions(attr("latest_marker", ScalarAttributeType::S))
        .attribute_definitions(attr("calculated_at", ScalarAttributeType::N))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(LATEST_BLOCK_INDEX)
                .key_schema(key("latest_marker", KeyType::Hash))
                .key_schema(key("calculated_at", KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    c.update_time_to_live()
        .table_name(&scores)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("ttl")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let drifts = b.check().await.unwrap();
    assert_eq!(
        drifts.iter().map(|d| d.kind()).collect::<Vec<_>>(),
        vec!["missing_index", "index_keys", "index_projection"],
        "{drifts:?}"
    );
    assert_eq!(
        drifts[1].to_string(),
        format!(
            "table {scores}: index {LATEST_BLOCK_INDEX} has keys latest_marker HASH / \
             calculated_at RANGE, declared latest_marker HASH / block_number RANGE"
        )
    );
    assert_eq!(
        drifts[2].to_string(),
        format!("table {scores}: index {LATEST_BLOCK_INDEX} projects ALL, declared KEYS_ONLY")
    );
    let (out, lines) = init_reporting(&b).await;
    let err = out.unwrap_err();
    assert!(matches!(err, Error::SchemaDrift(_)), "{err:?}");
    assert!(err.to_string().contains("projects ALL"), "{err}");
    assert!(!err.to_string().contains(&samples), "only refusals: {err}");
    assert!(lines.is_empty(), "{lines:?}");
    // The missing index was not created either.
    assert_eq!(b.check().await.unwrap(), drifts);
}
