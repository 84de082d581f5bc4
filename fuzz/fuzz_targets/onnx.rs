//! The ONNX importer (`keel_import::onnx::convert_bytes`) on arbitrary bytes: protobuf
//! decoding under its limits, then graph translation. No folder is given, so a model naming
//! external data is refused rather than read from disk. What converts is planned as well.

#![no_main]

use keel_import::onnx;
use keel_runtime::{Model, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = onnx::convert_bytes(data, "fuzz", None, &onnx::Limits::default()) {
        let _ = Model::from_bundle(&bundle, &Options::default());
    }
});
