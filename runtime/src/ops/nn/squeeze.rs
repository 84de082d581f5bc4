//! `nn.squeeze` (ONNX Squeeze, opset 13+): removes axes of size 1. Ports: `0` data, optional
//! `1` axes (i64/i32 1-D, negative counts from the end) -> `0`. No attributes.
//!
//! Without axes every axis of size 1 is removed. At load only the axes known to be 1 count: a
//! symbolic axis (the batch) is kept even when a batch has one row, so that the output's rank
//! does not depend on the batch size.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{
    axes_at, axes_load, check_rank, const_ints, int_input, int_values, tensor_value, unknown_dims,
};
use crate::ops::nn::{Inputs, shape_error, tensor_out};
use crate::tensor::{Dim, TensorType};
use crate::value::Value;

#[derive(Debug)]
struct Squeeze {
    inputs: Inputs,
    rank: usize,
    /// The axes when known at load (sorted); otherwise read from port 1.
    axes: Option<Vec<usize>>,
}

impl Kernel for Squeeze {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        check_rank(&x, self.rank, "data")?;
        let axes = match &self.axes {
            Some(a) => a.clone(),
            None => {
                let a = self.inputs.req(inputs, 1)?;
                axes_at(&int_values(&a, "axes")?, self.rank, "axes")?
            }
        };
        let mut shape = Vec::with_capacity(self.rank);
        for (i, &d) in x.shape.iter().enumerate() {
            if axes.contains(&i) {
                if d != 1 {
                    return Err(shape_error(
                        "data",
                        format!("size 1 on squeezed axis {i}"),
                        format!("{:?}", x.shape),
                    ));
                }
            } else {
                shape.push(d);
            }
        }
        Ok(vec![tensor_value(shape, x.data.clone())?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 2)?;
    let x = inputs.ty(0).clone();
    let rank = x.rank();
    let (axes, shape) = match inputs.opt(1) {
        Some(aty) => {
            let len = int_input(ctx, aty, "axes")?;
            match const_ints(ctx, 1) {
                Some(v) => {
                    let mut axes = axes_load(ctx, &v, rank)?;
                    axes.sort_unstable();
                    for &a in &axes {
                        if let Dim::Known(n) = x.shape[a]
                            && n != 1
                        {
                            return Err(ctx.err(format!("axis {a} of {x} is not of size 1")));
                        }
                    }
                    let shape = keep(&x.shape, &axes);
                    (Some(axes), shape)
                }
                None => {
                    let len = len.ok_or_else(|| {
                        ctx.err("`axes` must be known at load or have a known length")
                    })?;
                    let out = rank.checked_sub(len).ok_or_else(|| {
                        ctx.err(format!("{len} axes to squeeze from rank {rank}"))
                    })?;
                    (None, unknown_dims(out))
                }
            }
        }
        None => {
            let axes: Vec<usize> = (0..rank).filter(|&i| x.shape[i] == Dim::Known(1)).collect();
            let shape = keep(&x.shape, &axes);
            (Some(axes), shape)
        }
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
        kernel: Box::new(Squeeze { inputs, rank, axes }),
        outputs: vec![out],
    })
}

fn keep(dims: &[Dim], drop: &[usize]) -> Vec<Dim> {
    dims.iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, d)| d.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run, run_opt};

    #[test]
    fn named_axes_are_removed() {
        let x = f32s(&[1, 3, 1, 2], &[1., 2., 3., 4., 5., 6.]);
        let out = run("nn.squeeze", vec![], &[x.clone(), i64s(&[2], &[0, -2])]).unwrap();
        assert_eq!(out[0].shape, vec![3, 2]);
        assert_eq!(out[0].data, x.data);
    }

    #[test]
    fn without_axes_every_one_goes() {
        let x = f32s(&[1, 3, 1], &[1., 2., 3.]);
        let out = run_opt("nn.squeeze", vec![], &[Some(&x)], 1).unwrap();
        assert_eq!(out[0].shape, vec![3]);
    }

    #[test]
    fn an_axis_not_of_size_one_is_refused() {
        let x = f32s(&[2, 1], &[1., 2.]);
        let e = run("nn.squeeze", vec![], &[x.clone(), i64s(&[1], &[0])]).unwrap_err();
        assert!(e.to_string().contains("size 1"), "{e}");
        assert!(run("nn.squeeze", vec![], &[x, i64s(&[1], &[2])]).is_err());
    }
}
