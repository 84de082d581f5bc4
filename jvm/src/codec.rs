//! The JVM engine's batch codec, free of JNI so it is tested without a JVM.
//!
//! Spark's JVM turns a partition's rows into Arrow IPC record-batch messages (its own
//! `ArrowConverters`, the code behind `toPandas`), and reads such messages back into rows. In
//! between, [`Scorer::score_message`] decodes one message with the frame's schema, picks and
//! adapts the bundle's input columns, scores them with the one runtime, and encodes the kept
//! columns plus the outputs as one message in exactly the Arrow layout Spark expects for the
//! output schema (a vector is Spark ML's `VectorUDT` struct, strings follow
//! `spark.sql.execution.arrow.useLargeVarTypes`). Kept columns pass through untouched (the same
//! buffers), so Spark gets back what it sent.

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
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

/// One loaded bundle with the schema of the frames it scores; shared by all of an executor's
/// tasks (the runtime's `Model::score` takes `&self`).
pub struct Scorer {
    model: Model,
    schema_message: Vec<u8>,
    spec: Spec,
    /// Output index in the bundle's output schema, and whether it is a vector.
    picks: Vec<(usize, bool)>,
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
        let outputs = model.output_schema();
        let picks = spec
            .outputs
            .iter()
            .map(|name| {
                let i = outputs
                    .index_of(name)
                    .map_err(|_| JvmError::Spec(format!("the bundle has no output `{name}`")))?;
                let vector = matches!(outputs.field(i).data_type(), DataType::FixedSizeList(..));
                Ok((i, vector))
            })
            .collect::<Result<Vec<_>, JvmError>>()?;
        let scorer = Scorer {
            model,
            schema_message: schema_message.to_vec(),
            spec,
            picks,
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
            for &(i, vector) in &self.picks {
                let name = scored.schema().field(i).name().clone();
                let col = scored.column(i);
                let col = if vector {
                    vector_udt(col)?
                } else {
                    self.spark_scalar(col)?
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
            for &(i, vector) in &self.picks {
                let f = outputs.field(i);
                let t = if vector {
                    vector_udt_type()
                } else {
                    self.spark_scalar_type(f.data_type())
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
    /// runtime reads.
    fn inputs(&self, batch: &RecordBatch) -> Result<RecordBatch, JvmError> {
        let schema = self.model.input_schema();
        let mut columns = Vec::with_capacity(self.spec.inputs.len());
        for (f, &c) in schema.fields().iter().zip(&self.spec.inputs) {
            let col = batch.column(c);
            let col = match (f.data_type(), col.data_type()) {
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
