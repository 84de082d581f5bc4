//! `sklearn.kbins_discretizer`: scikit-learn's `KBinsDiscretizer.transform`, any strategy
//! (the strategy only decides the fitted `bin_edges_`).
//!
//! Ports: `X` (numeric) -> `Y` (vector). Attributes: `edges` (list of f64s, feature `i`'s full
//! `bin_edges_[i]`, first and last edge included), `encode` (`"ordinal"`, or `"onehot"` for
//! both `onehot` and `onehot-dense`), and `cast_f32` (bool, optional: `dtype=np.float32`).
//!
//! scikit-learn 1.9 bins with `np.searchsorted(bin_edges[i][1:-1], x, side="right")`: the bin
//! is the number of inner edges `<= x`, so a value equal to an edge goes to the bin on its
//! right, and values beyond the outer edges land in the first or last bin (there is no
//! epsilon or tolerance in this version). With `dtype=np.float32` the input is rounded to f32
//! before the comparison (against f64 edges). `onehot` writes 1 at column `offset_i + bin`,
//! offsets following the per-feature bin counts. NaN and infinities are refused
//! (`check_array` defaults), naming the feature and row.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Matrix, Value, check_finite, gather};

#[derive(Debug)]
struct KBins {
    /// Inner edges per feature.
    inner: Vec<Vec<f64>>,
    /// Column offset of each feature's first bin (one-hot), or `None` (ordinal).
    offsets: Option<Vec<usize>>,
    cast_f32: bool,
    width: usize,
    names: Vec<String>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let edges = ctx.list("edges")?;
    if edges.len() != names.len() {
        return Err(ctx.err(format!(
            "`edges` has {} entries for {} features",
            edges.len(),
            names.len()
        )));
    }
    let mut inner = Vec::with_capacity(edges.len());
    for (i, e) in edges.iter().enumerate() {
        let e = ctx.attr_f64s("edges", e)?;
        if e.len() < 2 {
            return Err(ctx.err(format!(
                "`edges[{i}]` has {} values, at least 2 are needed",
                e.len()
            )));
        }
        if e.iter().any(|v| v.is_nan()) || e.windows(2).any(|w| w[0] > w[1]) {
            return Err(ctx.err(format!("`edges[{i}]` is not sorted")));
        }
        inner.push(e[1..e.len() - 1].to_vec());
    }
    let onehot = match ctx.str("encode")? {
        "ordinal" => false,
        "onehot" => true,
        other => {
            return Err(ctx.err(format!(
                "unknown encode `{other}` (expected ordinal or onehot)"
            )));
        }
    };
    let cast_f32 = match ctx.opt_attr("cast_f32") {
        None => false,
        Some(_) => ctx.bool("cast_f32")?,
    };
    let (offsets, out_names) = if onehot {
        let mut offsets = Vec::with_capacity(inner.len());
        let mut out_names = Vec::new();
        for (name, e) in names.iter().zip(&inner) {
            offsets.push(out_names.len());
            out_names.extend((0..=e.len()).map(|b| format!("{name}_{b}")));
        }
        (Some(offsets), out_names)
    } else {
        (None, names.clone())
    };
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", out_names.clone())?],
        kernel: Box::new(KBins {
            inner,
            offsets,
            cast_f32,
            width: out_names.len(),
            names,
        }),
    })
}

impl Kernel for KBins {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        check_finite(&x, &self.names, false)?;
        let n = self.inner.len().max(1);
        let mut out = Matrix::zeros(rows, self.width);
        for (row, o) in x
            .data
            .chunks_exact(n)
            .zip(out.data.chunks_exact_mut(self.width.max(1)))
        {
            for (j, (v, e)) in row.iter().zip(&self.inner).enumerate() {
                // f32 rounding of an f64 is what numpy's astype does (round to nearest).
                let v = if self.cast_f32 {
                    f64::from(*v as f32)
                } else {
                    *v
                };
                let bin = e.partition_point(|edge| *edge <= v);
                match &self.offsets {
                    None => o[j] = bin as f64,
                    Some(off) => o[off[j] + bin] = 1.0,
                }
            }
        }
        Ok(vec![Value::Matrix(out)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, rows, run, vec_field};
    use keel_bundle::Attr;

    fn kbins(encode: &str, width: u64, x: &[f64]) -> Result<Vec<Vec<f64>>, Error> {
        let out = run(
            "sklearn.kbins_discretizer",
            vec![
                (
                    "edges",
                    Attr::List(vec![Attr::F64s(vec![0.0, 1.0, 2.0, 3.0])]),
                ),
                ("encode", Attr::Str(encode.into())),
            ],
            &[("a", f64s(x))],
            &[("Y", vec![vec_field("y", width)])],
        )?;
        Ok(rows(&out, "y"))
    }

    #[test]
    fn edges_go_right_and_outliers_clip() {
        let r = kbins("ordinal", 1, &[-5.0, 0.0, 0.999, 1.0, 2.0, 3.0, 99.0]).unwrap();
        assert_eq!(r.concat(), vec![0.0, 0.0, 0.0, 1.0, 2.0, 2.0, 2.0]);
        let r = kbins("onehot", 3, &[1.0, 7.0]).unwrap();
        assert_eq!(r, vec![vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]]);
    }

    #[test]
    fn refuses_nan_and_unsorted_edges() {
        let e = kbins("ordinal", 1, &[f64::NAN]).unwrap_err();
        assert!(matches!(e, Error::Missing { row: 0, .. }), "{e}");
        let e = run(
            "sklearn.kbins_discretizer",
            vec![
                ("edges", Attr::List(vec![Attr::F64s(vec![0.0, 2.0, 1.0])])),
                ("encode", Attr::Str("ordinal".into())),
            ],
            &[("a", f64s(&[0.0]))],
            &[("Y", vec![vec_field("y", 1)])],
        )
        .unwrap_err();
        assert!(e.to_string().contains("not sorted"), "{e}");
    }
}
