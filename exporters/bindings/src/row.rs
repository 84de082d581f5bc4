//! The single-row path: a Python dict in, a one-row Arrow batch built here in Rust, the outputs
//! back as a dict of plain Python values. No pyarrow object is made on the way, because for one
//! row the conversions (not the ~2 µs of scoring) are the cost.
//!
//! Values are read by the declared type of each input: floats from any Python real number
//! (`float`, `int`, numpy scalars), integers from integers only (`3.0` is refused for an `i64`
//! input, as the CLI does), booleans from `bool`, strings from `str`, vectors from a sequence of
//! exactly the declared width, lists of strings (`list<utf8>`) from a list, tuple or numpy array
//! of `str`/`None` (a bare `str` is refused: it is not a list of tokens), bytes (`binary`) from
//! `bytes`, `bytearray` or `memoryview` (a `str` is refused). `None` is a null, a
//! float NaN stays NaN. Floats are carried as f64 and integers as i64 whatever the declared
//! width, like a batch built by pyarrow from the same Python values, so `transform_one(row)` and
//! `transform({k: [v]})` agree.

use arrow_array::builder::{FixedSizeListBuilder, Float64Builder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch};
use arrow_array::{BinaryArray, RecordBatchOptions, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef};
use keel_bundle::{DType, Field};
use keel_runtime::{Error, ExtraColumns};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString};
use std::sync::Arc;

/// How one input is read from a row dict; prepared once at load.
#[derive(Debug)]
pub(crate) struct RowInput {
    /// The key, interned so a lookup reuses its cached hash.
    key: Py<PyString>,
    field: Field,
}

/// The single-row reader and writer for one model.
#[derive(Debug)]
pub(crate) struct RowCodec {
    inputs: Vec<RowInput>,
    schema: SchemaRef,
    outputs: Vec<Py<PyString>>,
}

fn row_type(f: &Field) -> DataType {
    if f.is_tensor() {
        return keel_runtime::arrow_schema(std::slice::from_ref(f))
            .field(0)
            .data_type()
            .clone();
    }
    match (f.dtype, f.shape.as_slice()) {
        (_, [n]) => DataType::FixedSizeList(
            Arc::new(ArrowField::new("item", DataType::Float64, true)),
            i32::try_from(*n).unwrap_or(i32::MAX),
        ),
        (DType::F64 | DType::F32, _) => DataType::Float64,
        (DType::I64 | DType::I32, _) => DataType::Int64,
        (DType::Bool, _) => DataType::Boolean,
        (DType::Utf8, _) => DataType::Utf8,
        (DType::ListUtf8, _) => keel_runtime::str_list_type(),
        (DType::Binary, _) => DataType::Binary,
        // Tensor-only element types are tensor fields, handled above.
        (DType::F16 | DType::Bf16 | DType::I8 | DType::U8, _) => DataType::Null,
    }
}

impl RowCodec {
    pub(crate) fn new(py: Python<'_>, inputs: &[Field], outputs: &[Field]) -> Self {
        RowCodec {
            inputs: inputs
                .iter()
                .map(|f| RowInput {
                    key: PyString::intern(py, &f.name).unbind(),
                    field: f.clone(),
                })
                .collect(),
            schema: Arc::new(Schema::new(
                inputs
                    .iter()
                    .map(|f| ArrowField::new(&f.name, row_type(f), true))
                    .collect::<Vec<_>>(),
            )),
            outputs: outputs
                .iter()
                .map(|f| PyString::intern(py, &f.name).unbind())
                .collect(),
        }
    }

    /// Builds the one-row batch. Errors are the runtime's own (missing, extra, wrong type), in
    /// the order `Model::score` reports them: extra columns first, then missing ones.
    pub(crate) fn batch(
        &self,
        row: &Bound<'_, PyDict>,
        extra: ExtraColumns,
    ) -> PyResult<Result<RecordBatch, Error>> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.inputs.len());
        let mut missing = None;
        let mut found = 0;
        for input in &self.inputs {
            match row.get_item(input.key.bind(row.py()))? {
                Some(v) => {
                    found += 1;
                    match cell(&input.field, &v)? {
                        Ok(a) => columns.push(a),
                        Err(e) => return Ok(Err(e)),
                    }
                }
                None => {
                    missing.get_or_insert_with(|| input.field.name.clone());
                }
            }
        }
        if extra == ExtraColumns::Reject && row.len() > found {
            for (k, _) in row.iter() {
                let known = match k.cast::<PyString>() {
                    Ok(s) => {
                        let s = s.to_cow()?;
                        self.inputs.iter().any(|i| i.field.name == s)
                    }
                    Err(_) => false,
                };
                if !known {
                    return Ok(Err(Error::ExtraColumn {
                        column: k.str()?.to_cow()?.into_owned(),
                    }));
                }
            }
        }
        if let Some(column) = missing {
            return Ok(Err(Error::MissingColumn { column }));
        }
        let opts = RecordBatchOptions::new().with_row_count(Some(1));
        Ok(
            RecordBatch::try_new_with_options(self.schema.clone(), columns, &opts).map_err(|e| {
                Error::Plan {
                    node: String::new(),
                    op: String::new(),
                    message: format!("cannot assemble the input row: {e}"),
                }
            }),
        )
    }

    /// The outputs of a scored one-row batch as a dict: floats, ints, bools, strs, `None` for
    /// a null, and a list of floats for a vector.
    pub(crate) fn outputs<'py>(
        &self,
        py: Python<'py>,
        batch: &RecordBatch,
    ) -> PyResult<Result<Bound<'py, PyDict>, Error>> {
        let out = PyDict::new(py);
        for (key, col) in self.outputs.iter().zip(batch.columns()) {
            match value(py, col)? {
                Some(v) => out.set_item(key.bind(py), v)?,
                None => {
                    return Ok(Err(Error::Plan {
                        node: String::new(),
                        op: String::new(),
                        message: format!("output type {} has no Python form", col.data_type()),
                    }));
                }
            }
        }
        Ok(Ok(out))
    }
}

