//! `nn.trilu` (ONNX Trilu): keeps the upper or lower triangle of the last two axes, zeroing
//! the rest. Ports: `0` input (rank >= 2, any dtype), optional `1` k (an integer scalar, the
//! diagonal offset; default 0) -> `0`. Attribute `upper` (i64, 1 keeps `j - i >= k`, 0 keeps
//! `j - i <= k`; default 1).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{int_input, port_ints, take_or, tensor_value};
use crate::ops::nn::{Inputs, attr_i64, shape_error, tensor_out};
use crate::tensor::{TensorData, checked_elements};
use crate::value::Value;

#[derive(Debug)]
struct Trilu {
    inputs: Inputs,
    upper: bool,
}

impl Kernel for Trilu {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let k = match self.inputs.get(inputs, 1)? {
            None => 0,
            Some(_) => match port_ints(&self.inputs, inputs, 1, "k")?.as_slice() {
                [k] => *k,
                other => return Err(shape_error("k", "one integer", format!("{other:?}"))),
            },
        };
        let r = x.rank();
        if r < 2 {
            return Err(shape_error("input", "rank >= 2", format!("{:?}", x.shape)));
        }
        let (rows, cols) = (x.shape[r - 2], x.shape[r - 1]);
        let n = checked_elements(&x.shape, "input")?;
        // Element `p` sits at row `(p / cols) % rows`, column `p % cols`; `None` is a zero.
        let idx: Vec<Option<usize>> = (0..n)
            .map(|p| {
                let (i, j) = ((p / cols.max(1)) % rows.max(1), p % cols.max(1));
                let d = j as i128 - i as i128;
                let keep = if self.upper {
                    d >= i128::from(k)
                } else {
                    d <= i128::from(k)
                };
                keep.then_some(p)
            })
            .collect();
        let zero = TensorData::zeros(x.dtype(), 1)
            .ok_or_else(|| shape_error("input", "a tensor dtype", x.dtype().as_str()))?;
        Ok(vec![tensor_value(
            x.shape.clone(),
            take_or(&x.data, &idx, &zero)?,
        )?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 2)?;
    let x = inputs.ty(0).clone();
    if x.rank() < 2 || !x.dtype.is_tensor_element() {
        return Err(ctx.err(format!("input must be a tensor of rank >= 2, found {x}")));
    }
    if let Some(k) = inputs.opt(1)
        && int_input(ctx, k, "k")? != Some(1)
    {
        return Err(ctx.err(format!("k must be one integer, found {k}")));
    }
    let upper = match attr_i64(ctx, "upper", 1)? {
        0 => false,
        1 => true,
        v => return Err(ctx.err(format!("upper must be 0 or 1, found {v}"))),
    };
    let out = tensor_out(ctx, "0", x)?;
    Ok(Built {
        kernel: Box::new(Trilu { inputs, upper }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{i64s, run};
    use keel_bundle::Attr;

    #[test]
    fn triangles_with_offsets() {
        // [[1 2 3], [4 5 6]]
        let x = i64s(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let up = |attrs, k: Option<i64>| {
            let mut ins = vec![x.clone()];
            if let Some(k) = k {
                ins.push(i64s(&[], &[k]));
            }
            run("nn.trilu", attrs, &ins).unwrap().remove(0)
        };
        assert_eq!(up(vec![], None), i64s(&[2, 3], &[1, 2, 3, 0, 5, 6]));
        assert_eq!(up(vec![], Some(1)), i64s(&[2, 3], &[0, 2, 3, 0, 0, 6]));
        assert_eq!(
            up(vec![("upper", Attr::I64(0))], None),
            i64s(&[2, 3], &[1, 0, 0, 4, 5, 0])
        );
        assert_eq!(
            up(vec![("upper", Attr::I64(0))], Some(-1)),
            i64s(&[2, 3], &[0, 0, 0, 4, 0, 0])
        );
        // Batched: the same triangle per matrix.
        let b = i64s(&[2, 1, 2], &[1, 2, 3, 4]);
        let out = run("nn.trilu", vec![("upper", Attr::I64(0))], &[b]).unwrap();
        assert_eq!(out[0], i64s(&[2, 1, 2], &[1, 0, 3, 0]));
    }
}
