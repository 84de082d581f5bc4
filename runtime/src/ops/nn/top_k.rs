//! `nn.top_k` (ONNX TopK, opset 10+): the `k` largest (or smallest) elements along an axis.
//! Ports: `0` X (any numeric dtype), `1` K (one non-negative integer, as a scalar or a
//! one-element 1-D tensor) -> `0` Values (X's dtype), `1` Indices (i64), both of X's shape with
//! the axis cut to `k`. Attributes: `axis` (i64, default -1), `largest` (0/1, default 1),
//! `sorted` (0/1, default 1; the output is sorted either way, which ONNX allows).
//!
//! Order: by value, and among equal values the lower index first (ONNX's rule). NaN counts as
//! larger than every number, as in NumPy's sort. `k` larger than the axis is a shape error.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{const_ints, int_input, port_ints, take, tensor_value};
use crate::ops::nn::{Inputs, attr_i64, norm_axis, shape_error, tensor_out};
use crate::tensor::{Dim, TensorData, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;
use std::cmp::Ordering;
use std::sync::Arc;

#[derive(Debug)]
struct TopK {
    inputs: Inputs,
    axis: usize,
    rank: usize,
    largest: bool,
}

/// Ascending order with NaN last (floats compared as f64, which holds every keel float
/// exactly).
fn cmp_f(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b)
        .unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()))
}

impl Kernel for TopK {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        if x.rank() != self.rank {
            return Err(shape_error(
                "X",
                format!("rank {}", self.rank),
                format!("{:?}", x.shape),
            ));
        }
        let k = match port_ints(&self.inputs, inputs, 1, "K")?.as_slice() {
            [k] => *k,
            other => return Err(shape_error("K", "one integer", format!("{other:?}"))),
        };
        let n = x.shape[self.axis];
        let k = usize::try_from(k)
            .ok()
            .filter(|&k| k <= n)
            .ok_or_else(|| shape_error("K", format!("0..={n}"), k.to_string()))?;
        let total = checked_elements(&x.shape, "X")?;
        if total != x.len() {
            return Err(shape_error(
                "X",
                format!("{total} elements"),
                x.len().to_string(),
            ));
        }
        let inner: usize = x.shape[self.axis + 1..].iter().product();
        let outer: usize = x.shape[..self.axis].iter().product();
        let is_float = matches!(
            x.dtype(),
            DType::F32 | DType::F64 | DType::F16 | DType::Bf16
        );
        let (fk, ik) = if is_float {
            (x.data.to_f64_vec(), Vec::new())
        } else {
            (Vec::new(), x.data.to_i64_vec())
        };
        let cmp = |a: usize, b: usize| -> Ordering {
            let o = if is_float {
                cmp_f(fk[a], fk[b])
            } else {
                ik[a].cmp(&ik[b])
            };
            if self.largest { o.reverse() } else { o }
        };
        let mut out_shape = x.shape.clone();
        out_shape[self.axis] = k;
        let m = checked_elements(&out_shape, "Values")?;
        let mut src = vec![0usize; m];
        let mut ind = vec![0i64; m];
        let mut order: Vec<usize> = Vec::with_capacity(n);
        for o in 0..outer {
            for i in 0..inner {
                order.clear();
                order.extend((0..n).map(|j| (o * n + j) * inner + i));
                // A stable sort keeps equal values in index order: lower index first.
                order.sort_by(|&a, &b| cmp(a, b));
                for (r, &p) in order.iter().take(k).enumerate() {
                    let q = (o * k + r) * inner + i;
                    src[q] = p;
                    ind[q] = ((p / inner) % n) as i64;
                }
            }
        }
        Ok(vec![
            tensor_value(out_shape.clone(), take(&x.data, &src)?)?,
            tensor_value(out_shape, TensorData::I64(Arc::new(ind)))?,
        ])
    }
}

fn flag(ctx: &BuildCtx<'_>, key: &str) -> Result<bool, Error> {
    match attr_i64(ctx, key, 1)? {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(ctx.err(format!("{key} must be 0 or 1, found {v}"))),
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 2)?;
    let x = inputs.ty(0).clone();
    if !x.dtype.is_tensor_element() || x.dtype == DType::Bool || x.rank() == 0 {
        return Err(ctx.err(format!(
            "X must be a numeric tensor of rank >= 1, found {x}"
        )));
    }
    if int_input(ctx, inputs.ty(1), "K")? != Some(1) {
        return Err(ctx.err(format!("K must be one integer, found {}", inputs.ty(1))));
    }
    let axis = norm_axis(ctx, attr_i64(ctx, "axis", -1)?, x.rank())?;
    let largest = flag(ctx, "largest")?;
    flag(ctx, "sorted")?;
    let mut shape = x.shape.clone();
    shape[axis] = match const_ints(ctx, 1).as_deref() {
        Some([k]) => match usize::try_from(*k) {
            Ok(k) => Dim::Known(k),
            Err(_) => return Err(ctx.err(format!("K must be non-negative, found {k}"))),
        },
        _ => Dim::unknown(),
    };
    let outputs = vec![
        tensor_out(
            ctx,
            "0",
            TensorType {
                dtype: x.dtype,
                shape: shape.clone(),
            },
        )?,
        tensor_out(
            ctx,
            "1",
            TensorType {
                dtype: DType::I64,
                shape,
            },
        )?,
    ];
    Ok(Built {
        kernel: Box::new(TopK {
            inputs,
            axis,
            rank: x.rank(),
            largest,
        }),
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run_n};
    use keel_bundle::Attr;

    #[test]
    fn largest_and_smallest_with_ties() {
        // [[3 1 3 2], [0 5 5 -1]], k = 2 along axis 1.
        let x = f32s(&[2, 4], &[3., 1., 3., 2., 0., 5., 5., -1.]);
        let k = i64s(&[1], &[2]);
        let out = run_n("nn.top_k", vec![], &[x.clone(), k.clone()], 2).unwrap();
        assert_eq!(out[0], f32s(&[2, 2], &[3., 3., 5., 5.]));
        // Ties: the lower index first.
        assert_eq!(out[1], i64s(&[2, 2], &[0, 2, 1, 2]));
        let out = run_n(
            "nn.top_k",
            vec![("largest", Attr::I64(0))],
            &[x.clone(), k],
            2,
        )
        .unwrap();
        assert_eq!(out[0], f32s(&[2, 2], &[1., 2., -1., 0.]));
        assert_eq!(out[1], i64s(&[2, 2], &[1, 3, 3, 0]));
        // Axis 0 of the same matrix, k = 1: the larger of each column.
        let out = run_n(
            "nn.top_k",
            vec![("axis", Attr::I64(0))],
            &[x.clone(), i64s(&[1], &[1])],
            2,
        )
        .unwrap();
        assert_eq!(out[0], f32s(&[1, 4], &[3., 5., 5., 2.]));
        assert_eq!(out[1], i64s(&[1, 4], &[0, 1, 1, 0]));
        assert!(run_n("nn.top_k", vec![], &[x, i64s(&[1], &[5])], 2).is_err());
    }
}
