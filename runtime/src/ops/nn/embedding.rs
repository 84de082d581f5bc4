//! `nn.embedding`: PyTorch's `nn.Embedding` at inference, a row lookup. Ports: `0` indices
//! (i64 or i32, any rank), `1` weight `[num, dim]` (any dtype) -> `0` of shape
//! `indices ++ [dim]` and the weight's dtype. Attribute `padding_idx` (i64, optional) is
//! accepted and has no effect: in PyTorch it only stops that row's gradient, the lookup returns
//! the row as stored.
//!
//! An index outside `0..num` (negative ones included, as PyTorch refuses them) is a
//! `tensor_shape` error naming the index and its position, never a panic. Not an ONNX op: the
//! importer maps the custom-domain node `ai.keel:Embedding` here.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::checked_len;
use crate::ops::nn::layout::{take, tensor_value};
use crate::ops::nn::{Inputs, attr_i64, shape_error, tensor_out};
use crate::tensor::{TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct Embedding {
    inputs: Inputs,
}

/// Row `k` of a table of `num` rows, or the error naming the index and its position.
pub(crate) fn row_index(k: i64, num: usize, pos: usize) -> Result<usize, Error> {
    usize::try_from(k).ok().filter(|&i| i < num).ok_or_else(|| {
        shape_error(
            "indices",
            format!("indices in 0..{num}"),
            format!("{k} at position {pos}"),
        )
    })
}

/// Checks at load that port `port` holds integer indices.
pub(crate) fn check_indices(ctx: &BuildCtx<'_>, ty: &TensorType, what: &str) -> Result<(), Error> {
    if !matches!(ty.dtype, DType::I64 | DType::I32) {
        return Err(ctx.err(format!("{what} must be i64 or i32, found {ty}")));
    }
    Ok(())
}

impl Kernel for Embedding {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let ind = self.inputs.req(inputs, 0)?;
        let w = self.inputs.req(inputs, 1)?;
        checked_len(&w, "weight")?;
        checked_len(&ind, "indices")?;
        let [num, dim] = w.shape[..] else {
            return Err(shape_error(
                "weight",
                "a 2-D table",
                format!("{:?}", w.shape),
            ));
        };
        let mut shape = ind.shape.clone();
        shape.push(dim);
        let n = checked_elements(&shape, "output")?;
        let mut idx = Vec::with_capacity(n);
        for (pos, k) in ind.data.to_i64_vec().into_iter().enumerate() {
            let base = row_index(k, num, pos)? * dim;
            idx.extend(base..base + dim);
        }
        Ok(vec![tensor_value(shape, take(&w.data, &idx)?)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 2)?;
    let ind = inputs.ty(0).clone();
    let w = inputs.ty(1).clone();
    check_indices(ctx, &ind, "indices")?;
    if w.rank() != 2 {
        return Err(ctx.err(format!("weight must be 2-D [num, dim], found {w}")));
    }
    // Read so that a malformed value is refused; it does not change the lookup.
    attr_i64(ctx, "padding_idx", -1)?;
    let mut shape = ind.shape.clone();
    shape.push(w.shape[1].clone());
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: w.dtype,
            shape,
        },
    )?;
    Ok(Built {
        kernel: Box::new(Embedding { inputs }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use crate::tensor::Tensor;
    use keel_bundle::Attr;

    #[test]
    fn rows_are_looked_up() {
        let w = f32s(&[3, 2], &[0., 0., 1., 2., 3., 4.]);
        let y = run(
            "nn.embedding",
            vec![("padding_idx", Attr::I64(0))],
            &[i64s(&[2, 2], &[2, 1, 0, 2]), w.clone()],
        )
        .unwrap();
        assert_eq!(y[0], f32s(&[2, 2, 2], &[3., 4., 1., 2., 0., 0., 3., 4.]));
        let y = run("nn.embedding", vec![], &[Tensor::scalar(1i32), w]).unwrap();
        assert_eq!(y[0], f32s(&[2], &[1., 2.]));
        // Any weight dtype: an i64 table.
        let w = i64s(&[2, 1], &[7, 9]);
        let y = run("nn.embedding", vec![], &[i64s(&[3], &[1, 1, 0]), w]).unwrap();
        assert_eq!(y[0], i64s(&[3, 1], &[9, 9, 7]));
    }

    #[test]
    fn indices_out_of_range_are_errors_naming_the_position() {
        let w = f32s(&[3, 2], &[0.; 6]);
        for bad in [3, -1] {
            let e = run("nn.embedding", vec![], &[i64s(&[2], &[0, bad]), w.clone()]).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("position 1"), "{msg}");
            assert!(msg.contains(&bad.to_string()), "{msg}");
        }
        // Float indices and a 1-D table are refused at load.
        assert!(run("nn.embedding", vec![], &[f32s(&[1], &[0.]), w]).is_err());
        assert!(
            run(
                "nn.embedding",
                vec![],
                &[i64s(&[1], &[0]), f32s(&[2], &[0.; 2])]
            )
            .is_err()
        );
    }
}
