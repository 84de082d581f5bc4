//! `nn.tile` (ONNX Tile): repeats a tensor along every axis. Ports: `0` input, `1` repeats
//! (i64/i32 1-D, one entry >= 0 per axis) -> `0` of shape `input[i] * repeats[i]`. No
//! attributes.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{
    check_rank, const_ints, int_input, map_index, port_ints, take, tensor_value,
};
use crate::ops::nn::{Inputs, shape_error, strides, tensor_out};
use crate::tensor::{Dim, TensorType};
use crate::value::Value;

#[derive(Debug)]
struct Tile {
    inputs: Inputs,
    rank: usize,
    repeats: Option<Vec<i64>>,
}

fn counts(r: &[i64], rank: usize) -> Result<Vec<usize>, String> {
    if r.len() != rank {
        return Err(format!("{} repeats for rank {rank}", r.len()));
    }
    r.iter()
        .map(|&v| usize::try_from(v).map_err(|_| format!("a negative repeat in {r:?}")))
        .collect()
}

impl Kernel for Tile {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        check_rank(&x, self.rank, "input")?;
        let r = match &self.repeats {
            Some(r) => r.clone(),
            None => port_ints(&self.inputs, inputs, 1, "repeats")?,
        };
        let r = counts(&r, self.rank)
            .map_err(|m| shape_error("repeats", "one count >= 0 per axis", m))?;
        let shape = x
            .shape
            .iter()
            .zip(&r)
            .map(|(&d, &k)| d.checked_mul(k))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| shape_error("repeats", "a size that fits", format!("{r:?}")))?;
        let st = strides(&x.shape);
        // Output index `o` on axis `a` reads input index `o % d` (d > 0 whenever the output
        // has elements).
        let idx = map_index(&shape, |c| {
            Ok(c.iter()
                .enumerate()
                .map(|(a, &o)| (o % x.shape[a].max(1)) * st[a])
                .sum())
        })?;
        Ok(vec![tensor_value(shape, take(&x.data, &idx)?)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 2)?;
    let x = inputs.ty(0).clone();
    let rank = x.rank();
    if let Some(n) = int_input(ctx, inputs.ty(1), "repeats")?
        && n != rank
    {
        return Err(ctx.err(format!("{n} repeats for {x}")));
    }
    let repeats = const_ints(ctx, 1);
    let shape = match &repeats {
        Some(r) => {
            let r = counts(r, rank).map_err(|m| ctx.err(m))?;
            x.shape
                .iter()
                .zip(&r)
                .map(|(d, &k)| match (d, k) {
                    (_, 1) => d.clone(),
                    (_, 0) => Dim::Known(0),
                    (Dim::Known(d), k) => d.checked_mul(k).map_or_else(Dim::unknown, Dim::Known),
                    _ => Dim::unknown(),
                })
                .collect()
        }
        None => vec![Dim::unknown(); rank],
    };
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: x.dtype,
            shape,
        },
    )?;
    Ok(Built {
        kernel: Box::new(Tile {
            inputs,
            rank,
            repeats,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};

    #[test]
    fn every_axis_repeats() {
        let x = f32s(&[2, 2], &[1., 2., 3., 4.]);
        let out = run("nn.tile", vec![], &[x.clone(), i64s(&[2], &[1, 2])]).unwrap();
        assert_eq!(out[0], f32s(&[2, 4], &[1., 2., 1., 2., 3., 4., 3., 4.]));
        let out = run("nn.tile", vec![], &[x.clone(), i64s(&[2], &[2, 1])]).unwrap();
        assert_eq!(out[0], f32s(&[4, 2], &[1., 2., 3., 4., 1., 2., 3., 4.]));
        let out = run("nn.tile", vec![], &[x.clone(), i64s(&[2], &[0, 1])]).unwrap();
        assert_eq!(out[0].shape, vec![0, 2]);
        assert!(run("nn.tile", vec![], &[x.clone(), i64s(&[1], &[2])]).is_err());
        assert!(run("nn.tile", vec![], &[x, i64s(&[2], &[-1, 1])]).is_err());
    }
}
