//! `sklearn.polynomial_features`: scikit-learn's `PolynomialFeatures.transform` on dense input.
//!
//! Ports: `X` (numeric, `n` features) -> `Y` (vector). Attributes: `min_degree`, `max_degree`
//! (i64: `degree=d` is `(0, d)`, `degree=(lo, hi)` is `(lo, hi)`), `interaction_only`,
//! `include_bias` (bool), and `n_output` (i64, the fitted `n_output_features_`, checked here).
//!
//! Output order is scikit-learn's `powers_`: bias, the degree-1 terms, then for each degree
//! the products grouped by their first feature. Every term is computed as scikit-learn's dense
//! path does, `XP[:, start:end] * X[:, j]` (a term of degree d-1 times one feature), so each
//! product is rounded at the same steps and results match to the bit. Like scikit-learn, the
//! full expansion from degree 0 is computed and the terms below `min_degree` are cut afterwards.
//! NaN and infinities are refused (`check_array` defaults), naming the feature and row.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Matrix, Value, check_finite, gather};

/// `XP[dst..dst + (end - start)] = XP[start..end] * x[feature]`.
#[derive(Debug, Clone, Copy)]
struct Block {
    dst: usize,
    start: usize,
    end: usize,
    feature: usize,
}

#[derive(Debug)]
struct Poly {
    n: usize,
    bias: bool,
    blocks: Vec<Block>,
    /// Width of the full expansion (`_n_out_full`).
    full: usize,
    /// First column of the full expansion kept after the bias (when `min_degree > 1`).
    keep_from: usize,
    width: usize,
    names: Vec<String>,
}

/// Replays the column bookkeeping of scikit-learn's dense `transform` once, at load.
fn plan_blocks(
    n: usize,
    max_degree: usize,
    interaction_only: bool,
    bias: bool,
) -> Option<(Vec<Block>, usize)> {
    let mut current = usize::from(bias);
    if max_degree == 0 {
        return Some((Vec::new(), current));
    }
    let mut index: Vec<usize> = (current..current + n).collect();
    current += n;
    index.push(current);
    let mut blocks = Vec::new();
    for _ in 2..=max_degree {
        let mut new_index = Vec::with_capacity(n + 1);
        let end = *index.last()?;
        for feature in 0..n {
            let mut start = *index.get(feature)?;
            new_index.push(current);
            if interaction_only {
                start += index.get(feature + 1)? - index.get(feature)?;
            }
            let next = (current + end).checked_sub(start)?;
            if next <= current {
                break;
            }
            blocks.push(Block {
                dst: current,
                start,
                end,
                feature,
            });
            current = next;
        }
        new_index.push(current);
        index = new_index;
    }
    Some((blocks, current))
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    let min_degree = ctx.usize("min_degree")?;
    let max_degree = ctx.usize("max_degree")?;
    let interaction_only = ctx.bool("interaction_only")?;
    let bias = ctx.bool("include_bias")?;
    let n_output = ctx.usize("n_output")?;
    if min_degree > max_degree || max_degree > 64 {
        return Err(ctx.err(format!(
            "degrees ({min_degree}, {max_degree}) are out of range"
        )));
    }
    let (blocks, full) = plan_blocks(n, max_degree, interaction_only, bias)
        .ok_or_else(|| ctx.err("inconsistent polynomial layout"))?;
    let width = n_output;
    // `Xout[:, 1:] = XP[:, n_XP - n_Xout + 1:]` with a bias, `XP[:, n_XP - n_Xout:]` without.
    let keep_from = if min_degree > 1 {
        (full + usize::from(bias))
            .checked_sub(width)
            .filter(|_| width <= full && width >= usize::from(bias))
            .ok_or_else(|| ctx.err(format!("`n_output` {width} does not fit the {full} terms")))?
    } else {
        if width != full {
            return Err(ctx.err(format!(
                "`n_output` is {width}, but the expansion has {full} terms"
            )));
        }
        usize::from(bias)
    };
    if width == 0 {
        return Err(ctx.err("the expansion is empty"));
    }
    let out_names = (0..width).map(|i| format!("poly{i}")).collect();
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", out_names)?],
        kernel: Box::new(Poly {
            n,
            bias,
            blocks,
            full,
            keep_from,
            width,
            names,
        }),
    })
}

