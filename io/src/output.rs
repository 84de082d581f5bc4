//! Writers: one scored batch at a time, flushed as soon as it is written, so a consumer on the
//! other end of a pipe (the Arrow stream worker protocol, `keel score ... | head`) sees each
//! batch's results before the next batch is read.
//!
//! JSON lines and Arrow keep vector outputs as arrays / fixed-size lists. CSV has no nested
//! values, so a vector column `probability` with element names `a`, `b` becomes the columns
//! `probability[a]`, `probability[b]` (the index when the bundle names no elements), which is
//! also what the CSV reader expects for a vector input. A list-of-strings column is written to
//! CSV as the text of its JSON array (`["a","b"]`), as the CSV reader takes it. JSON has no literal for NaN or the
//! infinities: they are written as `null` (the JSON writer's convention). Bytes (`binary`) are
//! written to CSV and JSON lines as base64 text, as the readers take them.

use crate::error::Error;
use crate::format::Format;
use crate::input::element_names;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef};
use keel_bundle::Field;
use std::io::Write;
use std::sync::Arc;

/// A batch writer in one of the [`Format`]s.
pub struct Sink<W: Write> {
    kind: Kind<W>,
    wrote: bool,
}

enum Kind<W: Write> {
    Csv {
        writer: arrow_csv::Writer<W>,
        flat: SchemaRef,
    },
    Jsonl(arrow_json::LineDelimitedWriter<W>),
    /// JSON lines written by keel's own cell writer: outputs with tensor columns, which go out
    /// as nested arrays in their shape (arrow-json would write them flat).
    JsonlTensors {
        out: W,
        /// Each column's name, escaped, with its colon.
        names: Vec<Vec<u8>>,
        /// Each column's per-row tensor shape, for tensor columns.
        shapes: Vec<Option<Vec<usize>>>,
    },
    File(arrow_ipc::writer::FileWriter<W>),
    Stream(arrow_ipc::writer::StreamWriter<W>),
}

fn write_err(source: arrow_schema::ArrowError) -> Error {
    Error::Arrow {
        context: "cannot write the output",
        source,
    }
}

/// The CSV schema of the outputs: each vector column spread into one f64 column per element.
fn flat_schema(schema: &Schema, fields: &[Field]) -> SchemaRef {
    let mut out = Vec::new();
    for (f, declared) in schema.fields().iter().zip(fields) {
        match f.data_type() {
            _ if is_tensor_column(f) || is_binary_column(f) => {
                out.push(ArrowField::new(f.name(), DataType::Utf8, true))
            }
            DataType::FixedSizeList(_, w) => {
                let width = usize::try_from(*w).unwrap_or(0);
                for name in element_names(declared, width) {
                    out.push(ArrowField::new(name, DataType::Float64, true));
                }
            }
            DataType::List(_) => out.push(ArrowField::new(f.name(), DataType::Utf8, true)),
            _ => out.push(f.as_ref().clone().with_nullable(true)),
        }
    }
    Arc::new(Schema::new(out))
}

/// Spreads the vector columns of `batch` into one column per element (`flat` is from
/// [`flat_schema`]).
fn flatten(batch: &RecordBatch, flat: &SchemaRef) -> Result<RecordBatch, Error> {
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(flat.fields().len());
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        if is_tensor_column(field) {
            // A tensor per row does not spread into columns: its cell is the JSON array.
            let shape = crate::json_doc::tensor_shape(field);
            let texts: arrow_array::StringArray = (0..col.len())
                .map(|i| {
                    (!col.is_null(i)).then(|| {
                        let mut cell = Vec::new();
                        crate::json_doc::write_cell_shaped(
                            &mut cell,
                            col,
                            i,
                            crate::json_doc::VectorStyle::Array,
                            shape.as_deref(),
                        );
                        String::from_utf8_lossy(&cell).into_owned()
                    })
                })
                .collect();
            columns.push(Arc::new(texts));
            continue;
        }
        if is_binary_column(field) {
            let texts: arrow_array::StringArray = (0..col.len())
                .map(|i| {
                    (!col.is_null(i)).then(|| {
                        let mut cell = Vec::new();
                        crate::json_doc::write_cell(
                            &mut cell,
                            col,
                            i,
                            crate::json_doc::VectorStyle::Array,
                        );
                        // The cell is a JSON string of base64: its text without the quotes.
                        String::from_utf8_lossy(&cell).trim_matches('"').to_string()
                    })
                })
                .collect();
            columns.push(Arc::new(texts));
            continue;
        }
        if let Some(lists) = col.as_list_opt::<i32>() {
            columns.push(Arc::new(json_texts(lists)));
            continue;
        }
        let Some(list) = col.as_fixed_size_list_opt() else {
            columns.push(col.clone());
            continue;
        };
        let width = usize::try_from(list.value_length()).unwrap_or(0);
        let values = list
            .values()
            .as_primitive_opt::<arrow_array::types::Float64Type>()
            .ok_or_else(|| Error::Input("a vector output is not f64".into()))?;
        for j in 0..width {
            let element: Float64Array = (0..list.len())
                .map(|i| {
                    let k = list.value_offset_at(i) + j;
                    (list.is_valid(i) && values.is_valid(k)).then(|| values.value(k))
                })
                .collect();
            columns.push(Arc::new(element));
        }
    }
    RecordBatch::try_new(flat.clone(), columns).map_err(write_err)
}

