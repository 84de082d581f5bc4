//! `nn.slice` (ONNX Slice, opset 13+): a strided window of a tensor. Ports: `0` data, `1`
//! starts, `2` ends, optional `3` axes, `4` steps (i64/i32 1-D of one length) -> `0`. No
//! attributes.
//!
//! Negative starts and ends count from the end of their axis; both are then clamped exactly as
//! ONNX says (to `[0, d]` for a positive step, `[0, d - 1]` and `[-1, d - 1]` for a negative
//! one), so `INT64_MAX`/`INT64_MIN` mean "to the end". A step may be negative, never 0.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{
    check_rank, const_ints, int_input, port_ints, strided, take, tensor_value,
};
use crate::ops::nn::{Inputs, shape_error, strides, tensor_out};
use crate::tensor::{Dim, TensorType};
use crate::value::Value;

#[derive(Debug)]
struct Slice {
    inputs: Inputs,
    rank: usize,
    /// starts, ends, axes, steps when all bound ones are known at load.
    params: Option<Params>,
}

#[derive(Debug, Clone)]
struct Params {
    starts: Vec<i64>,
    ends: Vec<i64>,
    axes: Option<Vec<i64>>,
    steps: Option<Vec<i64>>,
}

/// Per axis: (first index read, output length, step).
type AxisPlan = (usize, usize, i64);

/// Where one axis of size `d` starts and how long it is after ONNX's clamping.
fn axis_window(d: usize, start: i64, end: i64, step: i64) -> (usize, usize) {
    let (d, step) = (d as i128, step as i128);
    let mut s = start as i128;
    let mut e = end as i128;
    if s < 0 {
        s += d;
    }
    if e < 0 {
        e += d;
    }
    if step > 0 {
        s = s.max(0).min(d);
        e = e.max(0).min(d);
        let len = if e > s { (e - s + step - 1) / step } else { 0 };
        (s as usize, len as usize)
    } else {
        s = s.max(0).min(d - 1);
        e = e.max(-1).min(d - 1);
        let len = if s > e { (s - e - step - 1) / -step } else { 0 };
        // With `len` 0 the start is never read (it may be -1 for an empty axis).
        (s.max(0) as usize, len as usize)
    }
}

/// The per-axis windows of `params` on a tensor of rank `rank` whose sizes `dim` gives (or
/// `None` when unknown), or why the parameters are invalid.
fn windows(
    rank: usize,
    params: &Params,
    dim: impl Fn(usize) -> Option<usize>,
) -> Result<Vec<Option<AxisPlan>>, String> {
    let n = params.starts.len();
    let axes: Vec<i64> = params
        .axes
        .clone()
        .unwrap_or_else(|| (0..n as i64).collect());
    let steps = params.steps.clone().unwrap_or_else(|| vec![1; n]);
    if params.ends.len() != n || axes.len() != n || steps.len() != n {
        return Err("starts, ends, axes and steps differ in length".into());
    }
    let mut out: Vec<Option<AxisPlan>> = (0..rank).map(|a| dim(a).map(|d| (0, d, 1))).collect();
    let mut seen = vec![false; rank];
    for i in 0..n {
        let r = rank as i64;
        let a = axes[i];
        if a < -r || a >= r {
            return Err(format!("axis {a} is out of range for rank {rank}"));
        }
        let a = if a < 0 { a + r } else { a } as usize;
        if std::mem::replace(&mut seen[a], true) {
            return Err(format!("axis {a} is sliced twice"));
        }
        if steps[i] == 0 {
            return Err("a step of 0".into());
        }
        out[a] = dim(a).map(|d| {
            let (s, len) = axis_window(d, params.starts[i], params.ends[i], steps[i]);
            (s, len, steps[i])
        });
    }
    Ok(out)
}

