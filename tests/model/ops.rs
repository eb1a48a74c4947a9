//! Operations of the property tests: what proptest generates ([`Op`], with
//! small indices into low-cardinality alphabets so keys collide), how one is
//! applied to a [`World`] (model or backend), and the normalized
//! [`Outcome`] that is compared across worlds.

use std::collections::BTreeMap;

use affine_db::rules;
use affine_db::tables::config::ParamValue;
use affine_db::tables::logs::ExecutionLog;
use affine_db::tables::logs::{LogStatus, NewLog};
use affine_db::tables::miners::{ChutesStatus, MinerInfo};
use affine_db::tables::samples::{Conversation, MinerSamplesQuery, NewSample, SampleKey};
use affine_db::tables::scores::Score;
use affine_db::tables::tasks::{Claim, NewTask, PendingOrder, Task, TaskStatus};
use affine_db::ttl::{self, DAY_S};
use affine_db::{Result, Store};
use proptest::prelude::*;
use proptest::sample::select;

use super::harness::World;

/// Milliseconds in a day.
pub const DAY_MS: i64 = DAY_S * 1000;

/// Miner hotkeys (3, so they collide).
pub const HKS: [&str; 3] = ["hk0", "hk1", "hk2"];
/// Model revisions.
pub const REVS: [&str; 2] = ["r0", "r1"];
/// Environments.
pub const ENVS: [&str; 3] = ["ABD", "DED", "SAT"];
/// Sample ids.
pub const IDS: [&str; 3] = ["a", "b", "c"];
/// Model hashes.
pub const HASHES: [&str; 2] = ["h0", "h1"];
/// Config parameter names.
pub const PARAMS: [&str; 3] = ["p0", "p1", "p2"];
/// Score blocks.
pub const BLOCKS: [i64; 4] = [100, 101, 102, 103];
/// Scores (exact binary fractions and not).
pub const SCORES: [f64; 7] = [0.0, 0.25, 0.5, 1.0, 0.1, 1.0 / 3.0, -0.5];
/// Sample ages in ms relative to now (boundaries of the retention days).
pub const AGES: [i64; 9] = [
    0,
    1,
    999,
    DAY_MS,
    DAY_MS + 1,
    2 * DAY_MS,
    90 * DAY_MS - 1,
    90 * DAY_MS,
    91 * DAY_MS,
];
/// Invalid key parts: empty, `#`, a control character, 257 bytes.
pub fn bad_part(i: u8) -> String {
    match i % 4 {
        0 => String::new(),
        1 => "a#b".into(),
        2 => "ctl\u{7}x".into(),
        _ => "x".repeat(257),
    }
}

/// One generated sample; `bad` replaces one key part with an invalid one
/// (0 hotkey, 1 revision, 2 env, 3 sample id), `nan` makes the score NaN.
#[derive(Debug, Clone)]
pub struct SampleSpec {
    /// Hotkey index.
    pub hk: u8,
    /// Revision index.
    pub rev: u8,
    /// Env index.
    pub env: u8,
    /// Sample id index.
    pub id: u8,
    /// Age index into [`AGES`]; `None` leaves the timestamp to the store (now).
    pub age: Option<u8>,
    /// Score index.
    pub score: u8,
    /// Invalid key part: (which part, which bad value).
    pub bad: Option<(u8, u8)>,
    /// A NaN score.
    pub nan: bool,
}

impl SampleSpec {
    /// The sample to save at `now_ms`.
    pub fn build(&self, now_ms: i64) -> NewSample {
        let mut parts = [
            HKS[self.hk as usize % 3].to_string(),
            REVS[self.rev as usize % 2].to_string(),
            ENVS[self.env as usize % 3].to_string(),
            IDS[self.id as usize % 3].to_string(),
        ];
        if let Some((which, v)) = self.bad {
            parts[which as usize % 4] = bad_part(v);
        }
        let [miner_hotkey, model_revision, env, sample_id] = parts;
        NewSample {
            sample_id: Some(sample_id),
            timestamp: self.age.map(|a| now_ms - AGES[a as usize % AGES.len()]),
            miner_hotkey,
            model_revision,
            model_hash: "hash".into(),
            uid: i64::from(self.hk),
            env,
            subset: "s".into(),
            dataset_index: i64::from(self.score),
            task_id: "t".into(),
            score: if self.nan {
                f64::NAN
            } else {
                SCORES[self.score as usize % SCORES.len()]
            },
            success: self.score.is_multiple_of(2),
            latency_ms: 7,
            conversation: serde_json::json!([
                {"role": "user", "content": format!("q{}", self.score)},
                {"role": "assistant", "content": "a", "n": 1.5}
            ]),
            validator_hotkey: "v".into(),
            block_number: 10,
            signature: "sig".into(),
        }
    }
}

