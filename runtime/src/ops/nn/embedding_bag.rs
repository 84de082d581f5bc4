//! `nn.embedding_bag`: PyTorch's `nn.EmbeddingBag` at inference, a reduction of looked-up rows
//! per bag. Ports: `0` indices (i64 or i32), `1` offsets? (1-D i64 or i32), `2` weight
//! `[num, dim]` (f32, f64; f16 and bf16 computed in f32), `3` per_sample_weights? (the shape of
//! indices, the weight's dtype) -> `0` `[bags, dim]` of the weight's dtype.
//!
//! Bags, as PyTorch forms them: 2-D indices `[bags, n]` without offsets are one bag per row;
//! 1-D indices need offsets, bag `i` being `indices[offsets[i]..offsets[i + 1]]` (the last bag
//! runs to the end), or with `include_last_offset` 1 the offsets carry the end as one more
//! element (`bags = len(offsets) - 1`). Offsets start at 0, never decrease and stay within the
//! indices, else a `tensor_shape` error naming the position.
//!
//! Attributes: `mode` (`sum`, `mean`, `max`; default `mean`, as PyTorch), `include_last_offset`
//! (0/1, default 0), `padding_idx` (i64, optional; negative counts from the end of the table):
//! entries equal to it are left out of their bag (a mean divides by the entries kept). An empty
//! bag gives zeros in every mode, as PyTorch. per_sample_weights scale each row before the sum
//! and are refused with another mode (PyTorch refuses them too). An index outside `0..num` is a
//! `tensor_shape` error naming the index and its position. Not an ONNX op: the importer maps
//! the custom-domain node `ai.keel:EmbeddingBag` here.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{checked_len, dtype_error};
use crate::ops::nn::embedding::{check_indices, row_index};
use crate::ops::nn::linalg::{Real, is_float, real_slice, real_tensor};
use crate::ops::nn::{Inputs, attr_i64, shape_error, tensor_out};
use crate::tensor::{Dim, Tensor, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Sum,
    Mean,
    Max,
}

#[derive(Debug)]
struct EmbeddingBag {
    inputs: Inputs,
    mode: Mode,
    include_last: bool,
    padding_idx: Option<i64>,
    dtype: DType,
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 4)?;
    let ind = inputs.ty(0).clone();
    check_indices(ctx, &ind, "indices")?;
    let w = inputs
        .opt(2)
        .cloned()
        .ok_or_else(|| ctx.err("input port `2` (weight) is not bound"))?;
    if w.rank() != 2 || !is_float(w.dtype) {
        return Err(ctx.err(format!(
            "weight must be a 2-D float table [num, dim], found {w}"
        )));
    }
    let mode = match ctx.opt_attr("mode").map(|_| ctx.str("mode")).transpose()? {
        Some("sum") => Mode::Sum,
        None | Some("mean") => Mode::Mean,
        Some("max") => Mode::Max,
        Some(other) => return Err(ctx.err(format!("unknown mode `{other}`"))),
    };
    let include_last = match attr_i64(ctx, "include_last_offset", 0)? {
        0 => false,
        1 => true,
        other => {
            return Err(ctx.err(format!("include_last_offset must be 0 or 1, got {other}")));
        }
    };
    let padding_idx = match ctx.opt_attr("padding_idx") {
        None => None,
        Some(_) => Some(ctx.i64("padding_idx")?),
    };
    let bags = match (ind.rank(), inputs.opt(1)) {
        (2, None) => ind.shape[0].clone(),
        (1, Some(off)) => {
            check_indices(ctx, off, "offsets")?;
            let [len] = off.shape.as_slice() else {
                return Err(ctx.err(format!("offsets must be 1-D, found {off}")));
            };
            match (len.known(), include_last) {
                (Some(0), true) => {
                    return Err(ctx.err("include_last_offset needs at least one offset"));
                }
                (Some(n), true) => Dim::Known(n - 1),
                (Some(n), false) => Dim::Known(n),
                (None, _) => Dim::unknown(),
            }
        }
        (2, Some(_)) => return Err(ctx.err("2-D indices are fixed bags and take no offsets")),
        (1, None) => return Err(ctx.err("1-D indices need offsets (port 1)")),
        _ => return Err(ctx.err(format!("indices must be 1-D or 2-D, found {ind}"))),
    };
    if let Some(p) = inputs.opt(3) {
        if mode != Mode::Sum {
            return Err(ctx.err("per_sample_weights are only supported with mode `sum`"));
        }
        if p.dtype != w.dtype || p.rank() != ind.rank() {
            return Err(ctx.err(format!(
                "per_sample_weights must be {} of the indices' shape, found {p}",
                w.dtype
            )));
        }
    }
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: w.dtype,
            shape: vec![bags, w.shape[1].clone()],
        },
    )?;
    Ok(Built {
        kernel: Box::new(EmbeddingBag {
            inputs,
            mode,
            include_last,
            padding_idx,
            dtype: w.dtype,
        }),
        outputs: vec![out],
    })
}