impl Poly {
    /// Fills the full expansion of row `x` into `xp` (`full` values).
    #[inline]
    fn expand(&self, x: &[f64], xp: &mut [f64]) {
        let mut c = 0;
        if self.bias {
            xp[0] = 1.0;
            c = 1;
        }
        if self.full > c {
            xp[c..c + self.n].copy_from_slice(x);
        }
        for b in &self.blocks {
            let xf = x[b.feature];
            // dst >= end: the source terms are already final.
            let (src, dst) = xp.split_at_mut(b.dst);
            for (d, s) in dst.iter_mut().zip(&src[b.start..b.end]) {
                *d = s * xf;
            }
        }
    }
}

impl Kernel for Poly {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        check_finite(&x, &self.names, false)?;
        let mut out = Matrix::zeros(rows, self.width);
        let n = self.n.max(1);
        if self.width == self.full {
            for (row, o) in x
                .data
                .chunks_exact(n)
                .zip(out.data.chunks_exact_mut(self.width))
            {
                self.expand(row, o);
            }
        } else {
            // min_degree > 1: expand into one scratch row per batch, then keep the tail.
            let mut xp = vec![0.0; self.full];
            for (row, o) in x
                .data
                .chunks_exact(n)
                .zip(out.data.chunks_exact_mut(self.width))
            {
                self.expand(row, &mut xp);
                let mut c = 0;
                if self.bias {
                    o[0] = 1.0;
                    c = 1;
                }
                o[c..].copy_from_slice(&xp[self.keep_from..]);
            }
        }
        Ok(vec![Value::Matrix(out)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{f64s, rows, run, vec_field};
    use keel_bundle::Attr;

    fn poly(
        min: i64,
        max: i64,
        inter: bool,
        bias: bool,
        n_out: i64,
        x: &[f64; 3],
    ) -> Result<Vec<f64>, Error> {
        let out = run(
            "sklearn.polynomial_features",
            vec![
                ("min_degree", Attr::I64(min)),
                ("max_degree", Attr::I64(max)),
                ("interaction_only", Attr::Bool(inter)),
                ("include_bias", Attr::Bool(bias)),
                ("n_output", Attr::I64(n_out)),
            ],
            &[
                ("a", f64s(&[x[0]])),
                ("b", f64s(&[x[1]])),
                ("c", f64s(&[x[2]])),
            ],
            &[("Y", vec![vec_field("y", n_out as u64)])],
        )?;
        Ok(rows(&out, "y").concat())
    }

    #[test]
    fn order_is_powers_order() {
        // powers_ of PolynomialFeatures(2) on 3 features: 1, a, b, c, aa, ab, ac, bb, bc, cc.
        let (a, b, c) = (2.0, 3.0, 5.0);
        let r = poly(0, 2, false, true, 10, &[a, b, c]).unwrap();
        assert_eq!(
            r,
            vec![1.0, a, b, c, a * a, a * b, a * c, b * b, b * c, c * c]
        );
        // interaction_only, degree 3: a, b, c, ab, ac, bc, abc.
        let r = poly(0, 3, true, false, 7, &[a, b, c]).unwrap();
        assert_eq!(r, vec![a, b, c, a * b, a * c, b * c, a * b * c]);
        // degree=(2, 3) with bias: 1, then only degree 2 and 3 terms (10 + 6 = 16 of them).
        let r = poly(2, 3, false, true, 17, &[a, b, c]).unwrap();
        assert_eq!(r.len(), 17);
        assert_eq!(&r[..3], &[1.0, a * a, a * b]);
        assert_eq!(r[16], c * c * c);
    }

    #[test]
    fn refuses_wrong_width_and_nan() {
        let e = poly(0, 2, false, true, 9, &[1.0, 2.0, 3.0]).unwrap_err();
        assert!(e.to_string().contains("n_output"), "{e}");
        let e = poly(0, 2, false, true, 10, &[1.0, f64::NAN, 3.0]).unwrap_err();
        assert!(
            matches!(e, Error::Missing { ref column, .. } if column == "b"),
            "{e}"
        );
    }
}
