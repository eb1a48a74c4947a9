//! Items the original Python layer wrote (written raw through the admin
//! API) read back: gzip conversations, absent or `NULL` optional
//! attributes, counters that were never set, floats stored as integers.

use crate::register;
use std::io::Write as _;

use serde_json::json;

use super::basics::{put_raw, read_sample, sample_with_id, task};
use super::{Harness, T0_MS};
use crate::codec::Codec;
use crate::item::Attr;
use crate::keys;
use crate::schema::{Table, PK, SK};
use crate::tables::config::ParamValue;
use crate::tables::samples::Conversation;
use crate::tables::tasks::PendingOrder;
use crate::tables::tasks::TaskStatus;

/// A sample whose conversation is a legacy gzip frame (level 9, as the
/// original wrote) reads back decoded, by key and through both queries.
pub async fn legacy_gzip_conversation_reads_back(h: Harness) {
    let conversation =
        json!([{"role": "user", "content": "legacy ✓"}, {"role": "assistant", "content": "ok"}]);
    let mut new = sample_with_id("hk", "rev", "sat", 1_000, "old");
    new.conversation = conversation.clone();
    let sample = new.into_sample(T0_MS).unwrap();
    let mut item = sample.to_item(&Codec::default()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(9));
    gz.write_all(conversation.to_string().as_bytes()).unwrap();
    item.insert(
        "conversation_compressed".into(),
        Attr::B(gz.finish().unwrap()),
    );
    put_raw(&h, Table::SampleResults, vec![item]).await;
    let got = read_sample(&h, &sample.key()).await;
    assert_eq!(got.conversation, Some(conversation.clone()));
    let by_env = h
        .store
        .samples
        .get_samples_by_env("sat", 0, 2_000, None, Conversation::Include)
        .await
        .unwrap();
    assert_eq!(by_env.len(), 1);
    assert_eq!(by_env[0].conversation, Some(conversation));
}
register!(legacy_gzip_conversation_reads_back);

/// Optional task attributes may be absent or `NULL`; such a task reads,
/// is listed, and can be claimed.
pub async fn task_with_absent_or_null_optionals_reads(h: Harness) {
    let t = task("hk", "rev", "h", 2).into_task(T0_MS).unwrap();
    let mut item = t.to_item();
    item.remove("started_at");
    item.remove("completed_at");
    item.insert("last_error".into(), Attr::Null);
    put_raw(&h, Table::TaskQueue, vec![item]).await;
    let got = h
        .store
        .tasks
        .get_task("hk", "rev", &t.task_id)
        .await
        .unwrap();
    assert_eq!(got, Some(t.clone()));
    assert_eq!(
        h.store
            .tasks
            .get_pending_tasks(5, PendingOrder::Priority)
            .await
            .unwrap(),
        vec![t.clone()]
    );
    let started = h
        .store
        .tasks
        .start_task("hk", "rev", &t.task_id)
        .await
        .unwrap();
    assert_eq!(started.status, TaskStatus::Running);
    let failed = h
        .store
        .tasks
        .fail_task("hk", "rev", &t.task_id, "e")
        .await
        .unwrap();
    assert_eq!(failed.error_count, 1);
}
register!(task_with_absent_or_null_optionals_reads);

