//! The reference model of the cross-backend property tests: the rules of
//! DESIGN §2–§4 as plain in-memory maps and linear scans, behind the same
//! table traits as the backends, so one driver runs an operation sequence
//! through the model, SQLite and DynamoDB and compares every result.
//!
//! It reuses only the core's pure helpers that are themselves the spec
//! (validation, key building, `ttl::is_live`, the ordering functions,
//! `latest_of`, `summarize_errors`, `execution_stats`) — never backend code,
//! and never the core's rules the backends execute (claims, failures,
//! requeues, counters, pauses, merges, policies, config versions): those
//! are written here again, plainly, so a wrong rule in the core makes both
//! backends diverge from the model.

#![allow(dead_code)]

pub mod apply;
pub mod harness;
pub mod ops;
pub mod strategies;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use affine_db::admin::{Admin, Capabilities, ScanPage};
use affine_db::clock::SharedClock;
use affine_db::item::Item;
use affine_db::keys;
use affine_db::schema::Table;
use affine_db::tables::config::{validate_param, ConfigParam, ConfigStore, ParamValue};
use affine_db::tables::logs::{
    execution_stats, summarize_errors, ErrorSummary, ExecutionLog, ExecutionStats, LogStatus,
    LogStore, NewLog,
};
use affine_db::tables::miners::{MinerInfo, MinerMetadata, MinerStore};
use affine_db::tables::retention::{
    validate_policy, RetentionPolicy, RetentionStore, DEFAULT_RETENTION_DAYS,
};
use affine_db::tables::samples::{
    env_order, miner_order, Conversation, MinerSamplesQuery, NewSample, Sample, SampleKey,
    SampleStore,
};
use affine_db::tables::scores::{
    latest_of, validate_block, validate_snapshot, LatestScores, Score, ScoreStore,
};
use affine_db::tables::tasks::{
    validate_task_key, Claim, NewTask, PendingOrder, Task, TaskStatus, TaskStore,
};
use affine_db::ttl::{self, is_live};
use affine_db::{Backend, Codec, Error, Result};
use async_trait::async_trait;

/// Everything the model stores. Items without a TTL are plain records;
/// items with one keep it next to the record (or in it).
#[derive(Debug, Default)]
struct State {
    samples: BTreeMap<SampleKey, Sample>,
    /// (hotkey, revision, task id) → task (its `ttl` is in the record).
    tasks: BTreeMap<(String, String, String), Task>,
    /// (hotkey, sort key) → log (its `ttl` is in the record).
    logs: BTreeMap<(String, String), ExecutionLog>,
    /// (block, hotkey) → (row, ttl).
    scores: BTreeMap<(i64, String), (Score, i64)>,
    /// block → ttl of the snapshot header item (always `complete` here:
    /// the model writes a snapshot in one step).
    headers: BTreeMap<i64, i64>,
    config: BTreeMap<String, ConfigParam>,
    miners: BTreeMap<String, MinerMetadata>,
    policies: BTreeMap<String, RetentionPolicy>,
}

/// The reference model: one mutex around [`State`], so every operation is
/// atomic by construction.
#[derive(Debug)]
pub struct Model {
    state: Mutex<State>,
    clock: SharedClock,
}

impl Model {
    /// An empty model reading `clock`.
    pub fn new(clock: SharedClock) -> Arc<Model> {
        Arc::new(Model {
            state: Mutex::new(State::default()),
            clock,
        })
    }

    fn st(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("model state poisoned")
    }

