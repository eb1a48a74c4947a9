//! `test`: exercise every table of the configured store with throwaway
//! data, print one line per check, and remove everything it wrote.
//!
//! Keys carry a per-run tag (`affine-db-selftest-{ms}-{pid}`), so the run
//! never touches real data. Cleanup runs even after a failed check, uses
//! the table operations where they delete (samples, tasks, config) and
//! [`affine_db::Admin::delete_items`] for the rest (logs, score rows, miner
//! metadata, policies); a final check reads everything back to prove it is
//! gone. Every secondary index is exercised by the read that needs it, and
//! the live schema is compared with the declared one, so a missing index
//! fails the run. Exit code 1 when any check failed.

use std::process::ExitCode;

use affine_db::keys;
use affine_db::schema::{ENV_TIMESTAMP_INDEX, LATEST_BLOCK_INDEX, STATUS_CREATED_INDEX};
use affine_db::{
    Conversation, Error, LogStatus, MinerInfo, MinerSamplesQuery, NewLog, NewSample, NewTask,
    ParamValue, PendingOrder, Result, SampleKey, Score, Store, Table, TaskStatus,
};
use serde_json::json;

use super::{CmdResult, Context};
use crate::output;

/// Arguments of `test`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// The block the score check writes its row to. Block 0 never becomes the
/// "latest" block of a store that has real scores.
const TEST_BLOCK: i64 = 0;

/// Runs the checks and the cleanup.
pub async fn run(_args: Args, ctx: &Context) -> CmdResult {
    let store = ctx.store().await?;
    output::line(format!("store: {}", store.admin.describe()))?;
    // `init` first, saying what it repaired (the checks then hold the
    // schema and every index to the declaration).
    store
        .admin
        .init_with(&|line: &str| {
            let _ = output::line(format!("init {line}"));
        })
        .await?;
    let tag = format!(
        "affine-db-selftest-{}-{}",
        store.clock.now_ms(),
        std::process::id()
    );
    let mut run = SelfTest {
        store,
        tag,
        written: Written::default(),
        failures: 0,
    };
    run.all().await?;
    if run.failures == 0 {
        output::line("all checks passed, no test data left")?;
        Ok(ExitCode::SUCCESS)
    } else {
        output::line(format!("{} checks failed", run.failures))?;
        Ok(ExitCode::FAILURE)
    }
}

/// What the checks wrote, for the cleanup.
#[derive(Default)]
struct Written {
    sample: Option<SampleKey>,
    task: bool,
    log: Option<(String, String)>,
    score: bool,
    param: bool,
    miner: bool,
    policy: bool,
}

struct SelfTest {
    store: Store,
    tag: String,
    written: Written,
    failures: usize,
}

/// A failed expectation, as a check error.
fn expect(cond: bool, what: &str) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(Error::backend(format!("unexpected result: {what}")))
    }
}

impl SelfTest {
    fn hotkey(&self) -> String {
        format!("{}-miner", self.tag)
    }

    fn revision(&self) -> String {
        format!("{}-rev", self.tag)
    }

    fn param(&self) -> String {
        format!("{}-param", self.tag)
    }

    /// Prints `ok   table: what` or `FAIL table: what: error`.
    fn report(&mut self, table: Table, what: &str, outcome: Result<()>) -> Result<()> {
        match outcome {
            Ok(()) => output::line(format!("ok   {}: {what}", table.name())),
            Err(e) => {
                self.failures += 1;
                output::line(format!("FAIL {}: {what}: {e}", table.name()))
            }
        }
    }