impl Kernel for EmbeddingBag {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        match self.dtype {
            DType::F64 => self.compute::<f64>(inputs),
            _ => self.compute::<f32>(inputs),
        }
    }
}

impl EmbeddingBag {
    /// Each bag's `[start, end)` range of the flattened indices.
    fn bags(&self, ind: &Tensor, offsets: Option<&Tensor>) -> Result<Vec<(usize, usize)>, Error> {
        let n = ind.len();
        match (ind.shape.as_slice(), offsets) {
            ([b, width], None) => Ok((0..*b).map(|i| (i * width, (i + 1) * width)).collect()),
            ([_], Some(off)) => {
                if off.rank() != 1 {
                    return Err(shape_error("offsets", "1-D", format!("{:?}", off.shape)));
                }
                let mut o = off.data.to_i64_vec();
                if self.include_last {
                    if o.is_empty() {
                        return Err(shape_error("offsets", "at least one offset", "none"));
                    }
                } else {
                    o.push(n as i64);
                }
                let mut bags = Vec::with_capacity(o.len().saturating_sub(1));
                for (pos, w) in o.windows(2).enumerate() {
                    let (s, e) = (w[0], w[1]);
                    let ok = (pos > 0 || s == 0) && s <= e && e <= n as i64;
                    if !ok {
                        return Err(shape_error(
                            "offsets",
                            format!("offsets from 0, non-decreasing, at most {n}"),
                            format!("{s} at position {pos} (next {e})"),
                        ));
                    }
                    bags.push((s as usize, e as usize));
                }
                if o.len() == 1 && o[0] != 0 {
                    return Err(shape_error(
                        "offsets",
                        "offsets from 0",
                        format!("{} at position 0", o[0]),
                    ));
                }
                Ok(bags)
            }
            _ => Err(shape_error(
                "indices",
                "2-D fixed bags, or 1-D with offsets",
                format!("{:?}", ind.shape),
            )),
        }
    }

    fn compute<T: Real>(&self, inputs: &[&Value]) -> Result<Vec<Value>, Error> {
        let ind = self.inputs.req(inputs, 0)?;
        let offsets = self.inputs.get(inputs, 1)?;
        let w = self.inputs.req(inputs, 2)?;
        let psw = self.inputs.get(inputs, 3)?;
        checked_len(&ind, "indices")?;
        checked_len(&w, "weight")?;
        if w.dtype() != self.dtype {
            return Err(dtype_error("weight", self.dtype, w.dtype()));
        }
        let [num, dim] = w.shape[..] else {
            return Err(shape_error(
                "weight",
                "a 2-D table",
                format!("{:?}", w.shape),
            ));
        };
        let bags = self.bags(&ind, offsets.as_deref())?;
        let table = real_slice::<T>(&w, "weight")?;
        let scales = match psw.as_deref() {
            None => None,
            Some(p) => {
                if p.shape != ind.shape || p.dtype() != self.dtype {
                    return Err(shape_error(
                        "per_sample_weights",
                        format!("{}{:?} (the indices' shape)", self.dtype, ind.shape),
                        format!("{}{:?}", p.dtype(), p.shape),
                    ));
                }
                Some(real_slice::<T>(p, "per_sample_weights")?)
            }
        };
        let padding = match self.padding_idx {
            None => None,
            Some(p) => {
                let r = if p < 0 { p + num as i64 } else { p };
                Some(row_index(r, num, 0).map_err(|_| {
                    shape_error(
                        "padding_idx",
                        format!("an index in -{num}..{num}"),
                        p.to_string(),
                    )
                })?)
            }
        };
        let ks = ind.data.to_i64_vec();
        let total = checked_elements(&[bags.len(), dim], "output")?;
        let mut out = vec![T::ZERO; total];
        for (b, &(s, e)) in bags.iter().enumerate() {
            let acc = &mut out[b * dim..(b + 1) * dim];
            let mut count = 0usize;
            for pos in s..e {
                let k = ks.get(pos).copied().ok_or_else(|| {
                    shape_error("offsets", format!("at most {}", ks.len()), e.to_string())
                })?;
                let r = row_index(k, num, pos)?;
                if padding == Some(r) {
                    continue;
                }
                let row = &table[r * dim..(r + 1) * dim];
                let f = scales
                    .as_ref()
                    .and_then(|sc| sc.get(pos).copied())
                    .unwrap_or(T::ONE);
                for (a, &x) in acc.iter_mut().zip(row) {
                    *a = match self.mode {
                        // The first row of a max bag replaces the zeros it starts from.
                        Mode::Max if count == 0 => x,
                        Mode::Max => {
                            if x > *a || x.is_nan() {
                                x
                            } else {
                                *a
                            }
                        }
                        _ => *a + f * x,
                    };
                }
                count += 1;
            }
            if self.mode == Mode::Mean && count > 0 {
                let c = T::from_usize(count);
                for a in acc.iter_mut() {
                    *a = *a / c;
                }
            }
        }
        Ok(vec![Value::Tensor(real_tensor(
            self.dtype,
            vec![bags.len(), dim],
            out,
        )?)])
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run_opt};
    use crate::tensor::Tensor;
    use keel_bundle::Attr;

