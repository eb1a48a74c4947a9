//! `bench [--ops N] [--concurrency C] [--miners M] [--seed S] [--snapshot-every K]
//! [--latency-ms MS] [--keep] [--json]`:
//! runs a validator-shaped mixed workload against the `--db` store and
//! prints throughput and latency percentiles per operation. With
//! `--latency-ms` a DynamoDB store is reached through a loopback proxy that
//! adds that round trip (`link.rs`), so an emulator on loopback behaves like
//! DynamoDB one network round trip away.
//!
//! `C` workers run iterations of a validator's loop. Iteration `i` works on
//! miner `i mod M` and does, in order: create a task, claim it (the claim
//! validated against the miner's model, [`affine_db::rules::claim_task`]), save a
//! sample with a conversation of a few KB, complete the task, log the
//! execution; every second iteration it also reads the latest scores, every
//! fourth a miner's recent samples, and every `K`th writes a score snapshot
//! of all `M` miners for a new block ([`affine_db::rules::save_block_scores`], which
//! also protects the block's top 3). Every store call is one operation and
//! exactly `N` run. The data is generated from `--seed` (same seed, same
//! data); nothing is read from files.
//!
//! A run never touches real data: its miners are `bench-{run}-{n}` with a
//! fresh run id, and its score blocks lie below [`workload::BLOCK_CEILING`] (far below
//! any real block) and are checked to be empty before each is written.
//! Unless `--keep`, everything the run wrote is deleted afterwards, read
//! back to prove it is gone, and the item count of every table compared with
//! the count before the run. An operation error stops the run, the cleanup
//! still runs, and the error is the command's one error line.
//!
//! Files: `workload.rs` (the iteration plan, workers and cleanup), `data.rs`
//! (generated conversations), `stats.rs` (percentiles and rates),
//! `report.rs` (the printed report); this file holds the arguments and the
//! run itself.

mod data;
mod link;
mod report;
mod stats;
mod workload;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use affine_db::{Error, Result, Store};
use indicatif::ProgressBar;
use tokio::task::JoinSet;

use self::report::Report;
use self::stats::{rate, OpStats};
use self::workload::{Bench, Op};
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
    /// Reach a DynamoDB store through a loopback proxy adding this round trip
    /// (half each way) in front of its http:// endpoint
    #[arg(long, value_name = "MS")]
    latency_ms: Option<f64>,
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

/// Runs the workload, cleans up and prints the results.
pub async fn run(args: Args, ctx: &Context) -> CmdResult {
    args.validate()?;
    // The proxy lives as long as the run.
    let (_proxy, store) = match args.latency_ms {
        Some(ms) => {
            let (proxy, url) = link::start(ctx.url(), ms)?;
            (Some(proxy), Context::new(url).store().await?)
        }
        None => (None, ctx.store().await?),
    };
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
        added_rtt_ms: args.latency_ms,
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
    use std::sync::atomic::AtomicU64;

    use affine_db::{
        rules, Conversation, LogStatus, MinerInfo, MinerSamplesQuery, NewLog, NewSample, NewTask,
        Score, Table,
    };
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use serde_json::json;

    use super::*;

    fn ok_args() -> Args {
        Args {
            ops: 10,
            concurrency: 2,
            miners: 2,
            seed: 0,
            snapshot_every: 1,
            latency_ms: None,
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
    use affine_db::tables::samples::{Sample, SampleKey, SampleStore};

    async fn memory_store() -> Store {
        affine_db::sqlite::open_store_in_memory(system_clock())
            .await
            .expect("in-memory SQLite")
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
