//! keel's tabular codecs: tables read and written by a bundle's declared schema, shared by the
//! command line (`keel score`), the REST server's bodies and, later, the browser build. Pure
//! data in and out (byte slices, `std::io` readers and writers): no files, threads, sockets or
//! async runtime, so the crate builds for `wasm32-unknown-unknown`.
//!
//! - [`format`](mod@format): the formats (CSV, JSON lines, Arrow IPC file and stream) and how one is chosen;
//! - [`input`]: readers that turn each format into Arrow batches typed by the bundle's inputs;
//! - [`columns`]: parsing text and JSON values by the declared types (tensors: `tensor_json.rs`);
//! - [`output`]: writers for scored batches in each format;
//! - [`stream`]: the read-score-write loop every stream front end shares;
//! - [`json_doc`]: whole JSON request and answer documents (`{"rows": ...}`,
//!   `{"columns": ...}`), as the REST server's `predict` reads and writes them;
//! - [`leapframe`]: MLeap's LeapFrame documents, read into batches and answered with the
//!   outputs appended;
//! - [`describe`]: what a bundle holds, as text for people and JSON for programs;
//! - [`error`]: the codecs' error, naming the row and column.

pub mod columns;
pub mod describe;
pub mod error;
pub mod format;
pub mod input;
mod ipc_check;
pub mod json_doc;
pub mod leapframe;
pub mod output;
pub mod stream;
mod tensor_json;

pub use error::{Error, offset_rows};
pub use format::Format;