    fn now_s(&self) -> i64 {
        self.clock.now_s()
    }

    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

fn with_conversation(mut s: Sample, conversation: Conversation) -> Sample {
    if conversation == Conversation::Skip {
        s.conversation = None;
    }
    s
}

/// Stores `s`; with a given id, first drops every sample of that miner and
/// revision with the same id (the re-save rule).
fn resave(samples: &mut std::collections::BTreeMap<SampleKey, Sample>, s: Sample, given: bool) {
    if given {
        samples.retain(|k, _| {
            !(k.miner_hotkey == s.miner_hotkey
                && k.model_revision == s.model_revision
                && k.sample_id == s.sample_id)
        });
    }
    samples.insert(s.key(), s);
}

fn task_not_found(task_id: &str) -> Error {
    Error::NotFound(format!("task {task_id}"))
}

#[async_trait]
impl SampleStore for Model {
    async fn save_sample(&self, sample: NewSample) -> Result<Sample> {
        let given = sample.sample_id.is_some();
        let s = sample.into_sample(self.now_ms())?;
        s.to_item(&Codec::default())?;
        resave(&mut self.st().samples, s.clone(), given);
        Ok(s)
    }

    async fn save_samples(&self, samples: Vec<NewSample>) -> Result<Vec<SampleKey>> {
        let now = self.now_ms();
        let mut ready = Vec::new();
        for ns in samples {
            let given = ns.sample_id.is_some();
            let s = ns.into_sample(now)?;
            s.to_item(&Codec::default())?;
            ready.push((s, given));
        }
        let mut st = self.st();
        let mut out: Vec<SampleKey> = Vec::new();
        for (s, given) in ready {
            let key = s.key();
            if given {
                // A later sample with the same id replaces an earlier one's slot.
                for k in out.iter_mut() {
                    if k.miner_hotkey == key.miner_hotkey
                        && k.model_revision == key.model_revision
                        && k.sample_id == key.sample_id
                    {
                        *k = key.clone();
                    }
                }
            }
            out.push(key);
            resave(&mut st.samples, s, given);
        }
        Ok(out)
    }

    async fn get_sample(
        &self,
        key: &SampleKey,
        conversation: Conversation,
    ) -> Result<Option<Sample>> {
        key.validate()?;
        Ok(self
            .st()
            .samples
            .get(key)
            .cloned()
            .map(|s| with_conversation(s, conversation)))
    }

    async fn get_samples_by_miner(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        query: &MinerSamplesQuery,
    ) -> Result<Vec<Sample>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        keys::validate_part("model_revision", model_revision)?;
        if let Some(env) = &query.env {
            keys::validate_part("env", env)?;
        }
        let mut v: Vec<Sample> = self
            .st()
            .samples
            .values()
            .filter(|s| s.miner_hotkey == miner_hotkey && s.model_revision == model_revision)
            .filter(|s| query.env.as_ref().is_none_or(|e| &s.env == e))
            .cloned()
            .collect();
        v.sort_by(miner_order);
        if query.newest_first {
            v.reverse();
        }
        if let Some(limit) = query.limit {
            v.truncate(limit);
        }
        Ok(v.into_iter()
            .map(|s| with_conversation(s, query.conversation))
            .collect())
    }

    async fn get_samples_by_env(
        &self,
        env: &str,
        start_ms: i64,
        end_ms: i64,
        limit: Option<usize>,
        conversation: Conversation,
    ) -> Result<Vec<Sample>> {
        keys::validate_part("env", env)?;
        let mut v: Vec<Sample> = self
            .st()
            .samples
            .values()
            .filter(|s| s.env == env && start_ms <= s.timestamp && s.timestamp <= end_ms)
            .cloned()
            .collect();
        v.sort_by(env_order);
        if let Some(limit) = limit {
            v.truncate(limit);
        }
        Ok(v.into_iter()
            .map(|s| with_conversation(s, conversation))
            .collect())
    }