/// A miner record without statistics attributes (never counted) reads with
/// zeros, and `update_statistics` counts from zero.
pub async fn miner_without_counters_counts_from_zero(h: Harness) {
    let mut item = crate::item::Item::new();
    item.insert(PK.into(), Attr::S(keys::miner_pk("old")));
    item.insert(SK.into(), Attr::s(keys::METADATA_SK));
    item.insert("miner_hotkey".into(), Attr::s("old"));
    item.insert("uid".into(), Attr::int(4));
    item.insert("model_hash".into(), Attr::s("h"));
    item.insert("chutes_slug".into(), Attr::Null);
    put_raw(&h, Table::MinerMetadata, vec![item]).await;
    let m = h.store.miners.get_metadata("old").await.unwrap().unwrap();
    assert_eq!(
        (
            m.total_samples,
            m.success_count,
            m.error_count,
            m.consecutive_errors
        ),
        (0, 0, 0, 0)
    );
    assert!(!m.is_paused);
    let m = h
        .store
        .miners
        .update_statistics("old", false, true)
        .await
        .unwrap();
    assert_eq!(
        (
            m.total_samples,
            m.success_count,
            m.error_count,
            m.consecutive_errors
        ),
        (1, 0, 1, 1)
    );
    let m = h
        .store
        .miners
        .update_statistics("old", true, true)
        .await
        .unwrap();
    assert_eq!(
        (
            m.total_samples,
            m.success_count,
            m.error_count,
            m.consecutive_errors
        ),
        (2, 1, 1, 0)
    );
    assert_eq!(m.uid, 4);
    let saved = h
        .store
        .miners
        .save_metadata(super::basics::miner("old", "h2"))
        .await
        .unwrap();
    assert_eq!(saved.total_samples, 2);
}
register!(miner_without_counters_counts_from_zero);

/// A float parameter the original stored as the number `1` reads back as
/// `Float(1.0)`, and the next set continues its version.
pub async fn legacy_float_param_reads_as_float(h: Harness) {
    let mut item = crate::item::Item::new();
    item.insert(PK.into(), Attr::s(keys::CONFIG_PK));
    item.insert(SK.into(), Attr::S(keys::config_sk("ratio")));
    item.insert("param_name".into(), Attr::s("ratio"));
    item.insert("param_value".into(), Attr::N("1".into()));
    item.insert("param_type".into(), Attr::s("float"));
    item.insert("version".into(), Attr::int(5));
    put_raw(&h, Table::SystemConfig, vec![item]).await;
    let p = h.store.config.get_param("ratio").await.unwrap().unwrap();
    assert_eq!(p.param_value, ParamValue::Float(1.0));
    assert_eq!(p.version, 5);
    let p = h
        .store
        .config
        .set_param("ratio", ParamValue::Float(0.5), "", "me")
        .await
        .unwrap();
    assert_eq!(p.version, 6);
}
register!(legacy_float_param_reads_as_float);

/// A parameter the original stored with a `param_type` outside the six (it
/// accepted any string) reads back with its stored value and type name,
/// from `get_param` and in `list_all_configs`; it cannot be set that way.
pub async fn unknown_param_type_reads_back_as_stored(h: Harness) {
    let mut item = crate::item::Item::new();
    item.insert(PK.into(), Attr::s(keys::CONFIG_PK));
    item.insert(SK.into(), Attr::S(keys::config_sk("legacy")));
    item.insert("param_name".into(), Attr::s("legacy"));
    item.insert("param_value".into(), Attr::N("0.75".into()));
    item.insert("param_type".into(), Attr::s("decimal"));
    item.insert("version".into(), Attr::int(3));
    put_raw(&h, Table::SystemConfig, vec![item]).await;
    let p = h.store.config.get_param("legacy").await.unwrap().unwrap();
    assert_eq!(
        p.param_type,
        crate::tables::config::ParamType::Other("decimal".into())
    );
    assert_eq!(
        p.param_value,
        ParamValue::Other {
            param_type: "decimal".into(),
            value: serde_json::from_str("0.75").unwrap(),
        }
    );
    assert_eq!(p.version, 3);
    let list = h.store.config.list_all_configs().await.unwrap();
    assert_eq!(list, vec![p.clone()]);
    let err = h
        .store
        .config
        .set_param("legacy", p.param_value, "", "me")
        .await
        .unwrap_err();
    assert!(matches!(err, crate::Error::InvalidInput { .. }), "{err:?}");
}
register!(unknown_param_type_reads_back_as_stored);
