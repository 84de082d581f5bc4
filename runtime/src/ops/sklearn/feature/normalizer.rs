//! `sklearn.normalizer`: scikit-learn's `Normalizer.transform` (`normalize(X, norm, axis=1)`).
//!
//! Ports: `X` (numeric) -> `Y` (vector). Attributes: `norm` (`"l1"`, `"l2"` or `"max"`) and
//! `summation` (optional, `"pairwise"` (default) or `"sequential"`, see below).
//!
//! Each row is divided by its norm. The norms are computed the way numpy computes them, so the
//! results match to the bit on x86-64 builds of numpy:
//! - `l1`: `np.sum(np.abs(X), axis=1)`;
//! - `l2`: `sqrt(np.einsum("ij,ij->i", X, X))`;
//! - `max`: `np.max(np.abs(X), axis=1)` (exact in any order).
//!
//! numpy's summation order for `l1`/`l2` depends on the memory layout of the array it is
//! given. A C-ordered array (numpy input) is summed along contiguous rows: pairwise summation
//! for `l1` (blocks of 8 accumulators, halves above 128 elements) and, for `l2`, einsum's SSE2
//! kernel (two lanes, four lane pairs per step chained innermost last, no fused
//! multiply-add): `summation = "pairwise"`. A pandas DataFrame becomes an F-ordered array,
//! summed column after column, i.e. left to right: `summation = "sequential"`. The exporter
//! picks the order from what the fitted Normalizer saw (`feature_names_in_`: a DataFrame).
//! The layout of an array produced by earlier steps is not tracked (elementwise steps keep an
//! F layout, a `ColumnTransformer` may return either), so there the norm can differ from
//! numpy's by an ulp; both orders are proven bit-exact by the fixtures `wine_scalers_transform`
//! and `cancer_normalizers_transform`.
//!
//! Then `_handle_zeros_in_scale`: a norm below `10 * f64::EPSILON` (not only zero) is replaced
//! by 1, so such rows come out unchanged. `Normalizer` validates with `check_array` defaults,
//! so NaN and infinities are refused, naming the feature and row.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Value, check_finite, gather};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Norm {
    L1,
    L2,
    Max,
}

#[derive(Debug)]
struct Normalizer {
    norm: Norm,
    pairwise: bool,
    names: Vec<String>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let norm = match ctx.str("norm")? {
        "l1" => Norm::L1,
        "l2" => Norm::L2,
        "max" => Norm::Max,
        other => return Err(ctx.err(format!("unknown norm `{other}` (expected l1, l2 or max)"))),
    };
    let pairwise = match ctx.opt_attr("summation") {
        None => true,
        Some(_) => match ctx.str("summation")? {
            "pairwise" => true,
            "sequential" => false,
            other => {
                return Err(ctx.err(format!(
                    "unknown summation `{other}` (expected pairwise or sequential)"
                )));
            }
        },
    };
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names.clone())?],
        kernel: Box::new(Normalizer {
            norm,
            pairwise,
            names,
        }),
    })
}

/// numpy's pairwise summation of `|a|` (`pairwise_sum_DOUBLE` fed by `np.abs`).
pub(crate) fn pairwise_abs_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for v in a {
            res += v.abs();
        }
        res
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        for (acc, v) in r.iter_mut().zip(a) {
            *acc = v.abs();
        }
        let whole = n - n % 8;
        for block in a[8..whole].chunks_exact(8) {
            for (acc, v) in r.iter_mut().zip(block) {
                *acc += v.abs();
            }
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for v in &a[whole..] {
            res += v.abs();
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_abs_sum(&a[..n2]) + pairwise_abs_sum(&a[n2..])
    }
}

/// `np.einsum("i,i->", a, a)` as numpy's SSE2 kernel computes it: two lanes, four lane pairs
/// per step chained from the last to the first, then the tail one pair at a time (the missing
/// lane loaded as zero), then the two lanes added.
pub(crate) fn einsum_sum_sq(a: &[f64]) -> f64 {
    let mut acc = [0.0f64; 2];
    let mut blocks = a.chunks_exact(8);
    for b in &mut blocks {
        for l in 0..2 {
            let ab3 = b[6 + l] * b[6 + l] + acc[l];
            let ab2 = b[4 + l] * b[4 + l] + ab3;
            let ab1 = b[2 + l] * b[2 + l] + ab2;
            acc[l] = b[l] * b[l] + ab1;
        }
    }
    for pair in blocks.remainder().chunks(2) {
        for (l, v) in pair.iter().enumerate() {
            acc[l] += v * v;
        }
    }
    acc[0] + acc[1]
}