    async fn delete_samples_before(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        before_ms: i64,
    ) -> Result<usize> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        keys::validate_part("model_revision", model_revision)?;
        let mut st = self.st();
        let before = st.samples.len();
        st.samples.retain(|_, s| {
            !(s.miner_hotkey == miner_hotkey
                && s.model_revision == model_revision
                && s.timestamp < before_ms)
        });
        Ok(before - st.samples.len())
    }

    async fn count_samples_before(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        before_ms: i64,
    ) -> Result<usize> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        keys::validate_part("model_revision", model_revision)?;
        Ok(self
            .st()
            .samples
            .values()
            .filter(|s| {
                s.miner_hotkey == miner_hotkey
                    && s.model_revision == model_revision
                    && s.timestamp < before_ms
            })
            .count())
    }

    async fn list_sample_owners(&self) -> Result<Vec<(String, String)>> {
        let mut v: Vec<(String, String)> = self
            .st()
            .samples
            .values()
            .map(|s| (s.miner_hotkey.clone(), s.model_revision.clone()))
            .collect();
        v.sort();
        v.dedup();
        Ok(v)
    }
}

fn task_key(h: &str, r: &str, id: &str) -> (String, String, String) {
    (h.to_string(), r.to_string(), id.to_string())
}

impl Model {
    /// The live task, or `NotFound`.
    fn live_task(&self, st: &State, h: &str, r: &str, id: &str) -> Result<Task> {
        st.tasks
            .get(&task_key(h, r, id))
            .filter(|t| is_live(t.ttl, self.now_s()))
            .cloned()
            .ok_or_else(|| task_not_found(id))
    }

    /// pending → running, or `Conflict`.
    fn claim(&self, st: &mut State, mut task: Task) -> Result<Task> {
        if task.status != TaskStatus::Pending {
            return Err(Error::Conflict(format!(
                "task {} is {}",
                task.task_id, task.status
            )));
        }
        task.status = TaskStatus::Running;
        task.started_at = Some(self.now_s());
        st.tasks.insert(
            task_key(&task.miner_hotkey, &task.model_revision, &task.task_id),
            task.clone(),
        );
        Ok(task)
    }
}

#[async_trait]
impl TaskStore for Model {
    async fn create_task(&self, task: NewTask) -> Result<Task> {
        let t = task.into_task(self.now_ms())?;
        self.st().tasks.insert(
            task_key(&t.miner_hotkey, &t.model_revision, &t.task_id),
            t.clone(),
        );
        Ok(t)
    }

    async fn get_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<Option<Task>> {
        validate_task_key(miner_hotkey, model_revision, task_id)?;
        Ok(self
            .live_task(&self.st(), miner_hotkey, model_revision, task_id)
            .ok())
    }

    async fn get_pending_tasks(&self, limit: usize, order: PendingOrder) -> Result<Vec<Task>> {
        let now = self.now_s();
        let mut v: Vec<Task> = self
            .st()
            .tasks
            .values()
            .filter(|t| is_live(t.ttl, now) && t.status == TaskStatus::Pending)
            .cloned()
            .collect();
        v.sort_by(|a, b| order.compare(a, b));
        v.truncate(limit);
        Ok(v)
    }

    async fn start_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<Task> {
        validate_task_key(miner_hotkey, model_revision, task_id)?;
        let mut st = self.st();
        let task = self.live_task(&st, miner_hotkey, model_revision, task_id)?;
        self.claim(&mut st, task)
    }

    async fn start_task_checked(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
        current_model_hash: &str,
    ) -> Result<Claim> {
        validate_task_key(miner_hotkey, model_revision, task_id)?;
        let mut st = self.st();
        let task = self.live_task(&st, miner_hotkey, model_revision, task_id)?;
        if task.model_hash != current_model_hash {
            st.tasks
                .remove(&task_key(miner_hotkey, model_revision, task_id));
            return Ok(Claim::Stale);
        }
        self.claim(&mut st, task).map(Claim::Started)
    }

