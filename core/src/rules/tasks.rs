//! `task_queue` state changes and filters: the claim (pending→running, or
//! removal of a stale task), failures, completion and requeues, each with
//! the outcome callers get (`NotFound` for a missing or expired task,
//! `Conflict` for one that is not pending).

use crate::cond::{CmpOp, Cond};
use crate::error::{Error, Result};
use crate::item::{Attr, Item};
use crate::keys;
use crate::mutation::{Action, Effect, Rule};
use crate::schema::{Table, PK};
use crate::tables::tasks::{validate_task_key, Claim, Task, TaskStatus};
use crate::ttl;

const T: Table = Table::TaskQueue;

/// The validated `(pk, sk)` of a task.
pub fn task_key(
    miner_hotkey: &str,
    model_revision: &str,
    task_id: &str,
) -> Result<(String, String)> {
    validate_task_key(miner_hotkey, model_revision, task_id)?;
    Ok((
        keys::miner_revision_pk(miner_hotkey, model_revision),
        keys::task_sk(task_id),
    ))
}

/// The partition of one miner and revision's tasks, validated.
pub fn partition(miner_hotkey: &str, model_revision: &str) -> Result<String> {
    keys::validate_part("miner_hotkey", miner_hotkey)?;
    keys::validate_part("model_revision", model_revision)?;
    Ok(keys::miner_revision_pk(miner_hotkey, model_revision))
}

/// A missing or expired task.
pub fn not_found(task_id: &str) -> Error {
    Error::NotFound(format!("task {task_id} (missing or expired)"))
}

/// A live task that is not pending.
pub fn not_pending(task: &Task) -> Error {
    Error::Conflict(format!(
        "task {} is {}, not pending",
        task.task_id, task.status
    ))
}

fn status_is(status: TaskStatus) -> Cond {
    Cond::eq_s("status", status.as_str())
}

fn task_of(item: Option<&Item>) -> Result<Task> {
    Task::from_item(super::returned(T.name(), item)?)
}

/// What no branch of a claim or failure applies to: `NotFound` unless the
/// stored task is live, else `Conflict` (it is not pending).
fn missing_or_not_pending(
    task_id: &str,
    now_s: i64,
) -> impl Fn(Option<&Item>) -> Result<Claim> + Send + Sync + 'static {
    let task_id = task_id.to_string();
    move |current| match current.filter(|i| ttl::is_live_item(T, i, now_s)) {
        None => Err(not_found(&task_id)),
        Some(item) => Err(not_pending(&Task::from_item(item)?)),
    }
}

/// The claim at `now_s`: a live pending task becomes `running` with
/// `started_at` = now. With `current_model_hash`, only a task of that hash
/// is started, and a live task of another hash is deleted
/// ([`Claim::Stale`]). A missing or expired task is `NotFound`, a live one
/// that is not pending `Conflict`.
pub fn claim(
    miner_hotkey: &str,
    model_revision: &str,
    task_id: &str,
    current_model_hash: Option<&str>,
    now_s: i64,
) -> Result<Rule<Claim>> {
    let (pk, sk) = task_key(miner_hotkey, model_revision, task_id)?;
    let live = ttl::live(T, now_s);
    let mut start = live.clone().and(status_is(TaskStatus::Pending));
    if let Some(hash) = current_model_hash {
        start = start.and(Cond::eq_s("model_hash", hash));
    }
    let mut rule = Rule::new(T, pk, sk, missing_or_not_pending(task_id, now_s)).branch(
        start,
        Effect::Update(vec![
            ("status", Action::Set(Attr::s(TaskStatus::Running.as_str()))),
            ("started_at", Action::Set(Attr::int(now_s))),
        ]),
        |new| task_of(new).map(Claim::Started),
    );
    if let Some(hash) = current_model_hash {
        rule = rule.branch(
            live.and(Cond::eq_s("model_hash", hash).not()),
            Effect::Delete,
            |_| Ok(Claim::Stale),
        );
    }
    Ok(rule)
}

/// The failure at `now_s` of a live task (whatever its status): `failed`,
/// `error_count` + 1, `last_error`, `completed_at` = now. `NotFound` when
/// there is no live task.
pub fn fail(
    miner_hotkey: &str,
    model_revision: &str,
    task_id: &str,
    error: &str,
    now_s: i64,
) -> Result<Rule<Task>> {
    let (pk, sk) = task_key(miner_hotkey, model_revision, task_id)?;
    let id = task_id.to_string();
    Ok(Rule::new(T, pk, sk, move |_| Err(not_found(&id))).branch(
        ttl::live(T, now_s),
        Effect::Update(vec![
            ("status", Action::Set(Attr::s(TaskStatus::Failed.as_str()))),
            ("last_error", Action::Set(Attr::s(error))),
            ("completed_at", Action::Set(Attr::int(now_s))),
            ("error_count", Action::Add(1)),
        ]),
        task_of,
    ))
}

