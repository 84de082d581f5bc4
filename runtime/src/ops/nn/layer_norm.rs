//! `nn.layer_norm`: ONNX LayerNormalization. Ports: `0` X, `1` Scale, optional `2` B -> `0` Y,
//! optional `1` Mean and `2` InvStdDev (f32, shaped as X with the normalised axes 1).
//! Attributes: `axis` (-1), `epsilon` (1e-5), `stash_type` (1; statistics are accumulated in f64
//! whatever it says).
//!
//! X is seen as rows of its axes `axis..`; each row is normalised, then multiplied by Scale and
//! shifted by B, both broadcast to those axes. Floats: f32, f64; f16 and bf16 computed in f32.
//! `nn.rms_norm` shares the kernel (no mean, no B).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::linalg::{Real, is_float, moments, real_slice, real_tensor};
use crate::ops::nn::{
    Inputs, attr_f64, attr_i64, broadcast_index, broadcast_shape, norm_axis, shape_error,
    tensor_out,
};
use crate::tensor::{Dim, Tensor, TensorType};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct LayerNorm {
    inputs: Inputs,
    dtype: DType,
    axis: usize,
    epsilon: f64,
    /// RMS normalisation: divide by the root mean square, subtract nothing.
    rms: bool,
    /// The statistics asked for after Y, in port order: 0 Mean, 1 InvStdDev.
    stats: Vec<usize>,
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    plan(ctx, false)
}

/// The load-time checks and kernel shared with `nn.rms_norm`.
pub(crate) fn plan(ctx: &BuildCtx<'_>, rms: bool) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, if rms { 2 } else { 3 })?;
    let x = inputs.ty(0).clone();
    if !is_float(x.dtype) || x.rank() == 0 {
        return Err(ctx.err(format!("takes a float tensor of rank 1 or more, got {x}")));
    }
    let axis = norm_axis(ctx, attr_i64(ctx, "axis", -1)?, x.rank())?;
    for i in 1..inputs.len() {
        if let Some(p) = inputs.opt(i) {
            let fits = is_float(p.dtype)
                && p.rank() <= x.rank() - axis
                && p.shape
                    .iter()
                    .rev()
                    .zip(x.shape.iter().rev())
                    .all(|(a, b)| match (a.known(), b.known()) {
                        (Some(a), Some(b)) => a == b || a == 1,
                        _ => true,
                    });
            if !fits {
                return Err(ctx.err(format!(
                    "input {i} {p} does not broadcast to X {x}'s axes from {axis}"
                )));
            }
        }
    }
    attr_i64(ctx, "stash_type", 1)?;
    let mut outputs = vec![tensor_out(ctx, "0", x.clone())?];
    let stat = TensorType {
        dtype: DType::F32,
        shape: x
            .shape
            .iter()
            .enumerate()
            .map(|(i, d)| if i < axis { d.clone() } else { Dim::Known(1) })
            .collect(),
    };
    // Mean (port 1) and InvStdDev (port 2) are each optional.
    let mut stats = Vec::new();
    for (k, port) in ["1", "2"].into_iter().enumerate() {
        if ctx.has_output(port) {
            if rms {
                return Err(ctx.err(format!("has one output, port {port} is bound")));
            }
            outputs.push(tensor_out(ctx, port, stat.clone())?);
            stats.push(k);
        }
    }
    Ok(Built {
        kernel: Box::new(LayerNorm {
            inputs,
            dtype: x.dtype,
            axis,
            epsilon: attr_f64(ctx, "epsilon", 1e-5)?,
            rms,
            stats,
        }),
        outputs,
    })
}

impl Kernel for LayerNorm {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let s = self.inputs.req(inputs, 1)?;
        let b = self.inputs.get(inputs, 2)?;
        match self.dtype {
            DType::F64 => self.norm::<f64>(&x, &s, b.as_deref()),
            _ => self.norm::<f32>(&x, &s, b.as_deref()),
        }
    }
}

