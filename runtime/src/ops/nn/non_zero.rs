//! `nn.non_zero` (ONNX NonZero): the indices of the non-zero elements, row-major. Ports: `0` X
//! (any dtype; a rank-0 X is treated as one element of rank 1, as NumPy's `nonzero` on a
//! 0-d array is deprecated and ONNX's reference reshapes it) -> `0` i64 `[rank, count]`; the
//! count is known only at score time.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::tensor_value;
use crate::ops::nn::{Inputs, shape_error, strides, tensor_out};
use crate::tensor::{Dim, TensorData, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;
use std::sync::Arc;

#[derive(Debug)]
struct NonZero(Inputs);

impl Kernel for NonZero {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.0.req(inputs, 0)?;
        let nz: Vec<bool> = match &x.data {
            TensorData::Bool(v) => v.to_vec(),
            // NaN is non-zero, as in NumPy.
            d => d.to_f64_vec().iter().map(|&v| v != 0.0).collect(),
        };
        let shape = if x.rank() == 0 {
            vec![1]
        } else {
            x.shape.clone()
        };
        if checked_elements(&shape, "X")? != nz.len() {
            return Err(shape_error(
                "X",
                format!("shape {shape:?}"),
                format!("{} elements", nz.len()),
            ));
        }
        let hits: Vec<usize> = (0..nz.len()).filter(|&p| nz[p]).collect();
        let (rank, st) = (shape.len(), strides(&shape));
        let mut out = Vec::with_capacity(rank * hits.len());
        for a in 0..rank {
            // The coordinate on axis `a` of flat position `p`.
            out.extend(hits.iter().map(|&p| ((p / st[a]) % shape[a]) as i64));
        }
        Ok(vec![tensor_value(
            vec![rank, hits.len()],
            TensorData::I64(Arc::new(out)),
        )?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let x = inputs.ty(0);
    if !x.dtype.is_tensor_element() {
        return Err(ctx.err(format!("X must be a tensor, found {x}")));
    }
    let ty = TensorType {
        dtype: DType::I64,
        shape: vec![Dim::Known(x.rank().max(1)), Dim::unknown()],
    };
    let out = tensor_out(ctx, "0", ty)?;
    Ok(Built {
        kernel: Box::new(NonZero(inputs)),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};

    #[test]
    fn indices_of_non_zeros_by_axis() {
        // [[1 0], [1 1]] -> rows [0 1 1], columns [0 0 1].
        let x = f32s(&[2, 2], &[1., 0., 1., 1.]);
        let out = run("nn.non_zero", vec![], &[x]).unwrap();
        assert_eq!(out[0], i64s(&[2, 3], &[0, 1, 1, 0, 0, 1]));
        let none = run("nn.non_zero", vec![], &[i64s(&[3], &[0, 0, 0])]).unwrap();
        assert_eq!(none[0], i64s(&[1, 0], &[]));
    }
}
