//! Rust futures as `asyncio` futures, without tokio threads ever taking
//! the GIL.
//!
//! [`spawn`] runs a store call on the tokio runtime of `pyo3-async-runtimes`
//! (without the GIL) and hands back an `asyncio` future of the running loop.
//! When the call finishes, its tokio thread only queues the outcome on the
//! loop's [`Waker`] and writes a byte to the waker's socket pair; the loop
//! watches that socket (`add_reader`) and, on its own thread, converts each
//! queued outcome to Python values and resolves its future. Cancelling the
//! `asyncio` future aborts the call.
//!
//! Why not `pyo3_async_runtimes::tokio::future_into_py`, which attaches the
//! tokio thread to the interpreter to resolve the future:
//! - a tokio thread that was attached when the main thread started
//!   finalizing (the script's last `await` returned while it was still inside
//!   the attach) was killed by CPython when it asked for the GIL back, and the
//!   process aborted ("PyGILState_Release: thread state must be current") or
//!   segfaulted at exit: about half the runs of a short script on DynamoDB;
//! - each completion waited for the GIL, which a busy loop thread gives up
//!   only every switch interval (5 ms); here the loop resolves many queued
//!   completions per wake-up.

use std::future::Future;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};

use affine_db::Result;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::IntoPyObjectExt;

use crate::errors;

/// Converts a finished call's outcome to the future's result (`Ok`) or
/// exception (`Err`); runs on the loop's thread.
type Convert = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// A finished call waiting for its loop.
struct Done {
    fut: Py<PyAny>,
    convert: Convert,
}

/// What tokio threads share with one event loop.
struct Inner {
    queue: Mutex<Vec<Done>>,
    /// Written by tokio threads (one byte when the queue was empty).
    tx: UnixStream,
    /// Watched by the loop.
    rx: UnixStream,
}

impl Inner {
    /// Queues `done` and wakes the loop (no GIL needed).
    fn push(&self, done: Done) {
        let was_empty = {
            let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
            q.push(done);
            q.len() == 1
        };
        if was_empty {
            // A full socket buffer already holds a wake-up; nothing is lost.
            let _ = (&self.tx).write(&[1]);
        }
    }
}

/// One event loop's wake-up channel, kept per loop in a
/// `weakref.WeakKeyDictionary` (so it goes with its loop).
#[pyclass(frozen, module = "affine_db._native")]
pub struct Waker {
    inner: Arc<Inner>,
}

#[pymethods]
impl Waker {
    /// On the loop's thread: resolves every queued future.
    fn drain(&self, py: Python<'_>) {
        // Bytes first, then the queue: a push after this read writes a new
        // byte, so no outcome waits for a wake-up that already happened.
        let mut buf = [0u8; 256];
        loop {
            match (&self.inner.rx).read(&mut buf) {
                Ok(n) if n == buf.len() => continue,
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let ready =
            std::mem::take(&mut *self.inner.queue.lock().unwrap_or_else(|e| e.into_inner()));
        for done in ready {
            let fut = done.fut.bind(py);
            // A cancelled future (or one a caller set) takes nothing more.
            if fut
                .call_method0(pyo3::intern!(py, "done"))
                .and_then(|d| d.is_truthy())
                .unwrap_or(true)
            {
                continue;
            }
            let set = match (done.convert)(py) {
                Ok(value) => fut.call_method1(pyo3::intern!(py, "set_result"), (value,)),
                Err(e) => fut.call_method1(pyo3::intern!(py, "set_exception"), (e.into_value(py),)),
            };
            if let Err(e) = set {
                e.write_unraisable(py, Some(fut));
            }
        }
    }
}

/// The waker of `event_loop`, made (and registered with `add_reader`) on
/// first use.
fn waker_for(event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<Inner>> {
    let py = event_loop.py();
    static WAKERS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let wakers = WAKERS
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("weakref")?
                    .call_method0("WeakKeyDictionary")?
                    .unbind(),
            )
        })?
        .bind(py);
    let found = wakers.call_method1(pyo3::intern!(py, "get"), (event_loop,))?;
    if let Ok(w) = found.cast::<Waker>() {
        return Ok(w.get().inner.clone());
    }
    let (tx, rx) = UnixStream::pair()?;
    tx.set_nonblocking(true)?;
    rx.set_nonblocking(true)?;
    let fd = rx.as_raw_fd();
    let inner = Arc::new(Inner {
        queue: Mutex::new(Vec::new()),
        tx,
        rx,
    });
    let waker = Bound::new(
        py,
        Waker {
            inner: inner.clone(),
        },
    )?;
    event_loop.call_method1("add_reader", (fd, waker.getattr("drain")?))?;
    wakers.set_item(event_loop, waker)?;
    Ok(inner)
}

/// Runs `fut` on the tokio runtime and returns an `asyncio` future (of the
/// running loop) that resolves to its value, or raises its error as the
/// `affine_db` exception of its variant.
pub fn spawn<'py, F, T>(py: Python<'py>, fut: F) -> PyResult<Bound<'py, PyAny>>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: for<'a> IntoPyObject<'a> + Send + 'static,
{
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let event_loop = GET_RUNNING_LOOP
        .import(py, "asyncio", "get_running_loop")?
        .call0()?;
    let waker = waker_for(&event_loop)?;
    let py_fut = event_loop.call_method0(pyo3::intern!(py, "create_future"))?;
    let fut_ref = py_fut.clone().unbind();
    let task = pyo3_async_runtimes::tokio::get_runtime().spawn(async move {
        let outcome = fut.await;
        let convert: Convert = Box::new(move |py| match outcome {
            Ok(v) => v.into_py_any(py),
            Err(e) => Err(errors::to_py_in(py, &e)),
        });
        waker.push(Done {
            fut: fut_ref,
            convert,
        });
    });
    py_fut.call_method1(
        pyo3::intern!(py, "add_done_callback"),
        (AbortOnCancel(task.abort_handle()),),
    )?;
    Ok(py_fut)
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