    async fn complete_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
    ) -> Result<bool> {
        validate_task_key(miner_hotkey, model_revision, task_id)?;
        let mut st = self.st();
        let existed = self
            .live_task(&st, miner_hotkey, model_revision, task_id)
            .is_ok();
        st.tasks
            .remove(&task_key(miner_hotkey, model_revision, task_id));
        Ok(existed)
    }

    async fn fail_task(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        task_id: &str,
        error: &str,
    ) -> Result<Task> {
        validate_task_key(miner_hotkey, model_revision, task_id)?;
        let mut st = self.st();
        let mut task = self.live_task(&st, miner_hotkey, model_revision, task_id)?;
        task.status = TaskStatus::Failed;
        task.error_count += 1;
        task.last_error = Some(error.to_string());
        task.completed_at = Some(self.now_s());
        st.tasks.insert(
            task_key(miner_hotkey, model_revision, task_id),
            task.clone(),
        );
        Ok(task)
    }

    async fn get_tasks_by_miner(
        &self,
        miner_hotkey: &str,
        model_revision: &str,
        status: Option<TaskStatus>,
        limit: Option<usize>,
    ) -> Result<Vec<Task>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        keys::validate_part("model_revision", model_revision)?;
        let now = self.now_s();
        let mut v: Vec<Task> = self
            .st()
            .tasks
            .values()
            .filter(|t| t.miner_hotkey == miner_hotkey && t.model_revision == model_revision)
            .filter(|t| is_live(t.ttl, now))
            .filter(|t| status.is_none_or(|s| t.status == s))
            .cloned()
            .collect();
        // Newest first, as the original.
        v.sort_by(|a, b| b.task_id.cmp(&a.task_id));
        if let Some(limit) = limit {
            v.truncate(limit);
        }
        Ok(v)
    }

    async fn delete_miner_tasks(&self, miner_hotkey: &str, model_revision: &str) -> Result<usize> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        keys::validate_part("model_revision", model_revision)?;
        let now = self.now_s();
        let mut st = self.st();
        let mut live = 0;
        st.tasks.retain(|_, t| {
            let mine = t.miner_hotkey == miner_hotkey && t.model_revision == model_revision;
            if mine && is_live(t.ttl, now) {
                live += 1;
            }
            !mine
        });
        Ok(live)
    }

    async fn requeue_stale_tasks(&self, timeout_s: i64) -> Result<usize> {
        if timeout_s < 0 {
            return Err(Error::invalid("timeout_s", "negative"));
        }
        let now = self.now_s();
        let cutoff = now - timeout_s;
        let mut n = 0;
        for t in self.st().tasks.values_mut() {
            if is_live(t.ttl, now)
                && t.status == TaskStatus::Running
                && t.started_at.is_some_and(|s| s <= cutoff)
            {
                t.status = TaskStatus::Pending;
                t.started_at = None;
                n += 1;
            }
        }
        Ok(n)
    }
}

impl Model {
    /// A miner's live logs, newest first by sort key.
    fn live_logs(&self, miner_hotkey: &str) -> Vec<ExecutionLog> {
        let now = self.now_s();
        let mut v: Vec<ExecutionLog> = self
            .st()
            .logs
            .values()
            .filter(|l| l.miner_hotkey == miner_hotkey && is_live(l.ttl, now))
            .cloned()
            .collect();
        v.sort_by_key(|l| std::cmp::Reverse(l.sk()));
        v
    }

    fn logs_in_window(&self, miner_hotkey: &str, window_s: i64) -> Vec<ExecutionLog> {
        let from = self.now_s() - window_s;
        let mut v = self.live_logs(miner_hotkey);
        v.retain(|l| l.timestamp >= from);
        v
    }
}

#[async_trait]
impl LogStore for Model {
    async fn log_execution(&self, log: NewLog) -> Result<ExecutionLog> {
        let l = log.into_log(self.now_ms())?;
        self.st()
            .logs
            .insert((l.miner_hotkey.clone(), l.sk()), l.clone());
        Ok(l)
    }

