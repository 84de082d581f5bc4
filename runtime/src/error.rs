//! The runtime's error type. Load-time errors name the node and op; score-time errors name the
//! column (or the feature derived from it), the row and the value, because the person reading
//! the message usually holds the input, not the bundle.

use keel_bundle::BundleError;

/// Everything that can go wrong loading or scoring a bundle.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The bundle itself is unreadable or invalid.
    #[error("bundle: {0}")]
    Bundle(String),
    /// The graph names an op this runtime does not know.
    #[error(
        "node `{node}`: unknown op `{op}` (run `keel ops` to list the ops this runtime supports)"
    )]
    UnknownOp {
        /// The node.
        node: String,
        /// The op.
        op: String,
    },
    /// An op's attributes or bindings are invalid.
    #[error("node `{node}` ({op}): {message}")]
    Plan {
        /// The node.
        node: String,
        /// The op.
        op: String,
        /// What is wrong.
        message: String,
    },
    /// The input frame lacks a column the bundle needs.
    #[error("input column `{column}` is missing")]
    MissingColumn {
        /// The column.
        column: String,
    },
    /// The input frame has a column the bundle does not know (rejected unless the scorer is
    /// configured to ignore extra columns).
    #[error("input column `{column}` is not part of the bundle's input schema")]
    ExtraColumn {
        /// The column.
        column: String,
    },
    /// A column has the wrong type.
    #[error("input column `{column}`: expected {expected}, found {found}")]
    ColumnType {
        /// The column.
        column: String,
        /// The type the schema declares.
        expected: String,
        /// The type supplied.
        found: String,
    },
    /// A null (or NaN) where the stage cannot take one.
    #[error("row {row}, column `{column}`: missing value, but {node} cannot take missing values")]
    Missing {
        /// The column or feature.
        column: String,
        /// Row index within the batch.
        row: usize,
        /// The node that refused it.
        node: String,
    },
    /// An infinite (or otherwise unusable) number.
    #[error(
        "row {row}, column `{column}`: value {value} is not finite, {node} needs finite numbers"
    )]
    NonFinite {
        /// The column or feature.
        column: String,
        /// Row index.
        row: usize,
        /// The value as text.
        value: String,
        /// The node that refused it.
        node: String,
    },
    /// A category the encoder never saw, with `handle_unknown='error'`.
    #[error(
        "row {row}, column `{column}`: unknown category {value:?} ({node} refuses categories it did not see in training)"
    )]
    UnknownCategory {
        /// The column.
        column: String,
        /// Row index.
        row: usize,
        /// The category.
        value: String,
        /// The node.
        node: String,
    },
    /// Any other bad value.
    #[error("row {row}, column `{column}`: {message}")]
    BadValue {
        /// The column.
        column: String,
        /// Row index.
        row: usize,
        /// What is wrong.
        message: String,
    },
    /// A frame with no rows.
    #[error("the input frame has no rows")]
    EmptyFrame,
    /// The input's columns disagree on the number of rows.
    #[error("input column `{column}` has {found} rows, expected {expected}")]
    RowCount {
        /// The column.
        column: String,
        /// Rows expected.
        expected: usize,
        /// Rows found.
        found: usize,
    },
}

impl From<BundleError> for Error {
    fn from(e: BundleError) -> Self {
        Error::Bundle(e.to_string())
    }
}

impl Error {
    /// Fills in the node name of a score-time error raised inside a kernel, which does not know
    /// its own node's name (kernels are shared, nodes are not).
    pub(crate) fn at_node(mut self, name: &str) -> Self {
        match &mut self {
            Error::Missing { node, .. }
            | Error::NonFinite { node, .. }
            | Error::UnknownCategory { node, .. }
                if node.is_empty() =>
            {
                *node = name.to_string();
            }
            _ => {}
        }
        self
    }

    /// Shifts the row number of a row-level error by `by` (a chunk's position in its batch).
    pub fn offset_rows(mut self, by: usize) -> Self {
        match &mut self {
            Error::Missing { row, .. }
            | Error::NonFinite { row, .. }
            | Error::UnknownCategory { row, .. }
            | Error::BadValue { row, .. } => *row += by,
            _ => {}
        }
        self
    }

    /// Whether the error is the caller's input (as opposed to the bundle or the runtime).
    pub fn is_input_error(&self) -> bool {
        !matches!(
            self,
            Error::Bundle(_) | Error::UnknownOp { .. } | Error::Plan { .. }
        )
    }
}