/// One generated operation. Indices pick from the alphabets above; `k`
/// refers to the k-th (mod count) task, log, sample or score saved so far.
#[derive(Debug, Clone)]
pub enum Op {
    /// Move every clock forward by this many ms.
    Advance(i64),
    /// Move to the `ttl` of task #k plus `delta` seconds (never backwards).
    ToTaskTtl(u8, i64),
    /// Move to the `ttl` of log #k plus `delta` seconds.
    ToLogTtl(u8, i64),
    /// Move to the `ttl` of score write #k plus `delta` seconds.
    ToScoreTtl(u8, i64),
    /// Move to where sample #k sits exactly on the retention cut-off of
    /// `days` days, plus `delta` ms.
    ToCutoff(u8, i64, i64),
    /// Move to the `pause_until` of a miner plus `delta` seconds.
    ToPauseEnd(u8, i64),

    /// `save_sample`.
    SaveSample(SampleSpec),
    /// `save_samples`.
    SaveSamples(Vec<SampleSpec>),
    /// `get_sample` of sample #k (or, `miss`, of a key never written).
    GetSample { k: u8, miss: bool, conv: bool },
    /// `get_samples_by_miner`.
    ByMiner {
        hk: u8,
        rev: u8,
        env: Option<u8>,
        limit: Option<u8>,
        newest: bool,
        conv: bool,
    },
    /// `get_samples_by_env` from `from_age` ago to `to_age` ago.
    ByEnv {
        env: u8,
        from_age: u8,
        to_age: u8,
        limit: Option<u8>,
        conv: bool,
    },
    /// `delete_samples_before` sample #k's timestamp + `delta` ms.
    DeleteBefore { hk: u8, rev: u8, k: u8, delta: i64 },

    /// `create_task` (`bad` makes one key part invalid).
    CreateTask {
        hk: u8,
        rev: u8,
        env: u8,
        hash: u8,
        priority: i64,
        ttl_days: Option<i64>,
        bad: Option<(u8, u8)>,
    },
    /// `get_task` of task #k.
    GetTask(u8),
    /// `get_pending_tasks`.
    Pending(u8),
    /// `start_task`.
    Start(u8),
    /// `start_task_checked` with a current hash.
    StartChecked(u8, u8),
    /// `rules::claim_task`.
    Claim(u8),
    /// Three concurrent `start_task` of one task.
    ClaimRace(u8),
    /// `complete_task`.
    Complete(u8),
    /// `fail_task`.
    Fail(u8),
    /// `get_tasks_by_miner`.
    TasksByMiner {
        hk: u8,
        rev: u8,
        status: Option<u8>,
        limit: Option<u8>,
    },
    /// `delete_miner_tasks`.
    DeleteMinerTasks(u8, u8),
    /// `requeue_stale_tasks`.
    Requeue(i64),

    /// `log_execution` (one second after the previous step, so sort keys
    /// never tie on the random log id).
    Log {
        hk: u8,
        failed: bool,
        env: u8,
        error_type: Option<u8>,
        bad: Option<u8>,
    },
    /// `get_recent_logs`.
    Recent {
        hk: u8,
        limit: u8,
        status: Option<bool>,
    },
    /// `check_consecutive_errors`.
    Consecutive(u8, u8),
    /// `get_error_summary`.
    ErrorSummary(u8, i64),
    /// `get_execution_stats`.
    ExecStats(u8, i64),

    /// `save_score`.
    SaveScore {
        block: u8,
        hk: u8,
        score: u8,
        nan: bool,
    },
    /// `rules::save_block_scores` of (hotkey, score) rows.
    Snapshot { block: u8, rows: Vec<(u8, u8)> },
    /// `get_scores_at_block`.
    ScoresAt(u8),
    /// `get_latest_scores`.
    Latest,
    /// `get_miner_score_at_block`.
    MinerScoreAt(u8, u8),
    /// `get_miner_score_history`.
    History(u8, u8),

