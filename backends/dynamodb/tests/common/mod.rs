//! Shared test helpers: the emulator endpoint (from `AFFINE_TEST_DYNAMODB_ENDPOINT`,
//! behind the dynalite shim when `AFFINE_TEST_DYNAMODB_IMPL=dynalite`,
//! or moto started once with `scripts/moto.sh start`), dummy credentials, and
//! fresh table handles over the DynamoDB driver on random table prefixes.
#![allow(dead_code)]

/// The fault-injecting proxy, shared with other crates' tests.
#[allow(unused_imports)]
pub use affine_db_testkit::faults as proxy;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use affine_db_core::conformance::Harness;
use affine_db_core::handles::Tables;
use affine_db_core::{Admin, ManualClock, SharedClock, Store};
use affine_db_dynamodb::{DynamoConfig, DynamoDriver};
use aws_sdk_dynamodb::Client;

static ENDPOINT: OnceLock<String> = OnceLock::new();

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn set_default_env(key: &str, value: &str) {
    if std::env::var_os(key).is_none() {
        // Tests only: dummy credentials for the loopback emulator.
        std::env::set_var(key, value);
    }
}

/// The emulator's endpoint. Panics (never skips) when there is none.
pub fn endpoint() -> String {
    ENDPOINT
        .get_or_init(|| {
            set_default_env("AWS_ACCESS_KEY_ID", "affine-test");
            set_default_env("AWS_SECRET_ACCESS_KEY", "affine-test");
            set_default_env("AWS_REGION", "us-east-1");
            std::env::remove_var("AWS_PROFILE");
            if let Ok(ep) = std::env::var("AFFINE_TEST_DYNAMODB_ENDPOINT") {
                if !ep.is_empty() {
                    return affine_db_testkit::dynalite::test_endpoint(&ep);
                }
            }
            let script = repo_root().join("scripts/moto.sh");
            let out = Command::new(&script).arg("start").output().unwrap_or_else(|e| {
                panic!("no DynamoDB emulator: AFFINE_TEST_DYNAMODB_ENDPOINT is unset and {} could not run: {e}. Run scripts/test.", script.display())
            });
            let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if !out.status.success() || !url.starts_with("http") {
                panic!(
                    "no DynamoDB emulator: AFFINE_TEST_DYNAMODB_ENDPOINT is unset and `scripts/moto.sh start` failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            url
        })
        .clone()
}

/// A fresh random table prefix.
pub fn prefix() -> String {
    format!("t{}", uuid::Uuid::new_v4().simple())
}

/// A config pointing at `endpoint` with `prefix`.
pub fn config(prefix: &str, endpoint: &str) -> DynamoConfig {
    DynamoConfig {
        prefix: prefix.to_string(),
        region: Some("us-east-1".into()),
        endpoint: Some(endpoint.to_string()),
    }
}

/// The table handles over a [`DynamoDriver`] connected with `config`
/// (tables not touched).
pub async fn connect(
    config: DynamoConfig,
    clock: SharedClock,
) -> affine_db_core::Result<Arc<Tables>> {
    affine_db_dynamodb::open_tables(config, clock).await
}

/// An SDK client for the emulator, to make or inspect tables directly.
pub async fn client() -> Client {
    DynamoDriver::connect(config("unused", &endpoint()))
        .await
        .unwrap()
        .client()
        .clone()
}

/// Table handles on a fresh prefix at the emulator, tables created.
pub async fn backend(clock: SharedClock) -> (Arc<Tables>, String) {
    let p = prefix();
    let b = connect(config(&p, &endpoint()), clock).await.unwrap();
    b.init().await.unwrap();
    (b, p)
}

/// The conformance harness: a fresh store on a manual clock.
pub async fn harness() -> Harness {
    let clock = Harness::new_clock();
    let (b, _) = backend(clock.clone()).await;
    Harness {
        store: Store::new(b),
        clock,
    }
}

/// A manual clock at the conformance start time.
pub fn clock() -> Arc<ManualClock> {
    Harness::new_clock()
}
