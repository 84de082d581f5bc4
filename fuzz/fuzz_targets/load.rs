//! What every front end calls on a file it is given (`keel_import::load::read_bytes`, which
//! tells keel bundles, MLeap zips and ONNX models apart by content), then the planner on what
//! it read (`Model::from_bundle`): the planner must refuse what it cannot run, never panic.

#![no_main]

use keel_import::load;
use keel_runtime::{Model, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(loaded) = load::read_bytes(data) {
        let _ = Model::from_bundle(&loaded.bundle, &Options::default());
    }
});
