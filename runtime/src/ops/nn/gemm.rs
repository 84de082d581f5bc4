//! `nn.gemm`: ONNX Gemm, `Y = alpha * A' · B' + beta * C`. Ports: `0` A, `1` B, optional `2` C
//! -> `0` Y. Attributes: `alpha` (1.0), `beta` (1.0), `transA` (0), `transB` (0), and keel's
//! `activation` (`relu`, `sigmoid` or `tanh`; none by default): applied to Y in the same pass,
//! with `nn.unary`'s arithmetic (a Dense layer; the ONNX importer fuses `Gemm` + activation).
//!
//! A' is A `[M, K]` (or A transposed when `transA` is 1, A being `[K, M]`), B' likewise
//! `[K, N]`; C broadcasts to `[M, N]` (unidirectionally). Floats only (f32, f64; f16 and bf16
//! computed in f32; a constant B is converted once, at load).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::linalg::{
    MatRef, Real, constant_operand, is_float, matmul, real_slice, real_tensor,
};
use crate::ops::nn::unary::Activation;
use crate::ops::nn::{
    Inputs, attr_f64, attr_i64, broadcast_dims, broadcast_index, broadcast_run, shape_error,
    tensor_out,
};
use crate::tensor::{Tensor, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct Gemm {
    inputs: Inputs,
    dtype: DType,
    alpha: f64,
    beta: f64,
    trans_a: bool,
    trans_b: bool,
    /// B in the computing dtype when it is known at load (a layer's weight).
    b: Option<Tensor>,
    /// The activation applied to Y, if any.
    activation: Option<Activation>,
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 3)?;
    let (a, b) = (inputs.ty(0), inputs.ty(1));
    let dtype = a.dtype;
    if b.dtype != dtype || !is_float(dtype) || inputs.opt(2).is_some_and(|c| c.dtype != dtype) {
        return Err(ctx.err(format!(
            "takes tensors of one float dtype, got {} and {}",
            a.dtype, b.dtype
        )));
    }
    if a.rank() != 2 || b.rank() != 2 {
        return Err(ctx.err(format!("takes matrices, got {a} and {b}")));
    }
    let flag = |key: &str| -> Result<bool, Error> {
        match attr_i64(ctx, key, 0)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(ctx.err(format!("`{key}` must be 0 or 1, got {v}"))),
        }
    };
    let (trans_a, trans_b) = (flag("transA")?, flag("transB")?);
    let (m, ka) = if trans_a {
        (&a.shape[1], &a.shape[0])
    } else {
        (&a.shape[0], &a.shape[1])
    };
    let (kb, n) = if trans_b {
        (&b.shape[1], &b.shape[0])
    } else {
        (&b.shape[0], &b.shape[1])
    };
    if let (Some(x), Some(y)) = (ka.known(), kb.known())
        && x != y
    {
        return Err(ctx.err(format!("A' has {x} columns but B' has {y} rows")));
    }
    let shape = vec![m.clone(), n.clone()];
    if let Some(c) = inputs.opt(2) {
        let ok = c.rank() <= 2
            && broadcast_dims(&c.shape, &shape).is_some_and(|d| {
                d.iter()
                    .zip(&shape)
                    .all(|(x, y)| x == y || x.known().is_none())
            });
        if !ok {
            return Err(ctx.err(format!("C {c} does not broadcast to [{m}, {n}]")));
        }
    }
    let out = tensor_out(ctx, "0", TensorType { dtype, shape })?;
    let mut b = constant_operand(ctx.constant_input("1"))?;
    let mut trans_b = trans_b;
    if trans_b && let Some(t) = b.take() {
        // A constant B' = B^T is stored transposed once, at load: the product then reads B
        // row by row, as the packing routine streams it, on every batch.
        b = Some(transposed(&t)?);
        trans_b = false;
    }
    let activation = Activation::read(ctx)?;
    Ok(Built {
        kernel: Box::new(Gemm {
            activation,
            inputs,
            dtype,
            alpha: attr_f64(ctx, "alpha", 1.0)?,
            beta: attr_f64(ctx, "beta", 1.0)?,
            trans_a,
            trans_b,
            b,
        }),
        outputs: vec![out],
    })
}

