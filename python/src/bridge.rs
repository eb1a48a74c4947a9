//! Rust futures as `asyncio` futures, safe at interpreter exit.
//!
//! [`spawn`] runs a store call on the tokio runtime of `pyo3-async-runtimes`
//! (without the GIL) and hands back an `asyncio` future of the running loop.
//! When the call finishes, its tokio thread attaches to the interpreter only
//! to convert the result and schedule [`resolve`] on the loop with
//! `call_soon_threadsafe`; cancelling the `asyncio` future aborts the call.
//!
//! Why not `pyo3_async_runtimes::tokio::future_into_py`: a tokio thread that
//! is attached when the main thread starts finalizing (the script's last
//! `await` returned while that thread was still inside the attach, between
//! bytecodes) is killed by CPython when it asks for the GIL back, and the
//! process aborts ("PyGILState_Release: thread state must be current") or
//! segfaults at exit — about half the runs of a short script on DynamoDB.
//! Here every attach from a tokio thread is counted, and an `atexit` hook
//! ([`shutdown`], which runs before finalization begins) stops new ones and
//! waits, without the GIL, until the counted ones are done.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use affine_db::Result;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyCFunction;
use pyo3::IntoPyObjectExt;

use crate::errors;

/// Tokio threads attached (or about to attach) to deliver a result.
static ATTACHED: AtomicUsize = AtomicUsize::new(0);
/// Set by [`shutdown`]: results are no longer delivered.
static CLOSING: AtomicBool = AtomicBool::new(false);

/// How long [`shutdown`] waits for deliveries in progress.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// Runs `fut` on the tokio runtime and returns an `asyncio` future (of the
/// running loop) that resolves to its value, or raises its error as the
/// `affine_db` exception of its variant.
pub fn spawn<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    let event_loop = py
        .import(pyo3::intern!(py, "asyncio"))?
        .call_method0(pyo3::intern!(py, "get_running_loop"))?;
    let py_fut = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
    let (loop_ref, fut_ref) = (event_loop.unbind(), py_fut.clone().unbind());
    let task = pyo3_async_runtimes::tokio::get_runtime().spawn(async move {
        let outcome = fut.await;
        deliver(loop_ref, fut_ref, outcome);
    });
    py_fut.call_method1(
        pyo3::intern!(py, "add_done_callback"),
        (AbortOnCancel(task.abort_handle()),),
    )?;
    Ok(py_fut)
}

/// Counts one tokio thread delivering a result while it lives.
struct Attached;

impl Attached {
    fn enter() -> Attached {
        ATTACHED.fetch_add(1, Ordering::SeqCst);
        Attached
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        ATTACHED.fetch_sub(1, Ordering::SeqCst);
    }
}

/// On a tokio thread: converts the outcome and schedules [`resolve`] on the
/// loop. Nothing is delivered once [`shutdown`] ran (nobody awaits any more).
fn deliver<T>(event_loop: Py<PyAny>, fut: Py<PyAny>, outcome: Result<T>)
where
    T: for<'a> IntoPyObject<'a>,
{
    // Counted before the check, so `shutdown` (which sets CLOSING, then
    // waits for the count) never misses a delivery that passed the check.
    let _attached = Attached::enter();
    if CLOSING.load(Ordering::SeqCst) {
        // Dropping these needs no attach (pyo3 defers the decrefs), but
        // nothing needs them either.
        std::mem::forget((event_loop, fut));
        return;
    }
    Python::attach(|py| {
        let (value, error) = match outcome {
            Ok(v) => match v.into_py_any(py) {
                Ok(v) => (v, None),
                Err(e) => (py.None(), Some(e.into_value(py).into_any())),
            },
            Err(e) => (
                py.None(),
                Some(errors::to_py_in(py, &e).into_value(py).into_any()),
            ),
        };
        let scheduled = resolver(py).and_then(|resolve| {
            event_loop.call_method1(
                py,
                pyo3::intern!(py, "call_soon_threadsafe"),
                (resolve, fut, value, error),
            )
        });
        // The loop is closed: the caller left without awaiting the result.
        drop(scheduled);
    });
}

/// The [`resolve`] function object, made once.
fn resolver(py: Python<'_>) -> PyResult<&Py<PyCFunction>> {
    static RESOLVE: PyOnceLock<Py<PyCFunction>> = PyOnceLock::new();
    RESOLVE.get_or_try_init(py, || Ok(wrap_pyfunction!(resolve, py)?.unbind()))
}

/// On the loop's thread: sets the future's result or exception, unless it
/// was cancelled meanwhile.
#[pyfunction]
#[pyo3(signature = (fut, value, error=None))]
fn resolve(
    fut: &Bound<'_, PyAny>,
    value: Bound<'_, PyAny>,
    error: Option<Bound<'_, PyAny>>,
) -> PyResult<()> {
    let py = fut.py();
    if fut.call_method0(pyo3::intern!(py, "done"))?.is_truthy()? {
        return Ok(());
    }
    match error {
        Some(e) => fut.call_method1(pyo3::intern!(py, "set_exception"), (e,))?,
        None => fut.call_method1(pyo3::intern!(py, "set_result"), (value,))?,
    };
    Ok(())
}

/// A done-callback of the `asyncio` future: a cancelled future aborts the
/// Rust call (it stops at its next await; a write already sent may land).
#[pyclass(frozen)]
struct AbortOnCancel(tokio::task::AbortHandle);

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if fut
            .call_method0(pyo3::intern!(fut.py(), "cancelled"))?
            .is_truthy()?
        {
            self.0.abort();
        }
        Ok(())
    }
}

/// The `atexit` hook: stops delivering results and waits (up to 5 s,
/// without the GIL) until no tokio thread is attached, so none is when the
/// interpreter finalizes.
#[pyfunction]
pub fn shutdown(py: Python<'_>) {
    CLOSING.store(true, Ordering::SeqCst);
    py.detach(|| {
        let start = Instant::now();
        while ATTACHED.load(Ordering::SeqCst) > 0 && start.elapsed() < SHUTDOWN_WAIT {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}
