//! The shared conformance suite against the core-owned handles over the
//! in-memory driver (`memory://`): the whole suite, on a fresh store per test.

use std::sync::Arc;

use affine_db_core::conformance::Harness;
use affine_db_core::driver::InMemory;
use affine_db_core::Store;

async fn harness() -> Harness {
    let clock = Harness::new_clock();
    Harness {
        store: Store::from_driver(Arc::new(InMemory::new()), clock.clone()),
        clock,
    }
}

affine_db_core::conformance_main!(harness);
