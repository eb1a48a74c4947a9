//! `miner_metadata` state changes: saving metadata over a stored record,
//! the statistics counters, pausing and the pause-expired rule.

use crate::cond::{CmpOp, Cond};
use crate::error::{Error, Result};
use crate::item::{Attr, Item};
use crate::keys;
use crate::mutation::{Action, Effect, Rule};
use crate::schema::Table;
use crate::tables::miners::{MinerInfo, MinerMetadata};
use crate::ttl;

const T: Table = Table::MinerMetadata;

/// The validated `(pk, sk)` of a miner's record.
pub fn miner_key(miner_hotkey: &str) -> Result<(String, String)> {
    keys::validate_part("miner_hotkey", miner_hotkey)?;
    Ok((keys::miner_pk(miner_hotkey), keys::METADATA_SK.to_string()))
}

/// An unknown miner.
pub fn not_found(miner_hotkey: &str) -> Error {
    Error::NotFound(format!("miner {miner_hotkey}"))
}

fn record(item: Option<&Item>) -> Result<MinerMetadata> {
    MinerMetadata::from_item(super::returned(T.name(), item)?)
}

fn unconditional(_: Option<&Item>) -> Result<MinerMetadata> {
    Err(Error::backend(format!(
        "{T}: an unconditional update did not apply"
    )))
}

/// Saving `info` at `now_s`: metadata from `info`, statistics and pause
/// state kept from the stored record (zero and unpaused for a new miner),
/// the earliest `first_commit_block` of both (`first_commit_block` defaults
/// to `last_commit_block`, as the original's), `chutes_last_checked` now
/// unless given, `updated_at` now.
pub fn save(info: MinerInfo, now_s: i64) -> Result<Rule<MinerMetadata>> {
    info.validate()?;
    let (pk, sk) = miner_key(&info.miner_hotkey)?;
    let mut base = vec![
        ("miner_hotkey", Action::Set(Attr::s(&info.miner_hotkey))),
        ("uid", Action::Set(Attr::int(info.uid))),
        (
            "current_revision",
            Action::Set(Attr::s(&info.current_revision)),
        ),
        ("model_hash", Action::Set(Attr::s(&info.model_hash))),
        ("model_name", Action::Set(Attr::s(&info.model_name))),
        (
            "chutes_slug",
            Action::Set(Attr::opt_s(info.chutes_slug.as_deref())),
        ),
        (
            "chutes_status",
            Action::Set(Attr::s(info.chutes_status.as_str())),
        ),
        (
            "chutes_last_checked",
            Action::Set(Attr::int(info.chutes_last_checked.unwrap_or(now_s))),
        ),
        (
            "last_commit_block",
            Action::Set(Attr::opt_int(info.last_commit_block)),
        ),
        ("updated_at", Action::Set(Attr::int(now_s))),
        ("total_samples", Action::SetIfAbsent(Attr::int(0))),
        ("success_count", Action::SetIfAbsent(Attr::int(0))),
        ("error_count", Action::SetIfAbsent(Attr::int(0))),
        ("last_sample_time", Action::SetIfAbsent(Attr::Null)),
        ("is_paused", Action::SetIfAbsent(Attr::Bool(false))),
        ("pause_reason", Action::SetIfAbsent(Attr::Null)),
        ("pause_until", Action::SetIfAbsent(Attr::Null)),
        ("consecutive_errors", Action::SetIfAbsent(Attr::int(0))),
    ];
    let mut rule = Rule::new(T, pk, sk, unconditional);
    if let Some(first) = info.first_commit_block.or(info.last_commit_block) {
        // Earlier than what is stored (or nothing stored): take it.
        let mut earlier = base.clone();
        earlier.push(("first_commit_block", Action::Set(Attr::int(first))));
        rule = rule.branch(
            Cond::Or(vec![
                Cond::Null("first_commit_block"),
                Cond::Cmp("first_commit_block", CmpOp::Gt, first),
            ]),
            Effect::Update(earlier),
            record,
        );
    }
    base.push(("first_commit_block", Action::SetIfAbsent(Attr::Null)));
    Ok(rule.branch(Cond::True, Effect::Update(base), record))
}

