//! The importer's typed errors: each names the zip entry or MLeap node it is about, so a user
//! can find the part of the bundle that was refused.

use keel_bundle::BundleError;
use keel_bundle::archive::ArchiveError;

/// Why an MLeap bundle could not be converted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The bytes are not a zip archive the reader can open.
    #[error("not a readable MLeap bundle zip: {0}")]
    Zip(String),
    /// An entry name that could escape the bundle or is ambiguous.
    #[error("entry `{entry}`: unsafe path ({reason})")]
    UnsafePath {
        /// The entry's name.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The zip itself was refused by keel's archive reader (two entries of one name, a
    /// compression method other than stored or deflate, headers that disagree, data that does
    /// not inflate); the message names the entry.
    #[error("{0}")]
    Archive(ArchiveError),
    /// A resource bound was exceeded (entries, bytes, compression ratio, nesting).
    #[error("entry `{entry}`: {message}")]
    Limit {
        /// The entry (or node) concerned.
        entry: String,
        /// Which bound, with the numbers.
        message: String,
    },
    /// A file the layout requires is absent.
    #[error("`{entry}` is missing from the bundle")]
    Missing {
        /// The expected entry.
        entry: String,
    },
    /// A JSON document that does not parse.
    #[error("`{entry}`: invalid JSON: {message}")]
    Json {
        /// The entry.
        entry: String,
        /// The parser's message.
        message: String,
    },
    /// A document that parses but does not have the shape MLeap writes.
    #[error("`{entry}`: {message}")]
    Malformed {
        /// The entry or node.
        entry: String,
        /// What is wrong.
        message: String,
    },
    /// An MLeap op this importer does not convert.
    #[error("node `{node}`: MLeap op `{op}` is not supported (supported: {supported})")]
    UnsupportedOp {
        /// The node's path in the bundle.
        node: String,
        /// The op name from its `model.json`.
        op: String,
        /// The ops that are supported.
        supported: String,
    },
    /// A supported op with a parameter value keel cannot reproduce exactly.
    #[error("node `{node}`: {message}")]
    Unsupported {
        /// The node's path in the bundle.
        node: String,
        /// What is not supported.
        message: String,
    },
    /// The converted bundle failed keel's own validation (an importer bug or an inconsistent
    /// MLeap bundle, e.g. a column written twice).
    #[error("the converted bundle is invalid: {0}")]
    Bundle(#[from] BundleError),
}

impl From<ArchiveError> for ImportError {
    /// Unreadable archives, unsafe names, limits and missing entries keep the variants that
    /// also serve the importer's own checks (pipeline node names, nesting depth, documents the
    /// layout requires); the rest stay the archive reader's errors.
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::Zip(message) => ImportError::Zip(message),
            ArchiveError::UnsafePath { entry, reason } => ImportError::UnsafePath { entry, reason },
            ArchiveError::Limit {
                entry,
                what,
                actual,
                limit,
            } => ImportError::Limit {
                entry,
                message: format!("{what} is {actual}, over the limit of {limit}"),
            },
            ArchiveError::Missing { entry } => ImportError::Missing { entry },
            other => ImportError::Archive(other),
        }
    }
}

impl ImportError {
    pub(crate) fn malformed(entry: impl Into<String>, message: impl Into<String>) -> Self {
        ImportError::Malformed {
            entry: entry.into(),
            message: message.into(),
        }
    }

    pub(crate) fn unsupported(node: impl Into<String>, message: impl Into<String>) -> Self {
        ImportError::Unsupported {
            node: node.into(),
            message: message.into(),
        }
    }
}
