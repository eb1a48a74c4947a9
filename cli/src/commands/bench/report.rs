//! What `bench` prints: the report, as text or JSON.

use std::collections::BTreeMap;

use affine_db::Result;
use serde::Serialize;

use super::stats::OpStats;
use super::workload::Op;
use crate::output;

/// What `bench` prints.
#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) backend: String,
    /// The round trip `--latency-ms` added in front of the store, if any.
    pub(super) added_rtt_ms: Option<f64>,
    pub(super) run: String,
    pub(super) ops: u64,
    pub(super) concurrency: u64,
    pub(super) miners: u64,
    pub(super) seed: u64,
    pub(super) wall_s: f64,
    pub(super) throughput_ops_s: f64,
    pub(super) operations: BTreeMap<&'static str, OpStats>,
    /// Whether everything the run wrote was deleted and read back as gone.
    pub(super) cleaned_up: bool,
    /// Whether every table's item count equals its count before the run
    /// (`null` with `--keep`); another writer on the store makes it false.
    pub(super) stats_unchanged: Option<bool>,
    /// Per table, after minus before, where they differ.
    pub(super) stats_diff: BTreeMap<&'static str, i64>,
}

impl Report {
    pub(super) fn print_human(&self) -> Result<()> {
        output::line(format!("backend: {}", self.backend))?;
        if let Some(ms) = self.added_rtt_ms {
            output::line(format!(
                "link: {ms} ms round trip added by a loopback proxy"
            ))?;
        }
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