    async fn get_recent_logs(
        &self,
        miner_hotkey: &str,
        limit: usize,
        status: Option<LogStatus>,
    ) -> Result<Vec<ExecutionLog>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let mut v = self.live_logs(miner_hotkey);
        v.retain(|l| status.is_none_or(|s| l.status == s));
        v.truncate(limit);
        Ok(v)
    }

    async fn check_consecutive_errors(&self, miner_hotkey: &str, threshold: usize) -> Result<bool> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let mut v = self.live_logs(miner_hotkey);
        v.truncate(threshold);
        Ok(v.len() == threshold && v.iter().all(|l| l.status == LogStatus::Failed))
    }

    async fn get_error_summary(&self, miner_hotkey: &str, window_s: i64) -> Result<ErrorSummary> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        Ok(summarize_errors(
            self.logs_in_window(miner_hotkey, window_s),
        ))
    }

    async fn get_execution_stats(
        &self,
        miner_hotkey: &str,
        window_s: i64,
    ) -> Result<ExecutionStats> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        Ok(execution_stats(
            &self.logs_in_window(miner_hotkey, window_s),
        ))
    }
}

impl Model {
    /// Blocks with live rows, newest first.
    fn blocks_desc(&self, st: &State) -> Vec<i64> {
        let now = self.now_s();
        let mut v: Vec<i64> = st
            .scores
            .iter()
            .filter(|(_, (_, ttl))| is_live(*ttl, now))
            .map(|((b, _), _)| *b)
            .collect();
        v.sort();
        v.dedup();
        v.reverse();
        v
    }

    /// Live rows of `block`, by hotkey.
    fn block_rows(&self, st: &State, block: i64) -> Vec<Score> {
        let now = self.now_s();
        st.scores
            .iter()
            .filter(|((b, _), (_, ttl))| *b == block && is_live(*ttl, now))
            .map(|(_, (s, _))| s.clone())
            .collect()
    }
}

#[async_trait]
impl ScoreStore for Model {
    async fn save_score(&self, score: Score) -> Result<()> {
        score.validate()?;
        let ttl = ttl::expires_at(self.now_s(), ttl::SCORE_TTL_DAYS);
        self.st().scores.insert(
            (score.block_number, score.miner_hotkey.clone()),
            (score, ttl),
        );
        Ok(())
    }

    async fn save_snapshot(&self, block_number: i64, scores: Vec<Score>) -> Result<()> {
        validate_snapshot(block_number, &scores)?;
        let ttl = ttl::expires_at(self.now_s(), ttl::SCORE_TTL_DAYS);
        let mut st = self.st();
        st.scores.retain(|(b, _), _| *b != block_number);
        for s in scores {
            st.scores
                .insert((block_number, s.miner_hotkey.clone()), (s, ttl));
        }
        st.headers.insert(block_number, ttl);
        Ok(())
    }

    async fn get_scores_at_block(&self, block_number: i64) -> Result<Vec<Score>> {
        validate_block(block_number)?;
        Ok(self.block_rows(&self.st(), block_number))
    }

    async fn get_latest_scores(&self) -> Result<Option<LatestScores>> {
        let st = self.st();
        Ok(self
            .blocks_desc(&st)
            .first()
            .map(|b| latest_of(*b, self.block_rows(&st, *b))))
    }

    async fn get_miner_score_at_block(
        &self,
        block_number: i64,
        miner_hotkey: &str,
    ) -> Result<Option<Score>> {
        validate_block(block_number)?;
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let st = self.st();
        Ok(self
            .block_rows(&st, block_number)
            .into_iter()
            .find(|s| s.miner_hotkey == miner_hotkey))
    }

    async fn get_miner_score_history(
        &self,
        miner_hotkey: &str,
        blocks: usize,
    ) -> Result<Vec<Score>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let st = self.st();
        let mut out = Vec::new();
        for b in self.blocks_desc(&st).into_iter().take(blocks) {
            out.extend(
                self.block_rows(&st, b)
                    .into_iter()
                    .filter(|s| s.miner_hotkey == miner_hotkey),
            );
        }
        Ok(out)
    }
}