/// A change of an existing miner; `NotFound` without one.
fn change(
    miner_hotkey: &str,
    now_s: i64,
    actions: Vec<(&'static str, Action)>,
) -> Result<Rule<MinerMetadata>> {
    let (pk, sk) = miner_key(miner_hotkey)?;
    let hotkey = miner_hotkey.to_string();
    Ok(
        Rule::new(T, pk, sk, move |_| Err(not_found(&hotkey))).branch(
            ttl::live(T, now_s),
            Effect::Update(actions),
            record,
        ),
    )
}

/// Counting one sample at `now_s`: `total_samples` + 1 (when
/// `increment_samples`), `success_count` or `error_count` + 1,
/// `consecutive_errors` reset on success or + 1 on failure,
/// `last_sample_time` = now. Atomic counters, so no update is lost.
pub fn statistics(
    miner_hotkey: &str,
    success: bool,
    increment_samples: bool,
    now_s: i64,
) -> Result<Rule<MinerMetadata>> {
    let mut actions = vec![("last_sample_time", Action::Set(Attr::int(now_s)))];
    if increment_samples {
        actions.push(("total_samples", Action::Add(1)));
    }
    if success {
        actions.push(("success_count", Action::Add(1)));
        actions.push(("consecutive_errors", Action::Set(Attr::int(0))));
    } else {
        actions.push(("error_count", Action::Add(1)));
        actions.push(("consecutive_errors", Action::Add(1)));
    }
    change(miner_hotkey, now_s, actions)
}

/// Pausing at `now_s`, until now + `duration_s` or until unpaused. A
/// negative duration is an input error.
pub fn pause(
    miner_hotkey: &str,
    reason: &str,
    duration_s: Option<i64>,
    now_s: i64,
) -> Result<Rule<MinerMetadata>> {
    if let Some(d) = duration_s.filter(|d| *d < 0) {
        return Err(Error::invalid("duration_s", format!("{d} is negative")));
    }
    change(
        miner_hotkey,
        now_s,
        vec![
            ("is_paused", Action::Set(Attr::Bool(true))),
            ("pause_reason", Action::Set(Attr::s(reason))),
            (
                "pause_until",
                Action::Set(Attr::opt_int(duration_s.map(|d| now_s.saturating_add(d)))),
            ),
        ],
    )
}

fn unpaused() -> Vec<(&'static str, Action)> {
    vec![
        ("is_paused", Action::Set(Attr::Bool(false))),
        ("pause_reason", Action::Set(Attr::Null)),
        ("pause_until", Action::Set(Attr::Null)),
    ]
}

/// Clearing the pause state.
pub fn unpause(miner_hotkey: &str, now_s: i64) -> Result<Rule<MinerMetadata>> {
    change(miner_hotkey, now_s, unpaused())
}

/// The pause-expired rule at `now_s`: a paused miner whose `pause_until`
/// is at or before now is unpaused; whether it was.
pub fn pause_expired(miner_hotkey: &str, now_s: i64) -> Result<Rule<bool>> {
    let (pk, sk) = miner_key(miner_hotkey)?;
    Ok(Rule::new(T, pk, sk, |_| Ok(false)).branch(
        ttl::live(T, now_s)
            .and(Cond::eq_bool("is_paused", true))
            .and(Cond::Cmp("pause_until", CmpOp::Le, now_s)),
        Effect::Update(unpaused()),
        |_| Ok(true),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutation::Write;

    fn put(write: Write) -> MinerMetadata {
        match write {
            Write::Put(item) => MinerMetadata::from_item(&item).unwrap(),
            other => panic!("expected a put, got {other:?}"),
        }
    }

    #[test]
    fn counters_and_pause_expiry() {
        let info = MinerInfo {
            miner_hotkey: "hk".into(),
            first_commit_block: Some(9),
            ..Default::default()
        };
        let m = put(save(info.clone(), 5).unwrap().run(None).unwrap().0);
        assert_eq!((m.first_commit_block, m.total_samples), (Some(9), 0));
        let failed = put(statistics("hk", false, true, 6)
            .unwrap()
            .run(Some(&m.to_item()))
            .unwrap()
            .0);
        assert_eq!((failed.consecutive_errors, failed.error_count), (1, 1));
        let ok = put(statistics("hk", true, false, 7)
            .unwrap()
            .run(Some(&failed.to_item()))
            .unwrap()
            .0);
        assert_eq!((ok.consecutive_errors, ok.total_samples), (0, 1));
        let later = MinerInfo {
            first_commit_block: Some(12),
            ..info
        };
        let kept = put(save(later, 8).unwrap().run(Some(&ok.to_item())).unwrap().0);
        assert_eq!((kept.first_commit_block, kept.success_count), (Some(9), 1));
        assert!(pause("hk", "x", Some(-1), 0).is_err());
        let paused = put(pause("hk", "x", Some(10), 8)
            .unwrap()
            .run(Some(&kept.to_item()))
            .unwrap()
            .0);
        let rule = pause_expired("hk", 17).unwrap();
        assert!(!rule.run(Some(&paused.to_item())).unwrap().1);
        let rule = pause_expired("hk", 18).unwrap();
        assert!(rule.run(Some(&paused.to_item())).unwrap().1);
        assert!(matches!(
            statistics("nobody", true, true, 0).unwrap().run(None),
            Err(Error::NotFound(_))
        ));
    }
}
