//! `nn.mean_variance_norm` (ONNX MeanVarianceNormalization): `(X - mean) / (std + 1e-9)` with
//! the mean and the population standard deviation taken over `axes`. Ports: `0` X (f32, f64,
//! f16/bf16 via f32) -> `0` (X's type). Attribute `axes` (i64s, default `[0, 2, 3]`; negative
//! counts from the end; each axis once).
//!
//! ONNX's function body computes the variance as `E[X²] - E[X]²`; keel does the same, in f64,
//! so the results agree to float precision. The 1e-9 is ONNX's constant.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{checked_len, dtype_error};
use crate::ops::nn::cast::{cast_data, narrow, widen};
use crate::ops::nn::layout::check_rank;
use crate::ops::nn::{Inputs, norm_axis, strides, tensor_out};
use crate::tensor::{Tensor, TensorData};
use crate::value::Value;
use keel_bundle::DType;
use std::sync::Arc;

const EPSILON: f64 = 1e-9;

#[derive(Debug)]
struct Mvn {
    inputs: Inputs,
    /// Per axis: whether it is reduced.
    reduced: Vec<bool>,
    dtype: DType,
}

impl Kernel for Mvn {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        if x.dtype() != self.dtype {
            return Err(dtype_error("X", self.dtype, x.dtype()));
        }
        check_rank(&x, self.reduced.len(), "X")?;
        let n = checked_len(&x, "X")?;
        let v = x.data.to_f64_vec();
        // Each element's group: its position in the shape with the reduced axes set to 1.
        let kept: Vec<usize> = x
            .shape
            .iter()
            .zip(&self.reduced)
            .map(|(&d, &r)| if r { 1 } else { d })
            .collect();
        let (st, kst) = (strides(&x.shape), strides(&kept));
        let group = |p: usize| -> usize {
            (0..x.shape.len())
                .filter(|&a| !self.reduced[a])
                .map(|a| ((p / st[a]) % x.shape[a]) * kst[a])
                .sum()
        };
        let groups: usize = kept.iter().product();
        let (mut sum, mut sq, mut count) =
            (vec![0.0; groups], vec![0.0; groups], vec![0usize; groups]);
        let gs: Vec<usize> = (0..n).map(group).collect();
        for (p, &g) in gs.iter().enumerate() {
            sum[g] += v[p];
            sq[g] += v[p] * v[p];
            count[g] += 1;
        }
        let stats: Vec<(f64, f64)> = (0..groups)
            .map(|g| {
                let c = count[g].max(1) as f64;
                let mean = sum[g] / c;
                let var = sq[g] / c - mean * mean;
                (mean, var.max(0.0).sqrt() + EPSILON)
            })
            .collect();
        let out: Vec<f64> = gs
            .iter()
            .enumerate()
            .map(|(p, &g)| (v[p] - stats[g].0) / stats[g].1)
            .collect();
        let wide = widen(&x).dtype();
        let data = cast_data(&TensorData::F64(Arc::new(out)), wide)
            .ok_or_else(|| dtype_error("X", "a float dtype", wide))?;
        let t = Tensor::from_data(x.shape.clone(), data)?;
        Ok(vec![Value::Tensor(narrow(t, self.dtype))])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let x = inputs.ty(0).clone();
    if !matches!(x.dtype, DType::F32 | DType::F64 | DType::F16 | DType::Bf16) {
        return Err(ctx.err(format!("X must be a float tensor, found {x}")));
    }
    let axes = match ctx.opt_attr("axes") {
        None => vec![0, 2, 3],
        Some(_) => ctx.i64s("axes")?,
    };
    let mut reduced = vec![false; x.rank()];
    for a in axes {
        let a = norm_axis(ctx, a, x.rank())?;
        if std::mem::replace(&mut reduced[a], true) {
            return Err(ctx.err(format!("axis {a} is listed twice")));
        }
    }
    let out = tensor_out(ctx, "0", x.clone())?;
    Ok(Built {
        kernel: Box::new(Mvn {
            inputs,
            reduced,
            dtype: x.dtype,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run};
    use keel_bundle::Attr;

    #[test]
    fn normalises_over_the_axes() {
        // Rows [1 3] and [2 2 ] over axis 1: means 2 and 2, stds 1 and 0.
        let x = f32s(&[2, 2], &[1., 3., 2., 2.]);
        let out = run(
            "nn.mean_variance_norm",
            vec![("axes", Attr::I64s(vec![1]))],
            std::slice::from_ref(&x),
        );
        assert_close(&out.unwrap()[0], &f32s(&[2, 2], &[-1., 1., 0., 0.]), 1e-6);
        // Over both axes: mean 2, std sqrt(0.5).
        let out = run(
            "nn.mean_variance_norm",
            vec![("axes", Attr::I64s(vec![0, -1]))],
            std::slice::from_ref(&x),
        );
        let s = 0.5f32.sqrt();
        assert_close(
            &out.unwrap()[0],
            &f32s(&[2, 2], &[-1. / s, 1. / s, 0., 0.]),
            1e-6,
        );
        // The default axes [0, 2, 3] need rank 4.
        assert!(run("nn.mean_variance_norm", vec![], &[x]).is_err());
    }
}
