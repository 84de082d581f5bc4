//! The scoring loop over a byte stream: read a batch, score it, write it, until the input
//! ends. One loop for every front end that scores a stream: `keel score` (files and pipes),
//! the WASI module (stdin to stdout) and the browser build (bytes in, bytes out).
//!
//! Memory stays bounded by the batch size whatever the input's size: one input batch, its
//! intermediate columns and its outputs are alive at a time. Row numbers in errors are global:
//! the runtime numbers rows within the batch it scores, so its errors are shifted by the number
//! of rows before that batch.

use crate::error::{Error, offset_rows};
use crate::format::Format;
use crate::input::{self, Extra};
use crate::output::Sink;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use keel_bundle::Field;
use keel_runtime::Model;
use std::io::{BufRead, Write};

/// How much was scored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scored {
    /// Rows scored.
    pub rows: u64,
    /// Batches scored.
    pub batches: u64,
}

/// How a stream is read and written.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// The input's format.
    pub input: Format,
    /// The output's format.
    pub output: Format,
    /// Rows per batch for CSV and JSON lines (Arrow inputs keep their own batches).
    pub batch_size: usize,
    /// What to do with input columns the bundle does not declare.
    pub extra: Extra,
}

/// Scores every batch of `reader` with `model` into `writer`. `score` is the scoring call
/// itself (`Model::score`, or a parallel variant where the caller has threads); it gets each
/// non-empty batch in turn.
pub fn score_stream<F>(
    model: &Model,
    reader: Box<dyn BufRead + '_>,
    writer: &mut dyn Write,
    options: &StreamOptions,
    mut score: F,
) -> Result<Scored, Error>
where
    F: FnMut(&RecordBatch) -> Result<RecordBatch, keel_runtime::Error>,
{
    let manifest = model.manifest();
    let interface = Interface {
        inputs: &manifest.inputs,
        outputs: &manifest.outputs,
        output_schema: model.output_schema(),
    };
    score_stream_with(&interface, reader, writer, options, |batch, rows_before| {
        score(batch).map_err(|e| Error::Score(offset_rows(e, rows_before)))
    })
}

/// What the loop needs to know of a bundle: its declared inputs and outputs, and the schema of
/// the scored batches. [`score_stream`] takes them from a planned `Model`; a scorer that holds
/// no `Model` (the sandbox, whose model lives in a wasm guest) gives them itself.
#[derive(Debug, Clone)]
pub struct Interface<'a> {
    /// The bundle's inputs (`manifest.inputs`).
    pub inputs: &'a [Field],
    /// The bundle's outputs (`manifest.outputs`).
    pub outputs: &'a [Field],
    /// The schema of the scored batches.
    pub output_schema: SchemaRef,
}

/// [`score_stream`] for any scorer and error type: `score` gets each non-empty batch and the
/// number of rows before it in the whole input (to make its row numbers global), and answers
/// with the scored batch or the caller's own error.
pub fn score_stream_with<F, E>(
    interface: &Interface<'_>,
    reader: Box<dyn BufRead + '_>,
    writer: &mut dyn Write,
    options: &StreamOptions,
    mut score: F,
) -> Result<Scored, E>
where
    F: FnMut(&RecordBatch, u64) -> Result<RecordBatch, E>,
    E: From<Error>,
{
    // The output is opened first: an Arrow stream's schema goes out before any input is
    // awaited, so a worker's client may read it before sending its first batch.
    let mut sink = Sink::new(
        options.output,
        writer,
        &interface.output_schema,
        interface.outputs,
    )?;
    let mut source = input::open(
        options.input,
        reader,
        interface.inputs,
        options.batch_size,
        options.extra,
    )?;
    let mut done = Scored::default();
    while let Some(batch) = source.next_batch()? {
        if batch.num_rows() == 0 {
            continue;
        }
        let scored = score(&batch, done.rows)?;
        sink.write(&scored)?;
        done.rows += u64::try_from(batch.num_rows()).unwrap_or(u64::MAX);
        done.batches += 1;
    }
    sink.finish()?;
    Ok(done)
}
