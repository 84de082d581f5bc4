//! Hostile input to the readers. Corrupted Arrow IPC: every single-byte change to a valid
//! stream (and file) is either read or refused with a typed error, never a panic and never an
//! unbounded allocation (arrow-rs trusts the buffer offsets and lengths in a message's metadata
//! when it slices the body, so `keel_io::input` checks them against the message before arrow-rs
//! sees it). And the inputs the fuzz targets found (FUZZING.md), each named after what broke.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field as ArrowField, Schema};
use keel_bundle::{DType, Field};
use keel_io::Format;
use keel_io::input::{self, Extra};
use std::sync::Arc;

fn fields() -> Vec<Field> {
    vec![
        Field::scalar("x", DType::F64, true),
        Field::scalar("n", DType::I64, true),
        Field::scalar("s", DType::Utf8, true),
    ]
}

fn batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        ArrowField::new("x", DataType::Float64, true),
        ArrowField::new("n", DataType::Int64, true),
        ArrowField::new("s", DataType::Utf8, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(vec![Some(1.5), None, Some(-2.0)])),
        Arc::new(Int64Array::from(vec![Some(1), Some(2), None])),
        Arc::new(StringArray::from(vec![Some("a"), Some("bcd"), None])),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

fn stream_bytes() -> Vec<u8> {
    let b = batch();
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::StreamWriter::try_new(&mut out, &b.schema()).unwrap();
    w.write(&b).unwrap();
    w.write(&b).unwrap();
    w.finish().unwrap();
    drop(w);
    out
}

fn lz4_stream_bytes() -> Vec<u8> {
    let b = batch();
    let options = arrow_ipc::writer::IpcWriteOptions::default()
        .try_with_compression(Some(arrow_ipc::CompressionType::LZ4_FRAME))
        .unwrap();
    let mut out = Vec::new();
    let mut w =
        arrow_ipc::writer::StreamWriter::try_new_with_options(&mut out, &b.schema(), options)
            .unwrap();
    w.write(&b).unwrap();
    w.write(&b).unwrap();
    w.finish().unwrap();
    drop(w);
    out
}

fn file_bytes() -> Vec<u8> {
    let b = batch();
    let mut out = Vec::new();
    let mut w = arrow_ipc::writer::FileWriter::try_new(&mut out, &b.schema()).unwrap();
    w.write(&b).unwrap();
    w.finish().unwrap();
    drop(w);
    out
}

/// Reads every batch; `Ok` with the row count, or the first error's message.
fn read_all(bytes: Vec<u8>, format: Format) -> Result<usize, String> {
    let mut source = input::open(
        format,
        Box::new(std::io::Cursor::new(bytes)),
        &fields(),
        1024,
        Extra::Reject,
    )
    .map_err(|e| e.to_string())?;
    let mut rows = 0;
    while let Some(b) = source.next_batch().map_err(|e| e.to_string())? {
        rows += b.num_rows();
    }
    Ok(rows)
}

fn no_corruption_panics(original: Vec<u8>, format: Format, rows: usize) {
    assert_eq!(read_all(original.clone(), format), Ok(rows));
    let mut panics = Vec::new();
    let mut checked = 0;
    for i in 0..original.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bytes = original.clone();
            bytes[i] ^= flip;
            match std::panic::catch_unwind(|| read_all(bytes, format)) {
                Err(_) => panics.push((i, flip)),
                Ok(Err(message)) if message.contains("is malformed: message") => checked += 1,
                Ok(_) => {}
            }
        }
    }
    assert!(
        panics.is_empty(),
        "{} corruptions panicked, first: {:?}",
        panics.len(),
        &panics[..panics.len().min(10)]
    );
    // The buffers and sizes arrow-rs would have trusted are refused by keel's own check, which
    // names the message.
    assert!(checked > 0, "no corruption reached the message check");
}

#[test]
fn single_byte_corruptions_of_a_stream_never_panic() {
    no_corruption_panics(stream_bytes(), Format::Arrows, 6);
}

#[test]
fn single_byte_corruptions_of_an_lz4_stream_never_panic() {
    no_corruption_panics(lz4_stream_bytes(), Format::Arrows, 6);
}

#[test]
fn single_byte_corruptions_of_a_file_never_panic() {
    no_corruption_panics(file_bytes(), Format::Arrow, 3);
}

/// The input fields the fuzz targets read against (fuzz/src/shared.rs).
fn fuzz_fields() -> Vec<Field> {
    let mut v = Field::vector("v", DType::F64, 3);
    v.names = vec!["a".into(), "b".into(), "c".into()];
    vec![
        Field::scalar("x", DType::F64, true),
        Field::scalar("n", DType::I64, true),
        Field::scalar("k", DType::I32, false),
        Field::scalar("f", DType::F32, true),
        Field::scalar("s", DType::Utf8, true),
        Field::scalar("b", DType::Bool, true),
        v,
        Field::str_list("t", true),
        Field::scalar("img", DType::Binary, true),
    ]
}

/// Reads a fuzz target's input (a settings byte: batch size and extra-column policy, then the
/// data) in `format` to the end; the first error, if any.
fn read_fuzz_input(format: Format, data: &[u8]) -> Option<String> {
    let (first, bytes) = data.split_first().unwrap();
    let extra = if first & 0x10 == 0 {
        Extra::Ignore
    } else {
        Extra::Reject
    };
    let batch_size = usize::from(first & 0x0f) + 1;
    match input::open(format, Box::new(bytes), &fuzz_fields(), batch_size, extra) {
        Err(e) => Some(e.to_string()),
        Ok(mut source) => loop {
            match source.next_batch() {
                Ok(Some(_)) => {}
                Ok(None) => return None,
                Err(e) => return Some(e.to_string()),
            }
        },
    }
}

/// Found by the `csv` fuzz target: invalid UTF-8 inside a field reached keel's value parser
/// as a `&str` (arrow-csv's decoder does not check its fields), which is undefined behaviour;
/// the bytes the decoder takes are now checked first.
#[test]
fn csv_field_of_invalid_utf8_is_refused() {
    let error = read_fuzz_input(
        Format::Csv,
        include_bytes!("data/csv_invalid_utf8_field.bin"),
    )
    .expect("the input must be refused");
    assert!(error.contains("not valid UTF-8"), "{error}");
}

/// Found by the `arrow_ipc` fuzz target: a message whose fixed-size-list field node claims so
/// many rows that rows × list width overflows; arrow-data panicked sizing the child. The file
/// is the fuzzer's input: a settings byte (batch size, extra-column policy), then the stream.
#[test]
fn fixed_size_list_length_overflowing_its_child_size_is_refused() {
    let error = read_fuzz_input(
        Format::Arrow,
        include_bytes!("data/ipc_fixed_size_list_length_overflow.bin"),
    )
    .expect("the corrupted stream must be refused");
    assert!(error.contains("field node"), "{error}");
}

/// Found by the `arrow_ipc` fuzz target: a stream whose schema declares a union column and
/// whose batch gives it a type-id buffer shorter than its row count; arrow-ipc sliced the
/// buffer by the row count and panicked in arrow-buffer. No keel input reads a union, so the
/// schema is refused before any batch is decoded. The file is the fuzzer's input.
#[test]
fn union_column_is_refused_before_its_buffers_are_sliced() {
    let error = read_fuzz_input(
        Format::Arrow,
        include_bytes!("data/ipc_union_type_ids_shorter_than_rows.bin"),
    )
    .expect("the stream must be refused");
    assert!(error.contains("union"), "{error}");
}
