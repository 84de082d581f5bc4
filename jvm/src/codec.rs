//! The JVM engine's batch codec, free of JNI so it is tested without a JVM.
//!
//! Spark's JVM turns a partition's rows into Arrow IPC record-batch messages (its own
//! `ArrowConverters`, the code behind `toPandas`), and reads such messages back into rows. In
//! between, [`Scorer::score_message`] decodes one message with the frame's schema, picks and
//! adapts the bundle's input columns, scores them with the one runtime, and encodes the kept
//! columns plus the outputs as one message in exactly the Arrow layout Spark expects for the
//! output schema (a vector is Spark ML's `VectorUDT` struct, a tensor nested `array`s of its
//! element type, strings follow `spark.sql.execution.arrow.useLargeVarTypes`). Kept columns
//! pass through untouched (the same buffers), so Spark gets back what it sent.
//!
//! Tensor inputs (format 1.1) arrive as Spark's (nested) `array` columns and go to the runtime
//! as they are: its tensor reader converts the elements to the field's dtype and checks every
//! row's shape, with the same `tensor_shape` error the Python engine raises.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float16Type, Float64Type, UInt8Type};
use arrow_array::{
    Array, ArrayRef, FixedSizeListArray, Float64Array, Int8Array, Int32Array, LargeStringArray,
    ListArray, RecordBatch, RecordBatchOptions, StringArray, StructArray, new_null_array,
};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_ipc::reader::StreamDecoder;
use arrow_ipc::writer::{
    DictionaryTracker, IpcDataGenerator, IpcWriteContext, IpcWriteOptions, write_message,
};
use arrow_schema::{DataType, Field as ArrowField, Fields, Schema, SchemaRef};
use keel_bundle::{DType, Field as KeelField};
use keel_runtime::{Error as RuntimeError, Model};
use serde::Deserialize;

/// What can go wrong between Spark's bytes and the runtime.
#[derive(Debug, thiserror::Error)]
pub enum JvmError {
    /// The bundle does not load or a row does not score: the runtime's own error.
    #[error("{0}")]
    Runtime(#[from] RuntimeError),
    /// The plan Python sent (`spec`) does not fit the bundle or the frame.
    #[error("keel JVM engine: bad scoring plan: {0}")]
    Spec(String),
    /// Spark's Arrow bytes could not be read, or the answer could not be written.
    #[error("keel JVM engine: Arrow IPC: {0}")]
    Ipc(String),
    /// A vector input row has the wrong number of elements.
    #[error("row {row}, column `{column}`: expected a vector of {expected} values, found {found}")]
    VectorWidth {
        /// The bundle input.
        column: String,
        /// Row within the batch (shifted to the partition by the caller).
        row: usize,
        /// Elements found.
        found: usize,
        /// The bundle's width.
        expected: usize,
    },
}

impl JvmError {
    /// A stable code for the kind of failure: the runtime's own ([`RuntimeError::code`]), the
    /// runtime's `bad_value` for a vector of the wrong width (what the Python engine raises as
    /// `BadValueError`), or the engine's `jvm_spec` and `jvm_ipc`.
    pub fn code(&self) -> &'static str {
        match self {
            JvmError::Runtime(e) => e.code(),
            JvmError::Spec(_) => "jvm_spec",
            JvmError::Ipc(_) => "jvm_ipc",
            JvmError::VectorWidth { .. } => "bad_value",
        }
    }

    /// The message of the `KeelException` thrown for this error: the code in brackets, then
    /// keel's message, so a caller can tell kinds apart without parsing prose.
    pub fn exception_message(&self) -> String {
        exception_message(self.code(), self)
    }

    /// The error with row numbers counted from `by` rows earlier (the batch's start within
    /// the Spark partition).
    pub fn offset_rows(self, by: usize) -> Self {
        match self {
            JvmError::Runtime(e) => JvmError::Runtime(e.offset_rows(by)),
            JvmError::VectorWidth {
                column,
                row,
                found,
                expected,
            } => JvmError::VectorWidth {
                column,
                row: row + by,
                found,
                expected,
            },
            other => other,
        }
    }
}

