//! The shared conformance suite against a fresh in-memory SQLite database.

use affine_db::conformance::Harness;
use affine_db::Store;
use affine_db_sqlite::SqliteBackend;

async fn harness() -> Harness {
    let clock = Harness::new_clock();
    let backend = SqliteBackend::open_in_memory(clock.clone())
        .await
        .expect("open in-memory sqlite");
    Harness {
        store: Store::new(backend),
        clock,
    }
}

affine_db::conformance_suite!(harness);