    /// `set_param` (`bad` makes the name invalid; value kind 0..6, 6 = NaN float).
    SetParam { name: u8, kind: u8, bad: Option<u8> },
    /// `get_param`.
    GetParam(u8),
    /// `delete_param`.
    DeleteParam(u8),
    /// `list_all_configs`.
    ListConfigs,
    /// `get_all_params`.
    AllParams,

    /// `save_metadata`.
    SaveMeta {
        hk: u8,
        hash: u8,
        first_block: Option<i64>,
        bad: Option<u8>,
    },
    /// `get_metadata`.
    GetMeta(u8),
    /// `update_statistics`.
    UpdateStats(u8, bool),
    /// `pause_miner`.
    Pause(u8, Option<i64>),
    /// `unpause_miner`.
    Unpause(u8),
    /// `check_pause_expired`.
    CheckPause(u8),
    /// `get_all_miners`.
    AllMiners,

    /// `set_policy`.
    SetPolicy {
        hk: u8,
        protected: bool,
        days: i64,
        bad: Option<u8>,
    },
    /// `set_protected`.
    Protect(u8),
    /// `set_unprotected`.
    Unprotect(u8),
    /// `get_policy` and `is_protected`.
    GetPolicy(u8),
    /// `update_cleanup_timestamp`.
    CleanupTs(u8),
    /// `get_all_policies` and `get_protected_miners`.
    AllPolicies,
    /// `rules::cleanup`.
    Cleanup(bool),

    /// `admin.stats()`.
    Stats,
    /// `admin.purge_expired()`: stats before and after must be equal.
    Purge,
}

/// The normalized result of one step: `Ok(debug text of the normalized
/// value)` or `Err(error variant)`.
pub type Outcome = std::result::Result<String, &'static str>;

fn out<T: std::fmt::Debug>(r: Result<T>) -> Outcome {
    match r {
        Ok(v) => Ok(format!("{v:?}")),
        Err(e) => Err(e.kind()),
    }
}

/// A task created in a world: its key, and its ttl (the same in every world).
#[derive(Debug, Clone)]
pub struct TaskRef {
    /// Hotkey.
    pub hk: String,
    /// Revision.
    pub rev: String,
    /// The world's generated id.
    pub id: String,
    /// Expiry.
    pub ttl: i64,
}

/// What a world created so far, so ops can refer to "task #k".
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Tasks in creation order.
    pub tasks: Vec<TaskRef>,
    /// Logs in creation order: (id, ttl).
    pub logs: Vec<(String, i64)>,
    /// Sample keys in save order.
    pub samples: Vec<SampleKey>,
    /// The ttl of every score write.
    pub score_ttls: Vec<i64>,
}

impl Registry {
    fn task(&self, k: u8) -> TaskRef {
        if self.tasks.is_empty() {
            return TaskRef {
                hk: HKS[0].into(),
                rev: REVS[0].into(),
                id: "0000000000000000-missing".into(),
                ttl: 0,
            };
        }
        self.tasks[k as usize % self.tasks.len()].clone()
    }

    fn sample(&self, k: u8) -> Option<&SampleKey> {
        if self.samples.is_empty() {
            None
        } else {
            Some(&self.samples[k as usize % self.samples.len()])
        }
    }

    fn norm_task(&self, mut t: Task) -> Task {
        t.task_id = match self.tasks.iter().position(|r| r.id == t.task_id) {
            Some(i) => format!("#{i}"),
            None => format!("?{}", t.task_id),
        };
        t
    }

    fn norm_log(&self, mut l: ExecutionLog) -> ExecutionLog {
        l.log_id = match self.logs.iter().position(|(id, _)| *id == l.log_id) {
            Some(i) => format!("#{i}"),
            None => format!("?{}", l.log_id),
        };
        l
    }
}

