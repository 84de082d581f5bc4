//! The REST server's MLeap-compatible LeapFrame bodies (`keel_io::leapframe::parse`), then
//! the answer written back (`leapframe::encode`) with an output column per input row, as the
//! server does: the frame is echoed, so the writer sees whatever the parser accepted.

#![no_main]

use arrow_array::{ArrayRef, Float64Array, RecordBatch};
use keel_bundle::{DType, Field};
use keel_io::leapframe;
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let outputs = [Field::scalar("score", DType::F64, false)];
    let Ok((frame, batch)) = leapframe::parse(data, &keel_fuzz::io_fields(), &outputs) else {
        return;
    };
    let scores = Float64Array::from(vec![0.5; batch.num_rows()]);
    let Ok(scored) = RecordBatch::try_from_iter([("score", Arc::new(scores) as ArrayRef)]) else {
        return;
    };
    let _ = leapframe::encode(&frame, &outputs, &[scored]);
});
