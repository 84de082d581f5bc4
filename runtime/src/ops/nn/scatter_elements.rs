//! `nn.scatter_elements` (ONNX ScatterElements, and Scatter before it): a copy of `data` with
//! `out[..., idx, ...] = updates[..., i_axis, ...]` where `idx = indices[..., i_axis, ...]`.
//! Ports: `0` data (rank >= 1), `1` indices (i64/i32, the rank of data, no larger than data off
//! the axis; negative counts from the end), `2` updates (indices' shape, data's dtype) -> `0`
//! (data's type). Attributes: `axis` (i64, default 0), `reduction` (str: `none` (default, the
//! last write wins), `add`, `mul`, `max`, `min`; the reductions take numeric dtypes, f16/bf16
//! computed in f32, integers wrapping).
//!
//! Also home of the scatter helpers `nn.scatter_nd` shares.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{Num, dtype_error};
use crate::ops::nn::cast::{narrow, widen};
use crate::ops::nn::gather::resolve_index;
use crate::ops::nn::layout::{check_rank, like, map_index, tensor_value};
use crate::ops::nn::{Inputs, attr_i64, norm_axis, shape_error, strides, tensor_out};
use crate::tensor::{Element, Tensor, TensorData};
use crate::value::Value;
use keel_bundle::DType;

/// How a scattered value combines with the one already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reduction {
    None,
    Add,
    Mul,
    Max,
    Min,
}

/// The `reduction` attribute, checked against the data's dtype at load.
pub(crate) fn reduction(ctx: &BuildCtx<'_>, dtype: DType) -> Result<Reduction, Error> {
    let r = match ctx.opt_attr("reduction") {
        None => Reduction::None,
        Some(_) => match ctx.str("reduction")? {
            "none" => Reduction::None,
            "add" => Reduction::Add,
            "mul" => Reduction::Mul,
            "max" => Reduction::Max,
            "min" => Reduction::Min,
            other => return Err(ctx.err(format!("unknown reduction `{other}`"))),
        },
    };
    if !dtype.is_tensor_element() || (r != Reduction::None && dtype == DType::Bool) {
        return Err(ctx.err(format!("reduction {r:?} does not take {dtype}")));
    }
    Ok(r)
}

fn assign<T: Element>(v: &[T], upd: &TensorData, pairs: &[(usize, usize)]) -> Option<TensorData> {
    let u = like(v, upd)?;
    let mut out = v.to_vec();
    for &(d, s) in pairs {
        *out.get_mut(d)? = *u.get(s)?;
    }
    Some(T::wrap(out))
}

fn combine<T: Num>(
    v: &[T],
    upd: &TensorData,
    pairs: &[(usize, usize)],
    r: Reduction,
) -> Option<TensorData> {
    let u = like(v, upd)?;
    let mut out = v.to_vec();
    for &(d, s) in pairs {
        let (slot, x) = (out.get_mut(d)?, *u.get(s)?);
        *slot = match r {
            Reduction::Add => slot.add(x),
            Reduction::Mul => slot.mul(x),
            Reduction::Max => slot.max_nan(x),
            Reduction::Min => slot.min_nan(x),
            Reduction::None => x,
        };
    }
    Some(T::wrap(out))
}

/// `data` with each `(dst, src)` pair applied in order: `out[dst] = r(out[dst], updates[src])`.
/// The pairs were computed from checked shapes; one past a buffer is reported, not a panic.
pub(crate) fn scatter(
    data: &Tensor,
    updates: &Tensor,
    pairs: &[(usize, usize)],
    r: Reduction,
) -> Result<Tensor, Error> {
    if updates.dtype() != data.dtype() {
        return Err(dtype_error("updates", data.dtype(), updates.dtype()));
    }
    let bug = || {
        shape_error(
            "indices",
            "positions within data and updates",
            "one past them",
        )
    };
    if r == Reduction::None {
        let out = crate::with_data!(&data.data, v => assign(v, &updates.data, pairs));
        return Tensor::from_data(data.shape.clone(), out.ok_or_else(bug)?);
    }
    let (wd, wu) = (widen(data), widen(updates));
    let out = crate::with_num!(&wd.data,
        v => combine(v, &wu.data, pairs, r),
        o => return Err(dtype_error("data", "a numeric dtype", o.dtype())));
    let t = Tensor::from_data(data.shape.clone(), out.ok_or_else(bug)?)?;
    Ok(narrow(t, data.dtype()))
}

#[derive(Debug)]
struct ScatterElements {
    inputs: Inputs,
    rank: usize,
    axis: usize,
    r: Reduction,
}