/// Where a clock op moves time (ms), resolved against the model's registry
/// and state; `None` for other ops. Never moves backwards.
pub async fn clock_target(op: &Op, model: &World) -> Option<i64> {
    let now = model.clock_now_ms();
    let reg = &model.reg;
    let pick = |v: &[i64], k: u8| -> Option<i64> {
        if v.is_empty() {
            None
        } else {
            Some(v[k as usize % v.len()])
        }
    };
    let target = match op {
        Op::Advance(ms) => Some(now + ms),
        Op::ToTaskTtl(k, d) => {
            let ttls: Vec<i64> = reg.tasks.iter().map(|t| t.ttl).collect();
            pick(&ttls, *k).map(|t| (t + d) * 1000)
        }
        Op::ToLogTtl(k, d) => {
            let ttls: Vec<i64> = reg.logs.iter().map(|l| l.1).collect();
            pick(&ttls, *k).map(|t| (t + d) * 1000)
        }
        Op::ToScoreTtl(k, d) => pick(&reg.score_ttls, *k).map(|t| (t + d) * 1000),
        Op::ToCutoff(k, days, d) => reg.sample(*k).map(|s| s.timestamp + days * DAY_MS + d),
        Op::ToPauseEnd(hk, d) => {
            let m = model
                .store
                .miners
                .get_metadata(HKS[*hk as usize % 3])
                .await
                .ok()
                .flatten();
            m.and_then(|m| m.pause_until).map(|u| (u + d) * 1000)
        }
        _ => return None,
    };
    Some(target.map_or(now, |t| t.max(now)))
}

fn hk(i: u8) -> &'static str {
    HKS[i as usize % 3]
}
fn rev(i: u8) -> &'static str {
    REVS[i as usize % 2]
}
fn env(i: u8) -> &'static str {
    ENVS[i as usize % 3]
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

