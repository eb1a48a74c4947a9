//! The module-level client: `init_client(url=None)`, `close_client()`,
//! `init_tables()`, `get_client()`, and the runner every DAO method uses.

use std::future::Future;
use std::sync::{Arc, RwLock};

use affine_db::{Result, Store};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

use crate::bridge;

/// The store `init_client` opened, shared by every DAO.
static CLIENT: RwLock<Option<Arc<Client>>> = RwLock::new(None);

/// An open store: what `get_client()` returns.
#[pyclass(module = "affine_db", frozen)]
pub struct Client {
    store: Store,
    url: String,
}

#[pymethods]
impl Client {
    /// The URL the store was opened with.
    #[getter]
    fn url(&self) -> String {
        affine_db::open::redact(&self.url)
    }

    /// The backend: `"sqlite"` or `"dynamodb"`.
    #[getter]
    fn backend(&self) -> &'static str {
        self.store.admin.capabilities().name
    }

    /// Where the data lives, on one line (never with credentials).
    fn describe(&self) -> String {
        self.store.admin.describe()
    }

    fn __repr__(&self) -> String {
        format!("<affine_db.Client {}>", self.store.admin.describe())
    }
}

/// The current store, or the `RuntimeError` the original raised before
/// `init_client()`.
pub fn store() -> PyResult<Store> {
    let guard = CLIENT.read().unwrap_or_else(|e| e.into_inner());
    guard.as_ref().map(|c| c.store.clone()).ok_or_else(|| {
        PyRuntimeError::new_err(
            "affine_db client not initialized; call `await init_client()` first",
        )
    })
}

/// Runs `fut` on the tokio runtime (without the GIL) and returns an asyncio
/// future of its result; a library error becomes its Python exception
/// ([`bridge::spawn`]).
pub fn run<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    bridge::spawn(py, fut)
}

/// Opens the store `url` names — else `AFFINE_DB`, else `dynamodb://` when
/// the original's `DYNAMODB_TABLE_PREFIX` or `AWS_ENDPOINT_URL_DYNAMODB` is
/// set, else `sqlite://affine.db` ([`affine_db::open::url_from_env_or_original`];
/// the URL forms and environment variables of the `affine-db` binary) — and
/// makes it the one every DAO uses, replacing any earlier one. Returns the
/// client. A SQLite file is created with its tables; DynamoDB tables are
/// created by `init_tables()`.
#[pyfunction]
#[pyo3(signature = (url=None))]
pub fn init_client(py: Python<'_>, url: Option<String>) -> PyResult<Bound<'_, PyAny>> {
    let url = url.unwrap_or_else(affine_db::open::url_from_env_or_original);
    run(py, async move {
        let store = affine_db::open(&url).await?;
        let client = Arc::new(Client { store, url });
        *CLIENT.write().unwrap_or_else(|e| e.into_inner()) = Some(client.clone());
        Ok(ClientRef(client))
    })
}

/// Forgets the store; DAO calls raise `RuntimeError` until the next
/// `init_client()`. Calls already running finish on the store they started on.
#[pyfunction]
pub fn close_client(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    run(py, async move {
        let old = CLIENT.write().unwrap_or_else(|e| e.into_inner()).take();
        drop(old);
        Ok(())
    })
}

/// Creates the seven tables if missing (idempotent); on DynamoDB with their
/// indexes and TTL, waiting until they are active.
#[pyfunction]
pub fn init_tables(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    let store = store()?;
    run(py, async move { store.admin.init().await })
}

/// The client `init_client()` opened; `RuntimeError` before that.
#[pyfunction]
pub fn get_client(py: Python<'_>) -> PyResult<Py<Client>> {
    let guard = CLIENT.read().unwrap_or_else(|e| e.into_inner());
    let client = guard.as_ref().cloned().ok_or_else(|| {
        PyRuntimeError::new_err(
            "affine_db client not initialized; call `await init_client()` first",
        )
    })?;
    drop(guard);
    client_object(py, client)
}

/// A shared client handed to Python.
struct ClientRef(Arc<Client>);

fn client_object(py: Python<'_>, client: Arc<Client>) -> PyResult<Py<Client>> {
    Py::new(
        py,
        Client {
            store: client.store.clone(),
            url: client.url.clone(),
        },
    )
}

impl<'py> IntoPyObject<'py> for ClientRef {
    type Target = Client;
    type Output = Bound<'py, Client>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, Client>> {
        client_object(py, self.0).map(|c| c.into_bound(py))
    }
}

/// Runs the `affine-db` command line (the same code as the binary, linked
/// in) on `args` (the program name first) without the GIL; returns its exit
/// code. The `affine-db` console script and `python -m affine_db.cli`.
#[pyfunction]
pub fn run_cli(py: Python<'_>, args: Vec<String>) -> i32 {
    py.detach(|| affine_db_cli::run_from_args(args))
}