impl Kernel for Slice {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        check_rank(&x, self.rank, "data")?;
        let params = match &self.params {
            Some(p) => p.clone(),
            None => {
                let opt = |i: usize, what: &str| -> Result<Option<Vec<i64>>, Error> {
                    match self.inputs.opt(i) {
                        Some(_) => Ok(Some(port_ints(&self.inputs, inputs, i, what)?)),
                        None => Ok(None),
                    }
                };
                Params {
                    starts: port_ints(&self.inputs, inputs, 1, "starts")?,
                    ends: port_ints(&self.inputs, inputs, 2, "ends")?,
                    axes: opt(3, "axes")?,
                    steps: opt(4, "steps")?,
                }
            }
        };
        let w = windows(self.rank, &params, |a| x.shape.get(a).copied())
            .map_err(|m| shape_error("starts", "valid slice parameters", m))?;
        let st = strides(&x.shape);
        let mut shape = Vec::with_capacity(self.rank);
        let mut steps = Vec::with_capacity(self.rank);
        let mut base = 0isize;
        for (a, p) in w.into_iter().enumerate() {
            let (s, len, step) = p.ok_or_else(|| shape_error("data", "sizes", "none"))?;
            shape.push(len);
            steps.push(st[a] as isize * step as isize);
            if len > 0 {
                base += (s * st[a]) as isize;
            }
        }
        let idx = strided(&shape, &steps, base)?;
        Ok(vec![tensor_value(shape, take(&x.data, &idx)?)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 3, 5)?;
    let x = inputs.ty(0).clone();
    let rank = x.rank();
    let names = ["data", "starts", "ends", "axes", "steps"];
    for (i, name) in names.iter().enumerate().skip(1) {
        if let Some(t) = inputs.opt(i) {
            int_input(ctx, t, name)?;
        }
    }
    // Each bound parameter input's value, when known at load (`Some(None)`: unbound).
    let known = |i: usize| -> Option<Option<Vec<i64>>> {
        match inputs.opt(i) {
            None => Some(None),
            Some(_) => const_ints(ctx, i).map(Some),
        }
    };
    let params = match (known(1), known(2), known(3), known(4)) {
        (Some(Some(starts)), Some(Some(ends)), Some(axes), Some(steps)) => Some(Params {
            starts,
            ends,
            axes,
            steps,
        }),
        _ => None,
    };
    let shape: Vec<Dim> = match &params {
        Some(p) => {
            let w = windows(rank, p, |a| x.shape[a].known()).map_err(|m| ctx.err(m))?;
            // An axis of unknown size keeps its symbol when the whole of it is taken.
            let whole: Vec<bool> = {
                let n = p.starts.len();
                let axes: Vec<i64> = p.axes.clone().unwrap_or_else(|| (0..n as i64).collect());
                let mut whole = vec![true; rank];
                for (i, &a) in axes.iter().enumerate() {
                    let a = if a < 0 { a + rank as i64 } else { a } as usize;
                    let step = p.steps.as_ref().map_or(1, |s| s[i]);
                    if let Some(w) = whole.get_mut(a) {
                        *w = p.starts[i] == 0 && step == 1 && p.ends[i] >= i64::MAX / 2;
                    }
                }
                whole
            };
            w.iter()
                .enumerate()
                .map(|(a, p)| match p {
                    Some((_, len, _)) => Dim::Known(*len),
                    None if whole[a] => x.shape[a].clone(),
                    None => Dim::unknown(),
                })
                .collect()
        }
        None => {
            // The sliced axes are known when `axes` is; the others keep their sizes.
            match known(3) {
                Some(Some(axes)) => {
                    let mut s = x.shape.clone();
                    for a in axes {
                        let r = rank as i64;
                        if a < -r || a >= r {
                            return Err(
                                ctx.err(format!("axis {a} is out of range for rank {rank}"))
                            );
                        }
                        s[if a < 0 { a + r } else { a } as usize] = Dim::unknown();
                    }
                    s
                }
                _ => vec![Dim::unknown(); rank],
            }
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
        kernel: Box::new(Slice {
            inputs,
            rank,
            params,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use super::axis_window;
    use crate::ops::nn::testing::{f32s, i64s, run, run_opt};

    #[test]
    fn windows_clamp_as_onnx_says() {
        assert_eq!(axis_window(10, 0, i64::MAX, 1), (0, 10));
        assert_eq!(axis_window(10, -3, -1, 1), (7, 2));
        assert_eq!(axis_window(10, 20, 1000, 1), (10, 0));
        assert_eq!(axis_window(10, i64::MAX, i64::MIN, -1), (9, 10));
        assert_eq!(axis_window(10, -1, -11, -3), (9, 4));
        assert_eq!(axis_window(0, 0, -1, -1).1, 0);
    }

    #[test]
    fn a_matrix_is_cut_with_steps() {
        // x[i][j] = 10i + j, shape [3, 4].
        let x = i64s(&[3, 4], &[0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
        let out = run_opt(
            "nn.slice",
            vec![],
            &[
                Some(&x),
                Some(&i64s(&[2], &[-1, 0])),
                Some(&i64s(&[2], &[i64::MIN, 4])),
                None,
                Some(&i64s(&[2], &[-2, 2])),
            ],
            1,
        )
        .unwrap();
        assert_eq!(out[0], i64s(&[2, 2], &[20, 22, 0, 2]));
        let out = run(
            "nn.slice",
            vec![],
            &[x, i64s(&[1], &[1]), i64s(&[1], &[3]), i64s(&[1], &[-1])],
        )
        .unwrap();
        assert_eq!(out[0], i64s(&[3, 2], &[1, 2, 11, 12, 21, 22]));
    }

    #[test]
    fn bad_parameters_are_refused() {
        let x = f32s(&[4], &[1., 2., 3., 4.]);
        let s = |v: &[i64]| i64s(&[v.len()], v);
        let zero_step = [x.clone(), s(&[0]), s(&[4]), s(&[0]), s(&[0])];
        assert!(run("nn.slice", vec![], &zero_step).is_err());
        assert!(run("nn.slice", vec![], &[x.clone(), s(&[0]), s(&[4]), s(&[1])]).is_err());
        assert!(run("nn.slice", vec![], &[x, s(&[0, 0]), s(&[4])]).is_err());
    }
}
