//! `nn.variadic`: an elementwise reduction over any number of tensors with NumPy broadcasting
//! (ONNX `Sum`, `Mean`, `Min`, `Max`). Ports: `0..n` in (n >= 1, all of one dtype), `0` out.
//! Attribute: `fn` (str): `sum`, `mean`, `min` or `max`.
//!
//! Dtypes: f32, f64, f16, bf16 (computed in f32); `sum`, `min`, `max` also on i64, i32, i8,
//! u8. `min`/`max` propagate NaN.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{BinFn, dtype_error, eval_binary};
use crate::ops::nn::cast::{cast_data, narrow, widen};
use crate::ops::nn::{Inputs, broadcast_dims, tensor_out};
use crate::tensor::{Tensor, TensorData, TensorType};
use crate::value::Value;
use keel_bundle::DType;

/// The most inputs one node may take (ONNX puts no bound; this one keeps plans sane).
const MAX_INPUTS: usize = 1 << 16;

#[derive(Debug)]
struct Variadic {
    inputs: Inputs,
    f: BinFn,
    mean: bool,
    dtype: DType,
}

impl Kernel for Variadic {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let mut acc: Option<Tensor> = None;
        for i in 0..self.inputs.len() {
            let t = self.inputs.req(inputs, i)?;
            if t.dtype() != self.dtype {
                return Err(dtype_error(&i.to_string(), self.dtype, t.dtype()));
            }
            let t = widen(&t);
            acc = Some(match acc {
                None => t.into_owned(),
                Some(a) => eval_binary(self.f, false, &a, &t)?,
            });
        }
        let mut out = acc.ok_or_else(|| dtype_error("0", self.dtype, self.dtype))?;
        if self.mean {
            let n = TensorData::F64(vec![self.inputs.len() as f64].into());
            let n = Tensor {
                shape: vec![],
                data: cast_data(&n, out.dtype()).unwrap_or(n),
            };
            out = eval_binary(BinFn::Div, false, &out, &n)?;
        }
        Ok(vec![Value::Tensor(narrow(out, self.dtype))])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, MAX_INPUTS)?;
    let n = inputs.len();
    // Every port up to the highest bound one must be bound.
    let types: Vec<&TensorType> = (0..n)
        .map(|i| {
            inputs
                .opt(i)
                .ok_or_else(|| ctx.err(format!("input port `{i}` is not bound")))
        })
        .collect::<Result<_, _>>()?;
    let name = ctx.str("fn")?;
    let (f, mean) = match name {
        "sum" => (BinFn::Add, false),
        "mean" => (BinFn::Add, true),
        "min" => (BinFn::Min, false),
        "max" => (BinFn::Max, false),
        other => return Err(ctx.err(format!("unknown fn `{other}`"))),
    };
    let dtype = types[0].dtype;
    let float = matches!(dtype, DType::F32 | DType::F64 | DType::F16 | DType::Bf16);
    let int = matches!(dtype, DType::I64 | DType::I32 | DType::I8 | DType::U8);
    if !(float || (int && !mean)) {
        return Err(ctx.err(format!("`{name}` does not take {dtype}")));
    }
    let mut shape = types[0].shape.clone();
    for t in &types[1..] {
        if t.dtype != dtype {
            return Err(ctx.err(format!("inputs mix {dtype} and {}", t.dtype)));
        }
        shape = broadcast_dims(&shape, &t.shape)
            .ok_or_else(|| ctx.err(format!("input type {t} does not broadcast")))?;
    }
    let out = tensor_out(ctx, "0", TensorType { dtype, shape })?;
    Ok(Built {
        kernel: Box::new(Variadic {
            inputs,
            f,
            mean,
            dtype,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use keel_bundle::Attr;

    fn var(f: &str, xs: &[crate::tensor::Tensor]) -> crate::tensor::Tensor {
        run("nn.variadic", vec![("fn", Attr::Str(f.into()))], xs)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn folds_with_broadcasting() {
        let a = f32s(&[3], &[3.0, 0.0, 2.0]);
        let b = f32s(&[3], &[1.0, 3.0, 4.0]);
        let c = f32s(&[2, 1], &[2.0, 6.0]);
        let s = var("sum", &[a.clone(), b.clone(), c.clone()]);
        assert_eq!(s.shape, vec![2, 3]);
        assert_eq!(
            s.as_slice::<f32>().unwrap(),
            &[6.0, 5.0, 8.0, 10.0, 9.0, 12.0]
        );
        let m = var("mean", &[a.clone(), b.clone()]);
        assert_eq!(m.as_slice::<f32>().unwrap(), &[2.0, 1.5, 3.0]);
        assert_eq!(
            var("max", &[a.clone(), b.clone()])
                .as_slice::<f32>()
                .unwrap(),
            &[3.0, 3.0, 4.0]
        );
        assert_eq!(
            var("min", std::slice::from_ref(&a))
                .as_slice::<f32>()
                .unwrap(),
            &[3.0, 0.0, 2.0]
        );
        let i = var("min", &[i64s(&[2], &[1, 5]), i64s(&[], &[3])]);
        assert_eq!(i.as_slice::<i64>().unwrap(), &[1, 3]);
    }

    #[test]
    fn mixed_dtypes_and_int_means_are_refused() {
        let e = run(
            "nn.variadic",
            vec![("fn", Attr::Str("sum".into()))],
            &[f32s(&[1], &[1.0]), i64s(&[1], &[1])],
        );
        assert!(e.is_err());
        let e = run(
            "nn.variadic",
            vec![("fn", Attr::Str("mean".into()))],
            &[i64s(&[1], &[1])],
        );
        assert!(e.is_err());
    }
}
