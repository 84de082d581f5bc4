//! The error type of the tabular codecs. Every variant carries what a user needs to find the
//! problem without a debugger: the row and column of the input, or what was being read. Row numbers are global to the whole input (counted from 0,
//! the first data row; a CSV header is not a row), never relative to a batch.

use arrow_schema::ArrowError;
use std::io;

/// Why reading or writing a table failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the input stream failed (an I/O error, not a bad value).
    #[error("cannot read the input: {0}")]
    ReadInput(io::Error),
    /// Writing the output stream failed.
    #[error("cannot write the output: {0}")]
    WriteOutput(io::Error),
    /// Scoring refused the input; row numbers are already global.
    #[error("{0}")]
    Score(keel_runtime::Error),
    /// A value of the input could not be read as its column's declared type.
    #[error("row {row}, column `{column}`: {message}")]
    Value {
        /// Global row index (0 = first data row).
        row: u64,
        /// The column.
        column: String,
        /// What is wrong, quoting the value.
        message: String,
    },
    /// A row of the input is malformed as a whole (bad JSON, wrong number of CSV fields).
    #[error("row {row}: {message}")]
    Row {
        /// Global row index (0 = first data row).
        row: u64,
        /// What is wrong.
        message: String,
    },
    /// A column the bundle needs is not in the input.
    #[error("{message}")]
    MissingColumn {
        /// The column.
        column: String,
        /// The message, listing the columns the input has.
        message: String,
    },
    /// The input has a column the bundle does not declare (and extra columns are refused).
    #[error("{message}")]
    ExtraColumn {
        /// The column.
        column: String,
        /// The message, with how to ignore such columns.
        message: String,
    },
    /// The input's structure does not fit the bundle (the header is malformed, the input is
    /// empty).
    #[error("{0}")]
    Input(String),
    /// The command line asks for something impossible (an unknown extension, stdin without a
    /// format, an output that would overwrite the input).
    #[error("{0}")]
    Usage(String),
    /// The Arrow libraries refused to read or write something.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done.
        context: &'static str,
        /// The Arrow error.
        source: ArrowError,
    },
}

impl Error {
    /// Whether the error is a closed output pipe (`keel score ... | head`): the reader has all
    /// it wants, so the tool stops quietly instead of reporting a failure.
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            Error::WriteOutput(e) => Some(e),
            Error::Arrow {
                source: ArrowError::IoError(_, e),
                ..
            } => Some(e),
            _ => None,
        };
        io.is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Shifts the row of a score-time error by `offset`: the runtime numbers rows within the batch
/// it was given, while the user needs the row within the whole input.
pub fn offset_rows(mut e: keel_runtime::Error, offset: u64) -> keel_runtime::Error {
    use keel_runtime::Error as E;
    if let E::Missing { row, .. }
    | E::NonFinite { row, .. }
    | E::UnknownCategory { row, .. }
    | E::BadValue { row, .. } = &mut e
    {
        let shifted = u64::try_from(*row)
            .unwrap_or(u64::MAX)
            .saturating_add(offset);
        *row = usize::try_from(shifted).unwrap_or(usize::MAX);
    }
    e
}
