//! Runtime errors as Python exceptions. The exception classes live in pure Python
//! (`keel/errors.py`, one class per kind of [`Error`], with `.column`, `.row`, `.value`, ...
//! attributes) so they can be documented, subclassed, pickled and type-checked like any other
//! Python class, and so does the table from [`Error::code`] to class (`CLASS_BY_CODE`); this
//! module looks the class up there and fills in the attributes.

use keel_runtime::Error;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyModule, PyType};

/// The `keel.errors` module, imported once per interpreter.
fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE
        .get_or_try_init(py, || py.import("keel.errors").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// The Python exception for a runtime error. `origin` (the bundle's path, when it was loaded
/// from a file) prefixes load-time messages and becomes `BundleError.path`.
pub(crate) fn to_py(py: Python<'_>, e: &Error, origin: Option<&str>) -> PyErr {
    build(py, e, origin).unwrap_or_else(|failure| failure)
}

fn build(py: Python<'_>, e: &Error, origin: Option<&str>) -> PyResult<PyErr> {
    let module = errors_module(py)?;
    // The class comes from the error's code through `keel.errors.CLASS_BY_CODE`, the one table
    // of the mapping; a code it lacks is raised as the base class, with its message.
    let class = module
        .getattr("CLASS_BY_CODE")?
        .call_method1("get", (e.code(), module.getattr("KeelError")?))?;
    let kw = PyDict::new(py);
    match e {
        Error::UnknownOp { node, op } | Error::Plan { node, op, .. } => {
            kw.set_item("node", node)?;
            kw.set_item("op", op)?;
        }
        Error::MissingColumn { column } | Error::ExtraColumn { column } => {
            kw.set_item("column", column)?;
        }
        Error::ColumnType {
            column,
            expected,
            found,
        } => {
            kw.set_item("column", column)?;
            kw.set_item("expected", expected)?;
            kw.set_item("found", found)?;
        }
        Error::Missing { column, row, node } => {
            kw.set_item("column", column)?;
            kw.set_item("row", row)?;
            kw.set_item("node", node)?;
        }
        Error::NonFinite {
            column,
            row,
            value,
            node,
        } => {
            kw.set_item("column", column)?;
            kw.set_item("row", row)?;
            // The runtime carries the value as text; a number is more useful to a caller
            // comparing it (`err.value == float("inf")`).
            match value.parse::<f64>() {
                Ok(v) => kw.set_item("value", v)?,
                Err(_) => kw.set_item("value", value)?,
            }
            kw.set_item("node", node)?;
        }
        Error::UnknownCategory {
            column,
            row,
            value,
            node,
        } => {
            kw.set_item("column", column)?;
            kw.set_item("row", row)?;
            kw.set_item("value", value)?;
            kw.set_item("node", node)?;
        }
        Error::BadValue { column, row, .. } => {
            kw.set_item("column", column)?;
            kw.set_item("row", row)?;
        }
        Error::TensorShape {
            column,
            row,
            expected,
            found,
            node,
        } => {
            kw.set_item("column", column)?;
            kw.set_item("row", row)?;
            kw.set_item("expected", expected)?;
            kw.set_item("found", found)?;
            kw.set_item("node", node)?;
        }
        Error::RowCount {
            column,
            expected,
            found,
        } => {
            kw.set_item("column", column)?;
            kw.set_item("expected", expected)?;
            kw.set_item("found", found)?;
        }
        // The other kinds carry nothing beyond their message; `Error` is non-exhaustive, and a
        // kind added later reaches Python with its message until it gets attributes here.
        _ => {}
    }
    let mut message = e.to_string();
    if let Some(path) = origin.filter(|_| !e.is_input_error()) {
        message = format!("{path}: {message}");
        // Only the bundle errors take the path (the table maps every load-time code to one).
        if class
            .cast::<PyType>()?
            .is_subclass(&module.getattr("BundleError")?)?
        {
            kw.set_item("path", path)?;
        }
    }
    let exc = class.call((message,), Some(&kw))?;
    Ok(PyErr::from_value(exc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runtime_code_has_a_class_in_the_table() {
        // The table is Python (`keel.errors.CLASS_BY_CODE`); checking its text here keeps a
        // new runtime code from reaching Python as the bare base class unnoticed.
        let errors_py = include_str!("../../keel/errors.py");
        let table = errors_py
            .split("CLASS_BY_CODE")
            .nth(1)
            .expect("errors.py defines CLASS_BY_CODE");
        for code in Error::CODES {
            assert!(
                table.contains(&format!("\"{code}\": ")),
                "keel.errors.CLASS_BY_CODE has no class for `{code}`"
            );
        }
    }
}
