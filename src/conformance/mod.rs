//! The shared conformance suite: plain async functions over the table
//! traits that every backend's tests run, through [`conformance_suite!`]
//! (apache object_store style). Each function takes a fresh [`Harness`]
//! whose clock is manual, and asserts behaviour and error variants.
//!
//! A backend's test file is one line:
//!
//! ```ignore
//! affine_db::conformance_suite!(my_backend_harness);
//! ```
//!
//! where `async fn my_backend_harness() -> Harness` opens a fresh, empty
//! store on a [`ManualClock`] standing at [`T0_MS`].

use std::sync::Arc;

use crate::clock::ManualClock;
use crate::store::Store;

mod basics;

pub use basics::*;

/// Where every harness clock starts: 2025-01-01T00:00:00Z, in ms.
pub const T0_MS: i64 = 1_735_689_600_000;

/// A fresh, empty store and the manual clock it reads.
#[derive(Clone)]
pub struct Harness {
    /// The store under test.
    pub store: Store,
    /// Its clock; move it to test TTL and retention.
    pub clock: Arc<ManualClock>,
}

impl Harness {
    /// A manual clock at [`T0_MS`], to build a backend with.
    pub fn new_clock() -> Arc<ManualClock> {
        Arc::new(ManualClock::new(T0_MS))
    }
}

/// Generates one `#[tokio::test]` per conformance function, each with a
/// fresh harness from `$make` (an `async fn() -> Harness`).
#[macro_export]
macro_rules! conformance_suite {
    ($make:path) => {
        $crate::conformance_suite!(@tests $make;
            key_parts_are_validated_before_writing,
        );
    };
    (@tests $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let h = $make().await;
                $crate::conformance::$name(h).await;
            }
        )*
    };
}