impl Kernel for Gemm {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let a = self.inputs.req(inputs, 0)?;
        let b_in;
        let b = match &self.b {
            Some(b) => b,
            None => {
                b_in = self.inputs.req(inputs, 1)?;
                &*b_in
            }
        };
        let c = self.inputs.get(inputs, 2)?;
        let y = match self.dtype {
            DType::F64 => self.product::<f64>(&a, b, c.as_deref())?,
            _ => self.product::<f32>(&a, b, c.as_deref())?,
        };
        Ok(vec![Value::Tensor(y)])
    }
}

/// The transpose of a matrix (rank 2), any dtype.
fn transposed(t: &Tensor) -> Result<Tensor, Error> {
    let &[r, c] = t.shape.as_slice() else {
        return Err(shape_error("B", "a matrix", format!("{:?}", t.shape)));
    };
    let data = crate::with_data!(&t.data, v => {
        let mut out = Vec::with_capacity(v.len());
        for j in 0..c {
            for i in 0..r {
                out.push(v[i * c + j]);
            }
        }
        crate::tensor::Element::wrap(out)
    });
    Tensor::from_data(vec![c, r], data)
}

impl Gemm {
    fn product<T: Real>(
        &self,
        a: &Tensor,
        b: &Tensor,
        c: Option<&Tensor>,
    ) -> Result<Tensor, Error> {
        let (&[a0, a1], &[b0, b1]) = (a.shape.as_slice(), b.shape.as_slice()) else {
            return Err(shape_error("A", "matrices", format!("{:?}", a.shape)));
        };
        let (m, k) = if self.trans_a { (a1, a0) } else { (a0, a1) };
        let (kb, n) = if self.trans_b { (b1, b0) } else { (b0, b1) };
        if k != kb {
            return Err(shape_error(
                "B",
                format!("{k} rows after transB"),
                format!("{:?}", b.shape),
            ));
        }
        let total = checked_elements(&[m, n], "Y")?;
        let av = real_slice::<T>(a, "A")?;
        let bv = real_slice::<T>(b, "B")?;
        let mut out = vec![T::ZERO; total];
        let beta = T::from_f64(self.beta);
        let mut accumulate = T::ZERO;
        if let Some(c) = c
            && self.beta != 0.0
        {
            let cv = real_slice::<T>(c, "C")?;
            let fits = c.rank() <= 2
                && c.shape
                    .iter()
                    .rev()
                    .zip([n, m])
                    .all(|(&d, want)| d == want || d == 1);
            if !fits {
                return Err(shape_error(
                    "C",
                    format!("a shape that broadcasts to [{m}, {n}]"),
                    format!("{:?}", c.shape),
                ));
            }
            if cv.len() == total {
                for (o, &x) in out.iter_mut().zip(cv.iter()) {
                    *o = beta * x;
                }
            } else if c.shape.last() == Some(&n) && cv.len() == n && n > 0 {
                // A bias row (`[n]` or `[1, n]`), a layer's usual C: scaled once, copied into
                // every output row.
                let row: Vec<T> = cv.iter().map(|&x| beta * x).collect();
                for chunk in out.chunks_exact_mut(n) {
                    chunk.copy_from_slice(&row);
                }
            } else if let Some(run) = broadcast_run(&c.shape, &[m, n]).filter(|_| !cv.is_empty()) {
                // A bias column (or scalar): repeated in runs, no index table.
                for (k, chunk) in out.chunks_mut(run.max(1)).enumerate() {
                    chunk.fill(beta * cv[k % cv.len()]);
                }
            } else {
                for (o, i) in out.iter_mut().zip(broadcast_index(&c.shape, &[m, n])) {
                    *o = beta * cv[i];
                }
            }
            accumulate = T::ONE;
        }
        let am = if self.trans_a {
            MatRef::transposed(&av, a1)
        } else {
            MatRef::rows(&av, a1)
        };
        let bm = if self.trans_b {
            MatRef::transposed(&bv, b1)
        } else {
            MatRef::rows(&bv, b1)
        };
        matmul(
            m,
            n,
            k,
            am,
            bm,
            &mut out,
            T::from_f64(self.alpha),
            accumulate,
        )?;
        if let Some(act) = self.activation {
            act.apply(self.dtype, &mut out);
        }
        real_tensor(self.dtype, vec![m, n], out)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run, run_opt};
    use keel_bundle::Attr;

