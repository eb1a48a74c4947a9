//! `data_retention_policy` state changes: setting a policy (keeping
//! `protected_since` while protected), protecting, unprotecting and
//! recording a cleanup, with the 90-day default for miners without a policy.

use crate::cond::Cond;
use crate::error::{Error, Result};
use crate::item::{Attr, Item};
use crate::keys;
use crate::mutation::{Action, Effect, Rule};
use crate::schema::Table;
use crate::tables::retention::{
    validate_policy, validate_protected_since, RetentionPolicy, DEFAULT_RETENTION_DAYS,
};

const T: Table = Table::DataRetentionPolicy;

/// The validated `(pk, sk)` of a miner's policy.
pub fn policy_key(miner_hotkey: &str) -> Result<(String, String)> {
    keys::validate_part("miner_hotkey", miner_hotkey)?;
    Ok((
        keys::retention_pk(miner_hotkey),
        keys::METADATA_SK.to_string(),
    ))
}

fn policy(item: Option<&Item>) -> Result<RetentionPolicy> {
    RetentionPolicy::from_item(super::returned(T.name(), item)?)
}

fn unconditional(_: Option<&Item>) -> Result<RetentionPolicy> {
    Err(Error::backend(format!(
        "{T}: an unconditional update did not apply"
    )))
}

/// The retention days of a miner's policy: its own, or 90 without one.
pub fn retention_days(policy: Option<&RetentionPolicy>) -> i64 {
    policy.map_or(DEFAULT_RETENTION_DAYS, |p| p.retention_days)
}

fn keep_days() -> Action {
    Action::SetIfAbsent(Attr::int(DEFAULT_RETENTION_DAYS))
}

/// Writing a policy at `now_s`. `retention_days` `None` keeps the stored
/// days (90 without a policy); `last_cleanup_at` is kept. A protected
/// result keeps `protection_reason` as given and `protected_since` as
/// `since` when given, else as stored when the stored policy is protected
/// since some time, else now; an unprotected one clears both.
pub fn write(
    miner_hotkey: &str,
    is_protected: bool,
    protection_reason: Option<String>,
    retention_days: Option<i64>,
    since: Option<i64>,
    now_s: i64,
) -> Result<Rule<RetentionPolicy>> {
    validate_policy(
        miner_hotkey,
        retention_days.unwrap_or(DEFAULT_RETENTION_DAYS),
    )?;
    validate_protected_since(since)?;
    let (pk, sk) = policy_key(miner_hotkey)?;
    let mut base = vec![
        ("miner_hotkey", Action::Set(Attr::s(miner_hotkey))),
        ("is_protected", Action::Set(Attr::Bool(is_protected))),
        ("last_cleanup_at", Action::SetIfAbsent(Attr::Null)),
        (
            "retention_days",
            retention_days.map_or_else(keep_days, |d| Action::Set(Attr::int(d))),
        ),
    ];
    let rule = Rule::new(T, pk, sk, unconditional);
    if !is_protected {
        base.push(("protection_reason", Action::Set(Attr::Null)));
        base.push(("protected_since", Action::Set(Attr::Null)));
        return Ok(rule.branch(Cond::True, Effect::Update(base), policy));
    }
    base.push((
        "protection_reason",
        Action::Set(Attr::opt_s(protection_reason.as_deref())),
    ));
    if let Some(since) = since {
        base.push(("protected_since", Action::Set(Attr::int(since))));
        return Ok(rule.branch(Cond::True, Effect::Update(base), policy));
    }
    let mut since_now = base.clone();
    since_now.push(("protected_since", Action::Set(Attr::int(now_s))));
    Ok(rule
        .branch(
            // Already protected since some time: keep it.
            Cond::eq_bool("is_protected", true).and(Cond::IsNumber("protected_since")),
            Effect::Update(base),
            policy,
        )
        .branch(Cond::True, Effect::Update(since_now), policy))
}

/// Recording a cleanup at `now_s` (creating the default policy if none).
pub fn cleanup_timestamp(miner_hotkey: &str, now_s: i64) -> Result<Rule<RetentionPolicy>> {
    let (pk, sk) = policy_key(miner_hotkey)?;
    Ok(Rule::new(T, pk, sk, unconditional).branch(
        Cond::True,
        Effect::Update(vec![
            ("miner_hotkey", Action::Set(Attr::s(miner_hotkey))),
            ("last_cleanup_at", Action::Set(Attr::int(now_s))),
            ("is_protected", Action::SetIfAbsent(Attr::Bool(false))),
            ("protection_reason", Action::SetIfAbsent(Attr::Null)),
            ("retention_days", keep_days()),
            ("protected_since", Action::SetIfAbsent(Attr::Null)),
        ]),
        policy,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutation::Write;

    fn after(rule: Rule<RetentionPolicy>, current: Option<&RetentionPolicy>) -> RetentionPolicy {
        let item = current.map(RetentionPolicy::to_item);
        let (write, out) = rule.run(item.as_ref()).unwrap();
        assert!(matches!(write, Write::Put(_)));
        out
    }

    #[test]
    fn protected_since_is_kept_while_protected() {
        let p = after(
            write("hk", true, Some("r".into()), None, None, 10).unwrap(),
            None,
        );
        assert_eq!((p.protected_since, p.retention_days), (Some(10), 90));
        let p = after(
            write("hk", true, None, Some(5), None, 20).unwrap(),
            Some(&p),
        );
        assert_eq!((p.protected_since, p.retention_days), (Some(10), 5));
        let p = after(write("hk", false, None, None, None, 30).unwrap(), Some(&p));
        assert_eq!((p.protected_since, p.retention_days), (None, 5));
        let p = after(
            write("hk", true, None, None, Some(3), 40).unwrap(),
            Some(&p),
        );
        assert_eq!(p.protected_since, Some(3));
        let p = after(cleanup_timestamp("hk", 50).unwrap(), Some(&p));
        assert_eq!((p.last_cleanup_at, p.protected_since), (Some(50), Some(3)));
        assert!(write("hk", true, None, Some(-1), None, 0).is_err());
    }
}
