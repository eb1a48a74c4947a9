//! The shared conformance suite: plain async functions over the table
//! traits that every backend's tests run (apache object_store style). Each
//! function takes a fresh [`Harness`] whose clock is manual, asserts
//! behaviour and error variants, and is registered where it is defined
//! ([`register!`](crate::register)); nothing lists them.
//!
//! A backend's test file (`harness = false`) is one line:
//!
//! ```text
//! affine_db_core::conformance_main!(my_backend_harness);
//! ```
//!
//! where `async fn my_backend_harness() -> Harness` opens a fresh, empty
//! store on a [`ManualClock`] standing at [`T0_MS`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::clock::ManualClock;
use crate::store::Store;

mod basics;
mod compat;
mod concurrency;
mod config;
mod dictionaries;
mod logs;
mod miners;
mod numbers;
mod paging;
mod retention;
mod rules;
mod samples;
mod scores;
mod tasks;
mod ttl;

pub use basics::*;
pub use compat::*;
pub use concurrency::*;
pub use config::*;
pub use dictionaries::*;
pub use logs::*;
pub use miners::*;
pub use numbers::*;
pub use paging::*;
pub use retention::*;
pub use rules::*;
pub use samples::*;
pub use scores::*;
pub use tasks::*;
pub use ttl::*;

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

/// One registered conformance test: its name, the module it is defined
/// in, and the function, which takes a fresh [`Harness`].
pub struct Case {
    /// The function's name.
    pub name: &'static str,
    /// The module it is defined in (`tasks`, `scores`, ...).
    pub module: &'static str,
    /// Runs it on a harness.
    pub run: fn(Harness) -> Pin<Box<dyn Future<Output = ()>>>,
}

inventory::collect!(Case);

/// Registers conformance functions where they are defined: each
/// `register!(name);` after `pub async fn name(h: Harness)` adds it to
/// every backend's suite ([`conformance_main!`]); there is no list to keep.
#[macro_export]
macro_rules! register {
    ($($name:ident),+ $(,)?) => {
        $(
            $crate::conformance::inventory::submit! {
                $crate::conformance::Case {
                    name: stringify!($name),
                    module: module_path!(),
                    run: |h| ::std::boxed::Box::pin($name(h)),
                }
            }
        )+
    };
}

pub use inventory;
pub use libtest_mimic;

/// Every registered case, by module then name.
pub fn cases() -> Vec<&'static Case> {
    let mut all: Vec<&'static Case> = inventory::iter::<Case>.into_iter().collect();
    all.sort_by_key(|c| (short_module(c.module), c.name));
    all
}

fn short_module(module: &str) -> &str {
    module.rsplit("::").next().unwrap_or(module)
}

/// One libtest trial per registered case, named `{prefix}{module}::{name}`,
/// each on its own tokio runtime (4 workers) with a fresh harness from `make`.
pub fn trials<F, Fut>(prefix: &str, make: F) -> Vec<libtest_mimic::Trial>
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Harness>,
{
    cases()
        .into_iter()
        .map(|case| {
            let make = make.clone();
            let name = format!("{prefix}{}::{}", short_module(case.module), case.name);
            libtest_mimic::Trial::test(name, move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(4)
                    .enable_all()
                    .build()
                    .map_err(|e| format!("tokio runtime: {e}"))?;
                rt.block_on(async {
                    let h = make().await;
                    (case.run)(h).await;
                });
                Ok(())
            })
        })
        .collect()
}

/// The `main` of a backend's conformance test file (with `harness = false`
/// in its `[[test]]` section): every registered case against each harness
/// maker, an `async fn() -> Harness` opening a fresh, empty store on a
/// [`ManualClock`] at [`T0_MS`]. Accepts libtest's arguments (filters,
/// `--exact`, `--list`, `--test-threads`).
///
/// ```text
/// affine_db_core::conformance_main!(harness);
/// affine_db_core::conformance_main!("memory::" => memory_harness, "file::" => file_harness);
/// ```
#[macro_export]
macro_rules! conformance_main {
    ($make:path) => {
        $crate::conformance_main!("" => $make);
    };
    ($($prefix:literal => $make:path),+ $(,)?) => {
        fn main() {
            let args = $crate::conformance::libtest_mimic::Arguments::from_args();
            let mut trials = ::std::vec::Vec::new();
            $( trials.extend($crate::conformance::trials($prefix, || $make())); )+
            $crate::conformance::libtest_mimic::run(&args, trials).exit();
        }
    };
}

#[cfg(test)]
mod tests {
    /// The sources of the conformance modules.
    const SOURCES: [(&str, &str); 15] = [
        ("basics", include_str!("basics.rs")),
        ("compat", include_str!("compat.rs")),
        ("concurrency", include_str!("concurrency.rs")),
        ("config", include_str!("config.rs")),
        ("dictionaries", include_str!("dictionaries.rs")),
        ("logs", include_str!("logs.rs")),
        ("miners", include_str!("miners.rs")),
        ("numbers", include_str!("numbers.rs")),
        ("paging", include_str!("paging.rs")),
        ("retention", include_str!("retention.rs")),
        ("rules", include_str!("rules.rs")),
        ("samples", include_str!("samples.rs")),
        ("scores", include_str!("scores.rs")),
        ("tasks", include_str!("tasks.rs")),
        ("ttl", include_str!("ttl.rs")),
    ];

    /// Every `pub async fn NAME(h: Harness)` is registered, and every
    /// registration is of such a function: a test cannot be left out of
    /// the suite by forgetting a list.
    #[test]
    fn every_conformance_function_is_registered_once() {
        let mut defined = Vec::new();
        for (module, src) in SOURCES {
            for line in src.lines() {
                if let Some(rest) = line.strip_prefix("pub async fn ") {
                    if let Some((name, args)) = rest.split_once('(') {
                        if args.starts_with("h: Harness)") || args.starts_with("_h: Harness)") {
                            defined.push(format!("{module}::{name}"));
                        }
                    }
                }
            }
        }
        defined.sort();
        let registered: Vec<String> = super::cases()
            .iter()
            .map(|c| format!("{}::{}", super::short_module(c.module), c.name))
            .collect();
        assert_eq!(registered, defined);
        assert!(registered.len() >= 111, "{} cases", registered.len());
    }
}