#[async_trait]
impl ConfigStore for Model {
    async fn set_param(
        &self,
        param_name: &str,
        value: ParamValue,
        description: &str,
        updated_by: &str,
    ) -> Result<ConfigParam> {
        validate_param(param_name, &value)?;
        let mut st = self.st();
        let version = st.config.get(param_name).map_or(1, |p| p.version + 1);
        let p = ConfigParam {
            param_name: param_name.to_string(),
            param_type: value.param_type(),
            param_value: value,
            description: description.to_string(),
            updated_at: self.now_s(),
            updated_by: updated_by.to_string(),
            version,
        };
        st.config.insert(param_name.to_string(), p.clone());
        Ok(p)
    }

    async fn get_param(&self, param_name: &str) -> Result<Option<ConfigParam>> {
        keys::validate_part("param_name", param_name)?;
        Ok(self.st().config.get(param_name).cloned())
    }

    async fn delete_param(&self, param_name: &str) -> Result<bool> {
        keys::validate_part("param_name", param_name)?;
        Ok(self.st().config.remove(param_name).is_some())
    }

    async fn list_all_configs(&self) -> Result<Vec<ConfigParam>> {
        Ok(self.st().config.values().cloned().collect())
    }
}

impl Model {
    fn update_miner(
        &self,
        miner_hotkey: &str,
        f: impl FnOnce(&mut MinerMetadata),
    ) -> Result<MinerMetadata> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let mut st = self.st();
        let m = st
            .miners
            .get_mut(miner_hotkey)
            .ok_or_else(|| Error::NotFound(format!("miner {miner_hotkey}")))?;
        f(m);
        Ok(m.clone())
    }
}

/// DESIGN §3 `save_metadata`, written independently of the core's rule:
/// metadata from `info`, statistics and pause state kept, the earliest
/// `first_commit_block`.
fn merge(info: MinerInfo, existing: Option<&MinerMetadata>, now_s: i64) -> MinerMetadata {
    let base = existing.cloned().unwrap_or_default();
    // The original's default: no first commit block means the last one.
    let given_first = info.first_commit_block.or(info.last_commit_block);
    let first_commit_block = match (base.first_commit_block, given_first) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    MinerMetadata {
        first_commit_block,
        miner_hotkey: info.miner_hotkey,
        uid: info.uid,
        current_revision: info.current_revision,
        model_hash: info.model_hash,
        model_name: info.model_name,
        chutes_slug: info.chutes_slug,
        chutes_status: info.chutes_status,
        chutes_last_checked: info.chutes_last_checked.unwrap_or(now_s),
        last_commit_block: info.last_commit_block,
        updated_at: now_s,
        ..base
    }
}

/// DESIGN §3 `set_policy`, written independently of the core's rule:
/// `protected_since` kept while protected (or `since` when given), now
/// when becoming protected, cleared when unprotected; `last_cleanup_at` kept.
fn apply_policy(
    existing: Option<&RetentionPolicy>,
    miner_hotkey: &str,
    is_protected: bool,
    reason: Option<String>,
    retention_days: i64,
    now_s: i64,
    since: Option<i64>,
) -> RetentionPolicy {
    let protected_since = is_protected.then(|| {
        since.unwrap_or_else(|| {
            existing
                .filter(|p| p.is_protected)
                .and_then(|p| p.protected_since)
                .unwrap_or(now_s)
        })
    });
    RetentionPolicy {
        miner_hotkey: miner_hotkey.to_string(),
        is_protected,
        protection_reason: if is_protected { reason } else { None },
        retention_days,
        last_cleanup_at: existing.and_then(|p| p.last_cleanup_at),
        protected_since,
    }
}

fn unpause(m: &mut MinerMetadata) {
    m.is_paused = false;
    m.pause_reason = None;
    m.pause_until = None;
}

#[async_trait]
impl MinerStore for Model {
    async fn save_metadata(&self, info: MinerInfo) -> Result<MinerMetadata> {
        info.validate()?;
        let mut st = self.st();
        let existing = st.miners.get(&info.miner_hotkey).cloned();
        let m = merge(info, existing.as_ref(), self.now_s());
        st.miners.insert(m.miner_hotkey.clone(), m.clone());
        Ok(m)
    }

