//! `nn.scatter_nd` (ONNX ScatterND): a copy of `data` with slices replaced (or combined) at
//! the index tuples in the last axis of `indices`. Ports: `0` data (rank r >= 1), `1` indices
//! (i64/i32, rank q >= 1, last dimension k <= r; negative counts from the end), `2` updates
//! (shape `indices[..q-1] ++ data[k..]`, data's dtype) -> `0` (data's type). Attribute
//! `reduction` (str: `none` (default, the last write wins), `add`, `mul`, `max`, `min`).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::gather_nd::tuple_offsets;
use crate::ops::nn::layout::tensor_value;
use crate::ops::nn::scatter_elements::{Reduction, reduction, scatter};
use crate::ops::nn::{Inputs, shape_error, tensor_out};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct ScatterNd {
    inputs: Inputs,
    r: Reduction,
}

impl Kernel for ScatterNd {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let ind = self.inputs.req(inputs, 1)?;
        let upd = self.inputs.req(inputs, 2)?;
        let (offs, slice) = tuple_offsets(&x.shape, &ind, 0)?;
        let k = ind.shape.last().copied().unwrap_or(0);
        let mut want = ind.shape[..ind.rank() - 1].to_vec();
        want.extend_from_slice(&x.shape[k..]);
        if upd.shape != want {
            return Err(shape_error(
                "updates",
                format!("{want:?}"),
                format!("{:?}", upd.shape),
            ));
        }
        let pairs: Vec<(usize, usize)> = offs
            .iter()
            .enumerate()
            .flat_map(|(t, &o)| (0..slice).map(move |e| (o + e, t * slice + e)))
            .collect();
        let out = scatter(&x, &upd, &pairs, self.r)?;
        Ok(vec![tensor_value(out.shape, out.data)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 3, 3)?;
    let x = inputs.ty(0).clone();
    let (ind, upd) = (inputs.ty(1), inputs.ty(2));
    if !matches!(ind.dtype, DType::I64 | DType::I32) || ind.rank() == 0 {
        return Err(ctx.err(format!(
            "indices must be i64 or i32 of rank >= 1, found {ind}"
        )));
    }
    if x.rank() == 0 || upd.dtype != x.dtype {
        return Err(ctx.err(format!(
            "data {x} needs rank >= 1 and updates {upd} its dtype"
        )));
    }
    let r = reduction(ctx, x.dtype)?;
    let out = tensor_out(ctx, "0", x)?;
    Ok(Built {
        kernel: Box::new(ScatterNd { inputs, r }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{i64s, run};
    use keel_bundle::Attr;

    #[test]
    fn tuples_replace_elements_and_rows() {
        // data [1 2 3 4 5 6 7 8], indices [[4], [3], [1], [7]], updates [9 10 11 12]:
        // ONNX's ScatterND example 1 -> [1 11 3 10 9 6 7 12].
        let x = i64s(&[8], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let i = i64s(&[4, 1], &[4, 3, 1, 7]);
        let u = i64s(&[4], &[9, 10, 11, 12]);
        let out = run("nn.scatter_nd", vec![], &[x.clone(), i, u]).unwrap();
        assert_eq!(out[0], i64s(&[8], &[1, 11, 3, 10, 9, 6, 7, 12]));
        // Rows of a matrix, with mul and a duplicate tuple (row 0 twice: 1*2*3 and 2*2*3).
        let m = i64s(&[2, 2], &[1, 2, 3, 4]);
        let out = run(
            "nn.scatter_nd",
            vec![("reduction", Attr::Str("mul".into()))],
            &[
                m.clone(),
                i64s(&[2, 1], &[0, -2]),
                i64s(&[2, 2], &[2, 2, 3, 3]),
            ],
        )
        .unwrap();
        assert_eq!(out[0], i64s(&[2, 2], &[6, 12, 3, 4]));
        assert!(
            run(
                "nn.scatter_nd",
                vec![],
                &[m, i64s(&[1, 1], &[0]), i64s(&[1, 3], &[0, 0, 0])]
            )
            .is_err()
        );
    }
}