/// Whether an output column holds bytes (written as base64 text).
fn is_binary_column(f: &ArrowField) -> bool {
    matches!(f.data_type(), DataType::Binary | DataType::LargeBinary)
}

/// Whether an output column holds tensors (format 1.1): Arrow's fixed-shape tensor type, or
/// nested lists of anything but strings.
fn is_tensor_column(f: &ArrowField) -> bool {
    crate::json_doc::tensor_shape(f).is_some()
        || matches!(f.data_type(), DataType::List(item) if item.data_type() != &DataType::Utf8)
}

/// Each row of a list-of-strings column as the text of a JSON array (null rows stay null).
fn json_texts(lists: &arrow_array::ListArray) -> arrow_array::StringArray {
    (0..lists.len())
        .map(|i| {
            if lists.is_null(i) {
                return None;
            }
            let value = lists.value(i);
            let items: Vec<Option<&str>> = value
                .as_string_opt::<i32>()
                .map(|s| s.iter().collect())
                .unwrap_or_default();
            serde_json::to_string(&items).ok()
        })
        .collect()
}

impl<W: Write> Sink<W> {
    /// A writer of `format` for batches of `schema` (the bundle's output schema, whose fields
    /// are `fields`). The Arrow writers emit the schema at once, so a worker's client can read
    /// it before it sends anything.
    pub fn new(
        format: Format,
        out: W,
        schema: &SchemaRef,
        fields: &[Field],
    ) -> Result<Self, Error> {
        let kind = match format {
            Format::Csv => Kind::Csv {
                writer: arrow_csv::WriterBuilder::new().with_header(true).build(out),
                flat: flat_schema(schema, fields),
            },
            // keel's own cell writer also for bytes, which arrow-json would write as hex.
            Format::Jsonl
                if schema
                    .fields()
                    .iter()
                    .any(|f| is_tensor_column(f) || is_binary_column(f)) =>
            {
                Kind::JsonlTensors {
                    out,
                    names: schema
                        .fields()
                        .iter()
                        .map(|f| {
                            let mut n = serde_json::to_vec(f.name()).unwrap_or_default();
                            n.push(b':');
                            n
                        })
                        .collect(),
                    shapes: schema
                        .fields()
                        .iter()
                        .map(|f| crate::json_doc::tensor_shape(f))
                        .collect(),
                }
            }
            Format::Jsonl => Kind::Jsonl(
                arrow_json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, arrow_json::writer::LineDelimited>(out),
            ),
            Format::Arrow => {
                Kind::File(arrow_ipc::writer::FileWriter::try_new(out, schema).map_err(write_err)?)
            }
            Format::Arrows => {
                let mut w =
                    arrow_ipc::writer::StreamWriter::try_new(out, schema).map_err(write_err)?;
                w.flush().map_err(write_err)?;
                Kind::Stream(w)
            }
        };
        Ok(Sink { kind, wrote: false })
    }

