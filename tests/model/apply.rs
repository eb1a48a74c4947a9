//! How an [`Op`] runs: [`resolve`] makes what depends on the model's state
//! concrete (limits at the match count, clock moves onto TTLs and pause
//! ends), once, so every world gets the same op; [`apply`] runs it on one
//! world, placing ranges, windows and cut-offs on what that world's
//! registry saved (the same in every world), and normalizes the whole
//! result into an [`Outcome`]; [`final_reads`] reads every table after
//! each sequence.

use std::collections::BTreeMap;

use affine_db::rules;
use affine_db::tables::config::ParamValue;
use affine_db::tables::logs::{LogStatus, NewLog};
use affine_db::tables::miners::{ChutesStatus, MinerInfo};
use affine_db::tables::samples::{Conversation, MinerSamplesQuery, SampleKey};
use affine_db::tables::scores::Score;
use affine_db::tables::tasks::{Claim, NewTask, PendingOrder, TaskStatus};
use affine_db::ttl;
use affine_db::{Result, Store};

use super::harness::World;
use super::ops::*;

fn hk(i: u8) -> &'static str {
    HKS[i as usize % 3]
}
fn rev(i: u8) -> &'static str {
    REVS[i as usize % 2]
}
fn env(i: u8) -> &'static str {
    ENVS[i as usize % 3]
}
fn score_hk(i: u8) -> &'static str {
    SCORE_HKS[i as usize % SCORE_HKS.len()]
}
fn block(i: u8) -> i64 {
    BLOCKS[i as usize % BLOCKS.len()]
}
fn conv(c: bool) -> Conversation {
    if c {
        Conversation::Include
    } else {
        Conversation::Skip
    }
}
fn status(i: u8) -> TaskStatus {
    [TaskStatus::Pending, TaskStatus::Running, TaskStatus::Failed][i as usize % 3]
}
fn order(by_priority: bool) -> PendingOrder {
    if by_priority {
        PendingOrder::Priority
    } else {
        PendingOrder::Age
    }
}
fn log_status(failed: Option<bool>) -> Option<LogStatus> {
    failed.map(|f| {
        if f {
            LogStatus::Failed
        } else {
            LogStatus::Success
        }
    })
}
fn limit_of(l: Limit) -> usize {
    match l {
        Limit::At(n) => n,
        // Resolved before any world runs the op.
        Limit::Matches(_) => usize::MAX,
    }
}
fn opt_limit(l: Option<Limit>) -> Option<usize> {
    l.map(limit_of)
}

/// `limit` with a match count resolved: `count + delta`, at least 0.
async fn at_count<F>(limit: Limit, count: F) -> Limit
where
    F: std::future::Future<Output = Result<usize>>,
{
    match limit {
        Limit::At(n) => Limit::At(n),
        Limit::Matches(d) => {
            let n = count.await.unwrap_or(0) as i64 + i64::from(d);
            Limit::At(usize::try_from(n.max(0)).unwrap_or(0))
        }
    }
}

async fn opt_at_count<F>(limit: Option<Limit>, count: F) -> Option<Limit>
where
    F: std::future::Future<Output = Result<usize>>,
{
    match limit {
        None => None,
        Some(l) => Some(at_count(l, count).await),
    }
}

/// The concrete `(env, start_ms, end_ms)` of a range at `now_ms`.
fn range_ms(reg: &Registry, e: u8, range: Range, now_ms: i64) -> (String, i64, i64) {
    match range {
        Range::Ages(from, to) => (
            env(e).to_string(),
            now_ms - AGES[from as usize % AGES.len()],
            now_ms - AGES[to as usize % AGES.len()],
        ),
        Range::AroundSample { k, start, end } => match reg.sample(k) {
            Some(s) => (s.env.clone(), s.timestamp + start, s.timestamp + end),
            None => (env(e).to_string(), now_ms + start, now_ms + end),
        },
        Range::Ms(start, end) => (env(e).to_string(), start, end),
        Range::Span => {
            let ts: Vec<i64> = reg
                .samples
                .iter()
                .filter(|s| s.env == env(e))
                .map(|s| s.timestamp)
                .collect();
            (
                env(e).to_string(),
                ts.iter().copied().min().unwrap_or(now_ms),
                ts.iter().copied().max().unwrap_or(now_ms),
            )
        }
    }
}