fn score_row(block_number: i64, hotkey: &str, s: f64) -> Score {
    let mut by_env = BTreeMap::new();
    by_env.insert("SAT".to_string(), s);
    by_env.insert("ABD".to_string(), 0.1);
    Score {
        block_number,
        miner_hotkey: hotkey.to_string(),
        uid: 1,
        model_revision: "r0".into(),
        calculated_at: block_number * 12,
        overall_score: s,
        confidence_interval_lower: s - 0.125,
        confidence_interval_upper: s + 0.1,
        average_score: s / 3.0,
        scores_by_layer: BTreeMap::from([("L1".to_string(), s)]),
        scores_by_env: by_env,
        total_samples: 3,
        is_eligible: true,
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

/// Applies `op` to one world; clock ops move it to `target`.
pub async fn apply(w: &mut World, op: &Op, target: Option<i64>) -> Outcome {
    if let Some(t) = target {
        w.clock.set_ms(t);
        return Ok(format!("now={t}"));
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
                limit: limit.map(usize::from),
                newest_first: *newest,
                conversation: conv(*c),
            };
            out(store
                .samples
                .get_samples_by_miner(hk(*h), rev(*r), &q)
                .await)
        }
        Op::ByEnv {
            env: e,
            from_age,
            to_age,
            limit,
            conv: c,
        } => {
            let start = now_ms - AGES[*from_age as usize % AGES.len()];
            let end = now_ms - AGES[*to_age as usize % AGES.len()];
            out(store
                .samples
                .get_samples_by_env(env(*e), start, end, limit.map(usize::from), conv(*c))
                .await)
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
                    validator_hotkey: "v".into(),
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
        Op::Pending(limit) => out(store
            .tasks
            .get_pending_tasks(usize::from(*limit), PendingOrder::Priority)
            .await
            .map(|v| {
                v.into_iter()
                    .map(|t| w.reg.norm_task(t))
                    .collect::<Vec<_>>()
            })),
        Op::Start(k) => {
            let t = w.reg.task(*k);
            out(store
                .tasks
                .start_task(&t.hk, &t.rev, &t.id)
                .await
                .map(|t| w.reg.norm_task(t)))
        }
        Op::StartChecked(k, hash) => {
            let t = w.reg.task(*k);
            let r = store
                .tasks
                .start_task_checked(&t.hk, &t.rev, &t.id, HASHES[*hash as usize % 2])
                .await;
            out(r.map(|c| match c {
                Claim::Started(t) => Claim::Started(w.reg.norm_task(t)),
                Claim::Stale => Claim::Stale,
            }))
        }
        Op::Claim(k) => {
            let t = w.reg.task(*k);
            let r = rules::claim_task(&store, &t.hk, &t.rev, &t.id).await;
            out(r.map(|c| match c {
                Claim::Started(t) => Claim::Started(w.reg.norm_task(t)),
                Claim::Stale => Claim::Stale,
            }))
        }
        Op::ClaimRace(k) => {
            let t = w.reg.task(*k);
            let claims = (0..3).map(|_| store.tasks.start_task(&t.hk, &t.rev, &t.id));
            let results = futures::future::join_all(claims).await;
            let mut kinds: Vec<&str> = results
                .iter()
                .map(|r| match r {
                    Ok(_) => "won",
                    Err(e) => e.kind(),
                })
                .collect();
            kinds.sort();
            if kinds.iter().filter(|k| **k == "won").count() > 1 {
                w.violations
                    .push(format!("task #{k} was started more than once: {kinds:?}"));
            }
            Ok(format!("{kinds:?}"))
        }
        Op::Complete(k) => {
            let t = w.reg.task(*k);
            out(store.tasks.complete_task(&t.hk, &t.rev, &t.id).await)
        }
        Op::Fail(k) => {
            let t = w.reg.task(*k);
            out(store
                .tasks
                .fail_task(&t.hk, &t.rev, &t.id, "boom")
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
            .get_tasks_by_miner(hk(*h), rev(*r), s.map(status), limit.map(usize::from))
            .await
            .map(|v| {
                v.into_iter()
                    .map(|t| w.reg.norm_task(t))
                    .collect::<Vec<_>>()
            })),
        Op::DeleteMinerTasks(h, r) => out(store.tasks.delete_miner_tasks(hk(*h), rev(*r)).await),
        Op::Requeue(timeout) => out(store.tasks.requeue_stale_tasks(*timeout).await),

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
                    uid: 3,
                    task_id: "t".into(),
                    status: if *failed {
                        LogStatus::Failed
                    } else {
                        LogStatus::Success
                    },
                    env: env(*e).into(),
                    error_type: error_type.map(|i| format!("E{}", i % 2)),
                    error_message: failed.then(|| "went wrong".to_string()),
                    execution_time_ms: 100 + i64::from(*e),
                    timestamp: None,
                })
                .await;
            if let Ok(l) = &r {
                w.reg.logs.push((l.log_id.clone(), l.ttl));
            }
            out(r.map(|l| w.reg.norm_log(l)))
        }
        Op::Recent {
            hk: h,
            limit,
            status,
        } => {
            let s = status.map(|f| {
                if f {
                    LogStatus::Failed
                } else {
                    LogStatus::Success
                }
            });
            out(store
                .logs
                .get_recent_logs(hk(*h), usize::from(*limit), s)
                .await
                .map(|v| v.into_iter().map(|l| w.reg.norm_log(l)).collect::<Vec<_>>()))
        }
        Op::Consecutive(h, n) => out(store
            .logs
            .check_consecutive_errors(hk(*h), usize::from(*n))
            .await),
        Op::ErrorSummary(h, window) => out(store
            .logs
            .get_error_summary(hk(*h), *window)
            .await
            .map(|mut s| {
                s.recent_errors = s
                    .recent_errors
                    .into_iter()
                    .map(|l| w.reg.norm_log(l))
                    .collect();
                s
            })),
        Op::ExecStats(h, window) => out(store.logs.get_execution_stats(hk(*h), *window).await),

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
                .save_score(score_row(block(*b), hk(*h), s))
                .await;
            if r.is_ok() {
                w.reg
                    .score_ttls
                    .push(ttl::expires_at(now_s, ttl::SCORE_TTL_DAYS));
            }
            out(r)
        }
        Op::Snapshot { block: b, rows } => {
            let mut scores: Vec<Score> = Vec::new();
            for (h, s) in rows {
                if scores.iter().all(|x| x.miner_hotkey != hk(*h)) {
                    scores.push(score_row(
                        block(*b),
                        hk(*h),
                        SCORES[*s as usize % SCORES.len()],
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
            if r.is_ok() {
                w.reg
                    .score_ttls
                    .push(ttl::expires_at(now_s, ttl::SCORE_TTL_DAYS));
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
            .get_miner_score_history(hk(*h), usize::from(*n))
            .await),

        Op::SetParam { name, kind, bad } => {
            let n = bad.map_or_else(|| PARAMS[*name as usize % 3].to_string(), bad_part);
            out(store
                .config
                .set_param(&n, param_value(*kind), "d", "tester")
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
            bad,
        } => out(store
            .miners
            .save_metadata(MinerInfo {
                miner_hotkey: bad.map_or_else(|| hk(*h).to_string(), bad_part),
                uid: i64::from(*h),
                current_revision: "r0".into(),
                model_hash: HASHES[*hash as usize % 2].into(),
                model_name: "m".into(),
                chutes_slug: Some("slug".into()),
                chutes_status: ChutesStatus::Hot,
                chutes_last_checked: None,
                last_commit_block: *first_block,
                first_commit_block: *first_block,
            })
            .await),
        Op::GetMeta(h) => out(store.miners.get_metadata(hk(*h)).await),
        Op::UpdateStats(h, ok) => out(store.miners.update_statistics(hk(*h), *ok, true).await),
        Op::Pause(h, d) => out(store.miners.pause_miner(hk(*h), "why", *d).await),
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
                    protected.then(|| "manual".to_string()),
                    *days,
                )
                .await)
        }
        Op::Protect(h) => out(store.retention.set_protected(hk(*h), "manual", None).await),
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
            out(purged.and(after))
        }
    }
}

