//! The guest of keel's sandbox: a `wasm32-unknown-unknown` module that loads one bundle and
//! scores inputs with it, driven by the host crate `keel-sandbox` inside wasmtime. It has no
//! WASI and no host functions: the only ways out are its return values and its linear memory,
//! which the host reads. (Its only imports are wasm-bindgen placeholders that zip's getrandom
//! dependency links in and nothing calls; the host makes them traps.)
//!
//! The ABI, all integers `u32`, one call at a time:
//! - `keel_input(len) -> ptr`: a zeroed buffer of `len` bytes for the host to write the next
//!   call's argument into (0 when the guest cannot allocate it);
//! - `keel_load() -> status`: plans the bundle in the input buffer; the result is the output
//!   schema as an Arrow IPC stream with no batches;
//! - `keel_score(input_format, output_format, flags) -> status`: scores the input buffer
//!   (formats: 0 csv, 1 JSON lines, 2 Arrow IPC file, 3 Arrow IPC stream; flag 1 = ignore extra
//!   columns); the result is the answer in the output format;
//! - `keel_result_ptr()`, `keel_result_len()`: where the last result lies.
//!
//! A status is 0 for success and 1 for a refusal, whose result is then a JSON object
//! `{"code", "message", "column", "row"}` with keel-io's codes (the runtime's for scoring
//! errors). Anything worse (a panic, an allocation failure) traps, and the host discards the
//! instance.
//!
//! The buffers live in thread-locals (a wasm instance has one thread), so no export takes a
//! raw pointer: the only unsafe code is the `no_mangle` attribute each export needs.

use keel_io::format::Format;
use keel_io::input::Extra;
use keel_io::output::Sink;
use keel_io::stream::{StreamOptions, score_stream};
use keel_runtime::Model;
use std::cell::RefCell;
use std::io::Cursor;

/// Success.
pub const STATUS_OK: u32 = 0;
/// A refusal; the result is the error object.
pub const STATUS_ERROR: u32 = 1;
/// `keel_score`'s flag: drop input columns the bundle does not declare.
pub const FLAG_IGNORE_EXTRA: u32 = 1;

/// Rows per batch when the input is CSV or JSON lines (Arrow inputs keep their own batches).
const BATCH_ROWS: usize = 8192;

thread_local! {
    static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static RESULT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static MODEL: RefCell<Option<Model>> = const { RefCell::new(None) };
}

/// An error object, as the host reads it.
fn error_json(code: &str, message: &str, column: Option<&str>, row: Option<u64>) -> Vec<u8> {
    serde_json::json!({"code": code, "message": message, "column": column, "row": row})
        .to_string()
        .into_bytes()
}

fn io_error(e: &keel_io::Error) -> Vec<u8> {
    error_json(e.code(), &e.to_string(), e.column(), e.row())
}

fn finish(result: Result<Vec<u8>, Vec<u8>>) -> u32 {
    let (status, bytes) = match result {
        Ok(bytes) => (STATUS_OK, bytes),
        Err(bytes) => (STATUS_ERROR, bytes),
    };
    RESULT.with_borrow_mut(|r| *r = bytes);
    status
}

fn format_of(code: u32) -> Option<Format> {
    Some(match code {
        0 => Format::Csv,
        1 => Format::Jsonl,
        2 => Format::Arrow,
        3 => Format::Arrows,
        _ => return None,
    })
}

/// Plans `bytes` as the instance's model; returns its output schema as an Arrow IPC stream.
pub fn load(bytes: &[u8]) -> Result<Vec<u8>, Vec<u8>> {
    let model = Model::from_bytes(bytes).map_err(|e| io_error(&keel_io::Error::Score(e)))?;
    let mut schema = Vec::new();
    let sink = Sink::new(
        Format::Arrows,
        &mut schema,
        &model.output_schema(),
        &model.manifest().outputs,
    )
    .map_err(|e| io_error(&e))?;
    sink.finish().map_err(|e| io_error(&e))?;
    MODEL.with_borrow_mut(|m| *m = Some(model));
    Ok(schema)
}

/// Scores `input` with the loaded model.
pub fn score(
    input: &[u8],
    input_format: u32,
    output_format: u32,
    flags: u32,
) -> Result<Vec<u8>, Vec<u8>> {
    let (Some(input_format), Some(output_format)) =
        (format_of(input_format), format_of(output_format))
    else {
        return Err(error_json("usage", "unknown format code", None, None));
    };
    MODEL.with_borrow(|model| {
        let Some(model) = model else {
            return Err(error_json("usage", "no bundle is loaded", None, None));
        };
        let options = StreamOptions {
            input: input_format,
            output: output_format,
            batch_size: BATCH_ROWS,
            extra: if flags & FLAG_IGNORE_EXTRA != 0 {
                Extra::Ignore
            } else {
                Extra::Reject
            },
        };
        let mut out = Vec::new();
        score_stream(
            model,
            Box::new(Cursor::new(input)),
            &mut out,
            &options,
            |batch| model.score(batch),
        )
        .map_err(|e| io_error(&e))?;
        Ok(out)
    })
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A zeroed buffer of `len` bytes for the next call's argument; 0 when it cannot be allocated.
#[allow(unsafe_code)] // An export needs an unmangled name; nothing else here is unsafe.
#[unsafe(no_mangle)]
pub extern "C" fn keel_input(len: u32) -> u32 {
    INPUT.with_borrow_mut(|buf| {
        // The previous argument and result are dead by now: free them before growing.
        *buf = Vec::new();
        RESULT.with_borrow_mut(|r| *r = Vec::new());
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if buf.try_reserve_exact(len).is_err() {
            return 0;
        }
        buf.resize(len, 0);
        // A pointer is an offset into linear memory, which is 32-bit on wasm32.
        u32_of(buf.as_ptr() as usize)
    })
}

/// Plans the bundle in the input buffer.
#[allow(unsafe_code)] // As `keel_input`.
#[unsafe(no_mangle)]
pub extern "C" fn keel_load() -> u32 {
    let bytes = INPUT.with_borrow_mut(std::mem::take);
    // A failed load leaves no model behind: scoring after it is refused, not stale.
    MODEL.with_borrow_mut(|m| *m = None);
    finish(load(&bytes))
}

/// Scores the input buffer with the loaded model.
#[allow(unsafe_code)] // As `keel_input`.
#[unsafe(no_mangle)]
pub extern "C" fn keel_score(input_format: u32, output_format: u32, flags: u32) -> u32 {
    let bytes = INPUT.with_borrow_mut(std::mem::take);
    finish(score(&bytes, input_format, output_format, flags))
}

/// Where the last result starts.
#[allow(unsafe_code)] // As `keel_input`.
#[unsafe(no_mangle)]
pub extern "C" fn keel_result_ptr() -> u32 {
    RESULT.with_borrow(|r| u32_of(r.as_ptr() as usize))
}

/// The last result's length.
#[allow(unsafe_code)] // As `keel_input`.
#[unsafe(no_mangle)]
pub extern "C" fn keel_result_len() -> u32 {
    RESULT.with_borrow(|r| u32_of(r.len()))
}
