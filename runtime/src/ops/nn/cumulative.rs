//! `nn.cumulative` (ONNX CumSum, CumProd): running sums or products along one axis. Ports:
//! `0` x (f32, f64, f16/bf16 computed in f32, i64, i32, i8, u8), `1` axis (an integer scalar
//! or one-element 1-D tensor; negative counts from the end) -> `0` (x's type). Attributes:
//! `fn` (str: `sum`, `prod`), `exclusive` (i64 0/1: element `i` leaves out `x[i]`, so the
//! first is the identity), `reverse` (i64 0/1: accumulate from the end). Integers wrap.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{Num, checked_len, dtype_error};
use crate::ops::nn::cast::{narrow, widen};
use crate::ops::nn::layout::{int_input, port_ints};
use crate::ops::nn::{Inputs, attr_i64, norm_axis_at, shape_error, tensor_out};
use crate::tensor::{Tensor, TensorData};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct Cumulative {
    inputs: Inputs,
    prod: bool,
    exclusive: bool,
    reverse: bool,
    dtype: DType,
}

impl Cumulative {
    fn run<T: Num + FromF64>(&self, v: &[T], shape: &[usize], axis: usize) -> TensorData {
        let n = shape.get(axis).copied().unwrap_or(1);
        let inner: usize = shape.iter().skip(axis + 1).product();
        let outer: usize = shape.iter().take(axis).product();
        let one = if self.prod {
            T::from_f64(1.0)
        } else {
            T::zero()
        };
        let mut out = v.to_vec();
        for o in 0..outer {
            for i in 0..inner {
                let mut acc = one;
                for step in 0..n {
                    let j = if self.reverse { n - 1 - step } else { step };
                    let p = (o * n + j) * inner + i;
                    let (Some(&x), Some(slot)) = (v.get(p), out.get_mut(p)) else {
                        continue;
                    };
                    let next = if self.prod { acc.mul(x) } else { acc.add(x) };
                    *slot = if self.exclusive { acc } else { next };
                    acc = next;
                }
            }
        }
        T::wrap(out)
    }
}

/// Numbers from f64: the identity element of a product, `1`, in every numeric type.
trait FromF64 {
    fn from_f64(x: f64) -> Self;
}
macro_rules! from_f64 {
    ($($t:ty),*) => {$( impl FromF64 for $t { fn from_f64(x: f64) -> Self { x as $t } } )*};
}
from_f64!(f32, f64, i64, i32, i8, u8);

impl Kernel for Cumulative {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        if x.dtype() != self.dtype {
            return Err(dtype_error("x", self.dtype, x.dtype()));
        }
        checked_len(&x, "x")?;
        let axis = match port_ints(&self.inputs, inputs, 1, "axis")?.as_slice() {
            [a] => norm_axis_at(*a, x.rank(), "axis")?,
            other => return Err(shape_error("axis", "one integer", format!("{other:?}"))),
        };
        let wide = widen(&x);
        let data = crate::with_num!(&wide.data,
            v => self.run(v, &wide.shape, axis),
            o => return Err(dtype_error("x", "a numeric dtype", o.dtype())));
        let out = Tensor::from_data(x.shape.clone(), data)?;
        Ok(vec![Value::Tensor(narrow(out, self.dtype))])
    }
}

fn flag(ctx: &BuildCtx<'_>, key: &str) -> Result<bool, Error> {
    match attr_i64(ctx, key, 0)? {
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
            "x must be a numeric tensor of rank >= 1, found {x}"
        )));
    }
    if int_input(ctx, inputs.ty(1), "axis")? != Some(1) {
        return Err(ctx.err(format!("axis must be one integer, found {}", inputs.ty(1))));
    }
    let prod = match ctx.str("fn")? {
        "sum" => false,
        "prod" => true,
        other => return Err(ctx.err(format!("unknown fn `{other}` (sum, prod)"))),
    };
    let out = tensor_out(ctx, "0", x.clone())?;
    Ok(Built {
        kernel: Box::new(Cumulative {
            inputs,
            prod,
            exclusive: flag(ctx, "exclusive")?,
            reverse: flag(ctx, "reverse")?,
            dtype: x.dtype,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use keel_bundle::Attr;

    fn cum(f: &str, flags: &[&str], x: &crate::tensor::Tensor, axis: i64) -> crate::tensor::Tensor {
        let mut attrs = vec![("fn", Attr::Str(f.into()))];
        for k in flags {
            attrs.push((k, Attr::I64(1)));
        }
        run("nn.cumulative", attrs, &[x.clone(), i64s(&[], &[axis])])
            .unwrap()
            .remove(0)
    }

    #[test]
    fn sums_and_products_with_flags() {
        let x = f32s(&[4], &[1., 2., 3., 4.]);
        assert_eq!(cum("sum", &[], &x, 0), f32s(&[4], &[1., 3., 6., 10.]));
        assert_eq!(
            cum("sum", &["exclusive"], &x, 0),
            f32s(&[4], &[0., 1., 3., 6.])
        );
        assert_eq!(
            cum("sum", &["reverse"], &x, 0),
            f32s(&[4], &[10., 9., 7., 4.])
        );
        assert_eq!(
            cum("sum", &["exclusive", "reverse"], &x, 0),
            f32s(&[4], &[9., 7., 4., 0.])
        );
        assert_eq!(cum("prod", &[], &x, 0), f32s(&[4], &[1., 2., 6., 24.]));
        assert_eq!(
            cum("prod", &["exclusive"], &x, -1),
            f32s(&[4], &[1., 1., 2., 6.])
        );
        // 2-D, along axis 0 and axis 1: [[1 2 3], [4 5 6]].
        let m = i64s(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(cum("sum", &[], &m, 0), i64s(&[2, 3], &[1, 2, 3, 5, 7, 9]));
        assert_eq!(cum("sum", &[], &m, 1), i64s(&[2, 3], &[1, 3, 6, 4, 9, 15]));
        let bad = run(
            "nn.cumulative",
            vec![("fn", Attr::Str("sum".into()))],
            &[m, i64s(&[], &[2])],
        );
        assert!(bad.is_err());
    }
}
