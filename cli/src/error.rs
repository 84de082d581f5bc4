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
        source: Box<keel_runtime::Error>,
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
    /// `keel convert --from onnx`: the model could not be read or converted (the error names
    /// the tensor, node or value, and lists every unsupported op type and attribute at once).
    #[error("onnx: `{path}`: {source}")]
    Onnx {
        /// The model file.
        path: PathBuf,
        /// The importer's error (boxed: it is large and rare).
        source: Box<keel_import::onnx::Error>,
    },
    /// `keel compose`: the two bundles do not join (the error names the network input and
    /// the pipeline columns).
    #[error("compose `{}` into `{}`: {source}", features.display(), network.display())]
    Compose {
        /// The feature pipeline.
        features: PathBuf,
        /// The network.
        network: PathBuf,
        /// Why (boxed: it is large and rare).
        source: Box<keel_import::compose::Error>,
    },
    /// The REST server could not start or stop (an address in use, a bad option).
    #[error(transparent)]
    Serve(#[from] keel_server::ServeError),
    /// Reading the input or writing the output failed, or a value was refused; rows are
    /// global to the whole input.
    #[error(transparent)]
    Io(#[from] keel_io::Error),
    /// `--sandbox`: the sandbox could not start, or the guest refused the bundle.
    #[error("`{}`: {source}", path.display())]
    SandboxLoad {
        /// The bundle file.
        path: PathBuf,
        /// Why.
        source: keel_sandbox::Error,
    },
    /// `--sandbox`: a scoring call was stopped (fuel, deadline, memory, a trap) or refused
    /// the input; rows are global to the whole input.
    #[error("{0}")]
    Sandboxed(keel_sandbox::Error),
    /// `keel train`: the training table could not be read (a damaged file, columns whose
    /// types cannot be inferred).
    #[error("`{}`: {message}", path.display())]
    Table {
        /// The table file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// `keel train`: the data or the job was refused, or training stopped (divergence).
    #[error(transparent)]
    Train(Box<keel_train::job::Error>),
}

impl Error {
    /// The error of reading `path` as a bundle, in the command line's terms.
    pub fn load(path: &Path, e: LoadError) -> Error {
        let path = path.to_path_buf();
        match e {
            LoadError::Read { path, source } => Error::ReadFile { path, source },
            LoadError::Bundle(source) => Error::Bundle { path, source },
            LoadError::Mleap(source) => Error::Import { path, source },
            LoadError::Onnx(source) => Error::Onnx { path, source },
            other => Error::Unrecognised {
                path,
                message: other.to_string(),
            },
        }
    }

    /// The process's exit status: 2 when the command line itself is wrong (as clap answers a
    /// malformed one), so scripts can tell a mistake in the call from a refused input.
    pub fn exit_status(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Io(keel_io::Error::Usage(_)) => 2,
            Error::Train(e) if matches!(**e, keel_train::job::Error::Config(_)) => 2,
            _ => 1,
        }
    }

    /// What the user can do next, where the message alone does not say it.
    pub fn hint(&self) -> Option<String> {
        use keel_io::Error as Io;
        Some(match self {
            Error::ReadFile { path, source } if source.kind() == io::ErrorKind::NotFound => {
                format!(
                    "check the path: `{}` is looked up from the current directory",
                    path.display()
                )
            }
            Error::Bundle { path, .. } => format!(
                "the file is damaged or was not written by a keel exporter; export it again \
                 (keel.sklearn.export, keel.spark.export) or check it with `keel validate {}`",
                path.display()
            ),
            Error::Plan { path, .. } => format!(
                "`keel ops` lists the ops this keel implements and `keel inspect {}` the \
                 bundle's; a newer keel may support it",
                path.display()
            ),
            Error::Usage(_) | Error::Io(Io::Usage(_)) => {
                "see the command's `--help` for its options and examples".into()
            }
            Error::Io(
                Io::MissingColumn { .. } | Io::ExtraColumn { .. } | Io::Value { .. } | Io::Score(_),
            ) => "`keel inspect BUNDLE` lists the input columns the bundle expects, with their \
                  types and whether they may be missing"
                .into(),
            Error::Sandboxed(e) if e.is_exhaustion() => {
                "the sandbox's budget is per call, and `keel score` makes one call per batch: a \
                 smaller --batch-size also fits a tight budget"
                    .into()
            }
            Error::Sandboxed(keel_sandbox::Error::Refused { .. }) => {
                "`keel inspect BUNDLE` lists the input columns the bundle expects, with their \
                 types and whether they may be missing"
                    .into()
            }
            Error::Serve(e) if e.0.contains("in use") => {
                "another process holds that address: pick another with --addr \
                 (127.0.0.1:0 = any free port)"
                    .into()
            }
            _ => return None,
        })
    }

    /// Whether the error is a closed output pipe (`keel score ... | head`): the reader has all
    /// it wants, so the tool stops quietly instead of reporting a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io(e) if e.is_broken_pipe())
    }
}