    async fn all(&mut self) -> Result<()> {
        let r = self.schema().await;
        match r {
            Ok(()) => output::line("ok   schema: every table, index and TTL as declared")?,
            Err(e) => {
                self.failures += 1;
                output::line(format!("FAIL schema: {e}"))?;
            }
        }
        let r = self.samples().await;
        self.report(Table::SampleResults, "save/get/conversation round-trip", r)?;
        let r = self.samples_by_env().await;
        self.report(
            Table::SampleResults,
            &format!("read by env through {ENV_TIMESTAMP_INDEX}"),
            r,
        )?;
        let r = self.tasks().await;
        self.report(Table::TaskQueue, "create/claim/complete", r)?;
        let r = self.pending_tasks().await;
        self.report(
            Table::TaskQueue,
            &format!("pending tasks through {STATUS_CREATED_INDEX}"),
            r,
        )?;
        let r = self.logs().await;
        self.report(Table::ExecutionLogs, "log/read newest first", r)?;
        let r = self.scores().await;
        self.report(Table::Scores, "save/read score row", r)?;
        let r = self.store.scores.get_latest_scores().await.map(|_| ());
        self.report(
            Table::Scores,
            &format!("latest scores through {LATEST_BLOCK_INDEX}"),
            r,
        )?;
        let r = self.config().await;
        self.report(Table::SystemConfig, "set/get/version/delete", r)?;
        let r = self.miners().await;
        self.report(Table::MinerMetadata, "save/update_statistics", r)?;
        let r = self.retention().await;
        self.report(
            Table::DataRetentionPolicy,
            "set/protect/unprotect policy",
            r,
        )?;
        let r = self.cleanup().await;
        match r {
            Ok(()) => output::line("ok   cleanup: every test item deleted and gone")?,
            Err(e) => {
                self.failures += 1;
                output::line(format!(
                    "FAIL cleanup: {e}; test keys start with {}",
                    self.tag
                ))?;
            }
        }
        Ok(())
    }

    async fn samples(&mut self) -> Result<()> {
        let conversation = json!([
            {"role": "user", "content": format!("self-test prompt {}", self.tag)},
            {"role": "assistant", "content": "self-test answer ✓", "usage": {"tokens": 3}},
        ]);
        let saved = self
            .store
            .samples
            .save_sample(NewSample {
                miner_hotkey: self.hotkey(),
                model_revision: self.revision(),
                model_hash: "selftest-hash".into(),
                env: "SELFTEST".into(),
                subset: "selftest".into(),
                task_id: format!("{}-task", self.tag),
                score: 0.75,
                success: true,
                latency_ms: 12,
                conversation: conversation.clone(),
                validator_hotkey: "selftest-validator".into(),
                signature: "selftest-signature".into(),
                ..Default::default()
            })
            .await?;
        let key = saved.key();
        self.written.sample = Some(key.clone());
        let read = self
            .store
            .samples
            .get_sample(&key, Conversation::Include)
            .await?
            .ok_or_else(|| Error::NotFound("the sample just saved".into()))?;
        expect(
            read.conversation.as_ref() == Some(&conversation),
            "conversation reads back as written",
        )?;
        expect(
            read.score == 0.75 && read.success,
            "score and success read back",
        )?;
        let listed = self
            .store
            .samples
            .get_samples_by_miner(
                &key.miner_hotkey,
                &key.model_revision,
                &MinerSamplesQuery {
                    conversation: Conversation::Skip,
                    ..Default::default()
                },
            )
            .await?;
        expect(
            listed.len() == 1 && listed[0].sample_id == saved.sample_id,
            "get_samples_by_miner returns the sample",
        )
    }

    /// The live schema against the declared one (`affine-db check`).
    async fn schema(&mut self) -> Result<()> {
        let drifts = self.store.admin.check().await?;
        if drifts.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = drifts.iter().map(ToString::to_string).collect();
        Err(Error::SchemaDrift(listed.join("; ")))
    }

    /// The sample just saved, read back through the env index.
    async fn samples_by_env(&mut self) -> Result<()> {
        let key = self
            .written
            .sample
            .clone()
            .ok_or_else(|| Error::NotFound("no sample was saved".into()))?;
        let saved = self
            .store
            .samples
            .get_sample(&key, Conversation::Skip)
            .await?
            .ok_or_else(|| Error::NotFound("the sample just saved".into()))?;
        let found = self
            .store
            .samples
            .get_samples_by_env(
                &saved.env,
                saved.timestamp - 1000,
                saved.timestamp + 1000,
                None,
                Conversation::Skip,
            )
            .await?;
        expect(
            found.iter().any(|s| s.sample_id == saved.sample_id),
            "get_samples_by_env returns the sample",
        )
    }