/// Reads of every table, run after each sequence so a difference in what a
/// write left behind is found even when no generated read looked at it.
pub fn final_reads() -> Vec<Op> {
    let mut v = vec![
        Op::Stats,
        Op::AllMiners,
        Op::AllPolicies,
        Op::ListConfigs,
        Op::Latest,
    ];
    v.push(Op::Pending(100));
    // Limits applied after status filters, on the hot partitions.
    for h in 0..2u8 {
        for st in 0..3u8 {
            v.push(Op::TasksByMiner {
                hk: h,
                rev: 0,
                status: Some(st),
                limit: Some(1),
            });
        }
    }
    for failed in [false, true] {
        v.push(Op::Recent {
            hk: 0,
            limit: 1,
            status: Some(failed),
        });
    }
    for h in 0..3u8 {
        v.push(Op::Recent {
            hk: h,
            limit: 100,
            status: None,
        });
        v.push(Op::History(h, 10));
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
    v
}

// ---------------------------------------------------------------- strategies

fn idx(n: u8) -> impl Strategy<Value = u8> {
    0..n
}

/// Mostly 0, so one partition fills up and limits bite after filters.
fn hot(n: u8) -> impl Strategy<Value = u8> {
    prop_oneof![3 => Just(0u8), 1 => 0..n]
}

/// A valid sample (mostly), sometimes with an invalid part or a NaN score.
pub fn sample_spec(invalid_weight: u32) -> impl Strategy<Value = SampleSpec> {
    let bad = prop_oneof![
        100 => Just(None),
        invalid_weight => (idx(4), idx(4)).prop_map(Some),
    ];
    (
        idx(3),
        idx(2),
        idx(3),
        idx(3),
        prop_oneof![1 => Just(None), 6 => idx(AGES.len() as u8).prop_map(Some)],
        idx(SCORES.len() as u8),
        bad,
        prop_oneof![30 => Just(false), invalid_weight / 10 + 1 => Just(true)],
    )
        .prop_map(|(hk, rev, env, id, age, score, bad, nan)| SampleSpec {
            hk,
            rev,
            env,
            id,
            age,
            score,
            bad,
            nan,
        })
}

fn clock_ops() -> BoxedStrategy<Op> {
    prop_oneof![
        select(vec![
            1i64,
            999,
            1000,
            3_600_000,
            DAY_MS,
            7 * DAY_MS,
            30 * DAY_MS
        ])
        .prop_map(Op::Advance),
        (idx(8), -1i64..=1).prop_map(|(k, d)| Op::ToTaskTtl(k, d)),
        (idx(8), -1i64..=1).prop_map(|(k, d)| Op::ToLogTtl(k, d)),
        (idx(8), -1i64..=1).prop_map(|(k, d)| Op::ToScoreTtl(k, d)),
        (idx(8), select(vec![0i64, 1, 2, 90]), -1i64..=1)
            .prop_map(|(k, days, d)| Op::ToCutoff(k, days, d)),
        (idx(3), -1i64..=1).prop_map(|(h, d)| Op::ToPauseEnd(h, d)),
    ]
    .boxed()
}

fn sample_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        4 => sample_spec(invalid_weight).prop_map(Op::SaveSample),
        2 => prop::collection::vec(sample_spec(invalid_weight), 1..5).prop_map(Op::SaveSamples),
        2 => (idx(16), any::<bool>(), any::<bool>()).prop_map(|(k, miss, conv)| Op::GetSample { k, miss, conv }),
        2 => (idx(3), idx(2), prop::option::of(idx(3)), prop::option::of(0u8..4), any::<bool>(), any::<bool>())
            .prop_map(|(hk, rev, env, limit, newest, conv)| Op::ByMiner { hk, rev, env, limit, newest, conv }),
        2 => (idx(3), idx(AGES.len() as u8), idx(AGES.len() as u8), prop::option::of(0u8..4), any::<bool>())
            .prop_map(|(env, from_age, to_age, limit, conv)| Op::ByEnv { env, from_age, to_age, limit, conv }),
        1 => (idx(3), idx(2), idx(16), -1i64..=1).prop_map(|(hk, rev, k, delta)| Op::DeleteBefore { hk, rev, k, delta }),
    ]
    .boxed()
}

