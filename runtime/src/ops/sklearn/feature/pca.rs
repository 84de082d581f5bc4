//! `sklearn.pca`: scikit-learn's `PCA.transform` (`_BasePCA._transform`).
//!
//! Ports: `X` (numeric) -> `Y` (vector of `k` components). Attributes: `components` (tensor
//! `[k, n]`, the fitted `components_`), `mean` (f64s, length `n`), and, only when
//! `whiten=True`, `explained_variance` (f64s, length `k`).
//!
//! scikit-learn projects first and centres after: `X @ components_.T - mean_ @ components_.T`;
//! the second term is a constant folded here at load. Whitening divides by
//! `sqrt(explained_variance_)`, floored at `f64::EPSILON` as scikit-learn does for rank
//! deficient fits. The dot products run left to right where BLAS blocks them, so results
//! agree to a few ulps (`f64_linear`). NaN and infinities are refused (`check_array`
//! defaults), naming the feature and row.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Matrix, Value, check_finite, gather};

#[derive(Debug)]
struct Pca {
    /// `k` rows of `n` values.
    components: Vec<f64>,
    offset: Vec<f64>,
    scale: Option<Vec<f64>>,
    n: usize,
    k: usize,
    names: Vec<String>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    let (k, cols, components) = ctx.matrix("components", Some(n))?;
    if cols != n || k == 0 {
        return Err(ctx.err(format!(
            "`components` is {k}x{cols}, expected kx{n} with k >= 1"
        )));
    }
    let mean = ctx.f64s("mean")?;
    if mean.len() != n {
        return Err(ctx.err(format!("`mean` has {} values for {n} features", mean.len())));
    }
    let offset: Vec<f64> = components
        .chunks_exact(n.max(1))
        .map(|c| mean.iter().zip(c).map(|(a, b)| a * b).sum())
        .collect();
    let scale = match ctx.opt_attr("explained_variance") {
        None => None,
        Some(_) => {
            let ev = ctx.f64s("explained_variance")?;
            if ev.len() != k {
                return Err(ctx.err(format!(
                    "`explained_variance` has {} values for {k} components",
                    ev.len()
                )));
            }
            Some(
                ev.iter()
                    .map(|v| {
                        let s = v.sqrt();
                        // `scale[scale < eps] = eps`; NaN (a negative variance) stays NaN there too.
                        if s < f64::EPSILON { f64::EPSILON } else { s }
                    })
                    .collect(),
            )
        }
    };
    let out_names = (0..k).map(|i| format!("pca{i}")).collect();
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", out_names)?],
        kernel: Box::new(Pca {
            components,
            offset,
            scale,
            n,
            k,
            names,
        }),
    })
}

impl Kernel for Pca {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let x = gather(inputs);
        check_finite(&x, &self.names, false)?;
        let mut out = Matrix::zeros(rows, self.k);
        for (row, o) in x
            .data
            .chunks_exact(self.n.max(1))
            .zip(out.data.chunks_exact_mut(self.k))
        {
            for (c, ((v, w), off)) in o
                .iter_mut()
                .zip(self.components.chunks_exact(self.n.max(1)))
                .zip(&self.offset)
                .enumerate()
            {
                let dot: f64 = row.iter().zip(w).map(|(a, b)| a * b).sum();
                *v = dot - off;
                if let Some(s) = &self.scale {
                    *v /= s[c];
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

    fn pca(whiten: bool, a: &[f64], b: &[f64]) -> Result<Vec<Vec<f64>>, Error> {
        let mut attrs = vec![
            ("components", Attr::F64s(vec![0.6, 0.8, -0.8, 0.6])),
            ("mean", Attr::F64s(vec![1.0, 2.0])),
        ];
        if whiten {
            attrs.push(("explained_variance", Attr::F64s(vec![4.0, 0.0])));
        }
        let out = run(
            "sklearn.pca",
            attrs,
            &[("a", f64s(a)), ("b", f64s(b))],
            &[("Y", vec![vec_field("y", 2)])],
        )?;
        Ok(rows(&out, "y"))
    }

    #[test]
    fn projects_after_centering_and_whitens() {
        let r = pca(false, &[1.0, 2.0], &[2.0, 2.0]).unwrap();
        assert_eq!(r[0], vec![0.0, 0.0]);
        assert!((r[1][0] - 0.6).abs() < 1e-15 && (r[1][1] + 0.8).abs() < 1e-15);
        // A zero variance is floored at eps instead of dividing by zero.
        let r = pca(true, &[2.0], &[2.0]).unwrap();
        assert!((r[0][0] - 0.3).abs() < 1e-15);
        assert!((r[0][1] + 0.8 / f64::EPSILON).abs() < 1e3);
    }

    #[test]
    fn refuses_nan() {
        let e = pca(false, &[1.0], &[f64::NAN]).unwrap_err();
        assert!(
            matches!(e, Error::Missing { ref column, row: 0, .. } if column == "b"),
            "{e}"
        );
    }

    #[test]
    fn checks_shapes_at_load() {
        let e = run(
            "sklearn.pca",
            vec![
                ("components", Attr::F64s(vec![1.0, 0.0])),
                ("mean", Attr::F64s(vec![0.0])),
            ],
            &[("a", f64s(&[1.0])), ("b", f64s(&[1.0]))],
            &[("Y", vec![vec_field("y", 1)])],
        )
        .unwrap_err();
        assert!(e.to_string().contains("`mean` has 1 values"), "{e}");
    }
}
