//! `nn.split` (ONNX Split, opset 13/18): cuts a tensor along one axis into the outputs. Ports:
//! `0` input, optional `1` split (i64/i32 1-D: each output's size) -> `0..m`. Attributes
//! `axis` (i64, default 0), `num_outputs` (i64, opset 18; must equal `m` when given).
//!
//! Without `split` the axis is cut into `m` chunks of `ceil(d / m)`, the last one taking what
//! is left (smaller when `d` does not divide; ONNX's rule, also what its reference does
//! without `num_outputs`).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{
    check_rank, const_ints, int_input, port_ints, strided, take, tensor_value,
};
use crate::ops::nn::{Inputs, attr_i64, norm_axis, shape_error, strides, tensor_out};
use crate::tensor::{Dim, TensorType};
use crate::value::Value;

#[derive(Debug)]
struct Split {
    inputs: Inputs,
    rank: usize,
    axis: usize,
    outputs: usize,
    /// The split input when known at load.
    split: Option<Vec<i64>>,
}

/// Each output's size along an axis of size `d` (ONNX's rules), or why not.
fn sizes(d: usize, split: Option<&[i64]>, m: usize) -> Result<Vec<usize>, String> {
    match split {
        Some(s) => {
            if s.len() != m {
                return Err(format!(
                    "split {s:?} has {} entries for {m} outputs",
                    s.len()
                ));
            }
            let out: Vec<usize> = s
                .iter()
                .map(|&v| {
                    usize::try_from(v).map_err(|_| format!("split {s:?} has a negative size"))
                })
                .collect::<Result<_, _>>()?;
            if out.iter().try_fold(0usize, |a, &b| a.checked_add(b)) != Some(d) {
                return Err(format!("split {s:?} does not add up to {d}"));
            }
            Ok(out)
        }
        None => {
            let chunk = d.div_ceil(m.max(1));
            let last = d
                .checked_sub(chunk * (m - 1))
                .ok_or_else(|| format!("{d} cannot be cut into {m} chunks of {chunk}"))?;
            let mut out = vec![chunk; m - 1];
            out.push(last);
            Ok(out)
        }
    }
}

impl Kernel for Split {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        check_rank(&x, self.rank, "input")?;
        let split = match (&self.split, self.inputs.opt(1)) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(_)) => Some(port_ints(&self.inputs, inputs, 1, "split")?),
            (None, None) => None,
        };
        let d = x.shape[self.axis];
        let sizes = sizes(d, split.as_deref(), self.outputs).map_err(|m| {
            shape_error(
                "input",
                format!("an axis {} that splits ({m})", self.axis),
                format!("{:?}", x.shape),
            )
        })?;
        let st = strides(&x.shape);
        let steps: Vec<isize> = st.iter().map(|&s| s as isize).collect();
        let mut pos = 0usize;
        let mut out = Vec::with_capacity(sizes.len());
        for s in sizes {
            let mut shape = x.shape.clone();
            shape[self.axis] = s;
            let idx = strided(&shape, &steps, (pos * st[self.axis]) as isize)?;
            out.push(tensor_value(shape, take(&x.data, &idx)?)?);
            pos += s;
        }
        Ok(out)
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 2)?;
    let x = inputs.ty(0).clone();
    let rank = x.rank();
    let axis = norm_axis(ctx, attr_i64(ctx, "axis", 0)?, rank)?;
    let m = ctx.node.outputs.len();
    if m == 0 {
        return Err(ctx.err("needs at least one output"));
    }
    if let Some(n) = ctx
        .opt_attr("num_outputs")
        .map(|_| ctx.i64("num_outputs"))
        .transpose()?
    {
        if inputs.opt(1).is_some() {
            return Err(ctx.err("takes `split` or `num_outputs`, not both"));
        }
        if n != m as i64 {
            return Err(ctx.err(format!("num_outputs is {n} but {m} outputs are bound")));
        }
    }
    let split = match inputs.opt(1) {
        Some(t) => {
            int_input(ctx, t, "split")?;
            const_ints(ctx, 1)
        }
        None => None,
    };
    let planned = match (&x.shape[axis], &split, inputs.opt(1)) {
        (Dim::Known(d), Some(s), _) => Some(sizes(*d, Some(s), m)),
        (Dim::Known(d), None, None) => Some(sizes(*d, None, m)),
        _ => None,
    }
    .transpose()
    .map_err(|e| ctx.err(e))?;
    let mut outputs = Vec::with_capacity(m);
    for i in 0..m {
        let mut shape = x.shape.clone();
        shape[axis] = match (&planned, &split) {
            (Some(p), _) => Dim::Known(p[i]),
            (None, Some(s)) => usize::try_from(s.get(i).copied().unwrap_or(-1))
                .map_or_else(|_| Dim::unknown(), Dim::Known),
            (None, None) => Dim::unknown(),
        };
        outputs.push(tensor_out(
            ctx,
            &i.to_string(),
            TensorType {
                dtype: x.dtype,
                shape,
            },
        )?);
    }
    Ok(Built {
        kernel: Box::new(Split {
            inputs,
            rank,
            axis,
            outputs: m,
            split,
        }),
        outputs,
    })
}

#[cfg(test)]
mod tests {
    use super::sizes;
    use crate::ops::nn::testing::{f32s, i64s, run_n, run_opt};
    use keel_bundle::Attr;

    #[test]
    fn equal_parts_and_given_sizes() {
        let x = f32s(&[6], &[1., 2., 3., 4., 5., 6.]);
        let out = run_n("nn.split", vec![], std::slice::from_ref(&x), 3).unwrap();
        assert_eq!(out[1], f32s(&[2], &[3., 4.]));
        let s = i64s(&[2], &[2, 4]);
        let out = run_n("nn.split", vec![], &[x.clone(), s], 2).unwrap();
        assert_eq!(out[0], f32s(&[2], &[1., 2.]));
        assert_eq!(out[1], f32s(&[4], &[3., 4., 5., 6.]));
        let bad = i64s(&[2], &[2, 3]);
        assert!(run_n("nn.split", vec![], &[x, bad], 2).is_err());
    }

    #[test]
    fn the_last_chunk_may_be_smaller() {
        // ONNX's test_split_1d_uneven_split_opset18: 7 into 4 -> 2, 2, 2, 1.
        assert_eq!(sizes(7, None, 4).unwrap(), vec![2, 2, 2, 1]);
        assert!(sizes(5, None, 4).is_err());
        let x = f32s(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let out = run_opt(
            "nn.split",
            vec![("axis", Attr::I64(1)), ("num_outputs", Attr::I64(2))],
            &[Some(&x)],
            2,
        )
        .unwrap();
        assert_eq!(out[0], f32s(&[2, 2], &[1., 2., 4., 5.]));
        assert_eq!(out[1], f32s(&[2, 1], &[3., 6.]));
    }
}
