//! The error type of the `keel` command line. Every variant carries what a user needs to find
//! the problem without a debugger: the file, the bundle entry (through [`BundleError`]), or the
//! row and column of the input (through [`keel_io::Error`]). Row numbers are global to the whole input (counted from 0,
//! the first data row; a CSV header is not a row), never relative to a batch.

use keel_bundle::BundleError;
use keel_import::load::LoadError;
use std::io;
use std::path::{Path, PathBuf};

/// Why a `keel` command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened or read.
    #[error("cannot read `{}`: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file could not be created, written or renamed into place.
    #[error("cannot write `{}`: {source}", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The bundle is unreadable or breaks the format's rules.
    #[error("`{}`: {source}", path.display())]
    Bundle {
        /// The bundle file.
        path: PathBuf,
        /// What is wrong, naming the entry.
        source: BundleError,
    },
    /// A foreign model (`keel convert --from ...`) could not be imported.
    #[error("`{}`: {source}", path.display())]
    Import {
        /// The file read.
        path: PathBuf,
        /// The importer's error, naming the entry or node.
        source: keel_import::mleap::ImportError,
    },
    /// The bundle is well-formed but this runtime cannot plan it (unknown op, bad attribute,
    /// type mismatch between stages).
    #[error("`{}`: {source}", path.display())]
    Plan {
        /// The bundle file.
        path: PathBuf,
        /// The planner's error, naming the node.
        source: keel_runtime::Error,
    },
    /// The file is not something keel scores (the message says what it looks like and what
    /// keel reads), or is too large to be a bundle.
    #[error("`{}`: {message}", path.display())]
    Unrecognised {
        /// The file.
        path: PathBuf,
        /// What was found.
        message: String,
    },
    /// The command line asks for something impossible (an unknown extension, stdin without a
    /// format, an output that would overwrite the input).
    #[error("{0}")]
    Usage(String),
    /// `keel convert --from spark-ml`: the saved model could not be read or converted (the
    /// error names the path and, for a refused stage, its class).
    #[error("spark-ml: {0}")]
    SparkMl(#[from] keel_import::spark_ml::Error),
    /// The REST server could not start or stop (an address in use, a bad option).
    #[error(transparent)]
    Serve(#[from] keel_server::ServeError),
    /// Reading the input or writing the output failed, or a value was refused; rows are
    /// global to the whole input.
    #[error(transparent)]
    Io(#[from] keel_io::Error),
}

impl Error {
    /// The error of reading `path` as a bundle, in the command line's terms.
    pub fn load(path: &Path, e: LoadError) -> Error {
        let path = path.to_path_buf();
        match e {
            LoadError::Read { path, source } => Error::ReadFile { path, source },
            LoadError::Bundle(source) => Error::Bundle { path, source },
            LoadError::Mleap(source) => Error::Import { path, source },
            other => Error::Unrecognised {
                path,
                message: other.to_string(),
            },
        }
    }

    /// Whether the error is a closed output pipe (`keel score ... | head`): the reader has all
    /// it wants, so the tool stops quietly instead of reporting a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io(e) if e.is_broken_pipe())
    }
}
