//! The shared conformance suite against the SQLite backend, twice: on a
//! fresh in-memory database (one connection) and on a fresh file in WAL
//! mode (writer plus read pool).

use affine_db_core::conformance::Harness;
use affine_db_core::Store;
use affine_db_sqlite::{open_tables, open_tables_in_memory, OpenMode};

async fn harness() -> Harness {
    let clock = Harness::new_clock();
    let backend = open_tables_in_memory(clock.clone())
        .await
        .expect("open in-memory sqlite");
    Harness {
        store: Store::new(backend),
        clock,
    }
}

/// The same suite on database files under cargo's scratch directory for
/// integration tests (one file per test, removed by the next run).
mod file {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static NEXT: AtomicUsize = AtomicUsize::new(0);
    static CLEAN: std::sync::Once = std::sync::Once::new();

    pub(super) async fn harness() -> Harness {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sqlite-conformance");
        // The previous run's files go once, before this run's first test.
        CLEAN.call_once(|| {
            let _ = std::fs::remove_dir_all(&dir);
        });
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let path = dir.join(format!("{n}.db"));
        let clock = Harness::new_clock();
        let backend = open_tables(&path, clock.clone(), OpenMode::Create)
            .await
            .expect("open sqlite file");
        Harness {
            store: Store::new(backend),
            clock,
        }
    }
}

affine_db_core::conformance_main!("memory::" => harness, "file::" => file::harness);
