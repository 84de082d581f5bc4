//! The one error type of the bundle crate. Every variant names the entry (and, where it applies,
//! the tensor key) so that a user can find what is wrong in the file.

use crate::archive::ArchiveError;

/// Why a bundle could not be read, validated or written. Comparable and cloneable so that the
/// runtime's error, which carries it, can be too.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bytes are not a readable zip archive (truncated, corrupted, not a zip at all).
    #[error("not a readable zip archive: {0}")]
    Zip(String),
    /// An entry path that could escape an extraction folder or is otherwise unsafe.
    #[error("entry `{entry}`: unsafe path: {reason}")]
    UnsafePath {
        /// The entry name as stored in the archive.
        entry: String,
        /// What makes it unsafe.
        reason: &'static str,
    },
    /// A configured [`crate::Limits`] value was exceeded.
    #[error("entry `{entry}`: {what} is {actual}, over the limit of {limit}")]
    Limit {
        /// The entry being read (or `<archive>` for whole-archive limits).
        entry: String,
        /// Which limit.
        what: &'static str,
        /// The value found (at least; reading stops at the limit).
        actual: u64,
        /// The configured limit.
        limit: u64,
    },
    /// An entry's content does not hash to the value recorded in the manifest (tampering or
    /// corruption).
    #[error(
        "entry `{entry}`: sha256 mismatch: manifest says {expected}, content hashes to {actual}"
    )]
    HashMismatch {
        /// The entry.
        entry: String,
        /// The digest from the manifest.
        expected: String,
        /// The digest of the bytes read.
        actual: String,
    },
    /// An entry's uncompressed size differs from the manifest.
    #[error("entry `{entry}`: size mismatch: manifest says {expected} bytes, content has {actual}")]
    SizeMismatch {
        /// The entry.
        entry: String,
        /// Size from the manifest.
        expected: u64,
        /// Size read.
        actual: u64,
    },
    /// The archive holds an entry that the manifest does not list.
    #[error("entry `{entry}` is not listed in the manifest")]
    Unlisted {
        /// The entry.
        entry: String,
    },
    /// The manifest lists an entry that the archive lacks.
    #[error("entry `{entry}` is listed in the manifest but missing from the archive")]
    MissingEntry {
        /// The entry.
        entry: String,
    },
    /// Two entries share one name.
    #[error("entry `{entry}` appears more than once")]
    Duplicate {
        /// The entry.
        entry: String,
    },
    /// A compression method other than stored or deflate.
    #[error("entry `{entry}`: unsupported compression method {method}")]
    Compression {
        /// The entry.
        entry: String,
        /// The method as the zip library names it.
        method: String,
    },
    /// A document could not be decoded, or decodes to something the spec does not allow.
    #[error("entry `{entry}`: {message}")]
    Malformed {
        /// The entry.
        entry: String,
        /// What is wrong.
        message: String,
    },
    /// The bundle was written by a newer major version of the format.
    #[error(
        "bundle format version {found} is newer than this reader supports ({supported}); upgrade keel to read it"
    )]
    UnsupportedVersion {
        /// The version in the manifest.
        found: String,
        /// The newest version this reader knows.
        supported: &'static str,
    },
    /// A tensor is malformed, missing, or of the wrong type.
    #[error("entry `{entry}`: tensor `{key}`: {message}")]
    Tensor {
        /// The safetensors entry.
        entry: String,
        /// The tensor key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// The graph breaks a rule of the spec (duplicate node names, columns written twice...).
    #[error("invalid graph: node `{node}`: {message}")]
    Graph {
        /// The node.
        node: String,
        /// What is wrong.
        message: String,
    },
    /// Writing the archive failed.
    #[error("cannot write bundle: {0}")]
    Write(String),
}

impl From<ArchiveError> for BundleError {
    /// The archive reader's refusals keep the variants the bundle reader has always reported,
    /// so a caller matching on `BundleError` sees no difference.
    fn from(e: ArchiveError) -> Self {
        match e {
            ArchiveError::Zip(message) => Self::Zip(message),
            ArchiveError::Entry { entry, message } => {
                Self::Zip(format!("entry `{entry}`: {message}"))
            }
            ArchiveError::UnsafePath { entry, reason } => Self::UnsafePath { entry, reason },
            ArchiveError::Duplicate { entry } => Self::Duplicate { entry },
            ArchiveError::Compression { entry, method } => Self::Compression { entry, method },
            ArchiveError::Limit {
                entry,
                what,
                actual,
                limit,
            } => Self::Limit {
                entry,
                what,
                actual,
                limit,
            },
            ArchiveError::Inflate { entry, message } => {
                Self::malformed(&entry, format!("cannot inflate: {message}"))
            }
            ArchiveError::Missing { entry } => Self::MissingEntry { entry },
        }
    }
}

impl BundleError {
    pub(crate) fn malformed(entry: &str, message: impl Into<String>) -> Self {
        Self::Malformed {
            entry: entry.to_string(),
            message: message.into(),
        }
    }
}