/// A `KeelException` message: `[code] message`.
pub fn exception_message(code: &str, message: impl std::fmt::Display) -> String {
    format!("[{code}] {message}")
}

/// The scoring plan the Python driver computes from the DataFrame and the bundle.
#[derive(Debug, Clone, Deserialize)]
pub struct Spec {
    /// The first `keep` columns of each batch are passed through to the answer.
    pub keep: usize,
    /// For each bundle input, in the bundle's order, the batch column holding it.
    pub inputs: Vec<usize>,
    /// The bundle outputs to append, in order.
    pub outputs: Vec<String>,
    /// Strings as Arrow `LargeUtf8` (Spark's `useLargeVarTypes`).
    #[serde(default)]
    pub large_strings: bool,
}

/// How one output column is laid out for Spark.
#[derive(Debug, Clone, PartialEq)]
enum Layout {
    /// A scalar or a token list, as the runtime writes it (strings at the configured width).
    Scalar,
    /// An f64 vector: Spark ML's `VectorUDT` struct.
    Vector,
    /// A tensor: one `array` level per dimension of `shape` (for a symbolic dimension, its
    /// bound), elements of `element`, Spark's type for the tensor's dtype.
    Tensor {
        /// The field's declared shape, used to split a flat fixed-shape row into levels.
        shape: Vec<usize>,
        /// The element type Spark declares for the dtype.
        element: DataType,
    },
}

impl Layout {
    fn of(f: &KeelField) -> Layout {
        if f.is_tensor() {
            Layout::Tensor {
                shape: f
                    .shape
                    .iter()
                    .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
                    .collect(),
                element: spark_element_type(f.dtype),
            }
        } else if f.shape.len() == 1 {
            Layout::Vector
        } else {
            Layout::Scalar
        }
    }
}

/// One loaded bundle with the schema of the frames it scores; shared by all of an executor's
/// tasks (the runtime's `Model::score` takes `&self`).
pub struct Scorer {
    model: Model,
    schema_message: Vec<u8>,
    spec: Spec,
    /// Output index in the bundle's output schema, and its layout for Spark.
    picks: Vec<(usize, Layout)>,
    /// Per bundle input (in order): whether it is a tensor, read by the runtime from Spark's
    /// arrays as they come.
    tensor_inputs: Vec<bool>,
}

impl Scorer {
    /// Loads `bundle` for frames whose Arrow schema is the IPC schema message `schema_message`.
    pub fn new(bundle: &[u8], schema_message: &[u8], spec: &str) -> Result<Scorer, JvmError> {
        let spec: Spec = serde_json::from_str(spec).map_err(|e| JvmError::Spec(e.to_string()))?;
        // A keel bundle or an MLeap Bundle.ML zip, told apart by content.
        let mut model = keel_import::load::read_model(bundle, &keel_runtime::Options::default())?;
        model.set_extra_columns(keel_runtime::ExtraColumns::Ignore);
        let inputs = model.input_schema();
        if spec.inputs.len() != inputs.fields().len() {
            return Err(JvmError::Spec(format!(
                "{} input columns given for a bundle with {} inputs",
                spec.inputs.len(),
                inputs.fields().len()
            )));
        }
        let manifest = model.manifest();
        let picks = spec
            .outputs
            .iter()
            .map(|name| {
                let i = manifest
                    .outputs
                    .iter()
                    .position(|f| &f.name == name)
                    .ok_or_else(|| JvmError::Spec(format!("the bundle has no output `{name}`")))?;
                Ok((i, Layout::of(&manifest.outputs[i])))
            })
            .collect::<Result<Vec<_>, JvmError>>()?;
        let tensor_inputs = manifest.inputs.iter().map(KeelField::is_tensor).collect();
        let scorer = Scorer {
            model,
            schema_message: schema_message.to_vec(),
            spec,
            picks,
            tensor_inputs,
        };
        // Decode the schema now, so a malformed one fails at load, on the first task.
        let schema = scorer.frame_schema()?;
        for &c in &scorer.spec.inputs {
            if c >= schema.fields().len() {
                return Err(JvmError::Spec(format!(
                    "input column index {c} beyond the frame's {} columns",
                    schema.fields().len()
                )));
            }
        }
        if scorer.spec.keep > schema.fields().len() {
            return Err(JvmError::Spec(
                "more kept columns than the frame has".into(),
            ));
        }
        Ok(scorer)
    }

