//! `bench [--ops N] [--concurrency C] [--miners M] [--seed S] [--snapshot-every K] [--keep] [--json]`:
//! runs a validator-shaped mixed workload against the `--db` store and
//! prints throughput and latency percentiles per operation.
//!
//! `C` workers run iterations of a validator's loop. Iteration `i` works on
//! miner `i mod M` and does, in order: create a task, claim it (the claim
//! validated against the miner's model, [`rules::claim_task`]), save a
//! sample with a conversation of a few KB, complete the task, log the
//! execution; every second iteration it also reads the latest scores, every
//! fourth a miner's recent samples, and every `K`th writes a score snapshot
//! of all `M` miners for a new block ([`rules::save_block_scores`], which
//! also protects the block's top 3). Every store call is one operation and
//! exactly `N` run. The data is generated from `--seed` (same seed, same
//! data); nothing is read from files.
//!
//! A run never touches real data: its miners are `bench-{run}-{n}` with a
//! fresh run id, and its score blocks lie below [`BLOCK_CEILING`] (far below
//! any real block) and are checked to be empty before each is written.
//! Unless `--keep`, everything the run wrote is deleted afterwards, read
//! back to prove it is gone, and the item count of every table compared with
//! the count before the run. An operation error stops the run, the cleanup
//! still runs, and the error is the command's one error line.

use std::collections::BTreeMap;
use std::future::Future;
use std::process::ExitCode;
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
use serde::Serialize;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Operations to run in all; every store call counts as one
    #[arg(long, default_value_t = 2000, value_name = "N")]
    ops: u64,
    /// Workers running concurrently
    #[arg(long, default_value_t = 4, value_name = "C")]
    concurrency: u64,
    /// Distinct miners the workload spreads over
    #[arg(long, default_value_t = 8, value_name = "M")]
    miners: u64,
    /// Seed of the generated data (conversations, scores, latencies)
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed: u64,
    /// Write a score snapshot every K iterations
    #[arg(long, default_value_t = 10, value_name = "K")]
    snapshot_every: u64,
    /// Keep the data the run wrote instead of deleting it
    #[arg(long)]
    keep: bool,
    /// Print the results as one JSON object
    #[arg(long)]
    json: bool,
}

/// The most workers `--concurrency` accepts.
const MAX_CONCURRENCY: u64 = 256;
/// The most miners `--miners` accepts (one snapshot holds them all).
const MAX_MINERS: u64 = 1000;
/// Score blocks of a run are below this; real blocks are in the millions.
const BLOCK_CEILING: i64 = 1_000_000;
/// Environments the samples and tasks rotate over.
const ENVS: [&str; 4] = ["SAT", "ABD", "DED", "ELR"];
/// How many of a miner's newest samples the sample read asks for.
const RECENT_SAMPLES: usize = 50;
/// Lifetime of the bench's tasks: a run killed before its cleanup leaves
/// tasks that expire after a day.
const TASK_TTL_DAYS: i64 = 1;

impl Args {
    fn validate(&self) -> Result<()> {
        if self.ops == 0 {
            return Err(Error::invalid("--ops", "must be at least 1"));
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.concurrency) {
            return Err(Error::invalid(
                "--concurrency",
                format!("{} is outside 1..={MAX_CONCURRENCY}", self.concurrency),
            ));
        }
        if !(1..=MAX_MINERS).contains(&self.miners) {
            return Err(Error::invalid(
                "--miners",
                format!("{} is outside 1..={MAX_MINERS}", self.miners),
            ));
        }
        if self.snapshot_every == 0 {
            return Err(Error::invalid("--snapshot-every", "must be at least 1"));
        }
        Ok(())
    }
}

