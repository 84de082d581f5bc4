//! keel-io's Arrow IPC reader (file or stream told apart by magic bytes; messages checked by `ipc_check` before `arrow-ipc` decodes them) on arbitrary bytes, read to the end against the shared input fields
//! (`keel_fuzz::io_fields`), as `keel score` and the worker protocol read their input.

#![no_main]

use keel_io::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| keel_fuzz::read_all(Format::Arrow, data));