/// The name of a value's Python type, for a type error.
fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .and_then(|n| n.to_cow().map(|c| c.into_owned()))
        .unwrap_or_else(|_| "object".into())
}

/// Whether a value is a Python or numpy boolean (`bool` is an `int` to Python, and numpy's
/// converts to float; neither should pass for a number).
fn is_bool(v: &Bound<'_, PyAny>) -> bool {
    v.is_instance_of::<PyBool>()
        || (!v.is_instance_of::<PyInt>() && matches!(type_name(v).as_str(), "bool" | "bool_"))
}

/// One row of one input column. The outer `PyResult` is a Python failure while reading (rare:
/// a broken `__float__`); the inner one a value of the wrong type.
fn cell(field: &Field, v: &Bound<'_, PyAny>) -> PyResult<Result<ArrayRef, Error>> {
    let wrong = || Error::ColumnType {
        column: field.name.clone(),
        expected: match field.shape.as_slice() {
            [n] => format!("{}[{n}]", field.dtype),
            _ => field.dtype.to_string(),
        },
        found: type_name(v),
    };
    let none = v.is_none();
    if field.is_tensor() {
        // One row of a tensor column is read by the batch path (numpy arrays), not here.
        return Ok(Err(Error::ColumnType {
            column: field.name.clone(),
            expected: format!(
                "a tensor {}{:?} (pass a batch: a numpy array per column)",
                field.dtype, field.shape
            ),
            found: type_name(v),
        }));
    }
    if let [n] = field.shape.as_slice() {
        let width = i32::try_from(*n).unwrap_or(i32::MAX);
        let mut b = FixedSizeListBuilder::with_capacity(Float64Builder::new(), width, 1)
            .with_field(Arc::new(ArrowField::new("item", DataType::Float64, true)));
        if none {
            for _ in 0..width {
                b.values().append_null();
            }
            b.append(false);
        } else {
            // A str is a sequence too; refusing it here gives a type error rather than a
            // confusing one about its characters.
            if v.is_instance_of::<PyString>() {
                return Ok(Err(wrong()));
            }
            let Ok(values) = v.extract::<Vec<f64>>() else {
                return Ok(Err(wrong()));
            };
            if values.len() as u64 != *n {
                return Ok(Err(Error::ColumnType {
                    column: field.name.clone(),
                    expected: format!("{}[{n}]", field.dtype),
                    found: format!("{} of {} values", type_name(v), values.len()),
                }));
            }
            b.values().append_slice(&values);
            b.append(true);
        }
        return Ok(Ok(Arc::new(b.finish())));
    }
    let array: ArrayRef = match field.dtype {
        DType::F16 | DType::Bf16 | DType::I8 | DType::U8 => return Ok(Err(wrong())),
        DType::F64 | DType::F32 => {
            let x = if none {
                None
            } else if let Ok(f) = v.cast::<PyFloat>() {
                Some(f.value())
            } else if v.is_instance_of::<PyString>() || is_bool(v) {
                // A batch refuses a boolean column for a number, so one row does too.
                return Ok(Err(wrong()));
            } else {
                // ints, numpy scalars, anything with __float__.
                match v.extract::<f64>() {
                    Ok(x) => Some(x),
                    Err(_) => return Ok(Err(wrong())),
                }
            };
            Arc::new(Float64Array::from(vec![x]))
        }
        DType::I64 | DType::I32 => {
            let x = if none {
                None
            } else if is_bool(v) {
                return Ok(Err(wrong()));
            } else if v.is_instance_of::<PyInt>() || v.hasattr("__index__")? {
                // __index__ admits numpy integers and refuses floats, which must not be
                // truncated silently.
                match v.extract::<i64>() {
                    Ok(x) => Some(x),
                    Err(_) => return Ok(Err(wrong())),
                }
            } else {
                return Ok(Err(wrong()));
            };
            Arc::new(Int64Array::from(vec![x]))
        }
        DType::Bool => {
            let x = if none {
                None
            } else if let Ok(b) = v.cast::<PyBool>() {
                Some(b.is_true())
            } else {
                // numpy.bool_ is not a Python bool but extracts as one; ints do not.
                match v.extract::<bool>() {
                    Ok(x) => Some(x),
                    Err(_) => return Ok(Err(wrong())),
                }
            };
            Arc::new(BooleanArray::from(vec![x]))
        }
        DType::Utf8 => {
            if none {
                Arc::new(StringArray::from(vec![None::<&str>]))
            } else if let Ok(s) = v.cast::<PyString>() {
                Arc::new(StringArray::from(vec![Some(s.to_cow()?.as_ref())]))
            } else {
                return Ok(Err(wrong()));
            }
        }
        DType::Binary => {
            if none {
                Arc::new(BinaryArray::from_opt_vec(vec![None]))
            } else if v.is_instance_of::<PyString>() {
                // A str is a sequence too, but of characters, not bytes (and base64 text is
                // for JSON and CSV, not Python): refused by type.
                return Ok(Err(wrong()));
            } else if let Ok(b) = v.cast::<PyBytes>() {
                Arc::new(BinaryArray::from_vec(vec![b.as_bytes()]))
            } else {
                // bytearray, memoryview and other buffers copy out through the buffer protocol.
                let Ok(bytes) = v.extract::<Vec<u8>>() else {
                    return Ok(Err(wrong()));
                };
                Arc::new(BinaryArray::from_vec(vec![bytes.as_slice()]))
            }
        }
        DType::ListUtf8 => {
            let mut b = ListBuilder::new(StringBuilder::new());
            if none {
                b.append_null();
            } else {
                if v.is_instance_of::<PyString>() || v.is_instance_of::<PyDict>() {
                    return Ok(Err(wrong()));
                }
                let Ok(items) = v.try_iter() else {
                    return Ok(Err(wrong()));
                };
                for (j, item) in items.enumerate() {
                    let item = item?;
                    if item.is_none() {
                        b.values().append_null();
                    } else if let Ok(s) = item.cast::<PyString>() {
                        b.values().append_value(s.to_cow()?);
                    } else {
                        return Ok(Err(Error::ColumnType {
                            column: field.name.clone(),
                            expected: "list<utf8> (a list of str or None)".into(),
                            found: format!("element {j} of type {}", type_name(&item)),
                        }));
                    }
                }
                b.append(true);
            }
            Arc::new(b.finish())
        }
    };
    Ok(Ok(array))
}

