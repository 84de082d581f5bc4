//! The keel bundle reader (`keel_bundle::Bundle::from_bytes_with`) on arbitrary bytes, in
//! both encodings (the seeds hold every fixture bundle as JSON and as protobuf): it must
//! answer a bundle or an error, within its limits. A bundle it accepts is written back in
//! both encodings, since the writer must handle whatever the reader lets through.

#![no_main]

use keel_bundle::{Bundle, Encoding, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = Bundle::from_bytes_with(data, &Limits::default()) else {
        return;
    };
    // Errors are allowed (a name the writer refuses, say); a panic is not.
    let _ = bundle.to_bytes(Encoding::Json);
    let _ = bundle.to_bytes(Encoding::Protobuf);
});