fn create_task(invalid_weight: u32) -> BoxedStrategy<Op> {
    (
        hot(3),
        hot(2),
        idx(3),
        idx(2),
        0i64..3,
        prop::option::of(select(vec![1i64, 2, 7])),
        prop_oneof![100 => Just(None), invalid_weight => (idx(3), idx(4)).prop_map(Some)],
    )
        .prop_map(
            |(hk, rev, env, hash, priority, ttl_days, bad)| Op::CreateTask {
                hk,
                rev,
                env,
                hash,
                priority,
                ttl_days,
                bad,
            },
        )
        .boxed()
}

fn task_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        4 => create_task(invalid_weight),
        2 => idx(8).prop_map(Op::GetTask),
        2 => (0u8..5).prop_map(Op::Pending),
        3 => idx(8).prop_map(Op::Start),
        1 => (idx(8), idx(2)).prop_map(|(k, h)| Op::StartChecked(k, h)),
        1 => idx(8).prop_map(Op::Claim),
        2 => idx(8).prop_map(Op::ClaimRace),
        1 => idx(8).prop_map(Op::Complete),
        2 => idx(8).prop_map(Op::Fail),
        3 => (hot(3), hot(2), prop::option::of(idx(3)), prop::option::of(0u8..4))
            .prop_map(|(hk, rev, status, limit)| Op::TasksByMiner { hk, rev, status, limit }),
        1 => (idx(3), idx(2)).prop_map(|(h, r)| Op::DeleteMinerTasks(h, r)),
        1 => select(vec![0i64, 60, 3600]).prop_map(Op::Requeue),
    ]
    .boxed()
}

fn log_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        4 => (hot(3), any::<bool>(), idx(3), prop::option::of(idx(2)),
              prop_oneof![100 => Just(None), invalid_weight => idx(4).prop_map(Some)])
            .prop_map(|(hk, failed, env, error_type, bad)| Op::Log { hk, failed, env, error_type, bad }),
        2 => (hot(3), 1u8..4, prop::option::of(any::<bool>()))
            .prop_map(|(hk, limit, status)| Op::Recent { hk, limit, status }),
        1 => (idx(3), 1u8..4).prop_map(|(h, n)| Op::Consecutive(h, n)),
        1 => (idx(3), select(vec![1i64, 60, DAY_S, 7 * DAY_S])).prop_map(|(h, w)| Op::ErrorSummary(h, w)),
        1 => (idx(3), select(vec![1i64, 60, DAY_S, 7 * DAY_S])).prop_map(|(h, w)| Op::ExecStats(h, w)),
    ]
    .boxed()
}

fn score_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        3 => (idx(4), idx(3), idx(SCORES.len() as u8), prop_oneof![30 => Just(false), invalid_weight / 10 + 1 => Just(true)])
            .prop_map(|(block, hk, score, nan)| Op::SaveScore { block, hk, score, nan }),
        3 => (idx(4), prop::collection::vec((idx(3), idx(SCORES.len() as u8)), 0..4))
            .prop_map(|(block, rows)| Op::Snapshot { block, rows }),
        2 => idx(4).prop_map(Op::ScoresAt),
        1 => Just(Op::Latest),
        1 => (idx(4), idx(3)).prop_map(|(b, h)| Op::MinerScoreAt(b, h)),
        2 => (idx(3), 1u8..4).prop_map(|(h, n)| Op::History(h, n)),
    ]
    .boxed()
}

fn config_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        4 => (idx(3), idx(7), prop_oneof![100 => Just(None), invalid_weight => idx(4).prop_map(Some)])
            .prop_map(|(name, kind, bad)| Op::SetParam { name, kind, bad }),
        2 => idx(3).prop_map(Op::GetParam),
        1 => idx(3).prop_map(Op::DeleteParam),
        1 => Just(Op::ListConfigs),
        1 => Just(Op::AllParams),
    ]
    .boxed()
}

