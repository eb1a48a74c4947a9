//! The workload: what each iteration does, the workers running it, and
//! the cleanup of everything a run wrote.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use affine_db::{
    keys, rules, Claim, Conversation, Error, LogStatus, MinerInfo, MinerSamplesQuery, NewLog,
    NewSample, NewTask, Result, Score, Store, Table, Task,
};
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::data::{conversation, hex};
use super::Args;

/// Score blocks of a run are below this; real blocks are in the millions.
pub(super) const BLOCK_CEILING: i64 = 1_000_000;
/// Environments the samples and tasks rotate over.
pub(super) const ENVS: [&str; 4] = ["SAT", "ABD", "DED", "ELR"];
/// How many of a miner's newest samples the sample read asks for.
pub(super) const RECENT_SAMPLES: usize = 50;
/// Lifetime of the bench's tasks: a run killed before its cleanup leaves
/// tasks that expire after a day.
pub(super) const TASK_TTL_DAYS: i64 = 1;

/// The kinds of operation, in the order of an iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Op {
    CreateTask,
    ClaimTask,
    SaveSample,
    CompleteTask,
    LogExecution,
    ReadLatestScores,
    ReadSamples,
    SaveScores,
}

impl Op {
    pub(super) const ALL: [Op; 8] = [
        Op::CreateTask,
        Op::ClaimTask,
        Op::SaveSample,
        Op::CompleteTask,
        Op::LogExecution,
        Op::ReadLatestScores,
        Op::ReadSamples,
        Op::SaveScores,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Op::CreateTask => "create_task",
            Op::ClaimTask => "claim_task",
            Op::SaveSample => "save_sample",
            Op::CompleteTask => "complete_task",
            Op::LogExecution => "log_execution",
            Op::ReadLatestScores => "read_latest_scores",
            Op::ReadSamples => "read_samples",
            Op::SaveScores => "save_scores",
        }
    }
}

/// The operations of iteration `i`.
pub(super) fn plan(i: u64, snapshot_every: u64) -> Vec<Op> {
    let mut ops = vec![
        Op::CreateTask,
        Op::ClaimTask,
        Op::SaveSample,
        Op::CompleteTask,
        Op::LogExecution,
    ];
    if i.is_multiple_of(2) {
        ops.push(Op::ReadLatestScores);
    }
    if i.is_multiple_of(4) {
        ops.push(Op::ReadSamples);
    }
    if i.is_multiple_of(snapshot_every) {
        ops.push(Op::SaveScores);
    }
    ops
}

/// One of the run's miners.
pub(super) struct Miner {
    pub(super) hotkey: String,
    pub(super) revision: String,
    pub(super) model_hash: String,
    pub(super) uid: i64,
}

/// Score blocks: the next candidate and the ones written (or attempted).
pub(super) struct Blocks {
    pub(super) next: i64,
    pub(super) written: Vec<i64>,
}

/// What the workers share.
pub(super) struct Bench {
    pub(super) store: Store,
    pub(super) run: String,
    pub(super) miners: Vec<Miner>,
    pub(super) validator: String,
    pub(super) seed: u64,
    pub(super) ops: u64,
    pub(super) snapshot_every: u64,
    pub(super) tickets: AtomicU64,
    pub(super) iterations: AtomicU64,
    pub(super) stop: AtomicBool,
    /// Also serialises the snapshots, like a validator's one weight setter.
    pub(super) blocks: tokio::sync::Mutex<Blocks>,
    pub(super) bar: Option<ProgressBar>,
}

/// What one worker measured and wrote.
#[derive(Default)]
pub(super) struct WorkerOut {
    /// Latencies in nanoseconds, by operation.
    pub(super) latencies: BTreeMap<Op, Vec<u64>>,
    /// Keys of the execution logs written.
    pub(super) logs: Vec<(String, String)>,
    pub(super) error: Option<Error>,
}

/// Runs `fut` and times it.
pub(super) async fn timed<T>(fut: impl Future<Output = Result<T>>) -> Result<(T, Duration)> {
    let start = Instant::now();
    let value = fut.await?;
    Ok((value, start.elapsed()))
}

