//! `sklearn.max_abs_scaler`: scikit-learn's `MaxAbsScaler.transform`.
//!
//! Ports: `X` (numeric) -> `Y` (vector). Attributes: `scale` (f64s, the fitted `scale_`, one
//! per feature) and `clip` (bool, optional: `clip=True` clips the result to `[-1, 1]`).
//!
//! scikit-learn divides, `X /= scale_` (it does not multiply by a reciprocal), then clips with
//! `np.clip(X, -1, 1)`; the same steps run here. NaN passes through; infinities are refused,
//! naming the feature and row.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::value::{Value, check_finite, gather};

#[derive(Debug)]
struct MaxAbsScaler {
    scale: Vec<f64>,
    clip: bool,
    names: Vec<String>,
}

/// Plans the op.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let names = ctx.numeric_input("X")?;
    let scale = ctx.f64s("scale")?;
    if scale.len() != names.len() {
        return Err(ctx.err(format!(
            "`scale` has {} values for {} features",
            scale.len(),
            names.len()
        )));
    }
    let clip = match ctx.opt_attr("clip") {
        None => false,
        Some(_) => ctx.bool("clip")?,
    };
    Ok(Built {
        outputs: vec![ctx.vector_out("Y", names.clone())?],
        kernel: Box::new(MaxAbsScaler { scale, clip, names }),
    })
}

impl Kernel for MaxAbsScaler {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut m = gather(inputs).into_owned();
        check_finite(&m, &self.names, true)?;
        let cols = m.cols.max(1);
        for row in m.data.chunks_exact_mut(cols) {
            for (v, s) in row.iter_mut().zip(&self.scale) {
                *v /= s;
                if self.clip {
                    *v = v.clamp(-1.0, 1.0);
                }
            }
        }
        Ok(vec![Value::Matrix(m)])
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::testing::{f64s, rows, run, vec_field};
    use keel_bundle::Attr;

    #[test]
    fn divides_and_clips() {
        let run_with = |clip: bool| {
            let out = run(
                "sklearn.max_abs_scaler",
                vec![("scale", Attr::F64s(vec![4.0])), ("clip", Attr::Bool(clip))],
                &[("a", f64s(&[-2.0, 8.0, f64::NAN]))],
                &[("Y", vec![vec_field("y", 1)])],
            )
            .unwrap();
            rows(&out, "y")
        };
        let r = run_with(false);
        assert_eq!((r[0][0], r[1][0]), (-0.5, 2.0));
        assert!(r[2][0].is_nan());
        let r = run_with(true);
        assert_eq!((r[0][0], r[1][0]), (-0.5, 1.0));
        assert!(r[2][0].is_nan());
    }
}
