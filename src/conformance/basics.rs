//! Key scheme and input validation.

use super::Harness;
use crate::error::Error;
use crate::tables::samples::NewSample;

/// A sample that passes validation, for tests to vary.
pub fn sample(hotkey: &str, revision: &str, env: &str, timestamp: i64) -> NewSample {
    NewSample {
        sample_id: None,
        timestamp: Some(timestamp),
        miner_hotkey: hotkey.into(),
        model_revision: revision.into(),
        model_hash: "hash".into(),
        uid: 1,
        env: env.into(),
        subset: "subset".into(),
        dataset_index: 0,
        task_id: "task".into(),
        score: 0.5,
        success: true,
        latency_ms: 10,
        conversation: serde_json::json!([{"role": "user", "content": "hi"}]),
        validator_hotkey: "validator".into(),
        block_number: 100,
        signature: "sig".into(),
    }
}

/// Every invalid key part is rejected with `InvalidInput` and nothing is written.
pub async fn key_parts_are_validated_before_writing(h: Harness) {
    for bad in ["", "a#b", "new\nline", &"x".repeat(257)] {
        let err = h
            .store
            .samples
            .save_sample(sample(bad, "rev", "env", 1))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{bad:?}: {err:?}");
    }
    assert!(h.store.samples.list_sample_owners().await.unwrap().is_empty());
}
