//! What keel's fuzz targets share: the fixtures and input fields (`shared.rs`, also compiled
//! into the seed generator) and the reader loop of the CSV, JSON lines and Arrow IPC targets.

mod shared;
pub use shared::*;

use keel_io::Format;
use keel_io::input::{self, Extra};

/// Splits a fuzz input into reader settings and the bytes to read: the first byte picks the
/// batch size (1 to 16, so batch boundaries fall everywhere) and whether extra columns are
/// refused or dropped (both paths are taken in production).
pub fn settings(data: &[u8]) -> Option<(usize, Extra, &[u8])> {
    let (&first, rest) = data.split_first()?;
    let batch = usize::from(first & 0x0f) + 1;
    let extra = if first & 0x10 == 0 {
        Extra::Ignore
    } else {
        Extra::Reject
    };
    Some((batch, extra, rest))
}

/// Reads `bytes` in `format` to the end or to the first error, as `keel score` does. Errors
/// are expected (most inputs are not valid); only a panic, a hang or memory growth is a
/// finding.
pub fn read_all(format: Format, data: &[u8]) {
    let Some((batch, extra, bytes)) = settings(data) else {
        return;
    };
    let fields = io_fields();
    let Ok(mut source) = input::open(format, Box::new(bytes), &fields, batch, extra) else {
        return;
    };
    // A reader that keeps answering batches of nothing would loop forever: the bound is far
    // above what any input of the fuzzer's size can hold, so reaching it is a finding.
    for _ in 0..1_000_000 {
        match source.next_batch() {
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return,
        }
    }
    panic!(
        "the {format:?} reader did not end on a {}-byte input",
        bytes.len()
    );
}
