//! The `keel` command line, as a library so its pieces are tested without spawning the binary.
//!
//! - [`cli`]: the clap definitions and one function per subcommand;
//! - [`help`]: every subcommand's examples and exit statuses, added to its `--help`;
//! - [`score`]: the scoring loop (read a batch, score it, write it) with global row numbers;
//! - [`train`]: `keel train`, reading the training table and printing progress;
//! - [`files`]: outputs written whole or not at all;
//! - [`error`]: the command line's error, wrapping the codecs', the importers' and the server's.
//!
//! Reading tables is `keel_io`'s, serving is `keel_server`'s, reading foreign formats is
//! `keel_import`'s: this crate only wires them to a terminal.

pub mod cli;
pub mod error;
pub mod files;
pub mod help;
pub mod score;
pub mod train;

pub use error::Error;