    fn decoder(&self) -> Result<StreamDecoder, JvmError> {
        let mut decoder = StreamDecoder::new();
        let mut buf = Buffer::from(self.schema_message.as_slice());
        decoder.decode(&mut buf).map_err(ipc)?;
        Ok(decoder)
    }

    fn frame_schema(&self) -> Result<SchemaRef, JvmError> {
        let mut decoder = self.decoder()?;
        // The decoder finishes a message (the schema's, whose body is empty) only when more
        // bytes follow: an end-of-stream marker here, the batch message when scoring.
        let mut end = Buffer::from([0xff_u8, 0xff, 0xff, 0xff, 0, 0, 0, 0].as_slice());
        decoder.decode(&mut end).map_err(ipc)?;
        decoder
            .schema()
            .ok_or_else(|| JvmError::Ipc("the schema message holds no schema".into()))
    }

    /// Decodes one record-batch message of the frame (with the schema given at load).
    pub fn decode(&self, message: Vec<u8>) -> Result<RecordBatch, JvmError> {
        let mut decoder = self.decoder()?;
        let mut buf = Buffer::from_vec(message);
        let batch = decoder
            .decode(&mut buf)
            .map_err(ipc)?
            .ok_or_else(|| JvmError::Ipc("the message holds no complete record batch".into()))?;
        if !buf.is_empty() {
            return Err(JvmError::Ipc(
                "bytes after the record batch (one batch per message)".into(),
            ));
        }
        Ok(batch)
    }

    /// Scores one record-batch message; returns the answer's message and the batch's rows.
    pub fn score_message(&self, message: Vec<u8>) -> Result<(Vec<u8>, usize), JvmError> {
        let batch = self.decode(message)?;
        let out = self.score_batch(&batch)?;
        Ok((encode(&out)?, batch.num_rows()))
    }

    /// The kept columns of `batch` followed by the outputs, in Spark's Arrow layout.
    pub fn score_batch(&self, batch: &RecordBatch) -> Result<RecordBatch, JvmError> {
        let rows = batch.num_rows();
        let mut fields: Vec<Arc<ArrowField>> = batch.schema().fields()[..self.spec.keep].to_vec();
        let mut columns: Vec<ArrayRef> = batch.columns()[..self.spec.keep].to_vec();
        if rows > 0 {
            let inputs = self.inputs(batch)?;
            let scored = self.model.score(&inputs)?;
            for (i, layout) in &self.picks {
                let name = scored.schema().field(*i).name().clone();
                let col = scored.column(*i);
                let col = match layout {
                    Layout::Vector => vector_udt(col)?,
                    Layout::Tensor { shape, .. } => spark_tensor(col, shape)?,
                    Layout::Scalar => self.spark_scalar(col)?,
                };
                fields.push(Arc::new(ArrowField::new(
                    name,
                    col.data_type().clone(),
                    true,
                )));
                columns.push(col);
            }
        } else {
            let outputs = self.model.output_schema();
            for (i, layout) in &self.picks {
                let f = outputs.field(*i);
                let t = match layout {
                    Layout::Vector => vector_udt_type(),
                    Layout::Tensor { shape, element } => spark_array_type(element, shape.len()),
                    Layout::Scalar => self.spark_scalar_type(f.data_type()),
                };
                fields.push(Arc::new(ArrowField::new(f.name(), t.clone(), true)));
                columns.push(new_null_array(&t, 0));
            }
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)
            .map_err(ipc)
    }

