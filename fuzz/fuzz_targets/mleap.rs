//! The MLeap Bundle.ML importer (`keel_import::mleap::read_with`) on arbitrary bytes: zips
//! with `bundle.json`, `model.json`/`node.json` in JSON or protobuf, tree files. Seeded with
//! the fixtures' MLeap bundles. What converts is planned as well.

#![no_main]

use keel_bundle::Limits;
use keel_import::mleap;
use keel_runtime::{Model, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = mleap::read_with(data, &Limits::default()) {
        let _ = Model::from_bundle(&bundle, &Options::default());
    }
});
