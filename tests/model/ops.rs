//! The operations of the property tests: what proptest generates ([`Op`],
//! with small indices into low-cardinality alphabets so keys collide), what
//! a world remembers of what it created ([`Registry`]), and the normalized
//! [`Outcome`] compared across worlds. How an op is applied is
//! [`super::apply`]; how ops are generated is [`super::strategies`].

use affine_db::tables::logs::ExecutionLog;
use affine_db::tables::samples::{NewSample, SampleKey};
use affine_db::tables::tasks::Task;
use affine_db::ttl::DAY_S;
use affine_db::Result;

/// Milliseconds in a day.
pub const DAY_MS: i64 = DAY_S * 1000;

/// Miner hotkeys (3, so they collide).
pub const HKS: [&str; 3] = ["hk0", "hk1", "hk2"];
/// Hotkeys of score rows: more than three, so the top-3 cut falls between
/// miners.
pub const SCORE_HKS: [&str; 5] = ["hk0", "hk1", "hk2", "hk3", "hk4"];
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
    /// The sample to save at `now_ms`. Every field varies with the spec, so
    /// a backend that mixes up or drops a field is seen.
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
        let salt = i64::from(self.hk) * 100 + i64::from(self.env) * 10 + i64::from(self.id);
        NewSample {
            sample_id: Some(sample_id),
            timestamp: self.age.map(|a| now_ms - AGES[a as usize % AGES.len()]),
            miner_hotkey,
            model_revision,
            model_hash: format!("hash{}", self.rev),
            uid: i64::from(self.hk),
            env,
            subset: format!("s{}", self.env),
            dataset_index: i64::from(self.score),
            task_id: format!("t{salt}"),
            score: if self.nan {
                f64::NAN
            } else {
                SCORES[self.score as usize % SCORES.len()]
            },
            success: self.score.is_multiple_of(2),
            latency_ms: 7 + salt,
            conversation: serde_json::json!([
                {"role": "user", "content": format!("q{}", self.score)},
                {"role": "assistant", "content": "a", "n": 1.5}
            ]),
            validator_hotkey: format!("v{}", self.id),
            block_number: 10 + salt,
            signature: format!("sig{salt}"),
        }
    }
}

/// A list limit: fixed, or the number of matches the model has right
/// before the op plus a delta (so limits land exactly on, just under and
/// just over the count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// This many.
    At(usize),
    /// The model's match count plus this (at least 0).
    Matches(i8),
}

/// The time range of `get_samples_by_env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// From `from` ago to `to` ago (indices into [`AGES`]).
    Ages(u8, u8),
    /// Around sample #k's timestamp: from it + `start` ms to it + `end` ms,
    /// in sample #k's env.
    AroundSample { k: u8, start: i64, end: i64 },
    /// From the earliest to the latest timestamp saved in the env (both
    /// ends exactly on samples).
    Span,
    /// From `start` to `end` ms.
    Ms(i64, i64),
}

/// The window of `get_error_summary` / `get_execution_stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// This many seconds, for the op's miner.
    Secs(i64),
    /// Starting at log #k's timestamp + `delta` seconds, for log #k's miner.
    AtLog(u8, i64),
}

/// One generated operation. Indices pick from the alphabets above; `k`
/// refers to the k-th (mod count) task, log, sample or score saved so far.
#[derive(Debug, Clone)]
pub enum Op {
    /// Move every clock forward by this many ms.
    Advance(i64),
    /// Move to the `ttl` of task #k plus `delta` seconds (never backwards),
    /// and read the task there.
    ToTaskTtl(u8, i64),
    /// Move to the `ttl` of log #k plus `delta` seconds, and read the
    /// miner's logs there.
    ToLogTtl(u8, i64),
    /// Move to the `ttl` of score write #k plus `delta` seconds, and read
    /// what it wrote there.
    ToScoreTtl(u8, i64),
    /// Move to where sample #k sits exactly on the retention cut-off of
    /// `days` days, plus `delta` ms.
    ToCutoff(u8, i64, i64),
    /// Move to the `pause_until` of a miner plus `delta` seconds, and apply
    /// the pause-expired rule there.
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
        limit: Option<Limit>,
        newest: bool,
        conv: bool,
    },
    /// `get_samples_by_env`.
    ByEnv {
        env: u8,
        range: Range,
        limit: Option<Limit>,
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
    /// `get_pending_tasks` by priority (`true`) or age.
    Pending(Limit, bool),
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
        limit: Option<Limit>,
    },
    /// `delete_miner_tasks`.
    DeleteMinerTasks(u8, u8),
    /// `requeue_stale_tasks` with a fixed timeout.
    Requeue(i64),
    /// `requeue_stale_tasks` with the timeout that puts the cut-off at task
    /// #k's `started_at` + `delta` seconds.
    RequeueAt(u8, i64),

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
        limit: Limit,
        status: Option<bool>,
    },
    /// `check_consecutive_errors` with a threshold.
    Consecutive(u8, Limit),
    /// `get_error_summary`.
    ErrorSummary(u8, Window),
    /// `get_execution_stats`.
    ExecStats(u8, Window),

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
    /// `get_miner_score_history` over this many blocks.
    History(u8, Limit),

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
        checked_ago: Option<i64>,
        bad: Option<u8>,
    },
    /// `get_metadata`.
    GetMeta(u8),
    /// `update_statistics` in a row on one miner: (success, count the sample).
    UpdateStats(u8, Vec<(bool, bool)>),
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
    /// `set_protected`, with `protected_since` = now − this many seconds
    /// when given.
    Protect(u8, Option<i64>),
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

