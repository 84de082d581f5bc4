//! `spark.mlp`: Spark ML's `MultilayerPerceptronClassificationModel`.
//!
//! Ports: `X` (a vector) -> `prediction`, `probability`, `raw_prediction` (see
//! `spark/common.rs`). Attributes: `layers` (i64s: the layer sizes, input first, classes
//! last), `weights` (f64s: Spark's flat weight vector), `thresholds` (optional).
//!
//! Spark's layout and arithmetic (`FeedForwardTopology.multiLayerPerceptron` with softmax on
//! top): for each pair of consecutive sizes `(i, o)` the weight vector holds an `o x i`
//! matrix in column-major order (`w[r + c * o]`) followed by `o` biases. Each affine layer
//! computes `y_r = b_r + sum_c w[r, c] x_c`, accumulated from the bias in input order as the
//! Java BLAS `dgemm` does (`beta = 1` on the bias-filled output). Hidden layers apply the
//! sigmoid `1 / (1 + exp(-y))`; `rawPrediction` is the last affine layer's output (no
//! activation), and `probability` is Spark's softmax of it: the maximum starts at
//! `-f64::MAX` and grows on `>`, then `exp(y - max) / sum` (a division).
//! `prediction` is the argmax of `rawPrediction`, or of `probability / thresholds`.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::spark::common::{Out, classifier_values, predictor_outputs, thresholds};
use crate::value::{Matrix, Value, gather};

#[derive(Debug)]
struct Layer {
    n_in: usize,
    n_out: usize,
    /// Row-major `[n_out, n_in]` (transposed from Spark's column-major at load).
    w: Vec<f64>,
    b: Vec<f64>,
}

#[derive(Debug)]
struct Mlp {
    layers: Vec<Layer>,
    k: usize,
    thresholds: Option<Vec<f64>>,
    outs: Vec<Out>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let sizes = ctx.i64s("layers")?;
    if sizes.len() < 2 {
        return Err(ctx.err("`layers` needs an input and an output size"));
    }
    let sizes: Vec<usize> = sizes
        .iter()
        .map(|&s| usize::try_from(s).ok().filter(|s| *s > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| ctx.err("`layers` must hold positive sizes"))?;
    let (first, k) = match (sizes.first(), sizes.last()) {
        (Some(&f), Some(&l)) => (f, l),
        _ => return Err(ctx.err("`layers` is empty")),
    };
    if first != names.len() {
        return Err(ctx.err(format!(
            "the first layer has {first} inputs, port `X` stacks {}",
            names.len()
        )));
    }
    if k < 2 {
        return Err(ctx.err("the output layer needs 2 classes or more"));
    }
    let weights = ctx.f64s("weights")?;
    let mut need = 0usize;
    for p in sizes.windows(2) {
        need = p[0]
            .checked_mul(p[1])
            .and_then(|m| m.checked_add(p[1]))
            .and_then(|m| m.checked_add(need))
            .ok_or_else(|| ctx.err("`layers` sizes overflow"))?;
    }
    if weights.len() != need {
        return Err(ctx.err(format!(
            "`weights` has {} values, the layers need {need}",
            weights.len()
        )));
    }
    let mut layers = Vec::with_capacity(sizes.len() - 1);
    let mut off = 0;
    for p in sizes.windows(2) {
        let (n_in, n_out) = (p[0], p[1]);
        let block = &weights[off..off + n_in * n_out];
        let mut w = vec![0.0; n_in * n_out];
        for r in 0..n_out {
            for c in 0..n_in {
                w[r * n_in + c] = block[r + c * n_out];
            }
        }
        off += n_in * n_out;
        let b = weights[off..off + n_out].to_vec();
        off += n_out;
        layers.push(Layer { n_in, n_out, w, b });
    }
    let thresholds = thresholds(ctx, k)?;
    let (outputs, outs) = predictor_outputs(ctx, Some(k), true)?;
    Ok(Built {
        kernel: Box::new(Mlp {
            layers,
            k,
            thresholds,
            outs,
        }),
        outputs,
    })
}

/// Spark's `SoftmaxLayerModelWithCrossEntropyLoss.eval`, in place.
fn softmax(v: &mut [f64]) {
    let mut max = f64::MIN;
    for &x in v.iter() {
        if x > max {
            max = x;
        }
    }
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    v.iter_mut().for_each(|x| *x /= sum);
}

impl Kernel for Mlp {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        let n = self.layers.first().map_or(0, |l| l.n_in);
        if x.cols != n {
            return Err(Error::Plan {
                node: String::new(),
                op: "spark.mlp".into(),
                message: format!("received {} features, expected {n}", x.cols),
            });
        }
        let mut raw = Matrix::zeros(rows, self.k);
        let last = self.layers.len() - 1;
        let mut cur: Vec<f64> = Vec::new();
        let mut next: Vec<f64> = Vec::new();
        for (xr, out) in x
            .data
            .chunks_exact(n)
            .zip(raw.data.chunks_exact_mut(self.k))
        {
            cur.clear();
            cur.extend_from_slice(xr);
            for (li, l) in self.layers.iter().enumerate() {
                next.clear();
                for (w, b) in l.w.chunks_exact(l.n_in).zip(&l.b) {
                    let mut acc = *b;
                    for (c, xv) in w.iter().zip(&cur) {
                        acc += xv * c;
                    }
                    next.push(if li == last {
                        acc
                    } else {
                        1.0 / (1.0 + (-acc).exp())
                    });
                }
                std::mem::swap(&mut cur, &mut next);
                debug_assert_eq!(cur.len(), l.n_out);
            }
            out.copy_from_slice(&cur);
        }
        let mut prob = raw.clone();
        for r in prob.data.chunks_exact_mut(self.k) {
            softmax(r);
        }
        classifier_values(
            raw,
            prob,
            self.thresholds.as_deref(),
            &self.outs,
            "spark.mlp",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_divides_by_the_sum() {
        let mut v = [1.0, 3.0];
        softmax(&mut v);
        let e = (-2.0f64).exp();
        assert_eq!(v, [e / (e + 1.0), 1.0 / (e + 1.0)]);
    }
}
