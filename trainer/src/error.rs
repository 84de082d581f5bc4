//! The training core's error type: a network spec, a batch, a label or an optimizer setting
//! that cannot be used. Messages name the field, column, row or parameter involved, because the
//! person reading them holds the data and the config, not the code.

/// Everything that can go wrong building a network, running it over a batch or stepping an
/// optimizer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The network's spec cannot be built (a zero width, outputs that do not fit the task, a
    /// dropout outside `[0, 1)`).
    #[error("network spec: `{field}` {reason}")]
    Spec {
        /// The [`NetSpec`](crate::net::NetSpec) field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A parameter or gradient vector has the wrong length for the network.
    #[error("{what}: expected {expected} values for this network, got {got}")]
    ParamCount {
        /// Which vector (`parameters`, `gradients`, an optimizer buffer).
        what: &'static str,
        /// The network's parameter count.
        expected: usize,
        /// The vector's length.
        got: usize,
    },
    /// A batch's blocks do not have the network's widths, or their lengths disagree with its
    /// row count.
    #[error("batch: {what} has {got} values, the network needs {expected}")]
    BatchShape {
        /// Which block or width.
        what: &'static str,
        /// What the network (or the row count) needs.
        expected: usize,
        /// What the batch holds.
        got: usize,
    },
    /// A category index lies outside its embedding table.
    #[error(
        "categorical column {column}, row {row}: category index {index} is outside the embedding table's 0..{cardinality}"
    )]
    CategoryOutOfRange {
        /// The categorical column (0-based, in the batch's order).
        column: usize,
        /// The row: the global row id (`first_row` plus the place in the batch) in training,
        /// the place in the batch otherwise.
        row: u64,
        /// The index found.
        index: i64,
        /// The table's rows.
        cardinality: usize,
    },
    /// A label the loss cannot take (a class index out of range, a non-finite target, a
    /// negative count under the Poisson loss).
    #[error("row {row}: label {label} is invalid for the {loss} loss: {reason}")]
    Label {
        /// The row, numbered as in [`Error::CategoryOutOfRange`].
        row: u64,
        /// The label found.
        label: f32,
        /// The loss's name.
        loss: &'static str,
        /// What the loss needs.
        reason: String,
    },
    /// The loss does not fit the network's task or output count.
    #[error("the {loss} loss does not fit a {task} network with {outputs} outputs: {reason}")]
    LossTask {
        /// The loss's name.
        loss: &'static str,
        /// The task's name.
        task: &'static str,
        /// The network's outputs.
        outputs: usize,
        /// What the loss needs.
        reason: &'static str,
    },
    /// An optimizer or schedule setting is out of its range.
    #[error("{what}: `{field}` {reason}")]
    Config {
        /// Which config (`sgd`, `adam`, `schedule`...).
        what: &'static str,
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A gradient holds a NaN or an infinity; the optimizer left every parameter unchanged.
    /// [`Net::param_at`](crate::net::Net::param_at) names the parameter at `index`.
    #[error("non-finite gradient ({value}) at flat parameter index {index}")]
    NonFiniteGradient {
        /// The first non-finite element's index in the flat parameter vector.
        index: usize,
        /// Its value.
        value: f32,
    },
    /// A saved optimizer state does not fit this optimizer (another algorithm, another
    /// parameter count).
    #[error("optimizer state: {0}")]
    State(String),
}
