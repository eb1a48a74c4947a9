//! The library's [`Error`] as Python exceptions: one class per variant, defined
//! in `affine_db/errors.py` (so `InvalidInput` can also be a `ValueError` and
//! `NotFound` a `LookupError`).

use affine_db::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// The Python module holding the exception classes.
const MODULE: &str = "affine_db.errors";

/// The exception class of a variant, looked up once.
fn class<'py>(py: Python<'py>, name: &'static str) -> PyResult<&'py Bound<'py, PyType>> {
    macro_rules! cell {
        ($($n:literal),*) => {
            match name {
                $($n => {
                    static CELL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
                    CELL.import(py, MODULE, $n)
                })*
                _ => {
                    static CELL: PyOnceLock<Py<PyType>> = PyOnceLock::new();
                    CELL.import(py, MODULE, "Error")
                }
            }
        };
    }
    cell!(
        "InvalidInput",
        "NotFound",
        "Conflict",
        "TooLarge",
        "MissingTable",
        "MissingIndex",
        "SchemaDrift",
        "Throttled",
        "Unavailable",
        "Corrupt",
        "Backend"
    )
}

/// The Python exception for `err` (one class per variant).
pub fn to_py_in(py: Python<'_>, err: &Error) -> PyErr {
    let message = err.report();
    let built = match err {
        Error::InvalidInput { field, .. } => {
            class(py, "InvalidInput").map(|c| PyErr::from_type(c.clone(), (message, field.clone())))
        }
        Error::TooLarge { size, limit, .. } => {
            class(py, "TooLarge").map(|c| PyErr::from_type(c.clone(), (message, *size, *limit)))
        }
        other => {
            let name = match other {
                Error::NotFound(_) => "NotFound",
                Error::Conflict(_) => "Conflict",
                Error::MissingTable { .. } => "MissingTable",
                Error::MissingIndex { .. } => "MissingIndex",
                Error::SchemaDrift(_) => "SchemaDrift",
                Error::Throttled { .. } => "Throttled",
                Error::Unavailable { .. } => "Unavailable",
                Error::Corrupt(_) => "Corrupt",
                Error::Backend { .. } => "Backend",
                // A variant added to the library later: the base class.
                _ => "Error",
            };
            class(py, name).map(|c| PyErr::from_type(c.clone(), (message,)))
        }
    };
    // Importing affine_db.errors only fails when the package is broken.
    built.unwrap_or_else(|import_error| {
        let e = PyRuntimeError::new_err(format!(
            "{} (and affine_db.errors could not be imported)",
            err.report()
        ));
        e.set_cause(py, Some(import_error));
        e
    })
}

/// A library result on the calling thread (argument conversion): the error
/// as its Python exception, raised at the call.
pub fn check<T>(py: Python<'_>, result: Result<T, Error>) -> PyResult<T> {
    result.map_err(|e| to_py_in(py, &e))
}

/// `Ok(false)` for the outcomes the original reported as `False` rather
/// than raising (the item is missing, or — with `conflict` — a conditional
/// write lost); any other error stays an error.
pub fn false_when_missing(err: Error, conflict: bool) -> Result<bool, Error> {
    match err {
        Error::NotFound(_) => Ok(false),
        Error::Conflict(_) if conflict => Ok(false),
        other => Err(other),
    }
}