impl LayerNorm {
    /// A parameter broadcast to the normalised axes `inner`, as `len` values.
    fn param<T: Real>(t: &Tensor, inner: &[usize], what: &str) -> Result<Vec<T>, Error> {
        if t.rank() > inner.len() || broadcast_shape(&t.shape, inner)? != inner {
            return Err(shape_error(
                what,
                format!("a shape that broadcasts to {inner:?}"),
                format!("{:?}", t.shape),
            ));
        }
        let v = real_slice::<T>(t, what)?;
        Ok(broadcast_index(&t.shape, inner)
            .into_iter()
            .map(|i| v[i])
            .collect())
    }

    fn norm<T: Real>(
        &self,
        x: &Tensor,
        s: &Tensor,
        b: Option<&Tensor>,
    ) -> Result<Vec<Value>, Error> {
        if x.rank() <= self.axis {
            return Err(shape_error(
                "X",
                format!("rank above {}", self.axis),
                format!("{:?}", x.shape),
            ));
        }
        let inner = &x.shape[self.axis..];
        let len: usize = inner.iter().product();
        let scale = Self::param::<T>(s, inner, "Scale")?;
        let bias = b.map(|b| Self::param::<T>(b, inner, "B")).transpose()?;
        let mut out = real_slice::<T>(x, "X")?.into_owned();
        let rows = out.len().checked_div(len).unwrap_or(0);
        let (mut means, mut invs) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        if len > 0 {
            for row in out.chunks_mut(len) {
                let (mean, inv) = if self.rms {
                    let ms = row.iter().map(|&v| v.to_f64() * v.to_f64()).sum::<f64>() / len as f64;
                    (0.0, 1.0 / (ms + self.epsilon).sqrt())
                } else {
                    let (mean, var) = moments(row);
                    (mean, 1.0 / (var + self.epsilon).sqrt())
                };
                let (m, iv) = (T::from_f64(mean), T::from_f64(inv));
                for (j, v) in row.iter_mut().enumerate() {
                    let y = (*v - m) * iv * scale[j];
                    *v = match &bias {
                        Some(b) => y + b[j],
                        None => y,
                    };
                }
                means.push(mean as f32);
                invs.push(inv as f32);
            }
        }
        let mut result = vec![Value::Tensor(real_tensor(
            self.dtype,
            x.shape.clone(),
            out,
        )?)];
        let stat_shape: Vec<usize> = x
            .shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if i < self.axis { d } else { 1 })
            .collect();
        let mut both = [Some(means), Some(invs)];
        for &k in &self.stats {
            let stat = both[k].take().unwrap_or_default();
            result.push(Value::Tensor(Tensor::new(stat_shape.clone(), stat)?));
        }
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run, run_n};
    use keel_bundle::Attr;

    #[test]
    fn rows_normalise_then_scale() {
        // Rows [1, 3] and [2, 2]: mean 2, var 1 and 0; epsilon 1 gives 1/sqrt(2) and 1.
        let x = f32s(&[2, 2], &[1., 3., 2., 2.]);
        let y = run_n(
            "nn.layer_norm",
            vec![("epsilon", Attr::F64(1.0))],
            &[x, f32s(&[2], &[2., 3.]), f32s(&[1], &[1.])],
            3,
        )
        .unwrap();
        let inv = 1.0 / 2f32.sqrt();
        assert_close(
            &y[0],
            &f32s(&[2, 2], &[1. - 2. * inv, 1. + 3. * inv, 1., 1.]),
            1e-6,
        );
        assert_close(&y[1], &f32s(&[2, 1], &[2., 2.]), 1e-6);
        assert_close(&y[2], &f32s(&[2, 1], &[inv, 1.]), 1e-6);
    }

    #[test]
    fn axis_zero_normalises_everything() {
        let x = f32s(&[2, 1], &[0., 2.]);
        let y = run(
            "nn.layer_norm",
            vec![("axis", Attr::I64(0)), ("epsilon", Attr::F64(0.0))],
            &[x, f32s(&[2, 1], &[1., 1.])],
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[2, 1], &[-1., 1.]), 1e-6);
    }
}