    /// The bundle's inputs picked from the batch; `array<double>` columns (Spark vectors
    /// flattened by `vector_to_array` on the driver's plan) become the fixed-size lists the
    /// runtime reads for a vector input. A tensor input's (nested) arrays go as they are: the
    /// runtime reads lists of any number type and checks each row's shape itself.
    fn inputs(&self, batch: &RecordBatch) -> Result<RecordBatch, JvmError> {
        let schema = self.model.input_schema();
        let mut columns = Vec::with_capacity(self.spec.inputs.len());
        for ((f, &c), &tensor) in schema
            .fields()
            .iter()
            .zip(&self.spec.inputs)
            .zip(&self.tensor_inputs)
        {
            let col = batch.column(c);
            let col = match (f.data_type(), col.data_type()) {
                _ if tensor => col.clone(),
                (DataType::FixedSizeList(_, w), DataType::List(_)) => {
                    list_to_fixed(f.name(), col.as_list::<i32>(), *w)?
                }
                _ => col.clone(),
            };
            columns.push(col);
        }
        let fields: Fields = schema
            .fields()
            .iter()
            .zip(&columns)
            .map(|(f, c)| ArrowField::new(f.name(), c.data_type().clone(), true))
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), columns, &options)
            .map_err(ipc)
    }

    fn spark_scalar_type(&self, t: &DataType) -> DataType {
        match t {
            DataType::Utf8 | DataType::LargeUtf8 if self.spec.large_strings => DataType::LargeUtf8,
            DataType::Utf8 | DataType::LargeUtf8 => DataType::Utf8,
            DataType::List(item) => DataType::List(Arc::new(ArrowField::new(
                "element",
                self.spark_scalar_type(item.data_type()),
                true,
            ))),
            other => other.clone(),
        }
    }

    fn spark_scalar(&self, col: &ArrayRef) -> Result<ArrayRef, JvmError> {
        Ok(match (col.data_type(), self.spec.large_strings) {
            (DataType::Utf8, true) => Arc::new(LargeStringArray::from_iter(col.as_string::<i32>())),
            (DataType::LargeUtf8, false) => {
                Arc::new(StringArray::from_iter(col.as_string::<i64>()))
            }
            // Token lists (`list<utf8>` outputs): Spark's array<string>, whose elements follow
            // the same string-width setting.
            (DataType::List(item), _) if item.data_type().is_string() => {
                let list = col.as_list::<i32>();
                let values = self.spark_scalar(list.values())?;
                if values.data_type() == item.data_type() {
                    return Ok(col.clone());
                }
                let item = Arc::new(ArrowField::new("element", values.data_type().clone(), true));
                Arc::new(
                    ListArray::try_new(item, list.offsets().clone(), values, list.nulls().cloned())
                        .map_err(ipc)?,
                )
            }
            _ => col.clone(),
        })
    }
}

fn ipc(e: impl std::fmt::Display) -> JvmError {
    JvmError::Ipc(e.to_string())
}

/// One record batch as an IPC message (no schema: Spark reads it with the output schema it
/// planned), the format `ArrowConverters.fromBatchIterator` takes.
pub fn encode(batch: &RecordBatch) -> Result<Vec<u8>, JvmError> {
    let options = IpcWriteOptions::default();
    let (dictionaries, encoded) = IpcDataGenerator::default()
        .encode(
            batch,
            &mut DictionaryTracker::new(false),
            &options,
            &mut IpcWriteContext::default(),
        )
        .map_err(ipc)?;
    if !dictionaries.is_empty() {
        return Err(JvmError::Ipc("dictionary-encoded answer columns".into()));
    }
    let mut out = Vec::with_capacity(encoded.arrow_data.len() + encoded.ipc_message.len() + 16);
    write_message(&mut out, encoded, &options).map_err(ipc)?;
    Ok(out)
}

/// Spark ML's `VectorUDT` as Arrow: `struct<type: byte, size: int, indices: array<int>,
/// values: array<double>>`; the runtime's vectors are dense (type 1, size and indices null).
pub fn vector_udt_type() -> DataType {
    DataType::Struct(vector_udt_fields())
}

