//! The error type of the tabular codecs. Every variant carries what a user needs to find the
//! problem without a debugger: the row and column of the input, or what was being read. Row
//! numbers are global to the whole input (counted from 0, the first data row; a CSV header is
//! not a row), never relative to a batch.
//!
//! The JSON document variants ([`Error::MalformedJson`] to [`Error::OutputColumnExists`]) speak
//! of "the body", since a document reaches a front end as the body of a request; the REST
//! server answers with these messages as they are, mapping each variant to its status and
//! error code in one place.

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
    /// A JSON document (a `{"rows": ...}` / `{"columns": ...}` request) is not valid JSON, or
    /// not of the document's shape (an unknown key, `rows` that is not an array).
    #[error("the body is not valid JSON: {source}")]
    MalformedJson {
        /// What the JSON parser refused.
        source: serde_json::Error,
    },
    /// A JSON document has neither `rows` nor `columns`, or both.
    #[error(
        "expected a JSON object with either \"rows\" (an array of objects) or \"columns\" \
         (an object of arrays)"
    )]
    NotRowsOrColumns,
    /// The columns of a `{"columns": ...}` document have different numbers of values.
    #[error("column `{column}` has {found} values but column `{first}` has {expected}")]
    ColumnLengths {
        /// The column whose length differs from the first one's.
        column: String,
        /// Its number of values.
        found: usize,
        /// The first column read (in the bundle's input order), which sets the row count.
        first: String,
        /// The first column's number of values.
        expected: usize,
    },
    /// A LeapFrame is not valid JSON or not of a LeapFrame's shape.
    #[error(
        "the body is not a LeapFrame ({{\"schema\": {{\"fields\": [...]}}, \"rows\": \
         [[...], ...]}}): {source}"
    )]
    MalformedFrame {
        /// What the JSON parser refused.
        source: serde_json::Error,
    },
    /// A LeapFrame's schema names a column twice.
    #[error("the frame's schema names column `{column}` twice")]
    DuplicateFrameColumn {
        /// The column.
        column: String,
    },
    /// A LeapFrame row has a different number of values than the frame's schema has fields.
    #[error("row {row} has {found} values but the schema has {expected} fields")]
    FrameRowWidth {
        /// The row (0 = the frame's first row).
        row: u64,
        /// Its number of values.
        found: usize,
        /// The number of fields of the frame's schema.
        expected: usize,
    },
    /// A LeapFrame already has a column that the model writes: the answer appends the outputs
    /// to the frame, and MLeap refuses to overwrite a column too.
    #[error(
        "the frame already has a column `{column}`, which the model writes (MLeap does not \
         overwrite columns either)"
    )]
    OutputColumnExists {
        /// The column.
        column: String,
    },
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
    /// A stable, machine-readable code for the kind of error (snake_case): the one mapping every
    /// front end shares (the REST server's `code`, the browser build's exception `code`, the
    /// WASI module's error line). A scoring error keeps the runtime's own code.
    pub fn code(&self) -> &'static str {
        match self {
            Error::ReadInput(_) => "malformed_body",
            Error::WriteOutput(_) => "write_output",
            Error::Score(e) => e.code(),
            Error::Value { .. } => "bad_value",
            Error::Row { .. } => "malformed_row",
            Error::MissingColumn { .. } => "missing_column",
            Error::ExtraColumn { .. } => "extra_column",
            Error::Input(_) => "bad_input",
            Error::Usage(_) => "usage",
            Error::MalformedJson { .. } => "malformed_json",
            Error::NotRowsOrColumns => "malformed_request",
            Error::ColumnLengths { .. } => "row_count",
            Error::MalformedFrame { .. }
            | Error::DuplicateFrameColumn { .. }
            | Error::FrameRowWidth { .. } => "malformed_frame",
            Error::OutputColumnExists { .. } => "column_exists",
            Error::Arrow { .. } => "malformed_arrow",
        }
    }

    /// The input column the error is about, if any.
    pub fn column(&self) -> Option<&str> {
        match self {
            Error::Score(e) => e.column(),
            Error::Value { column, .. }
            | Error::MissingColumn { column, .. }
            | Error::ExtraColumn { column, .. }
            | Error::ColumnLengths { column, .. }
            | Error::DuplicateFrameColumn { column }
            | Error::OutputColumnExists { column } => Some(column),
            _ => None,
        }
    }

    /// The row the error is about (from 0, within the whole input), if any.
    pub fn row(&self) -> Option<u64> {
        match self {
            Error::Score(e) => e.row().map(|r| u64::try_from(r).unwrap_or(u64::MAX)),
            Error::Value { row, .. }
            | Error::Row { row, .. }
            | Error::FrameRowWidth { row, .. } => Some(*row),
            _ => None,
        }
    }

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
