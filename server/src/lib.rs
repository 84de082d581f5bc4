//! The `keel` command-line tool, as a library so that the REST server (a later milestone) can
//! reuse the readers, writers and scoring loop on sockets.
//!
//! - [`cli`]: the command line (clap) and one function per subcommand;
//! - [`score`]: the scoring loop (read a batch, score it, write it) with global row numbers;
//! - [`input`] / [`output`]: readers and writers for CSV, JSON lines and Arrow IPC;
//! - `columns`: parsing text and JSON values by the bundle's declared types;
//! - [`inspect`]: the `inspect` report, as text and as JSON;
//! - [`files`]: bundle reading with a size cap, and outputs written whole or not at all.

pub mod cli;
mod columns;
pub mod error;
pub mod files;
pub mod format;
pub mod input;
pub mod inspect;
pub mod output;
pub mod score;

pub use error::Error;
