//! Class labels and the standard outputs of a classifier.
//!
//! Every classifier op writes the same ports so a user sees the same shape of answer whatever
//! the model: `label` (the predicted class, typed like the training labels), and optionally
//! `probability` (a vector, one element per class, in the order of `classes`) and `decision`
//! (the raw decision values). Attribute `classes` holds the labels: `strs` for string labels,
//! `i64s` for integer labels, `f64s` for float labels; `classes_dtype = "bool"` with `i64s`
//! `[0, 1]` marks boolean labels.

use crate::error::Error;
use crate::op::BuildCtx;
use crate::value::{ColInfo, Matrix};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray};
use keel_bundle::{Attr, DType};
use std::sync::Arc;

/// A classifier's labels, in the order of its probability columns.
#[derive(Debug, Clone, PartialEq)]
pub enum Classes {
    /// String labels.
    Str(Vec<String>),
    /// Integer labels.
    I64(Vec<i64>),
    /// Float labels.
    F64(Vec<f64>),
    /// Boolean labels (`[false, true]`).
    Bool(Vec<bool>),
}

impl Classes {
    /// Reads attribute `classes` (and `classes_dtype`).
    pub fn from_ctx(ctx: &BuildCtx<'_>) -> Result<Classes, Error> {
        let bool_dtype = matches!(ctx.opt_attr("classes_dtype"), Some(Attr::Str(s)) if s == "bool");
        let c = match ctx.attr("classes")? {
            Attr::Strs(v) => Classes::Str(v.clone()),
            Attr::I64s(v) if bool_dtype => Classes::Bool(v.iter().map(|&x| x != 0).collect()),
            Attr::I64s(v) => Classes::I64(v.clone()),
            Attr::F64s(v) => Classes::F64(v.clone()),
            other => {
                return Err(ctx.err(format!(
                    "attribute `classes` should be strs, i64s or f64s, found {}",
                    other.kind()
                )));
            }
        };
        if c.is_empty() {
            return Err(ctx.err("attribute `classes` is empty"));
        }
        Ok(c)
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        match self {
            Classes::Str(v) => v.len(),
            Classes::I64(v) => v.len(),
            Classes::F64(v) => v.len(),
            Classes::Bool(v) => v.len(),
        }
    }

    /// Whether there are no classes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The label column's dtype.
    pub fn dtype(&self) -> DType {
        match self {
            Classes::Str(_) => DType::Utf8,
            Classes::I64(_) => DType::I64,
            Classes::F64(_) => DType::F64,
            Classes::Bool(_) => DType::Bool,
        }
    }

    /// Names of the classes, for the `names` of a probability vector.
    pub fn names(&self) -> Vec<String> {
        match self {
            Classes::Str(v) => v.clone(),
            Classes::I64(v) => v.iter().map(|x| x.to_string()).collect(),
            Classes::F64(v) => v.iter().map(|x| x.to_string()).collect(),
            Classes::Bool(v) => v.iter().map(|x| x.to_string()).collect(),
        }
    }

    /// The label column for class indices (each `< len()`).
    pub fn labels(&self, idx: &[usize]) -> ArrayRef {
        match self {
            Classes::Str(v) => Arc::new(StringArray::from_iter_values(
                idx.iter().map(|&i| v[i].as_str()),
            )),
            Classes::I64(v) => Arc::new(Int64Array::from_iter_values(idx.iter().map(|&i| v[i]))),
            Classes::F64(v) => Arc::new(Float64Array::from_iter_values(idx.iter().map(|&i| v[i]))),
            Classes::Bool(v) => Arc::new(BooleanArray::from_iter(idx.iter().map(|&i| Some(v[i])))),
        }
    }

    /// Output infos for the bound classifier ports, in the order `label`, `probability`,
    /// `decision` (each only if bound). `decision_width` is the width of the decision values.
    pub fn outputs(
        &self,
        ctx: &BuildCtx<'_>,
        decision_width: usize,
    ) -> Result<(Vec<ColInfo>, Ports), Error> {
        let mut infos = Vec::new();
        let ports = Ports {
            label: ctx.has_output("label"),
            probability: ctx.has_output("probability"),
            decision: ctx.has_output("decision"),
        };
        let expected: Vec<&str> = ctx.node.outputs.iter().map(|b| b.port.as_str()).collect();
        let order: Vec<&str> = ["label", "probability", "decision"]
            .into_iter()
            .filter(|p| expected.contains(p))
            .collect();
        if expected != order {
            return Err(ctx.err(format!(
                "classifier outputs must be bound in the order label, probability, decision; found {expected:?}"
            )));
        }
        if ports.label {
            infos.push(ctx.scalar_out("label", self.dtype())?);
        }
        if ports.probability {
            infos.push(ctx.vector_out("probability", self.names())?);
        }
        if ports.decision {
            let names = if decision_width == self.len() {
                self.names()
            } else {
                (0..decision_width)
                    .map(|i| format!("decision[{i}]"))
                    .collect()
            };
            infos.push(ctx.vector_out("decision", names)?);
        }
        Ok((infos, ports))
    }
}

/// Which classifier ports are bound.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// `label`.
    pub label: bool,
    /// `probability`.
    pub probability: bool,
    /// `decision`.
    pub decision: bool,
}

/// Index of the largest value in each row, first on ties (numpy's `argmax`); a row holding
/// NaN yields the index of the first NaN, as numpy does.
pub fn argmax_rows(m: &Matrix) -> Vec<usize> {
    (0..m.rows)
        .map(|i| {
            let r = m.row(i);
            let mut best = 0;
            for (j, &v) in r.iter().enumerate() {
                if v.is_nan() {
                    return j;
                }
                if v > r[best] {
                    best = j;
                }
            }
            best
        })
        .collect()
}

/// The logistic function as scipy's `expit` computes it.
#[inline]
pub fn expit(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Row-wise softmax in place, as scikit-learn's `softmax` (subtract the row max, exponentiate,
/// divide by the sum).
pub fn softmax_rows(m: &mut Matrix) {
    for i in 0..m.rows {
        let r = m.row_mut(i);
        let max = r.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut sum = 0.0;
        for v in r.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        for v in r.iter_mut() {
            *v /= sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_first_of_ties() {
        let m = Matrix::from_vec(2, 3, vec![1.0, 3.0, 3.0, 2.0, 1.0, 2.0]);
        assert_eq!(argmax_rows(&m), vec![1, 0]);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut m = Matrix::from_vec(1, 3, vec![1000.0, 1001.0, 1002.0]);
        softmax_rows(&mut m);
        let s: f64 = m.data.iter().sum();
        assert!((s - 1.0).abs() < 1e-15);
        assert!(m.data[2] > m.data[1]);
    }
}