    async fn get_metadata(&self, miner_hotkey: &str) -> Result<Option<MinerMetadata>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        Ok(self.st().miners.get(miner_hotkey).cloned())
    }

    async fn update_statistics(
        &self,
        miner_hotkey: &str,
        success: bool,
        increment_samples: bool,
    ) -> Result<MinerMetadata> {
        let now = self.now_s();
        self.update_miner(miner_hotkey, |m| {
            m.total_samples += i64::from(increment_samples);
            if success {
                m.success_count += 1;
                m.consecutive_errors = 0;
            } else {
                m.error_count += 1;
                m.consecutive_errors += 1;
            }
            m.last_sample_time = Some(now);
        })
    }

    async fn pause_miner(
        &self,
        miner_hotkey: &str,
        reason: &str,
        duration_s: Option<i64>,
    ) -> Result<MinerMetadata> {
        if duration_s.is_some_and(|d| d < 0) {
            return Err(Error::invalid("duration_s", "negative"));
        }
        let now = self.now_s();
        self.update_miner(miner_hotkey, |m| {
            m.is_paused = true;
            m.pause_reason = Some(reason.to_string());
            m.pause_until = duration_s.map(|d| now + d);
        })
    }

    async fn unpause_miner(&self, miner_hotkey: &str) -> Result<MinerMetadata> {
        self.update_miner(miner_hotkey, unpause)
    }

    async fn check_pause_expired(&self, miner_hotkey: &str) -> Result<bool> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let now = self.now_s();
        let mut st = self.st();
        match st.miners.get_mut(miner_hotkey) {
            Some(m) if m.is_paused && m.pause_until.is_some_and(|u| u <= now) => {
                unpause(m);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn get_all_miners(&self) -> Result<Vec<MinerMetadata>> {
        Ok(self.st().miners.values().cloned().collect())
    }
}

impl Model {
    fn put_policy(
        &self,
        miner_hotkey: &str,
        is_protected: bool,
        reason: Option<String>,
        days: Option<i64>,
        since: Option<i64>,
    ) -> Result<RetentionPolicy> {
        if since.is_some_and(|s| s < 0) {
            return Err(Error::invalid("protected_since", "negative"));
        }
        let mut st = self.st();
        let existing = st.policies.get(miner_hotkey);
        let days =
            days.unwrap_or_else(|| existing.map_or(DEFAULT_RETENTION_DAYS, |p| p.retention_days));
        validate_policy(miner_hotkey, days)?;
        let p = apply_policy(
            existing,
            miner_hotkey,
            is_protected,
            reason,
            days,
            self.now_s(),
            since,
        );
        st.policies.insert(miner_hotkey.to_string(), p.clone());
        Ok(p)
    }
}

#[async_trait]
impl RetentionStore for Model {
    async fn set_policy(
        &self,
        miner_hotkey: &str,
        is_protected: bool,
        protection_reason: Option<String>,
        retention_days: i64,
    ) -> Result<RetentionPolicy> {
        self.put_policy(
            miner_hotkey,
            is_protected,
            protection_reason,
            Some(retention_days),
            None,
        )
    }

    async fn get_policy(&self, miner_hotkey: &str) -> Result<Option<RetentionPolicy>> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        Ok(self.st().policies.get(miner_hotkey).cloned())
    }

    async fn set_protected(
        &self,
        miner_hotkey: &str,
        reason: &str,
        protected_since: Option<i64>,
    ) -> Result<RetentionPolicy> {
        self.put_policy(
            miner_hotkey,
            true,
            Some(reason.to_string()),
            None,
            protected_since,
        )
    }

    async fn set_unprotected(&self, miner_hotkey: &str) -> Result<RetentionPolicy> {
        self.put_policy(miner_hotkey, false, None, None, None)
    }

    async fn update_cleanup_timestamp(&self, miner_hotkey: &str) -> Result<RetentionPolicy> {
        keys::validate_part("miner_hotkey", miner_hotkey)?;
        let now = self.now_s();
        let mut st = self.st();
        let p = st
            .policies
            .entry(miner_hotkey.to_string())
            .or_insert_with(|| RetentionPolicy::default_for(miner_hotkey));
        p.last_cleanup_at = Some(now);
        Ok(p.clone())
    }

    async fn get_all_policies(&self) -> Result<Vec<RetentionPolicy>> {
        Ok(self.st().policies.values().cloned().collect())
    }
}

