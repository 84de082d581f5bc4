//! Corrupted Arrow IPC input: every single-byte change to a valid stream (and file) is either
//! read or refused with a typed error, never a panic and never an unbounded allocation. arrow-rs
//! trusts the buffer offsets and lengths in a message's metadata when it slices the body, so
//! `keel_io::input` checks them against the message before arrow-rs sees it.

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