/// `op` with its limits made concrete against the model world's state, and
/// where a clock op moves time (ms; never backwards). Every world then runs
/// the same op.
pub async fn resolve(op: &Op, model: &World) -> (Option<i64>, Op) {
    let now = model.clock_now_ms();
    let reg = &model.reg;
    let s = &model.store;
    // The k-th soonest of the moments still ahead (so the move lands on
    // one), else the k-th of all; with its index, so the op reads that item.
    let pick = |moments: Vec<i64>, k: u8| -> Option<(u8, i64)> {
        let mut ahead: Vec<(usize, i64)> = moments
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, t)| *t >= now)
            .collect();
        ahead.sort_by_key(|(i, t)| (*t, *i));
        let all: Vec<(usize, i64)> = moments.into_iter().enumerate().collect();
        let from = if ahead.is_empty() { all } else { ahead };
        if from.is_empty() {
            return None;
        }
        let (i, t) = from[k as usize % from.len()];
        Some((u8::try_from(i).unwrap_or(u8::MAX), t))
    };
    let (target, op) = match op {
        Op::Advance(ms) => (Some(now + ms), op.clone()),
        Op::ToTaskTtl(k, d) => {
            let ms = reg.tasks.iter().map(|t| (t.ttl + d) * 1000).collect();
            match pick(ms, *k) {
                Some((i, t)) => (Some(t), Op::ToTaskTtl(i, *d)),
                None => (None, op.clone()),
            }
        }
        Op::ToLogTtl(k, d) => {
            let ms = reg.logs.iter().map(|l| (l.ttl + d) * 1000).collect();
            match pick(ms, *k) {
                Some((i, t)) => (Some(t), Op::ToLogTtl(i, *d)),
                None => (None, op.clone()),
            }
        }
        Op::ToScoreTtl(k, d) => {
            let ms = reg
                .score_writes
                .iter()
                .map(|w| (w.ttl + d) * 1000)
                .collect();
            match pick(ms, *k) {
                Some((i, t)) => (Some(t), Op::ToScoreTtl(i, *d)),
                None => (None, op.clone()),
            }
        }
        Op::ToCutoff(k, days, d) => {
            let ms = reg
                .samples
                .iter()
                .map(|s| s.timestamp + days * DAY_MS + d)
                .collect();
            match pick(ms, *k) {
                Some((i, t)) => (Some(t), Op::ToCutoff(i, *days, *d)),
                None => (None, op.clone()),
            }
        }
        Op::ToPauseEnd(h, d) => {
            let m = s.miners.get_metadata(hk(*h)).await.ok().flatten();
            (
                m.and_then(|m| m.pause_until).map(|u| (u + d) * 1000),
                op.clone(),
            )
        }
        _ => {
            return (None, resolve_params(op, model, now).await);
        }
    };
    (Some(target.map_or(now, |t| t.max(now))), op)
}

async fn resolve_params(op: &Op, model: &World, now: i64) -> Op {
    let reg = &model.reg;
    let s = &model.store;
    match op.clone() {
        Op::Pending(limit, p) => {
            let count = async { Ok(s.tasks.get_pending_tasks(usize::MAX, order(p)).await?.len()) };
            Op::Pending(at_count(limit, count).await, p)
        }
        Op::TasksByMiner {
            hk: h,
            rev: r,
            status: st,
            limit,
        } => {
            let count = async {
                Ok(s.tasks
                    .get_tasks_by_miner(hk(h), rev(r), st.map(status), None)
                    .await?
                    .len())
            };
            Op::TasksByMiner {
                hk: h,
                rev: r,
                status: st,
                limit: opt_at_count(limit, count).await,
            }
        }
        Op::ByMiner {
            hk: h,
            rev: r,
            env: e,
            limit,
            newest,
            conv: c,
        } => {
            let q = MinerSamplesQuery {
                env: e.map(|e| env(e).to_string()),
                conversation: Conversation::Skip,
                ..Default::default()
            };
            let count = async {
                Ok(s.samples
                    .get_samples_by_miner(hk(h), rev(r), &q)
                    .await?
                    .len())
            };
            Op::ByMiner {
                hk: h,
                rev: r,
                env: e,
                limit: opt_at_count(limit, count).await,
                newest,
                conv: c,
            }
        }
        Op::ByEnv {
            env: e,
            range,
            limit,
            conv: c,
        } => {
            let (name, start, end) = range_ms(reg, e, range, now);
            let count = async {
                Ok(s.samples
                    .get_samples_by_env(&name, start, end, None, Conversation::Skip)
                    .await?
                    .len())
            };
            Op::ByEnv {
                env: e,
                range,
                limit: opt_at_count(limit, count).await,
                conv: c,
            }
        }
        Op::Recent {
            hk: h,
            limit,
            status: st,
        } => {
            let count = async {
                Ok(s.logs
                    .get_recent_logs(hk(h), usize::MAX, log_status(st))
                    .await?
                    .len())
            };
            Op::Recent {
                hk: h,
                limit: at_count(limit, count).await,
                status: st,
            }
        }
        Op::Consecutive(h, limit) => {
            let count = async { Ok(s.logs.get_recent_logs(hk(h), usize::MAX, None).await?.len()) };
            Op::Consecutive(h, at_count(limit, count).await)
        }
        Op::History(h, limit) => {
            let count = async {
                let mut n = 0;
                for b in BLOCKS {
                    if !s.scores.get_scores_at_block(b).await?.is_empty() {
                        n += 1;
                    }
                }
                Ok(n)
            };
            Op::History(h, at_count(limit, count).await)
        }
        other => other,
    }
}