/// The kinds of operation, in the order of an iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
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
    const ALL: [Op; 8] = [
        Op::CreateTask,
        Op::ClaimTask,
        Op::SaveSample,
        Op::CompleteTask,
        Op::LogExecution,
        Op::ReadLatestScores,
        Op::ReadSamples,
        Op::SaveScores,
    ];

    fn name(self) -> &'static str {
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
fn plan(i: u64, snapshot_every: u64) -> Vec<Op> {
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
struct Miner {
    hotkey: String,
    revision: String,
    model_hash: String,
    uid: i64,
}

/// Score blocks: the next candidate and the ones written (or attempted).
struct Blocks {
    next: i64,
    written: Vec<i64>,
}

/// What the workers share.
struct Bench {
    store: Store,
    run: String,
    miners: Vec<Miner>,
    validator: String,
    seed: u64,
    ops: u64,
    snapshot_every: u64,
    tickets: AtomicU64,
    iterations: AtomicU64,
    stop: AtomicBool,
    /// Also serialises the snapshots, like a validator's one weight setter.
    blocks: tokio::sync::Mutex<Blocks>,
    bar: Option<ProgressBar>,
}

/// What one worker measured and wrote.
#[derive(Default)]
struct WorkerOut {
    /// Latencies in nanoseconds, by operation.
    latencies: BTreeMap<Op, Vec<u64>>,
    /// Keys of the execution logs written.
    logs: Vec<(String, String)>,
    error: Option<Error>,
}

/// Runs `fut` and times it.
async fn timed<T>(fut: impl Future<Output = Result<T>>) -> Result<(T, Duration)> {
    let start = Instant::now();
    let value = fut.await?;
    Ok((value, start.elapsed()))
}

/// A seed for iteration `i` of a run seeded with `seed`.
fn iteration_seed(seed: u64, i: u64) -> u64 {
    seed ^ i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Bench {
    /// A run with a fresh id: its own miners and a first score block chosen
    /// from the id.
    fn new(store: Store, args: &Args, bar: Option<ProgressBar>) -> Bench {
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
    fn take_ticket(&self) -> bool {
        !self.stop.load(Ordering::SeqCst) && self.tickets.fetch_add(1, Ordering::SeqCst) < self.ops
    }

    /// Writes the miners' metadata (not measured), so claims are validated
    /// against a model hash as a validator's are.
    async fn register_miners(&self) -> Result<()> {
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

    async fn worker(self: Arc<Self>) -> WorkerOut {
        let mut out = WorkerOut::default();
        if let Err(e) = self.work(&mut out).await {
            self.stop.store(true, Ordering::SeqCst);
            out.error = Some(e);
        }
        out
    }

    async fn work(&self, out: &mut WorkerOut) -> Result<()> {
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
    async fn save_scores(&self, rng: &mut StdRng) -> Result<Duration> {
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
    async fn cleanup(&self, logs: Vec<(String, String)>, blocks: &[i64]) -> Result<()> {
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
    async fn verify_gone(&self, blocks: &[i64]) -> Result<()> {
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

fn task_id(task: &Option<Task>) -> Result<&str> {
    task.as_ref()
        .map(|t| t.task_id.as_str())
        .ok_or_else(|| Error::backend("bench iteration has no task to work on"))
}

/// Syllables the generated text is made of.
const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "zen", "tor", "pla", "qui", "dra", "fen",
    "gal", "hos", "jun", "mer", "nol", "pri", "sul", "tek", "vim", "wex",
];

/// `n` generated words in sentences.
fn text(rng: &mut StdRng, n: usize) -> String {
    let mut out = String::with_capacity(n * 7);
    let mut sentence_left = 0;
    for _ in 0..n {
        let capital = sentence_left == 0;
        if capital {
            if !out.is_empty() {
                out.push_str(". ");
            }
            sentence_left = rng.gen_range(6..16);
        } else {
            out.push(' ');
        }
        let start = out.len();
        for _ in 0..rng.gen_range(1..=3) {
            out.push_str(SYLLABLES[rng.gen_range(0..SYLLABLES.len())]);
        }
        if capital {
            out[start..start + 1].make_ascii_uppercase();
        }
        sentence_left -= 1;
    }
    out.push('.');
    out
}

/// A chat of 3 to 5 user/assistant turns after a system prompt, a few KB
/// of JSON.
fn conversation(rng: &mut StdRng) -> Value {
    let mut messages = vec![json!({"role": "system", "content": text(rng, 30)})];
    for _ in 0..rng.gen_range(3..=5) {
        let prompt = rng.gen_range(30..80);
        let answer = rng.gen_range(80..200);
        messages.push(json!({"role": "user", "content": text(rng, prompt)}));
        messages.push(json!({
            "role": "assistant",
            "content": text(rng, answer),
            "usage": {"prompt_tokens": prompt * 2, "completion_tokens": answer * 2},
        }));
    }
    Value::Array(messages)
}

/// `n` hex digits.
fn hex(rng: &mut StdRng, n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// Latency figures of one kind of operation.
#[derive(Debug, Serialize)]
struct OpStats {
    count: u64,
    ops_s: f64,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// The nearest-rank percentile `p` of sorted nanoseconds, in ms.
fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    ns_to_ms(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn ns_to_ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

impl OpStats {
    fn of(mut latencies: Vec<u64>, wall_s: f64) -> OpStats {
        latencies.sort_unstable();
        let count = latencies.len() as u64;
        let total: u128 = latencies.iter().map(|&n| u128::from(n)).sum();
        OpStats {
            count,
            ops_s: rate(count, wall_s),
            mean_ms: if count == 0 {
                0.0
            } else {
                total as f64 / count as f64 / 1e6
            },
            p50_ms: percentile_ms(&latencies, 50.0),
            p90_ms: percentile_ms(&latencies, 90.0),
            p99_ms: percentile_ms(&latencies, 99.0),
            max_ms: latencies.last().copied().map_or(0.0, ns_to_ms),
        }
    }
}

fn rate(count: u64, wall_s: f64) -> f64 {
    if wall_s > 0.0 {
        count as f64 / wall_s
    } else {
        0.0
    }
}

/// What `bench` prints.
#[derive(Debug, Serialize)]
struct Report {
    backend: String,
    run: String,
    ops: u64,
    concurrency: u64,
    miners: u64,
    seed: u64,
    wall_s: f64,
    throughput_ops_s: f64,
    operations: BTreeMap<&'static str, OpStats>,
    /// Whether everything the run wrote was deleted and read back as gone.
    cleaned_up: bool,
    /// Whether every table's item count equals its count before the run
    /// (`null` with `--keep`); another writer on the store makes it false.
    stats_unchanged: Option<bool>,
    /// Per table, after minus before, where they differ.
    stats_diff: BTreeMap<&'static str, i64>,
}

impl Report {
    fn print_human(&self) -> Result<()> {
        output::line(format!("backend: {}", self.backend))?;
        output::line(format!(
            "run bench-{}: {} ops, {} workers, {} miners, seed {}",
            self.run, self.ops, self.concurrency, self.miners, self.seed
        ))?;
        output::line(format!(
            "{:<20} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "operation", "count", "ops/s", "mean ms", "p50 ms", "p90 ms", "p99 ms", "max ms"
        ))?;
        for op in Op::ALL {
            if let Some(s) = self.operations.get(op.name()) {
                output::line(format!(
                    "{:<20} {:>7} {:>9.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
                    op.name(),
                    s.count,
                    s.ops_s,
                    s.mean_ms,
                    s.p50_ms,
                    s.p90_ms,
                    s.p99_ms,
                    s.max_ms
                ))?;
            }
        }
        output::line(format!(
            "{:<20} {:>7} {:>9.1}",
            "total", self.ops, self.throughput_ops_s
        ))?;
        output::line(format!("wall time: {:.3} s", self.wall_s))?;
        let cleanup = match self.stats_unchanged {
            None => format!(
                "kept: the run's data is under hotkeys bench-{}-*",
                self.run
            ),
            Some(true) => "cleanup: everything the run wrote is deleted; every table's item count equals its count before the run".to_string(),
            Some(false) => format!(
                "cleanup: everything the run wrote is deleted; item counts changed meanwhile (another writer?): {}",
                self.stats_diff
                    .iter()
                    .map(|(t, d)| format!("{t} {d:+}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        output::line(cleanup)
    }
}

/// Runs the workload, cleans up and prints the results.
pub async fn run(args: Args, ctx: &Context) -> CmdResult {
    args.validate()?;
    let store = ctx.store().await?;
    let bar = output::progress_bar(args.ops, "ops", "{per_sec}").filter(|_| !args.json);
    match execute(store, &args, bar).await? {
        Outcome::Done(report) => {
            if args.json {
                output::json(&report)?;
            } else {
                report.print_human()?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::Interrupted(what) => {
            eprintln!(
                "error: bench interrupted; {}",
                what.replace(['\n', '\r'], " ")
            );
            Ok(ExitCode::from(130))
        }
    }
}

/// How a run that did not fail ended.
#[derive(Debug)]
enum Outcome {
    /// Every operation ran.
    Done(Report),
    /// Stopped by Ctrl-C; what became of the data.
    Interrupted(String),
}

/// Runs the workload on `store` and cleans up (unless `--keep`). An
/// operation error is returned after the cleanup was attempted.
async fn execute(store: Store, args: &Args, bar: Option<ProgressBar>) -> Result<Outcome> {
    store.admin.init().await?;
    let backend = store.admin.describe();
    let before = store.admin.stats().await?;

    let bench = Arc::new(Bench::new(store.clone(), args, bar.clone()));
    let run = bench.run.clone();

    let mut failure: Option<Error> = bench.register_miners().await.err();
    let mut interrupted = false;
    let mut outs = Vec::new();
    let started = Instant::now();
    if failure.is_none() {
        let mut workers = JoinSet::new();
        for _ in 0..args.concurrency {
            workers.spawn(bench.clone().worker());
        }
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let mut signal_done = false;
        loop {
            tokio::select! {
                joined = workers.join_next() => match joined {
                    None => break,
                    Some(Ok(out)) => outs.push(out),
                    Some(Err(e)) => {
                        bench.stop.store(true, Ordering::SeqCst);
                        failure.get_or_insert_with(|| Error::backend(format!("a bench worker died: {e}")));
                    }
                },
                signal = &mut ctrl_c, if !signal_done => {
                    signal_done = true;
                    if signal.is_ok() {
                        interrupted = true;
                        bench.stop.store(true, Ordering::SeqCst);
                    }
                }
            }
        }
    }
    let wall = started.elapsed();
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    let mut latencies: BTreeMap<Op, Vec<u64>> = BTreeMap::new();
    let mut logs = Vec::new();
    for out in outs {
        if let Some(e) = out.error {
            failure.get_or_insert(e);
        }
        for (op, mut l) in out.latencies {
            latencies.entry(op).or_default().append(&mut l);
        }
        logs.extend(out.logs);
    }
    let blocks = std::mem::take(&mut bench.blocks.lock().await.written);

    let cleanup = if args.keep {
        None
    } else {
        Some(bench.cleanup(logs, &blocks).await)
    };
    if let Some(err) = failure {
        return Err(match cleanup {
            Some(Err(c)) => err.with_note(format!("the cleanup failed too: {c}")),
            _ => err,
        });
    }
    if interrupted {
        return Ok(Outcome::Interrupted(match cleanup {
            Some(Err(c)) => format!("the cleanup failed: {c}"),
            Some(Ok(())) => "everything it wrote is deleted".to_string(),
            None => format!("its data is kept under hotkeys bench-{run}-*"),
        }));
    }
    let (cleaned_up, stats_unchanged, stats_diff) = match cleanup {
        None => (false, None, BTreeMap::new()),
        Some(result) => {
            result?;
            let after = store.admin.stats().await?;
            let diff: BTreeMap<&'static str, i64> = before
                .keys()
                .chain(after.keys())
                .filter_map(|t| {
                    let d =
                        *after.get(t).unwrap_or(&0) as i64 - *before.get(t).unwrap_or(&0) as i64;
                    (d != 0).then(|| (t.name(), d))
                })
                .collect();
            (true, Some(diff.is_empty()), diff)
        }
    };

    let wall_s = wall.as_secs_f64();
    let ops: u64 = latencies.values().map(|l| l.len() as u64).sum();
    let report = Report {
        backend,
        run,
        ops,
        concurrency: args.concurrency,
        miners: args.miners,
        seed: args.seed,
        wall_s,
        throughput_ops_s: rate(ops, wall_s),
        operations: latencies
            .into_iter()
            .map(|(op, l)| (op.name(), OpStats::of(l, wall_s)))
            .collect(),
        cleaned_up,
        stats_unchanged,
        stats_diff,
    };
    Ok(Outcome::Done(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_ordered() {
        let ns: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        assert_eq!(percentile_ms(&ns, 50.0), 50.0);
        assert_eq!(percentile_ms(&ns, 90.0), 90.0);
        assert_eq!(percentile_ms(&ns, 99.0), 99.0);
        assert_eq!(percentile_ms(&[7_000_000], 99.0), 7.0);
        let s = OpStats::of(vec![3_000_000, 1_000_000, 2_000_000], 1.0);
        assert_eq!((s.count, s.p50_ms, s.max_ms, s.mean_ms), (3, 2.0, 3.0, 2.0));
    }

    #[test]
    fn every_kind_is_planned_and_the_loop_comes_first() {
        let planned: std::collections::BTreeSet<Op> = (0..10).flat_map(|i| plan(i, 10)).collect();
        assert_eq!(planned.len(), Op::ALL.len());
        assert_eq!(plan(1, 10).len(), 5);
        assert_eq!(plan(0, 10)[..2], [Op::CreateTask, Op::ClaimTask]);
    }

    #[test]
    fn conversations_are_deterministic_and_a_few_kb() {
        let a = conversation(&mut StdRng::seed_from_u64(iteration_seed(7, 3)));
        let b = conversation(&mut StdRng::seed_from_u64(iteration_seed(7, 3)));
        let c = conversation(&mut StdRng::seed_from_u64(iteration_seed(8, 3)));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let size = a.to_string().len();
        assert!((1_000..20_000).contains(&size), "{size} bytes");
        assert!(a.as_array().is_some_and(|m| m.len() >= 7));
    }

    fn ok_args() -> Args {
        Args {
            ops: 10,
            concurrency: 2,
            miners: 2,
            seed: 0,
            snapshot_every: 1,
            keep: false,
            json: false,
        }
    }

    #[test]
    fn invalid_arguments_are_input_errors() {
        assert!(ok_args().validate().is_ok());
        for bad in [
            Args {
                ops: 0,
                ..ok_args()
            },
            Args {
                concurrency: 0,
                ..ok_args()
            },
            Args {
                concurrency: MAX_CONCURRENCY + 1,
                ..ok_args()
            },
            Args {
                miners: 0,
                ..ok_args()
            },
            Args {
                snapshot_every: 0,
                ..ok_args()
            },
        ] {
            assert!(matches!(bad.validate(), Err(Error::InvalidInput { .. })));
        }
    }

    use affine_db::admin::scan_all;
    use affine_db::clock::system_clock;
    use affine_db::sqlite::SqliteBackend;
    use affine_db::tables::samples::{Sample, SampleKey, SampleStore};

    async fn memory_store() -> Store {
        let backend = SqliteBackend::open_in_memory(system_clock())
            .await
            .expect("in-memory SQLite");
        Store::new(backend)
    }

    /// Every item of every table.
    async fn everything(store: &Store) -> Vec<Vec<affine_db::Item>> {
        let mut all = Vec::new();
        for table in Table::ALL {
            all.push(scan_all(store.admin.as_ref(), table).await.expect("scan"));
        }
        all
    }

    /// Samples that fail with `Unavailable` once `saves_left` saves are used.
    struct FlakySamples {
        inner: Arc<dyn SampleStore>,
        saves_left: AtomicU64,
    }

    #[async_trait::async_trait]
    impl SampleStore for FlakySamples {
        async fn save_sample(&self, sample: NewSample) -> Result<Sample> {
            let left = self
                .saves_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if left.is_err() {
                return Err(Error::unavailable("injected by the test"));
            }
            self.inner.save_sample(sample).await
        }
        async fn save_samples(&self, samples: Vec<NewSample>) -> Result<Vec<SampleKey>> {
            self.inner.save_samples(samples).await
        }
        async fn get_sample(&self, key: &SampleKey, c: Conversation) -> Result<Option<Sample>> {
            self.inner.get_sample(key, c).await
        }
        async fn get_samples_by_miner(
            &self,
            hk: &str,
            rev: &str,
            query: &MinerSamplesQuery,
        ) -> Result<Vec<Sample>> {
            self.inner.get_samples_by_miner(hk, rev, query).await
        }
        async fn get_samples_by_env(
            &self,
            env: &str,
            start_ms: i64,
            end_ms: i64,
            limit: Option<usize>,
            c: Conversation,
        ) -> Result<Vec<Sample>> {
            self.inner
                .get_samples_by_env(env, start_ms, end_ms, limit, c)
                .await
        }
        async fn delete_samples_before(&self, hk: &str, rev: &str, before: i64) -> Result<usize> {
            self.inner.delete_samples_before(hk, rev, before).await
        }
        async fn count_samples_before(&self, hk: &str, rev: &str, before: i64) -> Result<usize> {
            self.inner.count_samples_before(hk, rev, before).await
        }
        async fn list_sample_owners(&self) -> Result<Vec<(String, String)>> {
            self.inner.list_sample_owners().await
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_operation_error_stops_the_run_after_cleaning_up() {
        let store = memory_store().await;
        let flaky = Store {
            samples: Arc::new(FlakySamples {
                inner: store.samples.clone(),
                saves_left: AtomicU64::new(5),
            }),
            ..store.clone()
        };
        let args = Args {
            ops: 500,
            concurrency: 3,
            ..ok_args()
        };
        let err = execute(flaky, &args, None).await.unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
        let stats = store.admin.stats().await.unwrap();
        assert!(stats.values().all(|&n| n == 0), "{stats:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_leaves_existing_data_exactly_as_it_was() {
        let store = memory_store().await;
        let real = "5RealMinerHotkey";
        store
            .miners
            .save_metadata(MinerInfo {
                miner_hotkey: real.into(),
                current_revision: "r1".into(),
                model_hash: "h1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        store
            .samples
            .save_sample(NewSample {
                miner_hotkey: real.into(),
                model_revision: "r1".into(),
                env: "SAT".into(),
                conversation: json!([{"role": "user", "content": "hi"}]),
                ..Default::default()
            })
            .await
            .unwrap();
        store
            .tasks
            .create_task(NewTask {
                miner_hotkey: real.into(),
                model_revision: "r1".into(),
                env: "SAT".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        store
            .logs
            .log_execution(NewLog {
                miner_hotkey: real.into(),
                uid: 1,
                task_id: "t".into(),
                status: LogStatus::Success,
                env: "SAT".into(),
                error_type: None,
                error_message: None,
                execution_time_ms: 10,
                timestamp: None,
            })
            .await
            .unwrap();
        let real_block = 5_000_000;
        let row = Score {
            block_number: real_block,
            miner_hotkey: real.into(),
            overall_score: 0.9,
            ..Default::default()
        };
        rules::save_block_scores(&store, real_block, vec![row])
            .await
            .unwrap();
        let before = everything(&store).await;

        let args = Args {
            ops: 300,
            snapshot_every: 2,
            ..ok_args()
        };
        let report = match execute(store.clone(), &args, None).await.unwrap() {
            Outcome::Done(report) => report,
            other => panic!("{other:?}"),
        };
        assert!(report.cleaned_up && report.stats_unchanged == Some(true));
        assert!(report.operations["save_scores"].count > 0);
        assert_eq!(everything(&store).await, before);
        let latest = store.scores.get_latest_scores().await.unwrap().unwrap();
        assert_eq!(latest.block_number, real_block);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_skips_blocks_that_hold_rows() {
        let store = memory_store().await;
        let taken = Score {
            block_number: 7,
            miner_hotkey: "someone".into(),
            overall_score: 0.5,
            ..Default::default()
        };
        store.scores.save_score(taken.clone()).await.unwrap();
        let bench = Bench::new(store.clone(), &ok_args(), None);
        bench.blocks.lock().await.next = 7;
        bench.register_miners().await.unwrap();
        bench
            .save_scores(&mut StdRng::seed_from_u64(1))
            .await
            .unwrap();
        let written = bench.blocks.lock().await.written.clone();
        assert_eq!(written, vec![8]);
        assert_eq!(
            store.scores.get_scores_at_block(7).await.unwrap(),
            vec![taken]
        );
        assert_eq!(store.scores.get_scores_at_block(8).await.unwrap().len(), 2);
        bench.cleanup(Vec::new(), &written).await.unwrap();
        assert_eq!(store.admin.stats().await.unwrap()[&Table::Scores], 1);
    }

    #[test]
    fn notes_keep_the_variant() {
        let e = Error::throttled("slow").with_note("cleanup failed");
        assert!(matches!(e, Error::Throttled { .. }));
        let e = Error::invalid("--ops", "bad").with_note("cleanup failed");
        assert!(matches!(e, Error::InvalidInput { ref field, .. } if field == "--ops"));
    }
}
