//! `sklearn.min_max_scaler`: scikit-learn's `MinMaxScaler.transform`.
//!
//! Ports: `X` (numeric) -> `Y` (vector). Attributes: `scale`, `min` (f64s, one per feature:
//! the fitted `scale_` and `min_`), and `clip` (f64s `[low, high]`, the `feature_range`,
//! present only when `clip=True`).
//!
//! scikit-learn computes `X *= scale_; X += min_` (multiply, then add: two roundings, no fused
//! multiply-add) and then `np.clip(X, low, high)`; the same steps run here so results match to
//! the bit. NaN passes through (`check_array(allow-nan)`; `np.clip` keeps NaN, as does
//! `f64::clamp`); infinities are refused, naming the feature and row.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Value, check_finite, gather};

#[derive(Debug)]
struct MinMaxScaler {
    scale: Vec<f64>,
    min: Vec<f64>,
    clip: Option<(f64, f64)>,
    names: Vec<String>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let n = names.len();
    let scale = ctx.f64s("scale")?;
    let min = ctx.f64s("min")?;
    if scale.len() != n || min.len() != n {
        return Err(ctx.err(format!(
            "`scale` has {} values and `min` {} for {n} features",
            scale.len(),
            min.len()
        )));
    }
    let clip = match ctx.opt_attr("clip") {
        None => None,
        Some(_) => match ctx.f64s("clip")?.as_slice() {
            // `f64::clamp` panics unless low <= high: check it here, at load.
            [lo, hi] if lo <= hi => Some((*lo, *hi)),
            other => {
                return Err(ctx.err(format!(
                    "`clip` must be [low, high] with low <= high, found {other:?}"
                )));
            }
        },
    };
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names.clone())?],
        kernel: Box::new(MinMaxScaler {
            scale,
            min,
            clip,
            names,
        }),
    })
}

impl Kernel for MinMaxScaler {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut m = gather(inputs).into_owned();
        check_finite(&m, &self.names, true)?;
        let cols = m.cols.max(1);
        for row in m.data.chunks_exact_mut(cols) {
            for ((v, s), mn) in row.iter_mut().zip(&self.scale).zip(&self.min) {
                *v *= s;
                *v += mn;
            }
            if let Some((lo, hi)) = self.clip {
                for v in row.iter_mut() {
                    *v = v.clamp(lo, hi);
                }
            }
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use crate::Error;
    use crate::ops::testing::{f64s, rows, run, vec_field};
    use keel_bundle::Attr;

    fn scaler(clip: bool, x: &[f64]) -> Result<Vec<Vec<f64>>, Error> {
        let mut attrs = vec![
            ("scale", Attr::F64s(vec![0.5])),
            ("min", Attr::F64s(vec![-1.0])),
        ];
        if clip {
            attrs.push(("clip", Attr::F64s(vec![0.0, 1.0])));
        }
        let out = run(
            "sklearn.min_max_scaler",
            attrs,
            &[("a", f64s(x))],
            &[("Y", vec![vec_field("y", 1)])],
        )?;
        Ok(rows(&out, "y"))
    }

    #[test]
    fn scales_clips_and_keeps_nan() {
        let r = scaler(false, &[2.0, 6.0, f64::NAN]).unwrap();
        assert_eq!(r[0][0], 0.0);
        assert_eq!(r[1][0], 2.0);
        assert!(r[2][0].is_nan());
        let r = scaler(true, &[-4.0, 6.0, f64::NAN]).unwrap();
        assert_eq!((r[0][0], r[1][0]), (0.0, 1.0));
        assert!(r[2][0].is_nan());
    }

    #[test]
    fn refuses_infinity_naming_feature_and_row() {
        let e = scaler(false, &[1.0, f64::INFINITY]).unwrap_err();
        assert!(
            matches!(e, Error::NonFinite { ref column, row: 1, .. } if column == "a"),
            "{e}"
        );
    }
}