    /// Writes one batch and flushes it through to the output.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        self.wrote = true;
        match &mut self.kind {
            // The CSV writer flushes through to `W` after every batch by itself.
            Kind::Csv { writer, flat } => writer.write(&flatten(batch, flat)?).map_err(write_err),
            Kind::Jsonl(w) => {
                w.write(batch).map_err(write_err)?;
                w.get_mut().flush().map_err(Error::WriteOutput)
            }
            Kind::JsonlTensors { out, names, shapes } => {
                let mut line = Vec::new();
                for i in 0..batch.num_rows() {
                    line.clear();
                    line.push(b'{');
                    for (c, (col, name)) in batch.columns().iter().zip(names.iter()).enumerate() {
                        if c > 0 {
                            line.push(b',');
                        }
                        line.extend_from_slice(name);
                        crate::json_doc::write_cell_shaped(
                            &mut line,
                            col,
                            i,
                            crate::json_doc::VectorStyle::Array,
                            shapes.get(c).and_then(Option::as_deref),
                        );
                    }
                    line.extend_from_slice(b"}\n");
                    out.write_all(&line).map_err(Error::WriteOutput)?;
                }
                out.flush().map_err(Error::WriteOutput)
            }
            Kind::File(w) => {
                w.write(batch).map_err(write_err)?;
                w.flush().map_err(write_err)
            }
            Kind::Stream(w) => {
                w.write(batch).map_err(write_err)?;
                w.flush().map_err(write_err)
            }
        }
    }

    /// Ends the output (the Arrow file footer, the stream's end marker; a CSV header when no
    /// rows were written) and flushes it.
    pub fn finish(mut self) -> Result<(), Error> {
        match &mut self.kind {
            Kind::Csv { writer, flat } => {
                if !self.wrote {
                    writer
                        .write(&RecordBatch::new_empty(flat.clone()))
                        .map_err(write_err)?;
                }
                Ok(())
            }
            Kind::Jsonl(w) => {
                w.finish().map_err(write_err)?;
                w.get_mut().flush().map_err(Error::WriteOutput)
            }
            Kind::JsonlTensors { out, .. } => out.flush().map_err(Error::WriteOutput),
            Kind::File(w) => {
                w.finish().map_err(write_err)?;
                w.flush().map_err(write_err)
            }
            Kind::Stream(w) => {
                w.finish().map_err(write_err)?;
                w.flush().map_err(write_err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{FixedSizeListArray, StringArray};
    use keel_bundle::DType;

    #[test]
    fn csv_spreads_vectors_into_named_columns() {
        let fields = vec![
            Field::scalar("label", DType::Utf8, false),
            Field {
                names: vec!["a".into(), "b".into()],
                ..Field::vector("p", DType::F64, 2)
            },
        ];
        let schema = keel_runtime::arrow_schema(&fields);
        let p = FixedSizeListArray::try_new(
            Arc::new(ArrowField::new("item", DataType::Float64, false)),
            2,
            Arc::new(Float64Array::from(vec![0.25, 0.75, 1.0, 0.0])),
            None,
        )
        .unwrap();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec!["x", "y"])), Arc::new(p)],
        )
        .unwrap();
        let mut out = Vec::new();
        let mut sink = Sink::new(Format::Csv, &mut out, &schema, &fields).unwrap();
        sink.write(&batch).unwrap();
        sink.finish().unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "label,p[a],p[b]\nx,0.25,0.75\ny,1.0,0.0\n"
        );
    }

    #[test]
    fn csv_without_rows_still_has_its_header() {
        let fields = vec![Field::vector("v", DType::F64, 2)];
        let schema = keel_runtime::arrow_schema(&fields);
        let mut out = Vec::new();
        Sink::new(Format::Csv, &mut out, &schema, &fields)
            .unwrap()
            .finish()
            .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "v[0],v[1]\n");
    }

    #[test]
    fn bytes_are_written_as_base64_in_csv_and_json_lines() {
        let fields = vec![Field::scalar("img", DType::Binary, true)];
        let schema = keel_runtime::arrow_schema(&fields);
        let col = arrow_array::BinaryArray::from_opt_vec(vec![Some(&[0u8, 1, 2, 255][..]), None]);
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(col)]).unwrap();
        let mut written = Vec::new();
        for format in [Format::Csv, Format::Jsonl] {
            let mut out = Vec::new();
            let mut sink = Sink::new(format, &mut out, &schema, &fields).unwrap();
            sink.write(&batch).unwrap();
            sink.finish().unwrap();
            written.push(String::from_utf8(out).unwrap());
        }
        // A record of one empty field is quoted, so that it is not a blank line.
        assert_eq!(written[0], "img\nAAEC/w==\n\"\"\n");
        assert_eq!(written[1], "{\"img\":\"AAEC/w==\"}\n{\"img\":null}\n");
    }
}