impl Kernel for Normalizer {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut m = gather(inputs).into_owned();
        check_finite(&m, &self.names, false)?;
        let cols = m.cols.max(1);
        let small = 10.0 * f64::EPSILON;
        for row in m.data.chunks_exact_mut(cols) {
            let mut norm = match (self.norm, self.pairwise) {
                (Norm::L1, true) => pairwise_abs_sum(row),
                (Norm::L1, false) => row.iter().fold(0.0, |a, v| a + v.abs()),
                (Norm::L2, true) => einsum_sum_sq(row).sqrt(),
                (Norm::L2, false) => row.iter().fold(0.0, |a, v| a + v * v).sqrt(),
                (Norm::Max, _) => row.iter().fold(0.0f64, |a, v| a.max(v.abs())),
            };
            if norm < small {
                norm = 1.0;
            }
            for v in row.iter_mut() {
                *v /= norm;
            }
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::{f64s, rows, run, vec_field};
    use keel_bundle::Attr;

    fn normalize(norm: &str, a: &[f64], b: &[f64]) -> Result<Vec<Vec<f64>>, Error> {
        let out = run(
            "sklearn.normalizer",
            vec![("norm", Attr::Str(norm.into()))],
            &[("a", f64s(a)), ("b", f64s(b))],
            &[("Y", vec![vec_field("y", 2)])],
        )?;
        Ok(rows(&out, "y"))
    }

    #[test]
    fn three_norms_and_tiny_rows() {
        assert_eq!(
            normalize("l1", &[3.0], &[-1.0]).unwrap()[0],
            vec![0.75, -0.25]
        );
        assert_eq!(
            normalize("l2", &[3.0], &[-4.0]).unwrap()[0],
            vec![0.6, -0.8]
        );
        assert_eq!(
            normalize("max", &[3.0], &[-6.0]).unwrap()[0],
            vec![0.5, -1.0]
        );
        // A norm under 10 * eps leaves the row as it is (not only an all-zero row).
        assert_eq!(
            normalize("l1", &[1e-16], &[0.0]).unwrap()[0],
            vec![1e-16, 0.0]
        );
        assert_eq!(normalize("l2", &[0.0], &[0.0]).unwrap()[0], vec![0.0, 0.0]);
    }

    #[test]
    fn refuses_nan_naming_feature_and_row() {
        let e = normalize("l2", &[1.0, 2.0], &[1.0, f64::NAN]).unwrap_err();
        assert!(
            matches!(e, Error::Missing { ref column, row: 1, .. } if column == "b"),
            "{e}"
        );
    }

    #[test]
    fn summation_orders_follow_numpy() {
        // Reference values printed by numpy 2.3 (x86-64): `np.sum(np.abs(a))` and
        // `np.einsum("i,i->", b, b)`; a left-to-right sum gives 1e16 and 1.000000000000008e16.
        let mut a = vec![1e16];
        a.extend([1.0; 15]);
        assert_eq!(pairwise_abs_sum(&a), 1.0000000000000014e16);
        let mut b = vec![1e8];
        b.extend([3.0; 10]);
        b.push(1e-3);
        assert_eq!(einsum_sum_sq(&b), 1.000000000000009e16);
    }

    #[test]
    fn sequential_summation_adds_left_to_right() {
        // [1e16, 1, 1, ...]: left to right every 1 is lost (1e16 + 1 rounds back to 1e16),
        // pairwise the ones add up first; numpy does the former on F-ordered (DataFrame) input.
        let row: Vec<f64> = std::iter::once(1e16)
            .chain(std::iter::repeat_n(1.0, 15))
            .collect();
        let cols: Vec<(String, arrow_array::ArrayRef)> = row
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("x{i}"), f64s(&[*v])))
            .collect();
        let inputs: Vec<(&str, arrow_array::ArrayRef)> =
            cols.iter().map(|(n, a)| (n.as_str(), a.clone())).collect();
        let first = |summation: &str| {
            let out = run(
                "sklearn.normalizer",
                vec![
                    ("norm", Attr::Str("l1".into())),
                    ("summation", Attr::Str(summation.into())),
                ],
                &inputs,
                &[("Y", vec![vec_field("y", 16)])],
            )
            .unwrap();
            rows(&out, "y")[0][0]
        };
        assert_eq!(first("sequential"), 1.0);
        assert_eq!(first("pairwise"), 1e16 / 1.0000000000000014e16);
    }

    #[test]
    fn unknown_norm_is_a_plan_error() {
        let e = normalize("l3", &[1.0], &[1.0]).unwrap_err();
        assert!(e.to_string().contains("unknown norm"), "{e}");
    }
}