/// A window's miner and length in seconds at `now_s`.
fn window(reg: &Registry, h: u8, w: Window, now_s: i64) -> (&'static str, i64) {
    match w {
        Window::Secs(s) => (hk(h), s),
        Window::AtLog(k, d) => match reg.live_log(k, now_s) {
            // The window starts (now - length) at the log's timestamp + d.
            Some(l) => (
                HKS.iter().find(|x| **x == l.hk).copied().unwrap_or(HKS[0]),
                now_s - (l.timestamp + d),
            ),
            None => (hk(h), 0),
        },
    }
}
fn score_row(block_number: i64, hotkey: &str, s: f64, h: u8) -> Score {
    let mut by_env = BTreeMap::new();
    by_env.insert("SAT".to_string(), s);
    by_env.insert("ABD".to_string(), 0.1 + f64::from(h));
    Score {
        block_number,
        miner_hotkey: hotkey.to_string(),
        uid: 1 + i64::from(h),
        model_revision: REVS[h as usize % 2].into(),
        calculated_at: block_number * 12 + i64::from(h),
        overall_score: s,
        confidence_interval_lower: s - 0.125,
        confidence_interval_upper: s + 0.1,
        average_score: s / 3.0,
        scores_by_layer: BTreeMap::from([("L1".to_string(), s)]),
        scores_by_env: by_env,
        total_samples: 3 + i64::from(h),
        is_eligible: h.is_multiple_of(2),
        meets_criteria: s > 0.3,
    }
}

fn param_value(kind: u8) -> ParamValue {
    match kind % 7 {
        0 => ParamValue::Str("text".into()),
        1 => ParamValue::Int(42),
        2 => ParamValue::Float(1.0),
        3 => ParamValue::Bool(true),
        4 => ParamValue::Dict(
            serde_json::json!({"a": 1, "b": [true, "x"], "c": 2.5})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ),
        5 => ParamValue::List(vec![
            serde_json::json!(1),
            serde_json::json!("two"),
            serde_json::json!(0.1),
        ]),
        _ => ParamValue::Float(f64::NAN),
    }
}