/// Completion: the task is deleted (live or not); the outcome says whether
/// a live one existed.
pub fn complete(
    miner_hotkey: &str,
    model_revision: &str,
    task_id: &str,
    now_s: i64,
) -> Result<Rule<bool>> {
    let (pk, sk) = task_key(miner_hotkey, model_revision, task_id)?;
    Ok(
        Rule::new(T, pk, sk, |_| Ok(false)).branch(Cond::True, Effect::Delete, move |old| {
            Ok(old.is_some_and(|i| ttl::is_live_item(T, i, now_s)))
        }),
    )
}

/// The cut-off of [`requeue`]: tasks started at or before it are stale.
/// A negative timeout is an input error.
pub fn requeue_cutoff(now_s: i64, timeout_s: i64) -> Result<i64> {
    if timeout_s < 0 {
        return Err(Error::invalid(
            "timeout_s",
            format!("{timeout_s} is negative"),
        ));
    }
    Ok(now_s.saturating_sub(timeout_s))
}

/// Live tasks `running` since at or before `cutoff`: what a requeue resets.
pub fn stale_running(now_s: i64, cutoff: i64) -> Cond {
    ttl::unexpired(T, now_s)
        .and(status_is(TaskStatus::Running))
        .and(Cond::Cmp("started_at", CmpOp::Le, cutoff))
}

/// Puts `task` back to `pending` (clearing `started_at`) if it is still
/// live and running since at or before `cutoff`; whether it did.
pub fn requeue(task: &Task, now_s: i64, cutoff: i64) -> Rule<bool> {
    Rule::new(T, task.pk(), task.sk(), |_| Ok(false)).branch(
        Cond::Exists.and(stale_running(now_s, cutoff)),
        Effect::Update(vec![
            ("status", Action::Set(Attr::s(TaskStatus::Pending.as_str()))),
            ("started_at", Action::Set(Attr::Null)),
        ]),
        |_| Ok(true),
    )
}

/// Live tasks of `status` (across miners) at `now_s`.
pub fn with_status(status: TaskStatus, now_s: i64) -> Cond {
    ttl::unexpired(T, now_s).and(status_is(status))
}

/// Live tasks of partition `pk`, of `status` when given, at `now_s`.
pub fn of_partition(pk: &str, status: Option<TaskStatus>, now_s: i64) -> Cond {
    let c = Cond::eq_s(PK, pk).and(ttl::unexpired(T, now_s));
    match status {
        Some(s) => c.and(status_is(s)),
        None => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutation::Write;
    use crate::tables::tasks::NewTask;

    fn stored(status: TaskStatus, hash: &str) -> (Task, Item) {
        let mut t = NewTask {
            miner_hotkey: "hk".into(),
            model_revision: "r".into(),
            model_hash: hash.into(),
            env: "E".into(),
            ..Default::default()
        }
        .into_task(1_000_000)
        .unwrap();
        t.status = status;
        let item = t.to_item();
        (t, item)
    }

    #[test]
    fn claim_outcomes() {
        let (t, item) = stored(TaskStatus::Pending, "h");
        let now = t.created_at;
        let rule = claim("hk", "r", &t.task_id, Some("h"), now).unwrap();
        let (write, out) = rule.run(Some(&item)).unwrap();
        assert!(matches!(write, Write::Put(_)));
        assert!(matches!(out, Claim::Started(s) if s.status == TaskStatus::Running));
        let rule = claim("hk", "r", &t.task_id, Some("other"), now).unwrap();
        assert_eq!(
            rule.run(Some(&item)).unwrap(),
            (Write::Delete, Claim::Stale)
        );
        let (_, running) = stored(TaskStatus::Running, "h");
        let rule = claim("hk", "r", &t.task_id, None, now).unwrap();
        assert!(matches!(rule.run(Some(&running)), Err(Error::Conflict(_))));
        assert!(matches!(rule.run(None), Err(Error::NotFound(_))));
        let expired = claim("hk", "r", &t.task_id, None, t.ttl).unwrap();
        assert!(matches!(expired.run(Some(&item)), Err(Error::NotFound(_))));
    }

    #[test]
    fn requeue_and_failure() {
        assert!(requeue_cutoff(10, -1).is_err());
        let (mut t, _) = stored(TaskStatus::Running, "h");
        t.started_at = Some(t.created_at);
        let item = t.to_item();
        let cutoff = requeue_cutoff(t.created_at + 5, 5).unwrap();
        let (write, done) = requeue(&t, t.created_at + 5, cutoff)
            .run(Some(&item))
            .unwrap();
        assert!(done);
        let Write::Put(new) = write else {
            panic!("expected a put")
        };
        assert_eq!(Task::from_item(&new).unwrap().started_at, None);
        assert!(
            !requeue(&t, t.created_at + 5, cutoff - 1)
                .run(Some(&item))
                .unwrap()
                .1
        );
        let failed = fail("hk", "r", &t.task_id, "x", t.created_at)
            .unwrap()
            .run(Some(&item))
            .unwrap()
            .1;
        assert_eq!((failed.status, failed.error_count), (TaskStatus::Failed, 1));
    }
}