    /// A pending task, read back through the status index.
    async fn pending_tasks(&mut self) -> Result<()> {
        let (hk, rev) = (self.hotkey(), self.revision());
        let task = self
            .store
            .tasks
            .create_task(NewTask {
                miner_hotkey: hk.clone(),
                model_revision: rev.clone(),
                model_hash: "selftest-hash".into(),
                env: "SELFTEST".into(),
                validator_hotkey: "selftest-validator".into(),
                // Above any real priority, so the first page holds it.
                priority: i64::MAX,
                ttl_days: Some(1),
            })
            .await?;
        self.written.task = true;
        let pending = self
            .store
            .tasks
            .get_pending_tasks(10, PendingOrder::Priority)
            .await?;
        let found = pending.iter().any(|t| t.task_id == task.task_id);
        self.store
            .tasks
            .complete_task(&hk, &rev, &task.task_id)
            .await?;
        expect(found, "get_pending_tasks returns the pending task")
    }

    async fn tasks(&mut self) -> Result<()> {
        let (hk, rev) = (self.hotkey(), self.revision());
        let task = self
            .store
            .tasks
            .create_task(NewTask {
                miner_hotkey: hk.clone(),
                model_revision: rev.clone(),
                model_hash: "selftest-hash".into(),
                env: "SELFTEST".into(),
                validator_hotkey: "selftest-validator".into(),
                priority: 0,
                ttl_days: Some(1),
            })
            .await?;
        self.written.task = true;
        expect(task.status == TaskStatus::Pending, "a new task is pending")?;
        let started = self
            .store
            .tasks
            .start_task(&hk, &rev, &task.task_id)
            .await?;
        expect(
            started.status == TaskStatus::Running,
            "the claim sets running",
        )?;
        let second = self.store.tasks.start_task(&hk, &rev, &task.task_id).await;
        expect(
            matches!(second, Err(Error::Conflict(_))),
            "a second claim is a conflict",
        )?;
        let existed = self
            .store
            .tasks
            .complete_task(&hk, &rev, &task.task_id)
            .await?;
        expect(existed, "complete_task finds the task")?;
        let after = self.store.tasks.get_task(&hk, &rev, &task.task_id).await?;
        expect(after.is_none(), "a completed task is gone")
    }

    async fn logs(&mut self) -> Result<()> {
        let hk = self.hotkey();
        let log = self
            .store
            .logs
            .log_execution(NewLog {
                miner_hotkey: hk.clone(),
                uid: 0,
                task_id: format!("{}-task", self.tag),
                status: LogStatus::Failed,
                env: "SELFTEST".into(),
                error_type: Some("SelfTest".into()),
                error_message: Some("written by affine-db test".into()),
                execution_time_ms: 5,
                timestamp: None,
            })
            .await?;
        self.written.log = Some((log.pk(), log.sk()));
        let recent = self.store.logs.get_recent_logs(&hk, 10, None).await?;
        expect(
            recent.len() == 1 && recent[0].log_id == log.log_id,
            "get_recent_logs returns the log",
        )?;
        let failing = self.store.logs.check_consecutive_errors(&hk, 1).await?;
        expect(failing, "one failed log counts as one consecutive error")
    }

    async fn scores(&mut self) -> Result<()> {
        let hk = self.hotkey();
        let score = Score {
            block_number: TEST_BLOCK,
            miner_hotkey: hk.clone(),
            model_revision: self.revision(),
            calculated_at: self.store.clock.now_s(),
            overall_score: 0.5,
            confidence_interval_lower: 0.25,
            confidence_interval_upper: 0.75,
            average_score: 0.5,
            scores_by_env: [("SELFTEST".to_string(), 0.5)].into(),
            total_samples: 1,
            ..Default::default()
        };
        self.store.scores.save_score(score.clone()).await?;
        self.written.score = true;
        let read = self
            .store
            .scores
            .get_miner_score_at_block(TEST_BLOCK, &hk)
            .await?;
        expect(
            read.as_ref() == Some(&score),
            "the score row reads back as written",
        )
    }

    async fn config(&mut self) -> Result<()> {
        let name = self.param();
        let first = self
            .store
            .config
            .set_param(
                &name,
                ParamValue::Float(1.5),
                "affine-db test",
                "affine-db-cli",
            )
            .await?;
        self.written.param = true;
        expect(first.version == 1, "a new parameter has version 1")?;
        let second = self
            .store
            .config
            .set_param(
                &name,
                ParamValue::Float(2.5),
                "affine-db test",
                "affine-db-cli",
            )
            .await?;
        expect(second.version == 2, "a second set has version 2")?;
        let read = self.store.config.get_param(&name).await?;
        expect(
            read.map(|p| p.param_value) == Some(ParamValue::Float(2.5)),
            "get_param returns the float just set",
        )?;
        expect(
            self.store.config.delete_param(&name).await?,
            "delete_param finds the parameter",
        )?;
        expect(
            self.store.config.get_param(&name).await?.is_none(),
            "a deleted parameter is gone",
        )
    }

