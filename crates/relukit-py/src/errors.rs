//! The one place where relukit's errors become Python exceptions.
//!
//! Every `relukit::ErrorKind` is an argument that does not fit the others, which a NumPy
//! user knows as `ValueError`; an axis out of range is NumPy's own `AxisError` (a
//! `ValueError` and an `IndexError`), as `np.sum(x, axis=5)` raises; memory that cannot
//! be allocated is `MemoryError`, as NumPy raises for `np.zeros(2**62)`.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use relukit::ErrorKind;

/// The Python exception for a relukit error.
pub fn to_py(error: relukit::Error) -> PyErr {
    let message = error.to_string();
    match error.kind() {
        ErrorKind::AxisOutOfRange => axis_error(message),
        ErrorKind::AllocationFailed => pyo3::exceptions::PyMemoryError::new_err(message),
        _ => PyValueError::new_err(message),
    }
}

/// NumPy's `AxisError` with `message`, or a `ValueError` if NumPy has none.
pub fn axis_error(message: String) -> PyErr {
    Python::attach(|py| {
        let class = py
            .import("numpy.exceptions")
            .or_else(|_| py.import("numpy"))
            .and_then(|module| module.getattr("AxisError"));
        match class.and_then(|class| class.call1((message.clone(),))) {
            Ok(error) => PyErr::from_value(error),
            Err(_) => PyValueError::new_err(message),
        }
    })
}

/// A `TypeError` naming the function and the argument.
pub fn type_error(function: &str, argument: &str, why: impl std::fmt::Display) -> PyErr {
    PyTypeError::new_err(format!("{function}: `{argument}` {why}"))
}

/// A `ValueError` naming the function.
pub fn value_error(function: &str, why: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("{function}: {why}"))
}