impl Kernel for ScatterElements {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let ind = self.inputs.req(inputs, 1)?;
        let upd = self.inputs.req(inputs, 2)?;
        check_rank(&x, self.rank, "data")?;
        check_rank(&ind, self.rank, "indices")?;
        if upd.shape != ind.shape {
            return Err(shape_error(
                "updates",
                format!("the indices' shape {:?}", ind.shape),
                format!("{:?}", upd.shape),
            ));
        }
        let fits = (0..self.rank).all(|a| a == self.axis || ind.shape[a] <= x.shape[a]);
        if !fits {
            return Err(shape_error(
                "indices",
                format!("no larger than {:?} off axis {}", x.shape, self.axis),
                format!("{:?}", ind.shape),
            ));
        }
        let st = strides(&x.shape);
        let d = x.shape[self.axis];
        let ks = ind.data.to_i64_vec();
        let mut n = 0usize;
        let pairs = map_index(&ind.shape, |c| {
            let k = ks.get(n).copied().unwrap_or_default();
            let src = n;
            n += 1;
            let k = resolve_index(k, d)?;
            let dst = c
                .iter()
                .enumerate()
                .map(|(a, &i)| if a == self.axis { k } else { i } * st[a])
                .sum();
            Ok((dst, src))
        })?;
        let out = scatter(&x, &upd, &pairs, self.r)?;
        Ok(vec![tensor_value(out.shape, out.data)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 3, 3)?;
    let x = inputs.ty(0).clone();
    let (ind, upd) = (inputs.ty(1), inputs.ty(2));
    if !matches!(ind.dtype, DType::I64 | DType::I32) {
        return Err(ctx.err(format!("indices must be i64 or i32, found {ind}")));
    }
    let rank = x.rank();
    if rank == 0 || ind.rank() != rank || upd.rank() != rank || upd.dtype != x.dtype {
        return Err(ctx.err(format!(
            "indices {ind} and updates {upd} must have the rank of data {x} (>= 1), updates its dtype"
        )));
    }
    let axis = norm_axis(ctx, attr_i64(ctx, "axis", 0)?, rank)?;
    let r = reduction(ctx, x.dtype)?;
    let out = tensor_out(ctx, "0", x)?;
    Ok(Built {
        kernel: Box::new(ScatterElements {
            inputs,
            rank,
            axis,
            r,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use keel_bundle::Attr;

    #[test]
    fn scatters_along_the_axis_with_reductions() {
        // ONNX's scatter_elements_with_axis: data [[1 2 3 4 5]], indices [[1 3]], updates
        // [[1.1 2.1]], axis 1 -> [[1 1.1 3 2.1 5]].
        let x = f32s(&[1, 5], &[1., 2., 3., 4., 5.]);
        let i = i64s(&[1, 2], &[1, 3]);
        let u = f32s(&[1, 2], &[1.1, 2.1]);
        let out = run(
            "nn.scatter_elements",
            vec![("axis", Attr::I64(1))],
            &[x.clone(), i, u.clone()],
        )
        .unwrap();
        assert_eq!(out[0], f32s(&[1, 5], &[1., 1.1, 3., 2.1, 5.]));
        // Duplicates with add: both land on position 1 (the second via -4).
        let i = i64s(&[1, 2], &[1, -4]);
        let out = run(
            "nn.scatter_elements",
            vec![
                ("axis", Attr::I64(1)),
                ("reduction", Attr::Str("add".into())),
            ],
            &[x.clone(), i.clone(), u.clone()],
        )
        .unwrap();
        assert_eq!(out[0], f32s(&[1, 5], &[1., 2. + 1.1 + 2.1, 3., 4., 5.]));
        let out = run(
            "nn.scatter_elements",
            vec![
                ("axis", Attr::I64(1)),
                ("reduction", Attr::Str("max".into())),
            ],
            &[x.clone(), i, u.clone()],
        )
        .unwrap();
        assert_eq!(out[0], f32s(&[1, 5], &[1., 2.1, 3., 4., 5.]));
        // Axis 0 on a column: out[idx][0] = u.
        let col = f32s(&[3, 1], &[0., 0., 0.]);
        let out = run(
            "nn.scatter_elements",
            vec![],
            &[col, i64s(&[2, 1], &[2, 0]), f32s(&[2, 1], &[7., 8.])],
        )
        .unwrap();
        assert_eq!(out[0], f32s(&[3, 1], &[8., 0., 7.]));
        let bad = i64s(&[1, 2], &[5, 0]);
        assert!(
            run(
                "nn.scatter_elements",
                vec![("axis", Attr::I64(1))],
                &[x, bad, u]
            )
            .is_err()
        );
    }
}
