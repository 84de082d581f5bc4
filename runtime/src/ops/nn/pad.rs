//! `nn.pad` (ONNX Pad, opset 18+ inputs): pads (or, with negative amounts, crops) each axis.
//! Ports: `0` data, `1` pads (i64/i32 1-D: all the begins, then all the ends, one per padded
//! axis), optional `2` constant_value (a scalar of data's dtype; default 0), optional `3` axes
//! (i64/i32 1-D; default every axis) -> `0`. Attribute `mode` (str: `constant` (default),
//! `reflect`, `edge`, `wrap`).
//!
//! `reflect` mirrors without repeating the edge and keeps mirroring when the padding is wider
//! than the axis (NumPy's `pad`, which ONNX's reference uses); `edge` and `wrap` need a
//! non-empty axis to read from.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{
    check_rank, const_ints, int_input, map_index, port_ints, take_or, tensor_value,
};
use crate::ops::nn::{Inputs, shape_error, strides, tensor_out};
use crate::tensor::{Dim, TensorData, TensorType};
use crate::value::Value;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

#[derive(Debug)]
struct Pad {
    inputs: Inputs,
    rank: usize,
    mode: Mode,
    /// Per axis (begin, end) when pads (and axes) are known at load.
    pads: Option<Vec<(i64, i64)>>,
}

/// Per-axis (begin, end) amounts from ONNX's flat `pads` and optional `axes`.
fn per_axis(pads: &[i64], axes: Option<&[i64]>, rank: usize) -> Result<Vec<(i64, i64)>, String> {
    let axes: Vec<i64> = axes.map_or_else(|| (0..rank as i64).collect(), <[i64]>::to_vec);
    if pads.len() != 2 * axes.len() {
        return Err(format!(
            "{} pads for {} axes (two per axis)",
            pads.len(),
            axes.len()
        ));
    }
    let mut out = vec![(0, 0); rank];
    let mut seen = vec![false; rank];
    let r = rank as i64;
    for (i, &a) in axes.iter().enumerate() {
        if a < -r || a >= r {
            return Err(format!("axis {a} is out of range for rank {rank}"));
        }
        let a = if a < 0 { a + r } else { a } as usize;
        if std::mem::replace(&mut seen[a], true) {
            return Err(format!("axis {a} is padded twice"));
        }
        out[a] = (pads[i], pads[i + axes.len()]);
    }
    Ok(out)
}

/// The padded size of an axis of size `d`, or `None` when it would be negative or overflow.
fn padded(d: usize, (b, e): (i64, i64)) -> Option<usize> {
    usize::try_from(d as i128 + b as i128 + e as i128).ok()
}

/// The input index output index `o` reads on an axis of size `d` padded by `b` at its start
/// (`None`: the constant).
fn source(mode: Mode, o: usize, b: i64, d: usize) -> Option<usize> {
    let i = o as i128 - b as i128;
    let d = d as i128;
    let j = match mode {
        Mode::Constant => i,
        _ if d == 0 => return None,
        Mode::Edge => i.clamp(0, d - 1),
        Mode::Wrap => i.rem_euclid(d),
        Mode::Reflect if d == 1 => 0,
        Mode::Reflect => {
            let p = 2 * (d - 1);
            let k = i.rem_euclid(p);
            if k >= d { p - k } else { k }
        }
    };
    usize::try_from(j).ok().filter(|&j| (j as i128) < d)
}