    #[test]
    fn transposes_scales_and_bias() {
        // A' = A^T = [[1, 3], [2, 4]], B' = B^T = [[1, 0], [1, 1]] (B = [[1, 1], [0, 1]]).
        let a = f32s(&[2, 2], &[1., 2., 3., 4.]);
        let b = f32s(&[2, 2], &[1., 1., 0., 1.]);
        let c = f32s(&[2], &[10., 20.]);
        let y = run(
            "nn.gemm",
            vec![
                ("transA", Attr::I64(1)),
                ("transB", Attr::I64(1)),
                ("alpha", Attr::F64(2.0)),
                ("beta", Attr::F64(0.5)),
            ],
            &[a, b, c],
        )
        .unwrap();
        // A'B' = [[1+3, 3], [2+4, 4]] = [[4, 3], [6, 4]]; *2 + [5, 10].
        assert_close(&y[0], &f32s(&[2, 2], &[13., 16., 17., 18.]), 0.0);
    }

    #[test]
    fn without_c_and_with_a_scalar_c() {
        let a = f32s(&[1, 3], &[1., 2., 3.]);
        let b = f32s(&[3, 1], &[1., 1., 1.]);
        let y = run_opt("nn.gemm", vec![], &[Some(&a), Some(&b), None], 1).unwrap();
        assert_close(&y[0], &f32s(&[1, 1], &[6.]), 0.0);
        let c = f32s(&[], &[1.]);
        let y = run("nn.gemm", vec![], &[a.clone(), b, c]).unwrap();
        assert_close(&y[0], &f32s(&[1, 1], &[7.]), 0.0);
        let bad = f32s(&[2, 1], &[1., 1.]);
        assert!(run("nn.gemm", vec![], &[a, bad]).is_err());
    }

    #[test]
    fn a_fused_activation_is_bit_for_bit_the_unary_after_it() {
        use crate::tensor::{Tensor, TensorData};
        // Values around 0 (relu's edge) and large enough to saturate sigmoid and tanh.
        let a = f32s(&[3, 2], &[1.5, -2.0, 0.25, 3.0, -7.5, 0.125]);
        let b = f32s(&[2, 3], &[0.5, -1.0, 2.0, 1.25, 0.0, -0.375]);
        let c = f32s(&[3], &[0.1, -0.2, 0.3]);
        let half = |t: &Tensor| -> Tensor {
            let v: Vec<half::f16> = t
                .as_slice::<f32>()
                .unwrap()
                .iter()
                .map(|&x| half::f16::from_f32(x))
                .collect();
            Tensor::from_data(t.shape.clone(), TensorData::F16(v.into())).unwrap()
        };
        for (a, b, c) in [
            (a.clone(), b.clone(), c.clone()),
            (half(&a), half(&b), half(&c)),
        ] {
            for act in ["relu", "sigmoid", "tanh"] {
                let fused = run(
                    "nn.gemm",
                    vec![("activation", Attr::Str(act.into()))],
                    &[a.clone(), b.clone(), c.clone()],
                )
                .unwrap();
                let y = run("nn.gemm", vec![], &[a.clone(), b.clone(), c.clone()]).unwrap();
                let want = run("nn.unary", vec![("fn", Attr::Str(act.into()))], &y).unwrap();
                assert_eq!(fused, want, "{act} on {:?}", a.dtype());
            }
        }
        let e = run(
            "nn.gemm",
            vec![("activation", Attr::Str("softmax".into()))],
            &[a, b, c],
        )
        .unwrap_err();
        assert!(e.to_string().contains("activation `softmax`"), "{e}");
    }
}