/// Row 0 of an output column as a Python value (`None` for a type with no Python form).
fn value<'py>(py: Python<'py>, col: &ArrayRef) -> PyResult<Option<Bound<'py, PyAny>>> {
    element(py, col.as_ref(), 0)
}

/// Element `i` of an array: a number, bool or str, `None` for a null, and a list (nested for
/// a tensor's dimensions) for a vector, a tensor or a token list. `None` (the Rust one) for a
/// type with no Python form.
fn element<'py>(py: Python<'py>, a: &dyn Array, i: usize) -> PyResult<Option<Bound<'py, PyAny>>> {
    if a.is_null(i) {
        return Ok(Some(py.None().into_bound(py)));
    }
    let float = |x: f64| Ok(Some(PyFloat::new(py, x).into_any()));
    macro_rules! int {
        ($t:ty) => {
            Ok(Some(
                a.as_primitive::<$t>()
                    .value(i)
                    .into_pyobject(py)?
                    .into_any(),
            ))
        };
    }
    match a.data_type() {
        DataType::Float64 => float(a.as_primitive::<Float64Type>().value(i)),
        DataType::Float32 => float(f64::from(a.as_primitive::<Float32Type>().value(i))),
        DataType::Float16 => float(f64::from(a.as_primitive::<Float16Type>().value(i))),
        DataType::Int64 => int!(Int64Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int8 => int!(Int8Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::Boolean => Ok(Some(
            PyBool::new(py, a.as_boolean().value(i))
                .to_owned()
                .into_any(),
        )),
        DataType::Utf8 => Ok(Some(
            PyString::new(py, a.as_string::<i32>().value(i)).into_any(),
        )),
        DataType::LargeUtf8 => Ok(Some(
            PyString::new(py, a.as_string::<i64>().value(i)).into_any(),
        )),
        DataType::FixedSizeList(_, _) => items(py, a.as_fixed_size_list().value(i).as_ref()),
        DataType::List(_) => items(py, a.as_list::<i32>().value(i).as_ref()),
        DataType::LargeList(_) => items(py, a.as_list::<i64>().value(i).as_ref()),
        _ => Ok(None),
    }
}

/// Every element of an array as one Python list.
fn items<'py>(py: Python<'py>, a: &dyn Array) -> PyResult<Option<Bound<'py, PyAny>>> {
    let mut out = Vec::with_capacity(a.len());
    for i in 0..a.len() {
        match element(py, a, i)? {
            Some(v) => out.push(v),
            None => return Ok(None),
        }
    }
    Ok(Some(PyList::new(py, out)?.into_any()))
}