    async fn miners(&mut self) -> Result<()> {
        let hk = self.hotkey();
        self.store
            .miners
            .save_metadata(MinerInfo {
                miner_hotkey: hk.clone(),
                current_revision: self.revision(),
                model_hash: "selftest-hash".into(),
                model_name: "selftest/model".into(),
                ..Default::default()
            })
            .await?;
        self.written.miner = true;
        let ok = self.store.miners.update_statistics(&hk, true, true).await?;
        expect(
            ok.total_samples == 1 && ok.success_count == 1,
            "a success counts",
        )?;
        let failed = self
            .store
            .miners
            .update_statistics(&hk, false, true)
            .await?;
        expect(
            failed.total_samples == 2 && failed.error_count == 1 && failed.consecutive_errors == 1,
            "a failure counts",
        )
    }

    async fn retention(&mut self) -> Result<()> {
        let hk = self.hotkey();
        let policy = self
            .store
            .retention
            .set_policy(&hk, true, Some("affine-db test".into()), 30)
            .await?;
        self.written.policy = true;
        expect(
            policy.is_protected && policy.retention_days == 30,
            "set_policy stores protection and days",
        )?;
        expect(
            self.store.retention.is_protected(&hk).await?,
            "is_protected",
        )?;
        let off = self.store.retention.set_unprotected(&hk).await?;
        expect(
            !off.is_protected && off.retention_days == 30,
            "set_unprotected keeps the retention days",
        )
    }

    /// Deletes what the checks wrote, then reads every key back.
    async fn cleanup(&mut self) -> Result<()> {
        let (hk, rev) = (self.hotkey(), self.revision());
        let admin = self.store.admin.clone();
        if let Some(key) = &self.written.sample {
            admin
                .delete_items(Table::SampleResults, vec![(key.pk(), key.sk())])
                .await?;
        }
        if self.written.task {
            self.store.tasks.delete_miner_tasks(&hk, &rev).await?;
        }
        if let Some(key) = self.written.log.clone() {
            admin.delete_items(Table::ExecutionLogs, vec![key]).await?;
        }
        if self.written.score {
            admin
                .delete_items(
                    Table::Scores,
                    vec![(keys::score_pk(TEST_BLOCK), keys::score_sk(&hk))],
                )
                .await?;
        }
        if self.written.param {
            self.store.config.delete_param(&self.param()).await?;
        }
        if self.written.miner {
            admin
                .delete_items(
                    Table::MinerMetadata,
                    vec![(keys::miner_pk(&hk), keys::METADATA_SK.to_string())],
                )
                .await?;
        }
        if self.written.policy {
            admin
                .delete_items(
                    Table::DataRetentionPolicy,
                    vec![(keys::retention_pk(&hk), keys::METADATA_SK.to_string())],
                )
                .await?;
        }
        self.verify_gone(&hk, &rev).await
    }

    async fn verify_gone(&self, hk: &str, rev: &str) -> Result<()> {
        let s = &self.store;
        let samples = s
            .samples
            .get_samples_by_miner(hk, rev, &MinerSamplesQuery::default())
            .await?;
        expect(samples.is_empty(), "samples left")?;
        expect(
            s.tasks
                .get_tasks_by_miner(hk, rev, None, None)
                .await?
                .is_empty(),
            "tasks left",
        )?;
        expect(
            s.logs.get_recent_logs(hk, 10, None).await?.is_empty(),
            "logs left",
        )?;
        expect(
            s.scores
                .get_miner_score_at_block(TEST_BLOCK, hk)
                .await?
                .is_none(),
            "score row left",
        )?;
        expect(
            s.config.get_param(&self.param()).await?.is_none(),
            "parameter left",
        )?;
        expect(
            s.miners.get_metadata(hk).await?.is_none(),
            "miner metadata left",
        )?;
        expect(s.retention.get_policy(hk).await?.is_none(), "policy left")
    }
}