impl Kernel for Pad {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        check_rank(&x, self.rank, "data")?;
        let pads = match &self.pads {
            Some(p) => p.clone(),
            None => {
                let p = port_ints(&self.inputs, inputs, 1, "pads")?;
                let axes = match self.inputs.opt(3) {
                    Some(_) => Some(port_ints(&self.inputs, inputs, 3, "axes")?),
                    None => None,
                };
                per_axis(&p, axes.as_deref(), self.rank)
                    .map_err(|m| shape_error("pads", "two amounts per axis", m))?
            }
        };
        let shape = x
            .shape
            .iter()
            .zip(&pads)
            .map(|(&d, &p)| padded(d, p))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                shape_error(
                    "pads",
                    "sizes that stay >= 0",
                    format!("{pads:?} on {:?}", x.shape),
                )
            })?;
        let fill = match self.inputs.get(inputs, 2)? {
            Some(v) if !v.is_empty() => {
                if v.dtype() != x.dtype() || v.len() != 1 {
                    return Err(shape_error(
                        "constant_value",
                        format!("one {} element", x.dtype()),
                        format!("{}{:?}", v.dtype(), v.shape),
                    ));
                }
                v.data.clone()
            }
            _ => TensorData::zeros(x.dtype(), 1)
                .ok_or_else(|| shape_error("data", "a numeric tensor", "strings"))?,
        };
        let st = strides(&x.shape);
        let any = shape.iter().product::<usize>() > 0;
        if any && self.mode != Mode::Constant && x.is_empty() {
            return Err(shape_error(
                "data",
                "a non-empty axis to pad from",
                format!("{:?}", x.shape),
            ));
        }
        let idx = map_index(&shape, |c| {
            let mut pos = 0usize;
            for (a, &o) in c.iter().enumerate() {
                match source(self.mode, o, pads[a].0, x.shape[a]) {
                    Some(j) => pos += j * st[a],
                    None => return Ok(None),
                }
            }
            Ok(Some(pos))
        })?;
        Ok(vec![tensor_value(shape, take_or(&x.data, &idx, &fill)?)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 4)?;
    let x = inputs.ty(0).clone();
    let rank = x.rank();
    let mode = match ctx.opt_attr("mode").map(|_| ctx.str("mode")).transpose()? {
        None | Some("constant") => Mode::Constant,
        Some("reflect") => Mode::Reflect,
        Some("edge") => Mode::Edge,
        Some("wrap") => Mode::Wrap,
        Some(m) => {
            return Err(ctx.err(format!(
                "mode `{m}` is not one of constant, reflect, edge, wrap"
            )));
        }
    };
    int_input(ctx, inputs.ty(1), "pads")?;
    if let Some(t) = inputs.opt(3) {
        int_input(ctx, t, "axes")?;
    }
    if let Some(v) = inputs.opt(2)
        && (v.dtype != x.dtype || v.rank() > 1)
    {
        return Err(ctx.err(format!("constant_value {v} must be a {} scalar", x.dtype)));
    }
    let axes = match inputs.opt(3) {
        None => Some(None),
        Some(_) => const_ints(ctx, 3).map(Some),
    };
    let pads = match (const_ints(ctx, 1), axes) {
        (Some(p), Some(a)) => Some(per_axis(&p, a.as_deref(), rank).map_err(|m| ctx.err(m))?),
        _ => None,
    };
    let shape = match &pads {
        Some(p) => x
            .shape
            .iter()
            .zip(p)
            .map(|(d, &pa)| match d {
                _ if pa == (0, 0) => Ok(d.clone()),
                Dim::Known(n) => padded(*n, pa)
                    .map(Dim::Known)
                    .ok_or_else(|| ctx.err(format!("pads {pa:?} on an axis of {n}"))),
                Dim::Sym(_) => Ok(Dim::unknown()),
            })
            .collect::<Result<Vec<_>, _>>()?,
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
        kernel: Box::new(Pad {
            inputs,
            rank,
            mode,
            pads,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use super::{Mode, source};
    use crate::ops::nn::testing::{f32s, i64s, run, run_opt};
    use crate::tensor::Tensor;
    use keel_bundle::Attr;

    fn pad1(mode: &str, x: &[i64], b: i64, e: i64) -> Vec<i64> {
        let x = i64s(&[x.len()], x);
        let m = vec![("mode", Attr::Str(mode.into()))];
        let out = run("nn.pad", m, &[x, i64s(&[2], &[b, e])]).unwrap();
        out[0].as_slice::<i64>().unwrap().to_vec()
    }

    #[test]
    fn the_four_modes_follow_numpy() {
        // np.pad(np.arange(3), (5, 5), mode=...) for reflect; (2, 2) for the others.
        let x = [0, 1, 2];
        assert_eq!(
            pad1("reflect", &x, 5, 5),
            vec![1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1]
        );
        assert_eq!(
            pad1("wrap", &x, 4, 4),
            vec![2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0]
        );
        assert_eq!(pad1("edge", &x, 2, 2), vec![0, 0, 0, 1, 2, 2, 2]);
        assert_eq!(pad1("constant", &x, 2, 1), vec![0, 0, 0, 1, 2, 0]);
        // Negative pads crop.
        assert_eq!(pad1("constant", &x, -1, 1), vec![1, 2, 0]);
        assert_eq!(source(Mode::Reflect, 0, 2, 1), Some(0));
    }

    #[test]
    fn a_value_and_axes_pick_what_and_where() {
        let x = f32s(&[2, 2], &[1., 2., 3., 4.]);
        let pads = i64s(&[2], &[1, 0]);
        let v = Tensor::scalar(9f32);
        let axes = i64s(&[1], &[-1]);
        let out = run_opt(
            "nn.pad",
            vec![],
            &[Some(&x), Some(&pads), Some(&v), Some(&axes)],
            1,
        )
        .unwrap();
        assert_eq!(out[0], f32s(&[2, 3], &[9., 1., 2., 9., 3., 4.]));
        let bad = i64s(&[2], &[-3, 0]);
        assert!(
            run(
                "nn.pad",
                vec![],
                &[x.clone(), bad, Tensor::scalar(0f32), axes]
            )
            .is_err()
        );
        assert!(run("nn.pad", vec![], &[x.clone(), i64s(&[3], &[1, 1, 1])]).is_err());
        let empty = f32s(&[0], &[]);
        let m = vec![("mode", Attr::Str("edge".into()))];
        assert!(run("nn.pad", m, &[empty, i64s(&[2], &[1, 1])]).is_err());
    }
}