    fn table() -> Tensor {
        // Rows: [1, 2], [3, 4], [5, -6].
        f32s(&[3, 2], &[1., 2., 3., 4., 5., -6.])
    }

    fn bag(mode: &str, extra: Vec<(&str, Attr)>, ins: &[Option<&Tensor>]) -> Tensor {
        let mut attrs = vec![("mode", Attr::Str(mode.into()))];
        attrs.extend(extra);
        run_opt("nn.embedding_bag", attrs, ins, 1)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn offsets_form_bags_and_empty_bags_are_zero() {
        let w = table();
        // Bags [0, 1], [] and [2, 2, 1].
        let ind = i64s(&[5], &[0, 1, 2, 2, 1]);
        let off = i64s(&[3], &[0, 2, 2]);
        let ins = [Some(&ind), Some(&off), Some(&w)];
        assert_eq!(
            bag("sum", vec![], &ins),
            f32s(&[3, 2], &[4., 6., 0., 0., 13., -8.])
        );
        assert_eq!(
            bag("mean", vec![], &ins),
            f32s(&[3, 2], &[2., 3., 0., 0., 13. / 3., -8. / 3.])
        );
        assert_eq!(
            bag("max", vec![], &ins),
            f32s(&[3, 2], &[3., 4., 0., 0., 5., 4.])
        );
        // include_last_offset: the same bags with the end given, 4 offsets for 3 bags.
        let off = i64s(&[4], &[0, 2, 2, 5]);
        let last = vec![("include_last_offset", Attr::I64(1))];
        assert_eq!(
            bag("sum", last, &[Some(&ind), Some(&off), Some(&w)]),
            f32s(&[3, 2], &[4., 6., 0., 0., 13., -8.])
        );
    }

    #[test]
    fn fixed_bags_weights_and_padding() {
        let w = table();
        let ind = i64s(&[2, 2], &[0, 2, 1, 1]);
        assert_eq!(
            bag("mean", vec![], &[Some(&ind), None, Some(&w)]),
            f32s(&[2, 2], &[3., -2., 3., 4.])
        );
        // per_sample_weights scale each row of a sum: 2*[1,2] + 0.5*[5,-6]; 1*[3,4] + -1*[3,4].
        let psw = f32s(&[2, 2], &[2., 0.5, 1., -1.]);
        assert_eq!(
            bag("sum", vec![], &[Some(&ind), None, Some(&w), Some(&psw)]),
            f32s(&[2, 2], &[4.5, 1., 0., 0.])
        );
        // padding_idx 1 leaves row 1 out: the second bag is empty, the first keeps both.
        let pad = vec![("padding_idx", Attr::I64(1))];
        assert_eq!(
            bag("mean", pad, &[Some(&ind), None, Some(&w)]),
            f32s(&[2, 2], &[3., -2., 0., 0.])
        );
    }

    #[test]
    fn bad_indices_offsets_and_modes_are_errors() {
        let w = table();
        let run = |attrs: Vec<(&str, Attr)>, ins: &[Option<&Tensor>]| {
            run_opt("nn.embedding_bag", attrs, ins, 1)
        };
        let ind = i64s(&[3], &[0, 3, 1]);
        let off = i64s(&[1], &[0]);
        let e = run(vec![], &[Some(&ind), Some(&off), Some(&w)]).unwrap_err();
        assert!(e.to_string().contains("3 at position 1"), "{e}");
        // Offsets must start at 0 and not decrease.
        let ind = i64s(&[3], &[0, 1, 1]);
        for bad in [vec![1i64, 2], vec![0, 2, 1]] {
            let off = i64s(&[bad.len()], &bad);
            assert!(run(vec![], &[Some(&ind), Some(&off), Some(&w)]).is_err());
        }
        // 1-D indices without offsets; per-sample weights with mean; an unknown mode.
        assert!(run(vec![], &[Some(&ind), None, Some(&w)]).is_err());
        let psw = f32s(&[3], &[1.; 3]);
        let off = i64s(&[1], &[0]);
        let ins = [Some(&ind), Some(&off), Some(&w), Some(&psw)];
        assert!(run(vec![("mode", Attr::Str("mean".into()))], &ins).is_err());
        assert!(run(vec![("mode", Attr::Str("min".into()))], &ins[..3]).is_err());
    }
}
