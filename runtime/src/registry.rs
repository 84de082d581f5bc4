//! The one table of ops. Adding an op means adding one file under `ops/` and one line here
//! (and a row in `docs/ops.md`).

use crate::op::BuildFn;
use crate::ops;

/// Every op the CPU reference implements, by name.
pub static OPS: &[(&str, BuildFn)] = &[
    ("concat", ops::concat::build),
    ("sklearn.standard_scaler", ops::standard_scaler::build),
    ("sklearn.linear", ops::linear::build),
    ("sklearn.mlp", ops::mlp::build),
    ("sklearn.kmeans", ops::kmeans::build),
    ("sklearn.tree_ensemble", ops::tree_ensemble::build),
    (
        "sklearn.hist_gradient_boosting",
        ops::hist_gradient_boosting::build,
    ),
];

/// The build function of `op`, if known.
pub fn lookup(op: &str) -> Option<BuildFn> {
    OPS.iter().find(|(name, _)| *name == op).map(|(_, f)| *f)
}

/// The names of all known ops, sorted.
pub fn names() -> Vec<&'static str> {
    let mut v: Vec<_> = OPS.iter().map(|(n, _)| *n).collect();
    v.sort_unstable();
    v
}
