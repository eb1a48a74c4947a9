//! Which reads may be eventually consistent (issue 20): the rule, once.
//!
//! A store such as DynamoDB serves an eventually consistent read at half
//! the read units of a strongly consistent one, and it may miss a write of
//! the last second or so. A read may be eventual when nothing decides on
//! what it returns:
//!
//! - **Eventual:** the public reads of `sample_results`, `execution_logs`
//!   and `scores` (listing samples, fetching their conversations, logs and
//!   their summaries, the latest block and score history). They feed
//!   reports and scoring, which run again on the next refresh; a sample or
//!   a score written a moment ago appears on that one.
//! - **Strong:** everything else — `task_queue` (a claimer must see the
//!   queue as it is), `system_config` (a changed parameter takes effect at
//!   once), `miner_metadata` (the claim's stale-model check) and
//!   `retention_policy` (a protection must be seen before a deletion), and
//!   on every table the reads a write or rule is made of: the rows a
//!   snapshot replaces, the samples a re-save supersedes, the items a
//!   deletion or the purge removes, counts and statistics, administration.
//!
//! A store opened with strong reads forced ([`crate::handles::Tables::with_strong_reads`])
//! reads everything strongly. SQLite and the in-memory store are always
//! strongly consistent and ignore it.

use crate::driver::Consistency;
use crate::schema::Table;

/// The consistency of the public reads of `table`.
pub fn reads(table: Table) -> Consistency {
    match table {
        Table::SampleResults | Table::ExecutionLogs | Table::Scores => Consistency::Eventual,
        Table::TaskQueue
        | Table::SystemConfig
        | Table::MinerMetadata
        | Table::DataRetentionPolicy => Consistency::Strong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tables_nothing_decides_on_read_eventually() {
        let eventual: Vec<Table> = Table::ALL
            .into_iter()
            .filter(|t| reads(*t) == Consistency::Eventual)
            .collect();
        assert_eq!(
            eventual,
            [Table::SampleResults, Table::ExecutionLogs, Table::Scores]
        );
    }
}