/// A seed for iteration `i` of a run seeded with `seed`.
pub(super) fn iteration_seed(seed: u64, i: u64) -> u64 {
    seed ^ i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Bench {
    /// A run with a fresh id: its own miners and a first score block chosen
    /// from the id.
    pub(super) fn new(store: Store, args: &Args, bar: Option<ProgressBar>) -> Bench {
        let id = uuid::Uuid::new_v4();
        let run = id.simple().to_string()[..12].to_string();
        let miners = (0..args.miners)
            .map(|n| Miner {
                hotkey: format!("bench-{run}-{n}"),
                revision: format!("bench-rev-{n}"),
                model_hash: format!("bench-hash-{n}"),
                uid: n as i64,
            })
            .collect();
        Bench {
            store,
            validator: format!("bench-{run}-validator"),
            run,
            miners,
            seed: args.seed,
            ops: args.ops,
            snapshot_every: args.snapshot_every,
            tickets: AtomicU64::new(0),
            iterations: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            blocks: tokio::sync::Mutex::new(Blocks {
                next: 1 + (id.as_u128() % (BLOCK_CEILING as u128 / 2)) as i64,
                written: Vec::new(),
            }),
            bar,
        }
    }

    /// Takes the right to run one more operation.
    pub(super) fn take_ticket(&self) -> bool {
        !self.stop.load(Ordering::SeqCst) && self.tickets.fetch_add(1, Ordering::SeqCst) < self.ops
    }

    /// Writes the miners' metadata (not measured), so claims are validated
    /// against a model hash as a validator's are.
    pub(super) async fn register_miners(&self) -> Result<()> {
        for m in &self.miners {
            self.store
                .miners
                .save_metadata(MinerInfo {
                    miner_hotkey: m.hotkey.clone(),
                    uid: m.uid,
                    current_revision: m.revision.clone(),
                    model_hash: m.model_hash.clone(),
                    model_name: format!("bench/model-{}", m.uid),
                    ..Default::default()
                })
                .await?;
        }
        Ok(())
    }

    pub(super) async fn worker(self: Arc<Self>) -> WorkerOut {
        let mut out = WorkerOut::default();
        if let Err(e) = self.work(&mut out).await {
            self.stop.store(true, Ordering::SeqCst);
            out.error = Some(e);
        }
        out
    }

    pub(super) async fn work(&self, out: &mut WorkerOut) -> Result<()> {
        loop {
            let i = self.iterations.fetch_add(1, Ordering::SeqCst);
            let miner = &self.miners[(i % self.miners.len() as u64) as usize];
            let mut rng = StdRng::seed_from_u64(iteration_seed(self.seed, i));
            let env = ENVS[rng.gen_range(0..ENVS.len())];
            let success = rng.gen_bool(0.9);
            let latency_ms = rng.gen_range(200..20_000);
            let mut task: Option<Task> = None;
            for op in plan(i, self.snapshot_every) {
                if !self.take_ticket() {
                    return Ok(());
                }
                let elapsed = match op {
                    Op::CreateTask => {
                        let new = NewTask {
                            miner_hotkey: miner.hotkey.clone(),
                            model_revision: miner.revision.clone(),
                            model_hash: miner.model_hash.clone(),
                            env: env.to_string(),
                            validator_hotkey: self.validator.clone(),
                            priority: rng.gen_range(0..3),
                            ttl_days: Some(TASK_TTL_DAYS),
                        };
                        let (created, t) = timed(self.store.tasks.create_task(new)).await?;
                        task = Some(created);
                        t
                    }
                    Op::ClaimTask => {
                        let id = task_id(&task)?;
                        let (claim, t) = timed(rules::claim_task(
                            &self.store,
                            &miner.hotkey,
                            &miner.revision,
                            id,
                        ))
                        .await?;
                        if let Claim::Stale = claim {
                            return Err(Error::backend(format!(
                                "the claim of bench task {id} came back stale"
                            )));
                        }
                        t
                    }
                    Op::SaveSample => {
                        let sample = NewSample {
                            miner_hotkey: miner.hotkey.clone(),
                            model_revision: miner.revision.clone(),
                            model_hash: miner.model_hash.clone(),
                            uid: miner.uid,
                            env: env.to_string(),
                            subset: "bench".into(),
                            dataset_index: rng.gen_range(0..100_000),
                            task_id: task_id(&task)?.to_string(),
                            score: if success {
                                rng.gen_range(0.0..1.0)
                            } else {
                                0.0
                            },
                            success,
                            latency_ms,
                            conversation: conversation(&mut rng),
                            validator_hotkey: self.validator.clone(),
                            block_number: rng.gen_range(0..BLOCK_CEILING),
                            signature: hex(&mut rng, 64),
                            ..Default::default()
                        };
                        timed(self.store.samples.save_sample(sample)).await?.1
                    }
                    Op::CompleteTask => {
                        let id = task_id(&task)?;
                        let (existed, t) = timed(self.store.tasks.complete_task(
                            &miner.hotkey,
                            &miner.revision,
                            id,
                        ))
                        .await?;
                        if !existed {
                            return Err(Error::NotFound(format!(
                                "bench task {id} was gone when completed"
                            )));
                        }
                        t
                    }
                    Op::LogExecution => {
                        let log = NewLog {
                            miner_hotkey: miner.hotkey.clone(),
                            uid: miner.uid,
                            task_id: task_id(&task)?.to_string(),
                            status: if success {
                                LogStatus::Success
                            } else {
                                LogStatus::Failed
                            },
                            env: env.to_string(),
                            error_type: (!success).then(|| "Timeout".to_string()),
                            error_message: (!success)
                                .then(|| format!("no answer within {latency_ms} ms")),
                            execution_time_ms: latency_ms,
                            timestamp: None,
                        };
                        let (logged, t) = timed(self.store.logs.log_execution(log)).await?;
                        out.logs.push((logged.pk(), logged.sk()));
                        t
                    }
                    Op::ReadLatestScores => timed(self.store.scores.get_latest_scores()).await?.1,
                    Op::ReadSamples => {
                        let query = MinerSamplesQuery {
                            limit: Some(RECENT_SAMPLES),
                            newest_first: true,
                            conversation: Conversation::Skip,
                            ..Default::default()
                        };
                        timed(self.store.samples.get_samples_by_miner(
                            &miner.hotkey,
                            &miner.revision,
                            &query,
                        ))
                        .await?
                        .1
                    }
                    Op::SaveScores => self.save_scores(&mut rng).await?,
                };
                out.latencies
                    .entry(op)
                    .or_default()
                    .push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
            }
        }
    }

    /// Writes a snapshot of every miner for the next free block; only the
    /// write is measured, not the check that the block is free.
    pub(super) async fn save_scores(&self, rng: &mut StdRng) -> Result<Duration> {
        let mut blocks = self.blocks.lock().await;
        let block = loop {
            let candidate = blocks.next;
            if candidate >= BLOCK_CEILING {
                return Err(Error::invalid(
                    "--ops",
                    format!("the run needs more score blocks than lie below {BLOCK_CEILING}"),
                ));
            }
            blocks.next += 1;
            // A block with rows is someone else's: never overwrite it.
            if self
                .store
                .scores
                .get_scores_at_block(candidate)
                .await?
                .is_empty()
            {
                break candidate;
            }
        };
        blocks.written.push(block);
        let now_s = self.store.clock.now_s();
        let scores = self
            .miners
            .iter()
            .map(|m| {
                let overall: f64 = rng.gen_range(0.0..1.0);
                let margin: f64 = rng.gen_range(0.01..0.1);
                Score {
                    block_number: block,
                    miner_hotkey: m.hotkey.clone(),
                    uid: m.uid,
                    model_revision: m.revision.clone(),
                    calculated_at: now_s,
                    overall_score: overall,
                    confidence_interval_lower: (overall - margin).max(0.0),
                    confidence_interval_upper: (overall + margin).min(1.0),
                    average_score: overall,
                    scores_by_layer: [("L1".to_string(), overall)].into(),
                    scores_by_env: ENVS
                        .iter()
                        .map(|e| (e.to_string(), rng.gen_range(0.0..1.0)))
                        .collect(),
                    total_samples: rng.gen_range(10..500),
                    is_eligible: overall > 0.2,
                    meets_criteria: overall > 0.5,
                }
            })
            .collect();
        let ((), elapsed) = timed(async {
            rules::save_block_scores(&self.store, block, scores)
                .await
                .map(|_| ())
        })
        .await?;
        Ok(elapsed)
    }

    /// Deletes everything the run wrote, then reads it back.
    pub(super) async fn cleanup(&self, logs: Vec<(String, String)>, blocks: &[i64]) -> Result<()> {
        let s = &self.store;
        for m in &self.miners {
            s.samples
                .delete_samples_before(&m.hotkey, &m.revision, keys::MAX_KEY_TIMESTAMP)
                .await?;
            s.tasks.delete_miner_tasks(&m.hotkey, &m.revision).await?;
        }
        if !logs.is_empty() {
            s.admin.delete_items(Table::ExecutionLogs, logs).await?;
        }
        let score_keys: Vec<(String, String)> = blocks
            .iter()
            .flat_map(|&b| {
                std::iter::once((keys::score_pk(b), keys::SNAPSHOT_SK.to_string())).chain(
                    self.miners
                        .iter()
                        .map(move |m| (keys::score_pk(b), keys::score_sk(&m.hotkey))),
                )
            })
            .collect();
        if !score_keys.is_empty() {
            s.admin.delete_items(Table::Scores, score_keys).await?;
        }
        let metadata = |pk: fn(&str) -> String| -> Vec<(String, String)> {
            self.miners
                .iter()
                .map(|m| (pk(&m.hotkey), keys::METADATA_SK.to_string()))
                .collect()
        };
        s.admin
            .delete_items(Table::MinerMetadata, metadata(keys::miner_pk))
            .await?;
        s.admin
            .delete_items(Table::DataRetentionPolicy, metadata(keys::retention_pk))
            .await?;
        self.verify_gone(blocks).await
    }

    /// Reads back every key the run may have written.
    pub(super) async fn verify_gone(&self, blocks: &[i64]) -> Result<()> {
        let s = &self.store;
        let mut left = Vec::new();
        let one = MinerSamplesQuery {
            limit: Some(1),
            conversation: Conversation::Skip,
            ..Default::default()
        };
        for m in &self.miners {
            let (hk, rev) = (m.hotkey.as_str(), m.revision.as_str());
            if !s
                .samples
                .get_samples_by_miner(hk, rev, &one)
                .await?
                .is_empty()
            {
                left.push(format!("samples of {hk}"));
            }
            if !s
                .tasks
                .get_tasks_by_miner(hk, rev, None, Some(1))
                .await?
                .is_empty()
            {
                left.push(format!("tasks of {hk}"));
            }
            if !s.logs.get_recent_logs(hk, 1, None).await?.is_empty() {
                left.push(format!("logs of {hk}"));
            }
            if s.miners.get_metadata(hk).await?.is_some() {
                left.push(format!("metadata of {hk}"));
            }
            if s.retention.get_policy(hk).await?.is_some() {
                left.push(format!("retention policy of {hk}"));
            }
        }
        for &b in blocks {
            if !s.scores.get_scores_at_block(b).await?.is_empty() {
                left.push(format!("scores of block {b}"));
            }
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(Error::backend(format!(
                "the cleanup left bench data behind ({}); its hotkeys start with bench-{}-",
                left.join(", "),
                self.run
            )))
        }
    }
}

pub(super) fn task_id(task: &Option<Task>) -> Result<&str> {
    task.as_ref()
        .map(|t| t.task_id.as_str())
        .ok_or_else(|| Error::backend("bench iteration has no task to work on"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_planned_and_the_loop_comes_first() {
        let planned: std::collections::BTreeSet<Op> = (0..10).flat_map(|i| plan(i, 10)).collect();
        assert_eq!(planned.len(), Op::ALL.len());
        assert_eq!(plan(1, 10).len(), 5);
        assert_eq!(plan(0, 10)[..2], [Op::CreateTask, Op::ClaimTask]);
    }
}
