//! `nn.matmul`: ONNX MatMul, NumPy `matmul` semantics. Ports: `0` A, `1` B -> `0` Y. No
//! attributes.
//!
//! A 1-D A is a row `[1, K]` and a 1-D B a column `[K, 1]`, and the added axis is dropped from the
//! result; the axes before the last two are batch axes and broadcast. Floats only (f32, f64;
//! f16 and bf16 computed in f32; a constant B is converted once, at load).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::linalg::{
    MatRef, Real, constant_operand, is_float, matmul, real_slice, real_tensor,
};
use crate::ops::nn::{Inputs, broadcast_dims, broadcast_shape, shape_error, strides, tensor_out};
use crate::tensor::{Tensor, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct MatMul {
    inputs: Inputs,
    dtype: DType,
    /// B in the computing dtype when it is known at load (a layer's weight).
    b: Option<Tensor>,
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 2)?;
    let (a, b) = (inputs.ty(0), inputs.ty(1));
    if a.dtype != b.dtype || !is_float(a.dtype) {
        return Err(ctx.err(format!(
            "takes two tensors of one float dtype, got {} and {}",
            a.dtype, b.dtype
        )));
    }
    if a.rank() == 0 || b.rank() == 0 {
        return Err(ctx.err("takes tensors of rank 1 or more"));
    }
    let (ka, kb) = (&a.shape[a.rank() - 1], &b.shape[b.rank().saturating_sub(2)]);
    if let (Some(x), Some(y)) = (ka.known(), kb.known())
        && x != y
    {
        return Err(ctx.err(format!("A's {x} columns do not match B's {y} rows")));
    }
    let a_batch = &a.shape[..a.rank().saturating_sub(2)];
    let b_batch = &b.shape[..b.rank().saturating_sub(2)];
    let mut shape = broadcast_dims(a_batch, b_batch)
        .ok_or_else(|| ctx.err(format!("batch axes of {a} and {b} do not broadcast")))?;
    if a.rank() >= 2 {
        shape.push(a.shape[a.rank() - 2].clone());
    }
    if b.rank() >= 2 {
        shape.push(b.shape[b.rank() - 1].clone());
    }
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: a.dtype,
            shape,
        },
    )?;
    let dtype = a.dtype;
    Ok(Built {
        kernel: Box::new(MatMul {
            inputs,
            dtype,
            b: constant_operand(ctx.constant_input("1"))?,
        }),
        outputs: vec![out],
    })
}

impl Kernel for MatMul {
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
        let y = match self.dtype {
            DType::F64 => product::<f64>(&a, b, self.dtype)?,
            _ => product::<f32>(&a, b, self.dtype)?,
        };
        Ok(vec![Value::Tensor(y)])
    }
}

/// A·B for tensors of any rank >= 1 (NumPy `matmul`).
fn product<T: Real>(a: &Tensor, b: &Tensor, dtype: DType) -> Result<Tensor, Error> {
    if a.rank() == 0 || b.rank() == 0 {
        return Err(shape_error("A", "rank 1 or more", "a scalar"));
    }
    // Promote 1-D operands to matrices (a row for A, a column for B).
    let (m, k) = match a.shape.as_slice() {
        [k] => (1, *k),
        [.., m, k] => (*m, *k),
        [] => (1, 1),
    };
    let (kb, n) = match b.shape.as_slice() {
        [k] => (*k, 1),
        [.., k, n] => (*k, *n),
        [] => (1, 1),
    };
    if k != kb {
        return Err(shape_error(
            "B",
            format!("{k} rows (A's columns)"),
            format!("{:?}", b.shape),
        ));
    }
    let a_batch = &a.shape[..a.rank().saturating_sub(2)];
    let b_batch = &b.shape[..b.rank().saturating_sub(2)];
    let batch = broadcast_shape(a_batch, b_batch)?;
    let mut shape = batch.clone();
    if a.rank() >= 2 {
        shape.push(m);
    }
    if b.rank() >= 2 {
        shape.push(n);
    }
    let total = checked_elements(&shape, "Y")?;
    let av = real_slice::<T>(a, "A")?;
    let bv = real_slice::<T>(b, "B")?;
    let mut out = vec![T::ZERO; total];
    if b_batch.is_empty() {
        // B is one matrix: A's batch folds into its rows, one product for the whole tensor.
        let rows = total.checked_div(n).unwrap_or(0);
        matmul(
            rows,
            n,
            k,
            MatRef::rows(&av, k),
            MatRef::rows(&bv, n),
            &mut out,
            T::ONE,
            T::ZERO,
        )?;
        return real_tensor(dtype, shape, out);
    }
    let nb: usize = batch.iter().product();
    let (sa, sb) = (
        batch_offsets(a_batch, &batch),
        batch_offsets(b_batch, &batch),
    );
    let (ma, mb) = (m * k, k * n);
    for (i, chunk) in out.chunks_mut((m * n).max(1)).enumerate().take(nb) {
        let (oa, ob) = (sa[i] * ma, sb[i] * mb);
        let (Some(ra), Some(rb)) = (av.get(oa..oa + ma), bv.get(ob..ob + mb)) else {
            return Err(shape_error("A", "matrices inside the buffer", "short data"));
        };
        matmul(
            m,
            n,
            k,
            MatRef::rows(ra, k),
            MatRef::rows(rb, n),
            chunk,
            T::ONE,
            T::ZERO,
        )?;
    }
    real_tensor(dtype, shape, out)
}