fn vector_udt_fields() -> Fields {
    Fields::from(vec![
        ArrowField::new("type", DataType::Int8, false),
        ArrowField::new("size", DataType::Int32, true),
        ArrowField::new(
            "indices",
            DataType::List(Arc::new(ArrowField::new("element", DataType::Int32, false))),
            true,
        ),
        ArrowField::new(
            "values",
            DataType::List(Arc::new(ArrowField::new(
                "element",
                DataType::Float64,
                false,
            ))),
            true,
        ),
    ])
}

/// A `FixedSizeList<f64>` output as dense `VectorUDT` rows (a null row stays null).
fn vector_udt(col: &ArrayRef) -> Result<ArrayRef, JvmError> {
    let list = col
        .as_fixed_size_list_opt()
        .ok_or_else(|| JvmError::Ipc(format!("vector output of type {}", col.data_type())))?;
    let rows = list.len();
    let width = usize::try_from(list.value_length()).unwrap_or(0);
    let values = list
        .values()
        .slice(list.offset() * width, rows * width)
        .as_primitive_opt::<Float64Type>()
        .cloned()
        .ok_or_else(|| JvmError::Ipc("vector output of non-f64 values".into()))?;
    let w = i32::try_from(width).map_err(ipc)?;
    // The last offset must fit Arrow's i32 offsets.
    i32::try_from(rows * width).map_err(ipc)?;
    let offsets = OffsetBuffer::new(ScalarBuffer::from_iter((0..=rows as i32).map(|r| r * w)));
    let fields = vector_udt_fields();
    let DataType::List(values_field) = fields[3].data_type().clone() else {
        return Err(JvmError::Ipc("vector layout".into()));
    };
    let DataType::List(indices_field) = fields[2].data_type().clone() else {
        return Err(JvmError::Ipc("vector layout".into()));
    };
    let values = ListArray::try_new(values_field, offsets, Arc::new(values), None).map_err(ipc)?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int8Array::from(vec![1i8; rows])),
        Arc::new(Int32Array::new_null(rows)),
        Arc::new(ListArray::new_null(indices_field, rows)),
        Arc::new(values),
    ];
    let nulls = list.nulls().cloned();
    Ok(Arc::new(
        StructArray::try_new(fields, columns, nulls).map_err(ipc)?,
    ))
}

/// The element type Spark declares for a tensor of `dtype` (`KeelModel`'s mapping): Spark has
/// no half floats (f16 and bf16 widen to `float`, exactly) and no unsigned byte (u8 widens to
/// `short`, losslessly).
pub fn spark_element_type(dtype: DType) -> DataType {
    match dtype {
        DType::F32 | DType::F16 | DType::Bf16 => DataType::Float32,
        DType::F64 => DataType::Float64,
        DType::I64 => DataType::Int64,
        DType::I32 => DataType::Int32,
        DType::I8 => DataType::Int8,
        DType::U8 => DataType::Int16,
        DType::Bool => DataType::Boolean,
        DType::Utf8 | DType::ListUtf8 => DataType::Utf8,
        DType::Binary => DataType::Binary,
    }
}

/// The list field of one Spark `array` level: Spark's `ArrowUtils` names the child `element`,
/// nullable as the array type's `containsNull` (false: a tensor has no missing elements).
fn element_field(ty: DataType) -> Arc<ArrowField> {
    Arc::new(ArrowField::new("element", ty, false))
}

/// Spark's Arrow type for `array<...>` nested `rank` levels deep around `element`: plain
/// `List`s (not fixed-size, not large), as Spark's `ArrowConverters` read an `ArrayType`.
pub fn spark_array_type(element: &DataType, rank: usize) -> DataType {
    (0..rank).fold(element.clone(), |ty, _| DataType::List(element_field(ty)))
}

/// A tensor's elements as Spark's element type: half floats widen to f32 and u8 to i16 (both
/// exact); the other types are Spark's already.
fn spark_elements(values: &ArrayRef) -> Result<ArrayRef, JvmError> {
    Ok(match values.data_type() {
        DataType::Float16 => Arc::new(
            values
                .as_primitive::<Float16Type>()
                .unary::<_, arrow_array::types::Float32Type>(|x| x.to_f32()),
        ) as ArrayRef,
        DataType::UInt8 => Arc::new(
            values
                .as_primitive::<UInt8Type>()
                .unary::<_, arrow_array::types::Int16Type>(i16::from),
        ),
        DataType::Float32
        | DataType::Float64
        | DataType::Int64
        | DataType::Int32
        | DataType::Int8
        | DataType::Boolean => values.clone(),
        other => return Err(JvmError::Ipc(format!("tensor output of {other} elements"))),
    })
}

