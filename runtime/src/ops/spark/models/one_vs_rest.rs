//! `spark.one_vs_rest`: the combining step of Spark ML's `OneVsRestModel`.
//!
//! The `k` binary classifiers are ops of their own earlier in the graph, each writing its
//! `rawPrediction` (a width-2 vector); this op reads them in class order and writes what
//! PySpark's `OneVsRestModel.transform` writes.
//!
//! Ports: `X` (the `k` raw-prediction vectors, each of width 2) -> `raw_prediction` (the `k`
//! values `rawPrediction[1]`, a vector) and/or `prediction` (f64).
//!
//! `prediction` is PySpark's `array_argmax` over those values (Spark 4's Python
//! `OneVsRestModel._transform`): the first index whose value is not `NaN` and strictly
//! greater than the running maximum, which starts at `-inf` with index `-1`; so `NaN` values
//! are skipped and a row of only `NaN`/`-inf` predicts `-1.0`. (The Scala model's
//! `Vector.argmax` differs only on such rows.)

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{ColType, Matrix, Value, gather};
use arrow_array::Float64Array;
use keel_bundle::DType;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Out {
    Prediction,
    Raw,
}

#[derive(Debug)]
struct OneVsRest {
    k: usize,
    outs: Vec<Out>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let cols = ctx.input("X")?;
    for (col, info) in cols {
        if info.ty != ColType::Vector(2) {
            return Err(ctx.err(format!(
                "column `{col}` must be a binary classifier's rawPrediction (a vector of 2), is {:?}",
                info.ty
            )));
        }
    }
    let k = cols.len();
    if k < 2 {
        return Err(ctx.err("one-vs-rest needs 2 classifiers or more"));
    }
    let mut outputs = Vec::new();
    let mut outs = Vec::new();
    for b in &ctx.node.outputs {
        let (o, info) = match b.port.as_str() {
            "prediction" => (Out::Prediction, ctx.scalar_out("prediction", DType::F64)?),
            "raw_prediction" => (
                Out::Raw,
                ctx.vector_out("raw_prediction", (0..k).map(|i| i.to_string()).collect())?,
            ),
            p => return Err(ctx.err(format!("this model has no output port `{p}`"))),
        };
        if outs.contains(&o) {
            return Err(ctx.err(format!("output port `{}` is bound twice", b.port)));
        }
        outs.push(o);
        outputs.push(info);
    }
    if outs.is_empty() {
        return Err(ctx.err("no output port is bound"));
    }
    Ok(Built {
        kernel: Box::new(OneVsRest { k, outs }),
        outputs,
    })
}

/// PySpark's `array_argmax`: skips `NaN`, `-1` when nothing beats `-inf`.
fn array_argmax(v: &[f64]) -> f64 {
    let mut best = f64::NEG_INFINITY;
    let mut at = -1.0;
    for (i, &x) in v.iter().enumerate() {
        if !x.is_nan() && x > best {
            best = x;
            at = i as f64;
        }
    }
    at
}

impl Kernel for OneVsRest {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        if x.cols != 2 * self.k {
            return Err(Error::Plan {
                node: String::new(),
                op: "spark.one_vs_rest".into(),
                message: format!("received {} values, expected {}", x.cols, 2 * self.k),
            });
        }
        let mut raw = Matrix::zeros(rows, self.k);
        for (r, xr) in raw
            .data
            .chunks_exact_mut(self.k)
            .zip(x.data.chunks_exact(2 * self.k))
        {
            for (v, pair) in r.iter_mut().zip(xr.chunks_exact(2)) {
                *v = pair[1];
            }
        }
        let prediction: Float64Array = (0..rows).map(|i| array_argmax(raw.row(i))).collect();
        let (mut prediction, mut raw) = (Some(prediction), Some(raw));
        let mut out = Vec::with_capacity(self.outs.len());
        for o in &self.outs {
            // `build` refused a port bound twice, so each value is taken once.
            let v = match o {
                Out::Prediction => prediction.take().map(|p| Value::Array(Arc::new(p))),
                Out::Raw => raw.take().map(Value::Matrix),
            };
            out.push(v.ok_or_else(|| Error::Plan {
                node: String::new(),
                op: "spark.one_vs_rest".into(),
                message: format!("output {o:?} is not available"),
            })?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_skips_nan_and_starts_below_everything() {
        assert_eq!(array_argmax(&[f64::NAN, 1.0, 3.0, 3.0]), 2.0);
        assert_eq!(array_argmax(&[f64::NAN, f64::NEG_INFINITY]), -1.0);
        assert_eq!(array_argmax(&[-5.0, -7.0]), 0.0);
    }
}