fn miner_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        3 => (idx(3), idx(2), prop::option::of(select(vec![5i64, 7, 9])),
              prop_oneof![100 => Just(None), invalid_weight => idx(4).prop_map(Some)])
            .prop_map(|(hk, hash, first_block, bad)| Op::SaveMeta { hk, hash, first_block, bad }),
        2 => idx(3).prop_map(Op::GetMeta),
        3 => (idx(3), any::<bool>()).prop_map(|(h, ok)| Op::UpdateStats(h, ok)),
        2 => (idx(3), prop::option::of(select(vec![0i64, 1, 60, DAY_S]))).prop_map(|(h, d)| Op::Pause(h, d)),
        1 => idx(3).prop_map(Op::Unpause),
        2 => idx(3).prop_map(Op::CheckPause),
        1 => Just(Op::AllMiners),
    ]
    .boxed()
}

fn retention_ops(invalid_weight: u32) -> BoxedStrategy<Op> {
    prop_oneof![
        3 => (idx(3), any::<bool>(), select(vec![0i64, 1, 2, 90]),
              prop_oneof![100 => Just(None), invalid_weight => idx(4).prop_map(Some)])
            .prop_map(|(hk, protected, days, bad)| Op::SetPolicy { hk, protected, days, bad }),
        2 => idx(3).prop_map(Op::Protect),
        2 => idx(3).prop_map(Op::Unprotect),
        1 => idx(3).prop_map(Op::GetPolicy),
        1 => idx(3).prop_map(Op::CleanupTs),
        1 => Just(Op::AllPolicies),
        3 => any::<bool>().prop_map(Op::Cleanup),
    ]
    .boxed()
}

fn admin_ops() -> BoxedStrategy<Op> {
    prop_oneof![Just(Op::Stats), Just(Op::Purge)].boxed()
}

/// The property groups, each a mix of the ops it is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Invalid key parts everywhere, plus reads.
    Keys,
    /// TTL'd tables with clock moves onto ttls, and purges.
    Ttl,
    /// Samples, policies, snapshots, cleanups and cut-off moves.
    Retention,
    /// Score snapshots and their top-3 protection.
    Top3,
    /// The task queue.
    Tasks,
    /// Config versions.
    Config,
    /// Miner counters and pauses.
    Miners,
    /// Everything.
    All,
}

/// Operations of `group`.
pub fn op_strategy(group: Group) -> BoxedStrategy<Op> {
    match group {
        Group::Keys => prop_oneof![
            3 => sample_ops(60),
            2 => task_ops(60),
            1 => log_ops(60),
            1 => config_ops(60),
            1 => miner_ops(60),
            1 => retention_ops(60),
            1 => score_ops(60),
            1 => admin_ops(),
        ]
        .boxed(),
        Group::Ttl => prop_oneof![
            4 => clock_ops(),
            3 => task_ops(3),
            3 => log_ops(3),
            2 => score_ops(3),
            2 => admin_ops(),
        ]
        .boxed(),
        Group::Retention => prop_oneof![
            4 => sample_ops(3),
            3 => retention_ops(3),
            2 => score_ops(3),
            3 => clock_ops(),
            1 => admin_ops(),
        ]
        .boxed(),
        Group::Top3 => prop_oneof![
            4 => score_ops(3),
            2 => retention_ops(3),
            2 => sample_ops(3),
            2 => clock_ops(),
        ]
        .boxed(),
        Group::Tasks => prop_oneof![
            6 => task_ops(3),
            2 => clock_ops(),
            1 => miner_ops(3),
            1 => admin_ops(),
        ]
        .boxed(),
        Group::Config => prop_oneof![4 => config_ops(10), 1 => clock_ops()].boxed(),
        Group::Miners => prop_oneof![4 => miner_ops(10), 2 => clock_ops()].boxed(),
        Group::All => prop_oneof![
            2 => clock_ops(),
            2 => sample_ops(5),
            2 => task_ops(5),
            1 => log_ops(5),
            1 => score_ops(5),
            1 => config_ops(5),
            1 => miner_ops(5),
            1 => retention_ops(5),
            1 => admin_ops(),
        ]
        .boxed(),
    }
}

/// A sequence of `min..max` operations of `group`.
pub fn sequence(group: Group, min: usize, max: usize) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op_strategy(group), min..max)
}