/// A tensor output column as Spark's nested `array`s. The runtime writes a fixed shape as one
/// flat `FixedSizeList` per row (Arrow's fixed-shape tensor), split here into one `List` level
/// per dimension of `shape` with uniform offsets; a shape with symbolic dimensions comes as
/// nested `List`s already, whose levels are relabelled and whose elements are converted.
fn spark_tensor(col: &ArrayRef, shape: &[usize]) -> Result<ArrayRef, JvmError> {
    if let DataType::List(_) = col.data_type() {
        return spark_nested(col);
    }
    let list = col
        .as_fixed_size_list_opt()
        .ok_or_else(|| JvmError::Ipc(format!("tensor output of type {}", col.data_type())))?;
    let rows = list.len();
    let width = usize::try_from(list.value_length()).map_err(ipc)?;
    if shape.is_empty() || shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) != Some(width) {
        return Err(JvmError::Ipc(format!(
            "tensor output of {width} elements per row for the shape {shape:?}"
        )));
    }
    let total = rows
        .checked_mul(width)
        .filter(|&n| i32::try_from(n).is_ok())
        .ok_or_else(|| {
            JvmError::Ipc(format!(
                "tensor output of {rows} rows of {width} elements: beyond Spark's 2^31 array elements per batch"
            ))
        })?;
    let mut arr = spark_elements(&list.values().slice(list.value_offset_at(0), total))?;
    // Innermost level first: at level k there are rows * shape[0..k] lists of shape[k] each.
    // With a zero dimension further in, an outer level may span more elements than the values
    // hold, so each level's offsets are checked against Arrow's i32 offsets before building.
    for level in (0..shape.len()).rev() {
        let count = shape[..level]
            .iter()
            .try_fold(rows, |n, &d| n.checked_mul(d))
            .filter(|&n| {
                n.checked_mul(shape[level])
                    .is_some_and(|e| i32::try_from(e).is_ok())
            })
            .ok_or_else(|| {
                JvmError::Ipc(format!(
                    "tensor output of shape {shape:?}: beyond Spark's 2^31 array elements per batch"
                ))
            })?;
        let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(shape[level], count));
        let nulls = if level == 0 {
            list.nulls().cloned()
        } else {
            None
        };
        arr = Arc::new(
            ListArray::try_new(element_field(arr.data_type().clone()), offsets, arr, nulls)
                .map_err(ipc)?,
        );
    }
    Ok(arr)
}

/// Nested `List`s (a tensor with symbolic dimensions) with Spark's `element` children and
/// element types; offsets and nulls are kept.
fn spark_nested(col: &ArrayRef) -> Result<ArrayRef, JvmError> {
    let DataType::List(_) = col.data_type() else {
        return spark_elements(col);
    };
    let list = col.as_list::<i32>();
    let values = spark_nested(list.values())?;
    Ok(Arc::new(
        ListArray::try_new(
            element_field(values.data_type().clone()),
            list.offsets().clone(),
            values,
            list.nulls().cloned(),
        )
        .map_err(ipc)?,
    ))
}

