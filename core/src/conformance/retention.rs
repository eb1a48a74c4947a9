//! `data_retention_policy`: policies, protection, cleanup stamps, listings.

use super::basics::{assert_store_empty, at_s};
use super::Harness;
use crate::clock::Clock;
use crate::error::Error;
use crate::register;
use crate::tables::retention::DEFAULT_RETENTION_DAYS;

/// Without a policy a miner is unprotected and `get_policy` is `None`.
pub async fn no_policy_means_unprotected(h: Harness) {
    assert_eq!(h.store.retention.get_policy("hk").await.unwrap(), None);
    assert!(!h.store.retention.is_protected("hk").await.unwrap());
    assert!(h
        .store
        .retention
        .get_all_policies()
        .await
        .unwrap()
        .is_empty());
    assert!(h
        .store
        .retention
        .get_protected_miners()
        .await
        .unwrap()
        .is_empty());
}
register!(no_policy_means_unprotected);

/// `set_policy` keeps `protected_since` while the miner stays protected,
/// clears it (and the reason) when unprotected, and sets it anew when
/// protected again.
pub async fn set_policy_tracks_protected_since(h: Harness) {
    let p = h
        .store
        .retention
        .set_policy("hk", true, Some("top".into()), 30)
        .await
        .unwrap();
    let t0 = h.clock.now_s();
    assert!(p.is_protected);
    assert_eq!(p.protected_since, Some(t0));
    assert_eq!(p.protection_reason.as_deref(), Some("top"));
    assert_eq!(p.retention_days, 30);
    assert_eq!(p.last_cleanup_at, None);
    assert_eq!(h.store.retention.get_policy("hk").await.unwrap(), Some(p));
    assert!(h.store.retention.is_protected("hk").await.unwrap());
    at_s(&h, 100);
    let p = h
        .store
        .retention
        .set_policy("hk", true, Some("still top".into()), 45)
        .await
        .unwrap();
    assert_eq!(p.protected_since, Some(t0), "kept while protected");
    assert_eq!(
        (p.protection_reason.as_deref(), p.retention_days),
        (Some("still top"), 45)
    );
    at_s(&h, 200);
    let p = h
        .store
        .retention
        .set_policy("hk", false, Some("ignored".into()), 10)
        .await
        .unwrap();
    assert!(!p.is_protected);
    assert_eq!((p.protected_since, p.protection_reason), (None, None));
    assert_eq!(p.retention_days, 10);
    assert!(!h.store.retention.is_protected("hk").await.unwrap());
    at_s(&h, 300);
    let p = h
        .store
        .retention
        .set_policy("hk", true, None, 10)
        .await
        .unwrap();
    assert_eq!(p.protected_since, Some(h.clock.now_s()));
    assert_eq!(h.store.retention.get_policy("hk").await.unwrap(), Some(p));
}
register!(set_policy_tracks_protected_since);

