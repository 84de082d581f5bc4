//! `nn.concat` (ONNX Concat): joins tensors along one axis. Ports: `0..n` (n >= 1, one dtype,
//! one rank, equal sizes off the axis) -> `0`. Attribute `axis` (i64, required by ONNX;
//! negative counts from the end).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{like, tensor_value};
use crate::ops::nn::{Inputs, norm_axis, shape_error, tensor_out};
use crate::tensor::{Dim, Element, Tensor, TensorData, TensorType, checked_elements};
use crate::value::Value;
use std::borrow::Cow;

#[derive(Debug)]
struct Concat {
    inputs: Inputs,
    rank: usize,
    axis: usize,
}

/// Copies, for each index before the axis, each part's block in turn.
fn join<T: Element>(
    first: &[T],
    parts: &[Cow<'_, Tensor>],
    axis: usize,
) -> Result<TensorData, Error> {
    let outer: usize = parts[0].shape[..axis].iter().product();
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(total);
    let slices = parts
        .iter()
        .map(|p| like(first, &p.data))
        .collect::<Option<Vec<&[T]>>>()
        .ok_or_else(|| shape_error("inputs", "one dtype", "several"))?;
    let blocks: Vec<usize> = parts
        .iter()
        .map(|p| p.shape[axis..].iter().product())
        .collect();
    for o in 0..outer {
        for (s, &b) in slices.iter().zip(&blocks) {
            let chunk = s
                .get(o * b..(o + 1) * b)
                .ok_or_else(|| shape_error("inputs", "consistent sizes", "a short buffer"))?;
            out.extend_from_slice(chunk);
        }
    }
    Ok(T::wrap(out))
}

impl Kernel for Concat {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let parts = (0..self.inputs.len())
            .map(|i| self.inputs.req(inputs, i))
            .collect::<Result<Vec<_>, _>>()?;
        let first = &parts[0];
        let mut shape = first.shape.clone();
        if shape.len() != self.rank {
            return Err(shape_error(
                "0",
                format!("rank {}", self.rank),
                format!("{shape:?}"),
            ));
        }
        shape[self.axis] = 0;
        for (i, p) in parts.iter().enumerate() {
            let fits = p.rank() == self.rank
                && (0..self.rank).all(|a| a == self.axis || p.shape[a] == first.shape[a]);
            if !fits {
                return Err(shape_error(
                    &i.to_string(),
                    format!("{:?} but along axis {}", first.shape, self.axis),
                    format!("{:?}", p.shape),
                ));
            }
            shape[self.axis] = shape[self.axis].saturating_add(p.shape[self.axis]);
        }
        checked_elements(&shape, "output")?;
        let data = crate::with_data!(&first.data, v => join(v, &parts, self.axis))?;
        Ok(vec![tensor_value(shape, data)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, usize::MAX)?;
    if (0..inputs.len()).any(|i| inputs.opt(i).is_none()) {
        return Err(ctx.err("inputs must be bound to ports 0..n without gaps"));
    }
    let first = inputs.ty(0).clone();
    let rank = first.rank();
    if rank == 0 {
        return Err(ctx.err("cannot concatenate scalars"));
    }
    let axis = norm_axis(ctx, ctx.i64("axis")?, rank)?;
    let mut shape = first.shape.clone();
    let mut along: Option<usize> = Some(0);
    for i in 0..inputs.len() {
        let t = inputs.ty(i);
        if t.dtype != first.dtype || t.rank() != rank {
            return Err(ctx.err(format!("input {i} is {t}, input 0 is {first}")));
        }
        for (a, d) in t.shape.iter().enumerate() {
            if a == axis {
                along = along.and_then(|s| s.checked_add(d.known()?));
                continue;
            }
            shape[a] = match (&shape[a], d) {
                (Dim::Known(x), Dim::Known(y)) if x != y => {
                    return Err(ctx.err(format!("input {i} is {t}, input 0 is {first}")));
                }
                (Dim::Known(x), _) | (_, Dim::Known(x)) => Dim::Known(*x),
                (s, _) => s.clone(),
            };
        }
    }
    shape[axis] = along.map_or_else(Dim::unknown, Dim::Known);
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: first.dtype,
            shape,
        },
    )?;
    Ok(Built {
        kernel: Box::new(Concat { inputs, rank, axis }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use keel_bundle::Attr;

    #[test]
    fn blocks_join_along_the_axis() {
        let a = f32s(&[2, 2], &[1., 2., 3., 4.]);
        let b = f32s(&[2, 1], &[5., 6.]);
        let out = run("nn.concat", vec![("axis", Attr::I64(-1))], &[a.clone(), b]).unwrap();
        assert_eq!(out[0], f32s(&[2, 3], &[1., 2., 5., 3., 4., 6.]));
        let out = run("nn.concat", vec![("axis", Attr::I64(0))], &[a.clone(), a]).unwrap();
        assert_eq!(out[0].shape, vec![4, 2]);
        let one = run(
            "nn.concat",
            vec![("axis", Attr::I64(0))],
            &[i64s(&[1], &[7])],
        )
        .unwrap();
        assert_eq!(one[0], i64s(&[1], &[7]));
    }

    #[test]
    fn mismatches_are_refused() {
        let a = f32s(&[2, 2], &[1., 2., 3., 4.]);
        let b = f32s(&[1, 3], &[5., 6., 7.]);
        assert!(run("nn.concat", vec![("axis", Attr::I64(0))], &[a.clone(), b]).is_err());
        let c = i64s(&[2, 2], &[1, 2, 3, 4]);
        assert!(run("nn.concat", vec![("axis", Attr::I64(0))], &[a.clone(), c]).is_err());
        assert!(run("nn.concat", vec![("axis", Attr::I64(2))], &[a]).is_err());
    }
}
