//! Worlds (the model and each backend, each with its own manual clock) and
//! the driver that runs one operation sequence through all of them and
//! compares every outcome with the model's.

use std::sync::{Arc, OnceLock};

use affine_db::dynamodb::{open_store, DynamoConfig};
use affine_db::{ManualClock, SharedClock, Store};
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError};

use super::apply::{apply, final_reads, resolve};
use super::ops::{Op, Registry};
use super::strategies::Group;
use super::Model;

/// Where every clock starts: 2025-01-01T00:00:00Z.
pub const T0_MS: i64 = 1_735_689_600_000;

/// One store under test (or the model), its clock and what it created.
pub struct World {
    /// `model`, `sqlite`, `memory` or `dynamodb`.
    pub name: &'static str,
    /// The store.
    pub store: Store,
    /// Its clock, moved identically in every world.
    pub clock: Arc<ManualClock>,
    /// Generated ids, for "task #k".
    pub reg: Registry,
    /// Broken invariants found while applying ops (fail the case).
    pub violations: Vec<String>,
}

impl World {
    fn new(name: &'static str, store: Store, clock: Arc<ManualClock>) -> World {
        World {
            name,
            store,
            clock,
            reg: Registry::default(),
            violations: Vec::new(),
        }
    }

    /// The world's now in ms.
    pub fn clock_now_ms(&self) -> i64 {
        use affine_db::Clock;
        self.clock.now_ms()
    }
}

fn new_clock() -> (Arc<ManualClock>, SharedClock) {
    let c = Arc::new(ManualClock::new(T0_MS));
    (c.clone(), c)
}

/// The DynamoDB emulator's URL: `AFFINE_TEST_DYNAMODB_ENDPOINT` (set by
/// `scripts/test`), else one `scripts/moto.sh start`. Panics when neither
/// works: these tests never skip silently.
pub fn dynamodb_endpoint() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        // The emulator takes any credentials; never look for real ones.
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            std::env::set_var("AWS_ACCESS_KEY_ID", "affine-test");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "affine-test");
        }
        if let Ok(url) = std::env::var("AFFINE_TEST_DYNAMODB_ENDPOINT") {
            if !url.is_empty() {
                // On dynalite, behind the shim that answers what it lacks.
                return affine_db_testkit::dynalite::test_endpoint(&url);
            }
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/moto.sh");
        let out = std::process::Command::new(script)
            .arg("start")
            .output()
            .unwrap_or_else(|e| {
                panic!("AFFINE_TEST_DYNAMODB_ENDPOINT is unset and {script} could not run: {e}")
            });
        assert!(
            out.status.success(),
            "AFFINE_TEST_DYNAMODB_ENDPOINT is unset and `{script} start` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            url.starts_with("http"),
            "`{script} start` printed {url:?}, not a URL"
        );
        url
    })
    .clone()
}

/// Fresh worlds for one case: the model, an in-memory SQLite database, the
/// core-owned handles over the in-memory driver (`memory://`) and (unless
/// `dynamodb` is false) a DynamoDB table set under a fresh prefix.
pub async fn worlds(dynamodb: bool) -> Vec<World> {
    let mut v = Vec::new();
    let (c, shared) = new_clock();
    v.push(World::new("model", Store::new(Model::new(shared)), c));
    let (c, shared) = new_clock();
    let sqlite = affine_db::sqlite::open_store_in_memory(shared)
        .await
        .expect("open in-memory SQLite");
    v.push(World::new("sqlite", sqlite, c));
    let (c, shared) = new_clock();
    let memory = Store::from_driver(Arc::new(affine_db::driver::InMemory::new()), shared);
    v.push(World::new("memory", memory, c));
    if dynamodb {
        let (c, shared) = new_clock();
        let config = DynamoConfig {
            prefix: format!("p{}", uuid::Uuid::new_v4().simple()),
            region: Some("us-east-1".into()),
            endpoint: Some(dynamodb_endpoint()),
        };
        let store = open_store(config, shared)
            .await
            .expect("open the DynamoDB store on the emulator");
        store
            .admin
            .init()
            .await
            .expect("create the DynamoDB tables");
        v.push(World::new("dynamodb", store, c));
    }
    v
}

/// Runs `ops` (then [`final_reads`]) through every world, comparing each
/// outcome with the model's; the first divergence or broken invariant
/// fails the case, naming the backend, the step and both outcomes.
pub async fn run(ops: &[Op], dynamodb: bool) -> Result<(), TestCaseError> {
    let mut ws = worlds(dynamodb).await;
    let tail = final_reads();
    let all: Vec<&Op> = ops.iter().chain(tail.iter()).collect();
    for (step, op) in all.iter().enumerate() {
        let (target, op) = resolve(op, &ws[0]).await;
        let mut outcomes = Vec::new();
        for w in ws.iter_mut() {
            outcomes.push(apply(w, &op, target).await);
        }
        let phase = if step < ops.len() {
            "step"
        } else {
            "final read"
        };
        for (w, o) in ws.iter().zip(&outcomes).skip(1) {
            if *o != outcomes[0] {
                return Err(TestCaseError::fail(format!(
                    "{} diverged from the model at {phase} {step} ({op:?}):\n  model:    {:?}\n  {}: {:?}",
                    w.name, outcomes[0], w.name, o
                )));
            }
        }
        for w in &ws {
            if let Some(v) = w.violations.first() {
                return Err(TestCaseError::fail(format!(
                    "{}: invariant broken at {phase} {step} ({op:?}): {v}",
                    w.name
                )));
            }
        }
    }
    Ok(())
}

/// Cases per property: `PROPTEST_CASES` when set, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The proptest configuration of `group`'s property: `cases(default)`
/// cases (`PROPTEST_CASES` overrides), failing cases kept in the group's
/// committed regressions file and replayed first, at most
/// `PROPTEST_MAX_SHRINK_ITERS` (default 512) shrink steps.
pub fn config(group: Group, default: u32) -> Config {
    Config {
        cases: cases(default),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            group.regressions(),
        ))),
        max_shrink_iters: std::env::var("PROPTEST_MAX_SHRINK_ITERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(512),
        ..Config::default()
    }
}

/// The runtime a property's cases run on (one per test function).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