/// The outcome of a result: its whole value (every field) or its variant.
pub fn out<T: std::fmt::Debug>(r: Result<T>) -> Outcome {
    match r {
        Ok(v) => Ok(format!("{v:?}")),
        Err(e) => Err(e.kind()),
    }
}

/// A task created in a world: its key, its ttl (the same in every world)
/// and when it was last started.
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
    /// `started_at` of the last successful claim.
    pub started_at: Option<i64>,
}

/// A log written in a world.
#[derive(Debug, Clone)]
pub struct LogRef {
    /// The world's generated id.
    pub id: String,
    /// Its miner.
    pub hk: String,
    /// Its timestamp.
    pub timestamp: i64,
    /// Expiry.
    pub ttl: i64,
}

/// A score write (one row or a whole snapshot).
#[derive(Debug, Clone)]
pub struct ScoreWrite {
    /// Expiry of what it wrote.
    pub ttl: i64,
    /// The block.
    pub block: i64,
    /// The miner of a single row; `None` for a snapshot.
    pub hk: Option<String>,
}

/// What a world created so far, so ops can refer to "task #k".
#[derive(Debug, Clone, Default)]
pub struct Registry {
    /// Tasks in creation order.
    pub tasks: Vec<TaskRef>,
    /// Logs in creation order.
    pub logs: Vec<LogRef>,
    /// Sample keys in save order.
    pub samples: Vec<SampleKey>,
    /// Every score write: its ttl, its block and (for one row) its miner.
    pub score_writes: Vec<ScoreWrite>,
}

impl Registry {
    /// Task #k (a key never created when there is none).
    pub fn task(&self, k: u8) -> TaskRef {
        if self.tasks.is_empty() {
            return TaskRef {
                hk: HKS[0].into(),
                rev: REVS[0].into(),
                id: "0000000000000000-missing".into(),
                ttl: 0,
                started_at: None,
            };
        }
        self.tasks[k as usize % self.tasks.len()].clone()
    }

    /// Sample #k, if any was saved.
    pub fn sample(&self, k: u8) -> Option<&SampleKey> {
        if self.samples.is_empty() {
            None
        } else {
            Some(&self.samples[k as usize % self.samples.len()])
        }
    }

    /// `started_at` of the k-th task that was ever started, if any.
    pub fn started_task(&self, k: u8) -> Option<i64> {
        let started: Vec<i64> = self.tasks.iter().filter_map(|t| t.started_at).collect();
        if started.is_empty() {
            None
        } else {
            Some(started[k as usize % started.len()])
        }
    }

    /// The k-th log still live at `now_s`, else log #k.
    pub fn live_log(&self, k: u8, now_s: i64) -> Option<&LogRef> {
        let live: Vec<&LogRef> = self.logs.iter().filter(|l| l.ttl > now_s).collect();
        if live.is_empty() {
            self.log(k)
        } else {
            Some(live[k as usize % live.len()])
        }
    }

    /// Log #k, if any was written.
    pub fn log(&self, k: u8) -> Option<&LogRef> {
        if self.logs.is_empty() {
            None
        } else {
            Some(&self.logs[k as usize % self.logs.len()])
        }
    }

    /// Records a claim's `started_at` on the task it started.
    pub fn started(&mut self, t: &Task) {
        if let Some(r) = self.tasks.iter_mut().find(|r| r.id == t.task_id) {
            r.started_at = t.started_at;
        }
    }

    /// The task with its generated id replaced by its creation index.
    pub fn norm_task(&self, mut t: Task) -> Task {
        t.task_id = match self.tasks.iter().position(|r| r.id == t.task_id) {
            Some(i) => format!("#{i}"),
            None => format!("?{}", t.task_id),
        };
        t
    }

    /// The log with its generated id replaced by its creation index.
    pub fn norm_log(&self, mut l: ExecutionLog) -> ExecutionLog {
        l.log_id = match self.logs.iter().position(|r| r.id == l.log_id) {
            Some(i) => format!("#{i}"),
            None => format!("?{}", l.log_id),
        };
        l
    }
}
