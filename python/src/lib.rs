//! `affine_db._native`: the Rust half of the `affine_db` Python package.
//!
//! It exposes the original Affine storage layer's API — module functions
//! `init_client`/`close_client`/`init_tables`/`get_client` and the seven DAO
//! classes — over [`affine_db`], with this project's semantics (atomic task
//! claims, TTL hidden on read, validated keys, zstd, retention).
//!
//! Every DAO method converts its arguments while holding the GIL, then runs
//! the store call on the tokio runtime of `pyo3-async-runtimes` (the GIL is
//! released while Rust works; bridge.rs turns it into an asyncio future) and returns an `asyncio` future that resolves
//! to plain Python values. Records go through `serde_json` so the dicts carry
//! exactly the attribute names (and values) the `affine-db` binary prints.

mod bridge;
mod client;
mod convert;
mod dao;
mod errors;

use pyo3::prelude::*;

/// The native module; `affine_db/__init__.py` and `affine_db/dao.py`
/// re-export what it holds.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(client::init_client, m)?)?;
    m.add_function(wrap_pyfunction!(client::close_client, m)?)?;
    m.add_function(wrap_pyfunction!(client::init_tables, m)?)?;
    m.add_function(wrap_pyfunction!(client::get_client, m)?)?;
    m.add_function(wrap_pyfunction!(client::run_cli, m)?)?;
    m.add_class::<client::Client>()?;
    m.add_class::<dao::samples::SampleResultsDAO>()?;
    m.add_class::<dao::samples::SamplePages>()?;
    m.add_class::<dao::tasks::TaskQueueDAO>()?;
    m.add_class::<dao::logs::ExecutionLogsDAO>()?;
    m.add_class::<dao::scores::ScoresDAO>()?;
    m.add_class::<dao::config::SystemConfigDAO>()?;
    m.add_class::<dao::miners::MinerMetadataDAO>()?;
    m.add_class::<dao::retention::DataRetentionDAO>()?;
    Ok(())
}