/// For each index of the broadcast batch `out`, the index of the matrix an operand with batch
/// axes `shape` reads.
fn batch_offsets(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let st = strides(shape);
    let nb: usize = out.iter().product();
    let lead = out.len() - shape.len();
    (0..nb)
        .map(|mut flat| {
            let mut off = 0;
            for ax in (0..out.len()).rev() {
                let i = flat % out[ax];
                flat /= out[ax];
                if ax >= lead && shape[ax - lead] != 1 {
                    off += i * st[ax - lead];
                }
            }
            off
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run};
    use crate::tensor::Tensor;

    #[test]
    fn two_matrices() {
        let a = f32s(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let b = f32s(&[3, 2], &[7., 8., 9., 10., 11., 12.]);
        let y = run("nn.matmul", vec![], &[a, b]).unwrap();
        // [1*7+2*9+3*11, 1*8+2*10+3*12] = [58, 64]; [139, 154]
        assert_close(&y[0], &f32s(&[2, 2], &[58., 64., 139., 154.]), 0.0);
    }

    #[test]
    fn vectors_are_promoted_and_dropped() {
        let v = f32s(&[3], &[1., 2., 3.]);
        let y = run("nn.matmul", vec![], &[v.clone(), v.clone()]).unwrap();
        assert_close(&y[0], &Tensor::scalar(14f32), 0.0);
        let m = f32s(&[3, 2], &[1., 0., 0., 1., 1., 1.]);
        let y = run("nn.matmul", vec![], &[v.clone(), m.clone()]).unwrap();
        assert_close(&y[0], &f32s(&[2], &[4., 5.]), 0.0);
        let mt = f32s(&[2, 3], &[1., 0., 1., 0., 1., 1.]);
        let y = run("nn.matmul", vec![], &[mt, v]).unwrap();
        assert_close(&y[0], &f32s(&[2], &[4., 5.]), 0.0);
    }

    #[test]
    fn batches_broadcast() {
        // A [2, 1, 2, 2] (two identity-scaled matrices), B [3, 2, 2].
        let a = f32s(&[2, 1, 2, 2], &[1., 0., 0., 1., 2., 0., 0., 2.]);
        let b: Vec<f32> = (0..12).map(|x| x as f32).collect();
        let b = f32s(&[3, 2, 2], &b);
        let y = run("nn.matmul", vec![], &[a, b]).unwrap();
        assert_eq!(y[0].shape, vec![2, 3, 2, 2]);
        let want: Vec<f32> = (0..12)
            .map(|x| x as f32)
            .chain((0..12).map(|x| 2.0 * x as f32))
            .collect();
        assert_close(&y[0], &f32s(&[2, 3, 2, 2], &want), 0.0);
    }

    #[test]
    fn f64_and_mismatches() {
        let a = Tensor::new(vec![1, 2], vec![1f64, 2.]).unwrap();
        let b = Tensor::new(vec![2, 1], vec![3f64, 4.]).unwrap();
        let y = run("nn.matmul", vec![], &[a.clone(), b]).unwrap();
        assert_eq!(y[0].as_slice::<f64>().unwrap(), &[11.0]);
        let bad = Tensor::new(vec![3, 1], vec![1f64, 2., 3.]).unwrap();
        assert!(run("nn.matmul", vec![], &[a, bad]).is_err());
    }
}
