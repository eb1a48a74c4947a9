//! The query plans of the sample statements (test only): every statement
//! the sample reads, deletes, the retention cleanup and `stats` run on
//! `sample_results` is captured as SQLite runs it (statement tracing, values
//! bound) and explained. Only `stats`' count may scan the table; nothing
//! may sort a whole result (`USE TEMP B-TREE FOR ORDER BY`), so each read
//! costs the rows it returns, not the rows the table holds.

use std::sync::{Arc, Mutex};

use affine_db_core::clock::ManualClock;
use affine_db_core::conformance::sample;
use affine_db_core::{rules, Admin, Conversation, MinerSamplesQuery, SampleStore, Store};

use rusqlite::trace::{TraceEvent, TraceEventCodes};

use crate::db::SqlResult;
use crate::SqliteDriver;
use affine_db_core::handles::Tables;

static TRACED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps the SQL of every statement run, values bound.
fn traced(event: TraceEvent<'_>) {
    if let TraceEvent::Stmt(stmt, _) = event {
        if let Some(sql) = stmt.expanded_sql() {
            TRACED.lock().unwrap_or_else(|e| e.into_inner()).push(sql);
        }
    }
}

#[tokio::test]
async fn sample_statements_search_indexes_and_never_sort_everything() {
    let clock = Arc::new(ManualClock::new(400 * 86_400_000));
    let driver = SqliteDriver::open_in_memory().await.unwrap();
    let backend = Arc::new(Tables::new(driver.clone(), clock.clone()));
    let batch = (0..40)
        .map(|i| {
            let mut s = sample(
                ["m1", "m2"][i % 2],
                "rev",
                ["sat", "abd"][i % 4 / 2],
                i as i64 * 86_400_000 * 9,
            );
            s.sample_id = Some(format!("id-{i:02}"));
            s
        })
        .collect();
    let keys = backend.save_samples(batch).await.unwrap();
    driver
        .db()
        .write(|c| {
            c.trace_v2(TraceEventCodes::SQLITE_TRACE_STMT, Some(traced))
                .db()
        })
        .await
        .unwrap();

    let store = Store::new(backend.clone());
    backend
        .get_sample(&keys[3], Conversation::Include)
        .await
        .unwrap();
    for env in [None, Some("sat".to_string())] {
        for newest_first in [false, true] {
            for conversation in [Conversation::Include, Conversation::Skip] {
                let q = MinerSamplesQuery {
                    env: env.clone(),
                    limit: Some(5),
                    newest_first,
                    conversation,
                };
                backend.get_samples_by_miner("m1", "rev", &q).await.unwrap();
            }
        }
    }
    for conversation in [Conversation::Include, Conversation::Skip] {
        backend
            .get_samples_by_env("sat", 0, 400 * 86_400_000, Some(5), conversation)
            .await
            .unwrap();
    }
    backend
        .count_samples_before("m1", "rev", 86_400_000 * 100)
        .await
        .unwrap();
    assert_eq!(backend.list_sample_owners().await.unwrap().len(), 2);
    rules::cleanup(&store, true).await.unwrap();
    let report = rules::cleanup(&store, false).await.unwrap();
    assert!(report.deleted > 0);
    backend.stats().await.unwrap();

    let statements: Vec<String> = driver
        .db()
        .write(|c| {
            c.trace_v2(
                TraceEventCodes::SQLITE_TRACE_STMT,
                None::<fn(TraceEvent<'_>)>,
            )
            .db()?;
            Ok(std::mem::take(
                &mut *TRACED.lock().unwrap_or_else(|e| e.into_inner()),
            ))
        })
        .await
        .unwrap();
    let mut checked = 0;
    for sql in statements
        .iter()
        .filter(|s| s.contains("\"sample_results\""))
    {
        let plan: Vec<String> = driver
            .db()
            .write({
                let sql = sql.clone();
                move |c| {
                    let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).db()?;
                    let rows = stmt.query_map([], |r| r.get::<_, String>(3)).db()?;
                    rows.collect::<rusqlite::Result<Vec<String>>>().db()
                }
            })
            .await
            .unwrap();
        let counts_all = sql.contains("COUNT(*)") && !sql.contains("\"pk\" =");
        for line in &plan {
            assert!(
                !line.contains("USE TEMP B-TREE FOR ORDER BY"),
                "{sql}\nsorts its whole result: {plan:?}"
            );
            if line.starts_with("SCAN sample_results") {
                assert!(counts_all, "{sql}\nscans the table: {plan:?}");
            }
        }
        checked += 1;
    }
    // Reads by key, by miner (8 forms), by env (2), count, owners, the
    // cleanup's counts and deletes, and stats were all explained.
    assert!(checked >= 15, "only {checked} statements traced");
}
