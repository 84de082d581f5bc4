//! `nn.arg_reduce`: the index of the largest or smallest element along one axis (ONNX
//! `ArgMax`, `ArgMin`). Ports: `0` data in, `0` out (i64). Attributes: `fn` (str: `max` or
//! `min`), `axis` (i64, default 0), `keepdims` (i64, default 1), `select_last_index` (i64,
//! default 0: the first of equal extremes; 1: the last).
//!
//! Dtypes: every numeric dtype (compared as f64). A NaN is never selected unless it is the
//! first element of its slice. An empty axis is a shape error.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{checked_len, dtype_error};
use crate::ops::nn::{Inputs, attr_i64, norm_axis, norm_axis_at, shape_error, tensor_out};
use crate::tensor::{Dim, Tensor, TensorType};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct ArgReduce {
    inputs: Inputs,
    max: bool,
    axis: i64,
    keepdims: bool,
    last: bool,
    dtype: DType,
}

impl Kernel for ArgReduce {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        if x.dtype() != self.dtype {
            return Err(dtype_error("data", self.dtype, x.dtype()));
        }
        checked_len(&x, "data")?;
        let axis = norm_axis_at(self.axis, x.rank(), "data")?;
        let len = x.shape[axis];
        if len == 0 {
            return Err(shape_error(
                "data",
                format!("a non-empty axis {axis}"),
                format!("{:?}", x.shape),
            ));
        }
        let inner: usize = x.shape[axis + 1..].iter().product();
        let v = x.data.to_f64_vec();
        let mut out = Vec::with_capacity(v.len() / len);
        // An empty inner extent means no elements at all (and no answers to give).
        for block in v.chunks((len * inner).max(1)) {
            for i in 0..inner {
                let mut best = 0;
                for k in 1..len {
                    let (c, b) = (block[k * inner + i], block[best * inner + i]);
                    let better = if self.max { c > b } else { c < b };
                    if better || (self.last && c == b) {
                        best = k;
                    }
                }
                out.push(best as i64);
            }
        }
        let mut shape = x.shape.clone();
        if self.keepdims {
            shape[axis] = 1;
        } else {
            shape.remove(axis);
        }
        Ok(vec![Value::Tensor(Tensor::new(shape, out)?)])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let x = inputs.ty(0).clone();
    if !x.dtype.is_tensor_element() || x.dtype == DType::Bool {
        return Err(ctx.err(format!("takes numbers, not {}", x.dtype)));
    }
    let max = match ctx.str("fn")? {
        "max" => true,
        "min" => false,
        other => return Err(ctx.err(format!("unknown fn `{other}`"))),
    };
    let axis = attr_i64(ctx, "axis", 0)?;
    let a = norm_axis(ctx, axis, x.rank())?;
    let keepdims = attr_i64(ctx, "keepdims", 1)? != 0;
    let last = attr_i64(ctx, "select_last_index", 0)? != 0;
    let mut shape = x.shape.clone();
    if keepdims {
        shape[a] = Dim::Known(1);
    } else {
        shape.remove(a);
    }
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: DType::I64,
            shape,
        },
    )?;
    Ok(Built {
        kernel: Box::new(ArgReduce {
            inputs,
            max,
            axis,
            keepdims,
            last,
            dtype: x.dtype,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, run};
    use crate::tensor::Tensor;
    use keel_bundle::Attr;

    fn arg(f: &str, axis: i64, keep: i64, last: i64, x: &Tensor) -> Tensor {
        let attrs = vec![
            ("fn", Attr::Str(f.into())),
            ("axis", Attr::I64(axis)),
            ("keepdims", Attr::I64(keep)),
            ("select_last_index", Attr::I64(last)),
        ];
        run("nn.arg_reduce", attrs, std::slice::from_ref(x))
            .unwrap()
            .remove(0)
    }

    #[test]
    fn first_or_last_extreme() {
        // test_argmax_*_select_last_index's data: [[2, 2], [3, 10]].
        let x = f32s(&[2, 2], &[2.0, 2.0, 3.0, 10.0]);
        assert_eq!(arg("max", 1, 1, 0, &x).as_slice::<i64>().unwrap(), &[0, 1]);
        assert_eq!(arg("max", 1, 1, 1, &x).as_slice::<i64>().unwrap(), &[1, 1]);
        assert_eq!(arg("max", 1, 1, 0, &x).shape, vec![2, 1]);
        let a0 = arg("min", 0, 0, 0, &x);
        assert_eq!(a0.shape, vec![2]);
        assert_eq!(a0.as_slice::<i64>().unwrap(), &[0, 0]);
        assert_eq!(arg("min", -1, 0, 1, &x).as_slice::<i64>().unwrap(), &[1, 0]);
    }

    #[test]
    fn axes_are_checked_at_load() {
        let x = f32s(&[2], &[1.0, 2.0]);
        let attrs = vec![("fn", Attr::Str("max".into())), ("axis", Attr::I64(1))];
        assert!(run("nn.arg_reduce", attrs, &[x]).is_err());
    }
}