/// An `array<double>` input column as the runtime's `FixedSizeList<f64>` of `width`; a row of
/// another length is refused by row (Spark vectors of mixed sizes exist; the bundle's do not).
fn list_to_fixed(name: &str, list: &ListArray, width: i32) -> Result<ArrayRef, JvmError> {
    let w = usize::try_from(width).unwrap_or(0);
    let values = list
        .values()
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| {
            JvmError::Spec(format!("input column `{name}`: array of non-double values"))
        })?;
    let mut data = Vec::with_capacity(list.len() * w);
    for row in 0..list.len() {
        if list.is_null(row) {
            data.extend(std::iter::repeat_n(f64::NAN, w));
            continue;
        }
        let (start, end) = (
            list.value_offsets()[row] as usize,
            list.value_offsets()[row + 1] as usize,
        );
        if end - start != w {
            return Err(JvmError::VectorWidth {
                column: name.to_string(),
                row,
                found: end - start,
                expected: w,
            });
        }
        data.extend((start..end).map(|k| {
            if values.is_null(k) {
                f64::NAN
            } else {
                values.value(k)
            }
        }));
    }
    let nulls: Option<NullBuffer> = list.nulls().cloned();
    let field = Arc::new(ArrowField::new("item", DataType::Float64, false));
    let fixed =
        FixedSizeListArray::try_new(field, width, Arc::new(Float64Array::from(data)), nulls)
            .map_err(ipc)?;
    Ok(Arc::new(fixed))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use arrow_array::types::{Float32Type, Int16Type, Int64Type};
    use arrow_array::{Float16Array, Float32Array, UInt8Array};

    #[test]
    fn a_flat_fixed_shape_tensor_becomes_one_list_level_per_dimension() {
        // Three rows of u8[2, 2], the middle one null, sliced from the second row on.
        let fixed = FixedSizeListArray::try_new(
            Arc::new(ArrowField::new("item", DataType::UInt8, false)),
            4,
            Arc::new(UInt8Array::from_iter_values(0..12)),
            Some(NullBuffer::from(vec![true, false, true])),
        )
        .unwrap();
        let col: ArrayRef = Arc::new(fixed.slice(1, 2));
        let out = spark_tensor(&col, &[2, 2]).unwrap();
        assert_eq!(
            out.data_type(),
            &spark_array_type(&spark_element_type(DType::U8), 2)
        );
        let outer = out.as_list::<i32>();
        assert!(outer.is_null(0));
        let row = outer.value(1);
        let rows: Vec<Vec<i16>> = (0..2)
            .map(|k| {
                let inner = row.as_list::<i32>().value(k);
                inner.as_primitive::<Int16Type>().values().to_vec()
            })
            .collect();
        assert_eq!(rows, vec![vec![8, 9], vec![10, 11]]);
    }

    #[test]
    fn half_floats_widen_and_symbolic_lists_are_relabelled() {
        let fixed = FixedSizeListArray::try_new(
            Arc::new(ArrowField::new("item", DataType::Float16, false)),
            2,
            Arc::new(Float16Array::from(vec![half_f16(1.5), half_f16(-2.0)])),
            None,
        )
        .unwrap();
        let out = spark_tensor(&(Arc::new(fixed) as ArrayRef), &[2]).unwrap();
        let row = out.as_list::<i32>().value(0);
        assert_eq!(
            row.as_primitive::<Float32Type>().values().to_vec(),
            vec![1.5, -2.0]
        );

        // Nested lists with `item` children (a symbolic dimension) take Spark's `element`.
        let nested: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int64Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            Some(vec![Some(3), Some(4)]),
        ]));
        let out = spark_tensor(&nested, &[4]).unwrap();
        assert_eq!(out.data_type(), &spark_array_type(&DataType::Int64, 1));
        assert_eq!(out.as_list::<i32>().value(1).len(), 2);
    }

    #[test]
    fn a_tensor_of_another_width_than_its_shape_is_an_error_not_a_panic() {
        let fixed = FixedSizeListArray::try_new(
            Arc::new(ArrowField::new("item", DataType::Float32, false)),
            3,
            Arc::new(Float32Array::from(vec![0.0; 6])),
            None,
        )
        .unwrap();
        let err = spark_tensor(&(Arc::new(fixed) as ArrayRef), &[2, 2]).unwrap_err();
        assert_eq!(err.code(), "jvm_ipc");
    }

    fn half_f16(
        x: f32,
    ) -> <arrow_array::types::Float16Type as arrow_array::ArrowPrimitiveType>::Native {
        <arrow_array::types::Float16Type as arrow_array::ArrowPrimitiveType>::Native::from_f32(x)
    }
}
