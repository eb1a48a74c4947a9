//! Key scheme properties (DESIGN §2, §4), pure — no backend: every key
//! built by `keys` parses back to its parts, text order of sample sort keys
//! is (env, time, id) order, prefixes and time bounds select exactly what
//! they should, and key-part validation accepts exactly the valid parts.
//! The backend half (invalid parts rejected before any write on both
//! backends) is `prop_backends::key_scheme_invalid_parts_write_nothing`.

use affine_db::keys;
use affine_db::Error;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};

/// 256 cases unless `PROPTEST_CASES` says otherwise; failing cases kept in
/// `tests/prop_keys.proptest-regressions` and replayed first.
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

/// Valid key parts: printable, no `#`, 1..=40 chars (some multi-byte).
fn part() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.:/ é√-]{1,40}".prop_filter("no edge spaces needed", |s| !s.is_empty())
}

/// Parts whose bytes sort after `#`, as env names do in practice.
fn env_part() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.-]{1,12}"
}

fn ts() -> impl Strategy<Value = i64> {
    prop_oneof![
        0..2_000i64,
        0..=keys::MAX_KEY_TIMESTAMP,
        Just(keys::MAX_KEY_TIMESTAMP)
    ]
}

/// The rule, written independently: non-empty, ≤ 256 bytes, no `#`, no control char.
fn is_valid_part(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && !s.contains('#') && !s.chars().any(char::is_control)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn keys_round_trip(h in part(), r in part(), e in part(), id in part(), t in ts(), block in 0i64..1_000_000_000) {
        prop_assert_eq!(keys::parse_miner_revision_pk(&keys::miner_revision_pk(&h, &r)).unwrap(), (h.clone(), r.clone()));
        let sk = keys::parse_sample_sk(&keys::sample_sk(&e, t, &id)).unwrap();
        prop_assert_eq!((sk.env, sk.timestamp_ms, sk.sample_id), (e.clone(), t, id.clone()));
        prop_assert_eq!(keys::parse_task_sk(&keys::task_sk(&id)).unwrap(), id.clone());
        prop_assert_eq!(keys::parse_miner_pk(&keys::miner_pk(&h)).unwrap(), h.clone());
        prop_assert_eq!(keys::parse_log_sk(&keys::log_sk(t, &id)).unwrap(), (t, id.clone()));
        prop_assert_eq!(keys::parse_score_pk(&keys::score_pk(block)).unwrap(), block);
        prop_assert_eq!(keys::parse_config_sk(&keys::config_sk(&id)).unwrap(), id.clone());
        prop_assert_eq!(keys::parse_retention_pk(&keys::retention_pk(&h)).unwrap(), h);
    }

    #[test]
    fn sample_sort_key_text_order_is_env_time_id_order(
        e1 in env_part(), e2 in env_part(), t1 in ts(), t2 in ts(), i1 in env_part(), i2 in env_part(),
    ) {
        let a = keys::sample_sk(&e1, t1, &i1);
        let b = keys::sample_sk(&e2, t2, &i2);
        prop_assert_eq!(a.cmp(&b), (&e1, t1, &i1).cmp(&(&e2, t2, &i2)), "{} vs {}", a, b);
        // Same env: the time order alone decides, whatever the ids.
        let c = keys::sample_sk(&e1, t2, &i2);
        if t1 != t2 {
            prop_assert_eq!(a.cmp(&c), t1.cmp(&t2));
        }
        // Log sort keys: time order.
        if t1 != t2 {
            prop_assert_eq!(keys::log_sk(t1, &i1).cmp(&keys::log_sk(t2, &i2)), t1.cmp(&t2));
        }
        // Task ids sort by creation ms.
        if t1 != t2 {
            prop_assert_eq!(keys::new_task_id(t1).cmp(&keys::new_task_id(t2)), t1.cmp(&t2));
        }
    }

    #[test]
    fn env_prefix_and_time_bound_select_exactly(e1 in part(), e2 in part(), t in ts(), bound in ts(), id in part()) {
        let sk = keys::sample_sk(&e2, t, &id);
        prop_assert_eq!(sk.starts_with(&keys::sample_sk_env_prefix(&e1)), e1 == e2);
        let b = keys::sample_sk_time_bound(&e2, bound);
        prop_assert_eq!(b.as_str() <= sk.as_str(), bound <= t);
    }

    #[test]
    fn validation_accepts_exactly_valid_parts(s in prop_oneof![
        part(),
        "[a#\\x00-\\x1f\\x7f é]{0,6}",
        (250usize..262).prop_map(|n| "x".repeat(n)),
        (126usize..131).prop_map(|n| "é".repeat(n)),
        any::<String>(),
    ]) {
        match keys::validate_part("part", &s) {
            Ok(()) => prop_assert!(is_valid_part(&s), "accepted {:?}", s),
            Err(e) => {
                prop_assert!(matches!(e, Error::InvalidInput { .. }), "wrong variant {:?}", e);
                prop_assert!(!is_valid_part(&s), "rejected {:?}", s);
            }
        }
    }
}