/// `set_protected` with an explicit `protected_since` stores it, also over
/// an existing protection; a negative one is rejected and writes nothing.
pub async fn set_protected_with_an_explicit_since(h: Harness) {
    let r = &h.store.retention;
    at_s(&h, 100);
    let p = r.set_protected("hk", "rank 1", Some(1_000)).await.unwrap();
    assert_eq!(p.protected_since, Some(1_000));
    let p = r.set_protected("hk", "rank 2", None).await.unwrap();
    assert_eq!(p.protected_since, Some(1_000), "kept while protected");
    let p = r.set_protected("hk", "rank 3", Some(2_000)).await.unwrap();
    assert_eq!(p.protected_since, Some(2_000));
    assert_eq!(r.get_policy("hk").await.unwrap(), Some(p));
    assert!(matches!(
        r.set_protected("other", "x", Some(-1)).await,
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(r.get_policy("other").await.unwrap(), None);
}
register!(set_protected_with_an_explicit_since);

/// `set_protected` and `set_unprotected` keep the retention days (90 for
/// a miner without a policy) and `protected_since` while protected.
pub async fn set_protected_and_unprotected_keep_retention_days(h: Harness) {
    let p = h
        .store
        .retention
        .set_protected("fresh", "top-3", None)
        .await
        .unwrap();
    assert!(p.is_protected);
    assert_eq!(p.retention_days, DEFAULT_RETENTION_DAYS);
    assert_eq!(p.protection_reason.as_deref(), Some("top-3"));
    assert_eq!(p.protected_since, Some(h.clock.now_s()));

    h.store
        .retention
        .set_policy("hk", false, None, 14)
        .await
        .unwrap();
    at_s(&h, 10);
    let p = h
        .store
        .retention
        .set_protected("hk", "manual", None)
        .await
        .unwrap();
    assert!(p.is_protected);
    assert_eq!(p.retention_days, 14);
    let since = p.protected_since;
    assert_eq!(since, Some(h.clock.now_s()));
    at_s(&h, 20);
    let p = h
        .store
        .retention
        .set_protected("hk", "again", None)
        .await
        .unwrap();
    assert_eq!(p.protected_since, since);
    assert_eq!(p.protection_reason.as_deref(), Some("again"));
    let p = h.store.retention.set_unprotected("hk").await.unwrap();
    assert!(!p.is_protected);
    assert_eq!((p.retention_days, p.protected_since), (14, None));
    assert_eq!(h.store.retention.get_policy("hk").await.unwrap(), Some(p));
    let p = h.store.retention.set_unprotected("nobody").await.unwrap();
    assert!(!p.is_protected);
    assert_eq!(p.retention_days, DEFAULT_RETENTION_DAYS);
}
register!(set_protected_and_unprotected_keep_retention_days);

/// `update_cleanup_timestamp` records now (creating a default policy when
/// there is none), and later policy changes keep it.
pub async fn update_cleanup_timestamp_records_now(h: Harness) {
    at_s(&h, 5);
    let p = h
        .store
        .retention
        .update_cleanup_timestamp("new")
        .await
        .unwrap();
    assert_eq!(p.last_cleanup_at, Some(h.clock.now_s()));
    assert!(!p.is_protected);
    assert_eq!(p.retention_days, DEFAULT_RETENTION_DAYS);
    assert_eq!(
        h.store.retention.get_policy("new").await.unwrap(),
        Some(p.clone())
    );

    h.store
        .retention
        .set_policy("hk", true, Some("r".into()), 7)
        .await
        .unwrap();
    at_s(&h, 50);
    let q = h
        .store
        .retention
        .update_cleanup_timestamp("hk")
        .await
        .unwrap();
    assert_eq!(q.last_cleanup_at, Some(h.clock.now_s()));
    assert!(q.is_protected);
    assert_eq!(q.retention_days, 7);
    let r = h
        .store
        .retention
        .set_policy("hk", false, None, 3)
        .await
        .unwrap();
    assert_eq!(r.last_cleanup_at, q.last_cleanup_at);
    let r = h
        .store
        .retention
        .set_protected("hk", "x", None)
        .await
        .unwrap();
    assert_eq!(r.last_cleanup_at, q.last_cleanup_at);
}
register!(update_cleanup_timestamp_records_now);

/// `get_all_policies` and `get_protected_miners` list by hotkey.
pub async fn policies_listed_by_hotkey(h: Harness) {
    for (hk, protected) in [
        ("d", true),
        ("a", false),
        ("c", true),
        ("B", true),
        ("e", false),
    ] {
        h.store
            .retention
            .set_policy(hk, protected, None, 30)
            .await
            .unwrap();
    }
    let all = h.store.retention.get_all_policies().await.unwrap();
    let keys: Vec<&str> = all.iter().map(|p| p.miner_hotkey.as_str()).collect();
    assert_eq!(keys, ["B", "a", "c", "d", "e"]);
    let protected = h.store.retention.get_protected_miners().await.unwrap();
    let keys: Vec<&str> = protected.iter().map(|p| p.miner_hotkey.as_str()).collect();
    assert_eq!(keys, ["B", "c", "d"]);
    assert!(protected.iter().all(|p| p.is_protected));
}
register!(policies_listed_by_hotkey);

/// Negative retention days and bad hotkeys are input errors; nothing is
/// written and an existing policy is unchanged.
pub async fn invalid_policies_rejected(h: Harness) {
    for days in [-1, -90] {
        let err = h
            .store
            .retention
            .set_policy("hk", false, None, days)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{days}: {err:?}");
    }
    let err = h
        .store
        .retention
        .set_policy("a#b", true, None, 5)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert_store_empty(&h).await;
    let p = h
        .store
        .retention
        .set_policy("hk", true, None, 5)
        .await
        .unwrap();
    let err = h
        .store
        .retention
        .set_policy("hk", false, None, -5)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert_eq!(h.store.retention.get_policy("hk").await.unwrap(), Some(p));
    let zero = h
        .store
        .retention
        .set_policy("z", false, None, 0)
        .await
        .unwrap();
    assert_eq!(zero.retention_days, 0);
}
register!(invalid_policies_rejected);
