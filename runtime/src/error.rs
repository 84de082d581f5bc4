//! The runtime's error type. Load-time errors name the node and op; score-time errors name the
//! column (or the feature derived from it), the row and the value, because the person reading
//! the message usually holds the input, not the bundle.
//!
//! Every error has a stable [`Error::code`], the one key the front ends derive their own
//! answers from (the Python exception class, the REST status, the JVM exception's message), so
//! a new kind of error is one variant and one code here plus one row in each front end's table.

use keel_bundle::BundleError;

/// Everything that can go wrong loading or scoring a bundle.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// The bundle itself is unreadable or invalid, as its reader found it.
    #[error("bundle: {0}")]
    Bundle(#[from] BundleError),
    /// The bundle reads, but its declared interface does not fit its graph or this runtime (an
    /// output nothing writes, an output declared with another type than the graph's, an input
    /// type the runtime does not take).
    #[error("bundle: {0}")]
    Interface(String),
    /// The bytes are not a keel bundle, and reading them as another format keel takes (an
    /// MLeap Bundle.ML zip) failed or was impossible; the message says what was found and what
    /// keel reads.
    #[error("{0}")]
    Load(String),
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
    /// A tensor of the wrong shape: an input row that does not fit its column's declared shape,
    /// or tensors an op cannot combine (a matrix product of mismatched sizes).
    #[error("{}column `{column}`: expected shape {expected}, found {found}{}", row.map(|r| format!("row {r}, ")).unwrap_or_default(), if node.is_empty() { String::new() } else { format!(" (in {node})") })]
    TensorShape {
        /// The input column, or the node's input the op read.
        column: String,
        /// Row index when the error is about one row.
        row: Option<usize>,
        /// The shape expected.
        expected: String,
        /// The shape found.
        found: String,
        /// The node that refused it (empty for the input schema).
        node: String,
    },
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

impl Error {
    /// Every code [`Error::code`] returns, in the order of the variants: what a front end's
    /// table from code to its own answer is checked against, so a new kind of error cannot
    /// slip through one unmapped.
    pub const CODES: &'static [&'static str] = &[
        "bundle",
        "interface",
        "load",
        "unknown_op",
        "plan",
        "missing_column",
        "extra_column",
        "column_type",
        "missing_value",
        "non_finite",
        "unknown_category",
        "bad_value",
        "empty_frame",
        "tensor_shape",
        "row_count",
    ];

    /// A stable, machine-readable code for the kind of error (snake_case, one per variant):
    /// what front ends map to their own error types and statuses, and what callers match on
    /// rather than on messages.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Bundle(_) => "bundle",
            Error::Interface(_) => "interface",
            Error::Load(_) => "load",
            Error::UnknownOp { .. } => "unknown_op",
            Error::Plan { .. } => "plan",
            Error::MissingColumn { .. } => "missing_column",
            Error::ExtraColumn { .. } => "extra_column",
            Error::ColumnType { .. } => "column_type",
            Error::Missing { .. } => "missing_value",
            Error::NonFinite { .. } => "non_finite",
            Error::UnknownCategory { .. } => "unknown_category",
            Error::BadValue { .. } => "bad_value",
            Error::EmptyFrame => "empty_frame",
            Error::TensorShape { .. } => "tensor_shape",
            Error::RowCount { .. } => "row_count",
        }
    }

    /// The input column (or the feature derived from it) the error is about, if any.
    pub fn column(&self) -> Option<&str> {
        match self {
            Error::MissingColumn { column }
            | Error::ExtraColumn { column }
            | Error::ColumnType { column, .. }
            | Error::Missing { column, .. }
            | Error::NonFinite { column, .. }
            | Error::UnknownCategory { column, .. }
            | Error::BadValue { column, .. }
            | Error::TensorShape { column, .. }
            | Error::RowCount { column, .. } => Some(column),
            _ => None,
        }
    }

    /// The row (from 0, within the scored batch) the error is about, if any.
    pub fn row(&self) -> Option<usize> {
        match self {
            Error::Missing { row, .. }
            | Error::NonFinite { row, .. }
            | Error::UnknownCategory { row, .. }
            | Error::BadValue { row, .. } => Some(*row),
            Error::TensorShape { row, .. } => *row,
            _ => None,
        }
    }

    /// Fills in the node name of a score-time error raised inside a kernel, which does not know
    /// its own node's name (kernels are shared, nodes are not).
    pub(crate) fn at_node(mut self, name: &str) -> Self {
        match &mut self {
            Error::Missing { node, .. }
            | Error::NonFinite { node, .. }
            | Error::UnknownCategory { node, .. }
            | Error::TensorShape { node, .. }
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
            Error::TensorShape { row: Some(row), .. } => *row += by,
            _ => {}
        }
        self
    }

    /// Whether the error is the caller's input (as opposed to the bundle or the runtime).
    pub fn is_input_error(&self) -> bool {
        !matches!(
            self,
            Error::Bundle(_)
                | Error::Interface(_)
                | Error::Load(_)
                | Error::UnknownOp { .. }
                | Error::Plan { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One error of each kind.
    fn one_of_each() -> Vec<Error> {
        let s = String::new;
        vec![
            Error::Bundle(BundleError::Zip(s())),
            Error::Interface(s()),
            Error::Load(s()),
            Error::UnknownOp { node: s(), op: s() },
            Error::Plan {
                node: s(),
                op: s(),
                message: s(),
            },
            Error::MissingColumn { column: "c".into() },
            Error::ExtraColumn { column: "c".into() },
            Error::ColumnType {
                column: "c".into(),
                expected: s(),
                found: s(),
            },
            Error::Missing {
                column: "c".into(),
                row: 3,
                node: s(),
            },
            Error::NonFinite {
                column: "c".into(),
                row: 3,
                value: s(),
                node: s(),
            },
            Error::UnknownCategory {
                column: "c".into(),
                row: 3,
                value: s(),
                node: s(),
            },
            Error::BadValue {
                column: "c".into(),
                row: 3,
                message: s(),
            },
            Error::EmptyFrame,
            Error::TensorShape {
                column: "c".into(),
                row: Some(3),
                expected: s(),
                found: s(),
                node: s(),
            },
            Error::RowCount {
                column: "c".into(),
                expected: 1,
                found: 2,
            },
        ]
    }

    #[test]
    fn codes_are_distinct_snake_case_and_all_listed() {
        let codes: Vec<_> = one_of_each().iter().map(Error::code).collect();
        assert_eq!(codes, Error::CODES);
        let mut unique = codes.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), codes.len(), "{codes:?}");
        for c in codes {
            assert!(
                !c.is_empty() && c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'),
                "{c}"
            );
        }
    }

    #[test]
    fn row_errors_name_column_and_row_and_only_they_shift() {
        for e in one_of_each() {
            let shifted = e.clone().offset_rows(10);
            assert_eq!(shifted.row(), e.row().map(|r| r + 10), "{}", e.code());
            assert_eq!(e.row().is_some(), e.row() == Some(3), "{}", e.code());
            if e.row().is_some() {
                assert_eq!(e.column(), Some("c"));
            }
            // Every error about a column is the caller's input.
            if e.column().is_some() {
                assert!(e.is_input_error(), "{}", e.code());
            }
        }
    }

    #[test]
    fn a_bundle_error_keeps_its_type_and_message() {
        let inner = BundleError::Unlisted {
            entry: "x.bin".into(),
        };
        let e = Error::from(inner.clone());
        assert_eq!(e, Error::Bundle(inner));
        assert_eq!(
            e.to_string(),
            "bundle: entry `x.bin` is not listed in the manifest"
        );
        assert!(!e.is_input_error());
    }
}
