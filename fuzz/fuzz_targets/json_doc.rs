//! The REST server's request bodies in the rows and columns layouts
//! (`keel_io::json_doc::parse`), against the shared input fields: the server hands the body
//! to this parser as received.

#![no_main]

use keel_io::json_doc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((_, extra, body)) = keel_fuzz::settings(data) else {
        return;
    };
    let _ = json_doc::parse(body, &keel_fuzz::io_fields(), extra);
});