/// Every owner's samples (no conversations), for the retention invariants.
async fn all_samples(
    store: &Store,
) -> Result<BTreeMap<(String, String), Vec<(i64, String, String)>>> {
    let mut out = BTreeMap::new();
    for h in HKS {
        for r in REVS {
            let q = MinerSamplesQuery {
                conversation: Conversation::Skip,
                ..Default::default()
            };
            let v = store.samples.get_samples_by_miner(h, r, &q).await?;
            out.insert(
                (h.to_string(), r.to_string()),
                v.into_iter()
                    .map(|s| (s.timestamp, s.env, s.sample_id))
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// The outcome of a stream of samples, as [`out`] gives a list's: its
/// samples, or the variant of the error that ended it.
async fn collected(stream: affine_db::SampleStream) -> Outcome {
    use futures::TryStreamExt;
    out(stream.try_collect::<Vec<_>>().await)
}

/// Retention cleanup with its invariants checked against this world's own
/// data: protected miners lose nothing; unprotected ones keep exactly the
/// samples younger than their retention; a dry run changes nothing.
async fn cleanup_checked(w: &mut World, dry: bool) -> Outcome {
    let store = w.store.clone();
    let before = match all_samples(&store).await {
        Ok(b) => b,
        Err(e) => return Err(e.kind()),
    };
    let policies = match store.retention.get_all_policies().await {
        Ok(p) => p,
        Err(e) => return Err(e.kind()),
    };
    let now_ms = w.clock_now_ms();
    let report = rules::cleanup(&store, dry).await;
    let after = match all_samples(&store).await {
        Ok(a) => a,
        Err(e) => return Err(e.kind()),
    };
    for ((h, r), samples) in &before {
        let policy = policies.iter().find(|p| &p.miner_hotkey == h);
        let protected = policy.is_some_and(|p| p.is_protected);
        let days = policy.map_or(90, |p| p.retention_days);
        let expected: Vec<_> = if dry || protected || report.is_err() {
            samples.clone()
        } else {
            samples
                .iter()
                .filter(|s| s.0 >= now_ms - days * DAY_MS)
                .cloned()
                .collect()
        };
        let got = &after[&(h.clone(), r.clone())];
        if report.is_err() && protected && got != samples {
            w.violations
                .push(format!("cleanup failed and changed protected {h}/{r}"));
        } else if report.is_ok() && got != &expected {
            w.violations.push(format!(
                "cleanup (dry={dry}) of {h}/{r} (protected={protected}, days={days}): \
                 expected to keep {expected:?}, kept {got:?}"
            ));
        }
    }
    out(report)
}

/// A claim's outcome, normalized; a started task's `started_at` is recorded.
fn claimed(w: &mut World, r: Result<Claim>) -> Outcome {
    out(r.map(|c| match c {
        Claim::Started(t) => {
            w.reg.started(&t);
            Claim::Started(w.reg.norm_task(t))
        }
        Claim::Stale => Claim::Stale,
    }))
}

/// Moves the world's clock to `t` and reads what the clock op aimed at,
/// right at that instant (a TTL, a pause end).
async fn moved(w: &mut World, op: &Op, t: i64) -> Outcome {
    w.clock.set_ms(t);
    let store = w.store.clone();
    let read = match op {
        Op::ToTaskTtl(k, _) if !w.reg.tasks.is_empty() => {
            let r = w.reg.task(*k);
            out(store
                .tasks
                .get_task(&r.hk, &r.rev, &r.id)
                .await
                .map(|o| o.map(|t| w.reg.norm_task(t))))
        }
        Op::ToLogTtl(k, _) => match w.reg.log(*k).cloned() {
            Some(l) => out(store
                .logs
                .get_recent_logs(&l.hk, 100, None)
                .await
                .map(|v| v.into_iter().map(|l| w.reg.norm_log(l)).collect::<Vec<_>>())),
            None => Ok(String::new()),
        },
        Op::ToScoreTtl(k, _) if !w.reg.score_writes.is_empty() => {
            let sw = w.reg.score_writes[*k as usize % w.reg.score_writes.len()].clone();
            let rows = store.scores.get_scores_at_block(sw.block).await;
            match sw.hk {
                Some(h) => {
                    let row = store.scores.get_miner_score_at_block(sw.block, &h).await;
                    out(rows.and_then(|r| row.map(|x| (r, x))))
                }
                None => out(rows),
            }
        }
        Op::ToPauseEnd(h, _) => out(store.miners.check_pause_expired(hk(*h)).await),
        _ => Ok(String::new()),
    };
    match read {
        Ok(v) => Ok(format!("now={t} {v}")),
        Err(e) => Err(e),
    }
}

/// Applies `op` (resolved by [`resolve`]) to one world; clock ops move it
/// to `target` and read what they aimed at.
pub async fn apply(w: &mut World, op: &Op, target: Option<i64>) -> Outcome {
    if let Some(t) = target {
        return moved(w, op, t).await;
    }
    let store = w.store.clone();
    let now_ms = w.clock_now_ms();
    let now_s = now_ms.div_euclid(1000);
    match op {
        Op::Advance(_)
        | Op::ToTaskTtl(..)
        | Op::ToLogTtl(..)
        | Op::ToScoreTtl(..)
        | Op::ToCutoff(..)
        | Op::ToPauseEnd(..) => Ok("clock op without target".into()),

        Op::SaveSample(spec) => {
            let r = store.samples.save_sample(spec.build(now_ms)).await;
            if let Ok(s) = &r {
                w.reg.samples.push(s.key());
            }
            out(r)
        }
        Op::SaveSamples(specs) => {
            let r = store
                .samples
                .save_samples(specs.iter().map(|s| s.build(now_ms)).collect())
                .await;
            if let Ok(keys) = &r {
                w.reg.samples.extend(keys.iter().cloned());
            }
            out(r)
        }
        Op::GetSample { k, miss, conv: c } => {
            let key = match w.reg.sample(*k) {
                Some(key) if !miss => key.clone(),
                Some(key) => SampleKey {
                    timestamp: key.timestamp + 1,
                    ..key.clone()
                },
                None => SampleKey {
                    miner_hotkey: "hk0".into(),
                    model_revision: "r0".into(),
                    env: "SAT".into(),
                    timestamp: now_ms,
                    sample_id: "a".into(),
                },
            };
            out(store.samples.get_sample(&key, conv(*c)).await)
        }
        Op::ByMiner {
            hk: h,
            rev: r,
            env: e,
            limit,
            newest,
            conv: c,
        } => {
            let q = MinerSamplesQuery {
                env: e.map(|e| env(e).to_string()),
                limit: opt_limit(*limit),
                newest_first: *newest,
                conversation: conv(*c),
            };
            let list = out(store
                .samples
                .get_samples_by_miner(hk(*h), rev(*r), &q)
                .await);
            let streamed = store.samples.clone().stream_samples_by_miner(
                hk(*h).to_string(),
                rev(*r).to_string(),
                q,
            );
            assert_eq!(
                collected(streamed).await,
                list,
                "the stream is not the list"
            );
            list
        }
        Op::ByEnv {
            env: e,
            range,
            limit,
            conv: c,
        } => {
            let (name, start, end) = range_ms(&w.reg, *e, *range, now_ms);
            let list = out(store
                .samples
                .get_samples_by_env(&name, start, end, opt_limit(*limit), conv(*c))
                .await);
            let streamed = store.samples.clone().stream_samples_by_env(
                name,
                start,
                end,
                opt_limit(*limit),
                conv(*c),
            );
            assert_eq!(
                collected(streamed).await,
                list,
                "the stream is not the list"
            );
            list
        }
        Op::DeleteBefore {
            hk: h,
            rev: r,
            k,
            delta,
        } => {
            let before = w.reg.sample(*k).map_or(now_ms, |s| s.timestamp) + delta;
            out(store
                .samples
                .delete_samples_before(hk(*h), rev(*r), before)
                .await)
        }

        Op::CreateTask {
            hk: h,
            rev: r,
            env: e,
            hash,
            priority,
            ttl_days,
            bad,
        } => {
            // One ms per creation, so generated ids (`{created_ms}-{uuid}`)
            // sort in creation order in every world.
            w.clock.set_ms(now_ms + 1);
            let mut parts = [hk(*h).to_string(), rev(*r).to_string(), env(*e).to_string()];
            if let Some((which, v)) = bad {
                parts[*which as usize % 3] = bad_part(*v);
            }
            let [miner_hotkey, model_revision, env] = parts;
            let r = store
                .tasks
                .create_task(NewTask {
                    miner_hotkey,
                    model_revision,
                    model_hash: HASHES[*hash as usize % 2].into(),
                    env,
                    validator_hotkey: format!("v{h}"),
                    priority: *priority,
                    ttl_days: *ttl_days,
                })
                .await;
            if let Ok(t) = &r {
                w.reg.tasks.push(TaskRef {
                    hk: t.miner_hotkey.clone(),
                    rev: t.model_revision.clone(),
                    id: t.task_id.clone(),
                    ttl: t.ttl,
                    started_at: None,
                });
            }
            out(r.map(|t| w.reg.norm_task(t)))
        }
        Op::GetTask(k) => {
            let t = w.reg.task(*k);
            out(store
                .tasks
                .get_task(&t.hk, &t.rev, &t.id)
                .await
                .map(|o| o.map(|t| w.reg.norm_task(t))))
        }
        Op::Pending(limit, p) => out(store
            .tasks
            .get_pending_tasks(limit_of(*limit), order(*p))
            .await
            .map(|v| {
                v.into_iter()
                    .map(|t| w.reg.norm_task(t))
                    .collect::<Vec<_>>()
            })),
        Op::Start(k) => {
            let t = w.reg.task(*k);
            let r = store.tasks.start_task(&t.hk, &t.rev, &t.id).await;
            claimed(w, r.map(Claim::Started))
        }
        Op::StartChecked(k, hash) => {
            let t = w.reg.task(*k);
            let r = store
                .tasks
                .start_task_checked(&t.hk, &t.rev, &t.id, HASHES[*hash as usize % 2])
                .await;
            claimed(w, r)
        }
        Op::Claim(k) => {
            let t = w.reg.task(*k);
            let r = rules::claim_task(&store, &t.hk, &t.rev, &t.id).await;
            claimed(w, r)
        }
        Op::ClaimRace(k) => {
            let t = w.reg.task(*k);
            let claims = (0..3).map(|_| store.tasks.start_task(&t.hk, &t.rev, &t.id));
            let results = futures::future::join_all(claims).await;
            let mut kinds: Vec<&str> = Vec::new();
            let mut won = None;
            for r in results {
                match r {
                    Ok(task) => {
                        kinds.push("won");
                        w.reg.started(&task);
                        won = Some(w.reg.norm_task(task));
                    }
                    Err(e) => kinds.push(e.kind()),
                }
            }
            kinds.sort();
            if kinds.iter().filter(|k| **k == "won").count() > 1 {
                w.violations
                    .push(format!("task #{k} was started more than once: {kinds:?}"));
            }
            Ok(format!("{kinds:?} {won:?}"))
        }
        Op::Complete(k) => {
            let t = w.reg.task(*k);
            out(store.tasks.complete_task(&t.hk, &t.rev, &t.id).await)
        }
        Op::Fail(k) => {
            let t = w.reg.task(*k);
            out(store
                .tasks
                .fail_task(&t.hk, &t.rev, &t.id, &format!("boom {k}"))
                .await
                .map(|t| w.reg.norm_task(t)))
        }
        Op::TasksByMiner {
            hk: h,
            rev: r,
            status: s,
            limit,
        } => out(store
            .tasks
            .get_tasks_by_miner(hk(*h), rev(*r), s.map(status), opt_limit(*limit))
            .await
            .map(|v| {
                v.into_iter()
                    .map(|t| w.reg.norm_task(t))
                    .collect::<Vec<_>>()
            })),
        Op::DeleteMinerTasks(h, r) => out(store.tasks.delete_miner_tasks(hk(*h), rev(*r)).await),
        Op::Requeue(timeout) => out(store.tasks.requeue_stale_tasks(*timeout).await),
        Op::RequeueAt(k, d) => {
            // The cut-off (now - timeout) lands on the start of the k-th
            // started task + d.
            let started = w.reg.started_task(*k).unwrap_or(now_s);
            let timeout = now_s - (started + d);
            out(store.tasks.requeue_stale_tasks(timeout).await)
        }

        Op::Log {
            hk: h,
            failed,
            env: e,
            error_type,
            bad,
        } => {
            // One second per log, so sort keys never tie on the random id.
            w.clock.set_ms(now_ms + 1000);
            let r = store
                .logs
                .log_execution(NewLog {
                    miner_hotkey: bad.map_or_else(|| hk(*h).to_string(), bad_part),
                    uid: 3 + i64::from(*h),
                    task_id: format!("t{e}"),
                    status: if *failed {
                        LogStatus::Failed
                    } else {
                        LogStatus::Success
                    },
                    env: env(*e).into(),
                    error_type: error_type.map(|i| format!("E{}", i % 2)),
                    error_message: failed.then(|| format!("went wrong in {}", env(*e))),
                    execution_time_ms: 100 + i64::from(*e),
                    timestamp: None,
                })
                .await;
            if let Ok(l) = &r {
                w.reg.logs.push(LogRef {
                    id: l.log_id.clone(),
                    hk: l.miner_hotkey.clone(),
                    timestamp: l.timestamp,
                    ttl: l.ttl,
                });
            }
            out(r.map(|l| w.reg.norm_log(l)))
        }
        Op::Recent {
            hk: h,
            limit,
            status,
        } => out(store
            .logs
            .get_recent_logs(hk(*h), limit_of(*limit), log_status(*status))
            .await
            .map(|v| v.into_iter().map(|l| w.reg.norm_log(l)).collect::<Vec<_>>())),
        Op::Consecutive(h, n) => out(store
            .logs
            .check_consecutive_errors(hk(*h), limit_of(*n))
            .await),
        Op::ErrorSummary(h, win) => {
            let (miner, secs) = window(&w.reg, *h, *win, now_s);
            out(store
                .logs
                .get_error_summary(miner, secs)
                .await
                .map(|mut s| {
                    s.recent_errors = s
                        .recent_errors
                        .into_iter()
                        .map(|l| w.reg.norm_log(l))
                        .collect();
                    s
                }))
        }
        Op::ExecStats(h, win) => {
            let (miner, secs) = window(&w.reg, *h, *win, now_s);
            out(store.logs.get_execution_stats(miner, secs).await)
        }

        Op::SaveScore {
            block: b,
            hk: h,
            score,
            nan,
        } => {
            let s = if *nan {
                f64::NAN
            } else {
                SCORES[*score as usize % SCORES.len()]
            };
            let r = store
                .scores
                .save_score(score_row(block(*b), score_hk(*h), s, *h))
                .await;
            if r.is_ok() {
                w.reg.score_writes.push(ScoreWrite {
                    ttl: ttl::expires_at(now_s, ttl::SCORE_TTL_DAYS),
                    block: block(*b),
                    hk: Some(score_hk(*h).to_string()),
                });
            }
            out(r)
        }
        Op::Snapshot { block: b, rows } => {
            let mut scores: Vec<Score> = Vec::new();
            for (h, s) in rows {
                if scores.iter().all(|x| x.miner_hotkey != score_hk(*h)) {
                    scores.push(score_row(
                        block(*b),
                        score_hk(*h),
                        SCORES[*s as usize % SCORES.len()],
                        *h,
                    ));
                }
            }
            // The top-3 rule, computed here independently of the core.
            let mut ranked: Vec<(f64, String)> = scores
                .iter()
                .map(|s| (s.overall_score, s.miner_hotkey.clone()))
                .collect();
            ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let r = rules::save_block_scores(&store, block(*b), scores).await;
            if let Ok(top) = &r {
                w.reg.score_writes.push(ScoreWrite {
                    ttl: ttl::expires_at(now_s, ttl::SCORE_TTL_DAYS),
                    block: block(*b),
                    hk: None,
                });
                let want: Vec<&String> = ranked.iter().take(3).map(|(_, h)| h).collect();
                if top.iter().collect::<Vec<_>>() != want {
                    w.violations.push(format!(
                        "top-3 of block {} is {top:?}, the rule says {want:?}",
                        block(*b)
                    ));
                }
                for (_, h) in ranked.iter().take(3) {
                    if !store.retention.is_protected(h).await.unwrap_or(false) {
                        w.violations.push(format!(
                            "top-3 miner {h} of block {} is not protected",
                            block(*b)
                        ));
                    }
                }
            }
            out(r)
        }
        Op::ScoresAt(b) => out(store.scores.get_scores_at_block(block(*b)).await),
        Op::Latest => out(store.scores.get_latest_scores().await),
        Op::MinerScoreAt(b, h) => out(store
            .scores
            .get_miner_score_at_block(block(*b), hk(*h))
            .await),
        Op::History(h, n) => out(store
            .scores
            .get_miner_score_history(hk(*h), limit_of(*n))
            .await),

        Op::SetParam { name, kind, bad } => {
            let n = bad.map_or_else(|| PARAMS[*name as usize % 3].to_string(), bad_part);
            out(store
                .config
                .set_param(&n, param_value(*kind), &format!("d{kind}"), "tester")
                .await)
        }
        Op::GetParam(n) => out(store.config.get_param(PARAMS[*n as usize % 3]).await),
        Op::DeleteParam(n) => out(store.config.delete_param(PARAMS[*n as usize % 3]).await),
        Op::ListConfigs => out(store.config.list_all_configs().await),
        Op::AllParams => out(store.config.get_all_params().await),

        Op::SaveMeta {
            hk: h,
            hash,
            first_block,
            checked_ago,
            bad,
        } => out(store
            .miners
            .save_metadata(MinerInfo {
                miner_hotkey: bad.map_or_else(|| hk(*h).to_string(), bad_part),
                uid: i64::from(*h),
                current_revision: REVS[*hash as usize % 2].into(),
                model_hash: HASHES[*hash as usize % 2].into(),
                model_name: format!("m{hash}"),
                chutes_slug: hash.is_multiple_of(2).then(|| "slug".to_string()),
                chutes_status: [ChutesStatus::Hot, ChutesStatus::Cold, ChutesStatus::Unknown]
                    [*hash as usize % 3],
                chutes_last_checked: checked_ago.map(|a| now_s - a),
                last_commit_block: first_block.map(|b| b + 1),
                first_commit_block: *first_block,
            })
            .await),
        Op::GetMeta(h) => out(store.miners.get_metadata(hk(*h)).await),
        Op::UpdateStats(h, updates) => {
            let mut outcomes = Vec::new();
            for (ok, count) in updates {
                outcomes.push(out(store
                    .miners
                    .update_statistics(hk(*h), *ok, *count)
                    .await));
            }
            Ok(format!("{outcomes:?}"))
        }
        Op::Pause(h, d) => out(store
            .miners
            .pause_miner(hk(*h), &format!("why {h}"), *d)
            .await),
        Op::Unpause(h) => out(store.miners.unpause_miner(hk(*h)).await),
        Op::CheckPause(h) => out(store.miners.check_pause_expired(hk(*h)).await),
        Op::AllMiners => out(store.miners.get_all_miners().await),

        Op::SetPolicy {
            hk: h,
            protected,
            days,
            bad,
        } => {
            let n = bad.map_or_else(|| hk(*h).to_string(), bad_part);
            out(store
                .retention
                .set_policy(
                    &n,
                    *protected,
                    protected.then(|| format!("manual {h}")),
                    *days,
                )
                .await)
        }
        Op::Protect(h, ago) => out(store
            .retention
            .set_protected(hk(*h), "manual", ago.map(|a| now_s - a))
            .await),
        Op::Unprotect(h) => out(store.retention.set_unprotected(hk(*h)).await),
        Op::GetPolicy(h) => {
            let p = store.retention.get_policy(hk(*h)).await;
            let i = store.retention.is_protected(hk(*h)).await;
            out(p.and_then(|p| i.map(|i| (p, i))))
        }
        Op::CleanupTs(h) => out(store.retention.update_cleanup_timestamp(hk(*h)).await),
        Op::AllPolicies => {
            let a = store.retention.get_all_policies().await;
            let p = store.retention.get_protected_miners().await;
            out(a.and_then(|a| p.map(|p| (a, p))))
        }
        Op::Cleanup(dry) => cleanup_checked(w, *dry).await,

        Op::Stats => out(store.admin.stats().await),
        Op::Purge => {
            let before = store.admin.stats().await;
            let purged = store.admin.purge_expired().await;
            let after = store.admin.stats().await;
            if let (Ok(b), Ok(_), Ok(a)) = (&before, &purged, &after) {
                if a != b {
                    w.violations.push(format!(
                        "purge_expired removed a live item: before {b:?}, after {a:?}"
                    ));
                }
            }
            out(purged.and_then(|p| after.map(|a| (p, a))))
        }
    }
}

/// Reads of every table, run after each sequence so a difference in what a
/// write left behind is found even when no generated read looked at it.
/// Every record is read whole (conversations included), and limits and
/// ranges sit exactly on their boundaries.
pub fn final_reads() -> Vec<Op> {
    let mut v = vec![
        Op::Stats,
        Op::AllMiners,
        Op::AllPolicies,
        Op::ListConfigs,
        Op::Latest,
        Op::Pending(Limit::At(100), true),
        Op::Pending(Limit::Matches(-1), false),
    ];
    // Limits applied after status filters, on the hot partitions.
    for h in 0..2u8 {
        for st in 0..3u8 {
            v.push(Op::TasksByMiner {
                hk: h,
                rev: 0,
                status: Some(st),
                limit: Some(Limit::At(1)),
            });
        }
    }
    for failed in [false, true] {
        v.push(Op::Recent {
            hk: 0,
            limit: Limit::At(1),
            status: Some(failed),
        });
    }
    for b in 0..BLOCKS.len() as u8 {
        v.push(Op::ScoresAt(b));
    }
    for e in 0..ENVS.len() as u8 {
        // Both ends exactly on saved samples.
        v.push(Op::ByEnv {
            env: e,
            range: Range::Span,
            limit: None,
            conv: true,
        });
    }
    for h in 0..3u8 {
        v.push(Op::Recent {
            hk: h,
            limit: Limit::At(100),
            status: None,
        });
        v.push(Op::Consecutive(h, Limit::Matches(0)));
        v.push(Op::History(h, Limit::At(10)));
        for r in 0..2u8 {
            v.push(Op::ByMiner {
                hk: h,
                rev: r,
                env: None,
                limit: None,
                newest: false,
                conv: true,
            });
            v.push(Op::TasksByMiner {
                hk: h,
                rev: r,
                status: None,
                limit: None,
            });
        }
    }
    // Log windows starting exactly at a live log.
    for k in 0..2u8 {
        v.push(Op::ExecStats(0, Window::AtLog(k, 0)));
        v.push(Op::ErrorSummary(0, Window::AtLog(k, 0)));
    }
    // Requeue cut-offs one second before and exactly at a task's start.
    for k in 0..2u8 {
        v.push(Op::RequeueAt(k, -1));
        v.push(Op::RequeueAt(k, 0));
    }
    // The clock onto the next task, log and score TTLs, reading each one
    // second before and at its TTL, and purging there: one second before,
    // the item is live and a purge must leave it; at its TTL it goes.
    for d in [-1i64, 0] {
        v.push(Op::ToTaskTtl(0, d));
        v.push(Op::Purge);
    }
    for d in [-1i64, 0] {
        v.push(Op::ToLogTtl(0, d));
        v.push(Op::Purge);
    }
    for d in [-1i64, 0] {
        v.push(Op::ToScoreTtl(0, d));
        v.push(Op::Purge);
    }
    // Last, as they write: how many live tasks each partition had; each
    // miner's counters through a failure then a success; a pause checked
    // one second before and exactly at its end.
    for h in 0..3u8 {
        for r in 0..2u8 {
            v.push(Op::DeleteMinerTasks(h, r));
        }
    }
    for h in 0..3u8 {
        v.push(Op::UpdateStats(h, vec![(false, true), (true, false)]));
        v.push(Op::Pause(h, Some(60)));
        v.push(Op::ToPauseEnd(h, -1));
        v.push(Op::ToPauseEnd(h, 0));
        v.push(Op::GetMeta(h));
    }
    v
}
