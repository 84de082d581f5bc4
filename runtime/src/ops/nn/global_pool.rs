//! `nn.global_pool`: ONNX GlobalAveragePool, GlobalMaxPool and GlobalLpPool. Ports: `0` X
//! `[N, C, D1, ...]` -> `0` Y `[N, C, 1, ...]`. Attributes: `fn` (`average`, `max` or `lp`),
//! `p` (2, at least 1; `lp` only: `(sum |x|^p)^(1/p)`). Floats: f32, f64; f16 and
//! bf16 computed in f32.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::linalg::{Real, is_float, real_slice, real_tensor};
use crate::ops::nn::{Inputs, shape_error, tensor_out};
use crate::tensor::{Dim, Tensor, TensorType};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct GlobalPool {
    inputs: Inputs,
    dtype: DType,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Average,
    Max,
    /// The p-norm with this p.
    Lp(f64),
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let x = inputs.ty(0);
    if !is_float(x.dtype) || x.rank() < 2 {
        return Err(ctx.err(format!("takes a float X [N, C, ...], got {x}")));
    }
    let kind = match ctx.str("fn")? {
        "average" => Kind::Average,
        "max" => Kind::Max,
        "lp" => Kind::Lp(0.0),
        other => return Err(ctx.err(format!("unknown `fn` {other:?} (average, max, lp)"))),
    };
    let p = crate::ops::nn::attr_i64(ctx, "p", 2)?;
    let kind = match kind {
        Kind::Lp(_) if (1..=1 << 10).contains(&p) => Kind::Lp(p as f64),
        Kind::Lp(_) => return Err(ctx.err(format!("`p` must be between 1 and 1024, got {p}"))),
        _ if ctx.opt_attr("p").is_some() => return Err(ctx.err("`p` applies to `fn` lp only")),
        other => other,
    };
    let mut shape = x.shape[..2].to_vec();
    shape.resize(x.rank(), Dim::Known(1));
    let dtype = x.dtype;
    let out = tensor_out(ctx, "0", TensorType { dtype, shape })?;
    Ok(Built {
        kernel: Box::new(GlobalPool {
            inputs,
            dtype,
            kind,
        }),
        outputs: vec![out],
    })
}

impl Kernel for GlobalPool {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let y = match self.dtype {
            DType::F64 => self.pool::<f64>(&x)?,
            _ => self.pool::<f32>(&x)?,
        };
        Ok(vec![Value::Tensor(y)])
    }
}

impl GlobalPool {
    fn pool<T: Real>(&self, x: &Tensor) -> Result<Tensor, Error> {
        if x.rank() < 2 {
            return Err(shape_error("X", "rank 2 or more", format!("{:?}", x.shape)));
        }
        let xv = real_slice::<T>(x, "X")?;
        let planes = x.shape[0] * x.shape[1];
        let size: usize = x.shape[2..].iter().product();
        let out: Vec<T> = (0..planes)
            .map(|p| {
                let plane = &xv[p * size..(p + 1) * size];
                if let Kind::Lp(p) = self.kind {
                    T::from_f64(crate::ops::nn::lp_pool::lp_norm(plane.iter().copied(), p))
                } else if self.kind == Kind::Max {
                    // NaN propagates, as in the reference's max.
                    plane.iter().fold(T::NEG_INF, |m, &v| {
                        if v > m || v.is_nan() || m.is_nan() {
                            if m.is_nan() { m } else { v }
                        } else {
                            m
                        }
                    })
                } else {
                    let s = plane.iter().fold(0.0, |s, &v| s + v.to_f64());
                    T::from_f64(s / size as f64)
                }
            })
            .collect();
        let mut shape = x.shape[..2].to_vec();
        shape.resize(x.rank(), 1);
        real_tensor(self.dtype, shape, out)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run};
    use keel_bundle::Attr;

    #[test]
    fn average_and_max_per_plane() {
        let x = f32s(&[1, 2, 2, 2], &[1., 2., 3., 6., -1., -2., -3., -4.]);
        let y = run(
            "nn.global_pool",
            vec![("fn", Attr::Str("average".into()))],
            std::slice::from_ref(&x),
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 2, 1, 1], &[3., -2.5]), 0.0);
        let y = run(
            "nn.global_pool",
            vec![("fn", Attr::Str("max".into()))],
            std::slice::from_ref(&x),
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 2, 1, 1], &[6., -1.]), 0.0);
        // L2 of [1, 2, 3, 6] = sqrt(50); L1 of the second plane = 10.
        let y = run(
            "nn.global_pool",
            vec![("fn", Attr::Str("lp".into()))],
            std::slice::from_ref(&x),
        )
        .unwrap();
        let v = y[0].as_slice::<f32>().unwrap();
        assert!((v[0] - 50f32.sqrt()).abs() < 1e-6);
        let y = run(
            "nn.global_pool",
            vec![("fn", Attr::Str("lp".into())), ("p", Attr::I64(1))],
            std::slice::from_ref(&x),
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 2, 1, 1], &[12., 10.]), 1e-6);
        assert!(
            run(
                "nn.global_pool",
                vec![("fn", Attr::Str("max".into())), ("p", Attr::I64(1))],
                &[x],
            )
            .is_err()
        );
    }
}