fn not_modelled(what: &str) -> Error {
    Error::backend(format!(
        "the reference model does not model raw item access ({what})"
    ))
}

#[async_trait]
impl Admin for Model {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            name: "model",
            max_batch_write: usize::MAX,
            writes_in_flight: usize::MAX,
            server_side_ttl: false,
        }
    }

    fn describe(&self) -> String {
        "in-memory reference model".into()
    }

    async fn init_with(
        &self,
        _progress: affine_db::admin::Progress<'_>,
    ) -> Result<Vec<affine_db::drift::Drift>> {
        Ok(Vec::new())
    }

    async fn check(&self) -> Result<Vec<affine_db::drift::Drift>> {
        // The model is its own declaration.
        Ok(Vec::new())
    }

    async fn list_tables(&self) -> Result<Vec<String>> {
        Ok(Table::ALL.iter().map(|t| t.name().to_string()).collect())
    }

    async fn reset(&self) -> Result<()> {
        *self.st() = State::default();
        Ok(())
    }

    async fn stats(&self) -> Result<BTreeMap<Table, u64>> {
        let now = self.now_s();
        let st = self.st();
        let n = |x: usize| x as u64;
        let mut out = BTreeMap::new();
        out.insert(Table::SampleResults, n(st.samples.len()));
        out.insert(
            Table::TaskQueue,
            n(st.tasks.values().filter(|t| is_live(t.ttl, now)).count()),
        );
        out.insert(
            Table::ExecutionLogs,
            n(st.logs.values().filter(|l| is_live(l.ttl, now)).count()),
        );
        let rows = st.scores.values().filter(|(_, t)| is_live(*t, now)).count();
        let headers = st.headers.values().filter(|t| is_live(**t, now)).count();
        out.insert(Table::Scores, n(rows + headers));
        out.insert(Table::SystemConfig, n(st.config.len()));
        out.insert(Table::MinerMetadata, n(st.miners.len()));
        out.insert(Table::DataRetentionPolicy, n(st.policies.len()));
        Ok(out)
    }

    async fn purge_expired(&self) -> Result<u64> {
        let now = self.now_s();
        let mut st = self.st();
        let before = st.tasks.len() + st.logs.len() + st.scores.len() + st.headers.len();
        st.tasks.retain(|_, t| is_live(t.ttl, now));
        st.logs.retain(|_, l| is_live(l.ttl, now));
        st.scores.retain(|_, (_, t)| is_live(*t, now));
        st.headers.retain(|_, t| is_live(*t, now));
        let after = st.tasks.len() + st.logs.len() + st.scores.len() + st.headers.len();
        Ok((before - after) as u64)
    }

    async fn scan_page(&self, _: Table, _: Option<String>, _: usize) -> Result<ScanPage> {
        Err(not_modelled("scan_page"))
    }

    async fn get_items(&self, _: Table, _: Vec<(String, String)>) -> Result<Vec<Item>> {
        Err(not_modelled("get_items"))
    }

    async fn put_items(&self, _: Table, _: Vec<Item>) -> Result<()> {
        Err(not_modelled("put_items"))
    }

    async fn delete_items(&self, _: Table, _: Vec<(String, String)>) -> Result<usize> {
        Err(not_modelled("delete_items"))
    }
}

impl Backend for Model {
    fn clock(&self) -> SharedClock {
        self.clock.clone()
    }

    fn shared_codec(&self) -> Arc<Codec> {
        Arc::new(Codec::default())
    }
}
