//! `nn.attention`: ONNX Attention (opsets 23 and 24), scaled dot-product attention as one
//! fused op. Ports: `0` Q, `1` K, `2` V, `3` attn_mask?, `4` past_key?, `5` past_value?,
//! `6` nonpad_kv_seqlen? -> `0` Y, `1` present_key?, `2` present_value?, `3` qk_matmul_output?.
//!
//! Shapes: either all 4-D, Q `[batch, q_heads, q_seq, head]`, K `[batch, kv_heads, kv_seq,
//! head]`, V `[batch, kv_heads, kv_seq, v_head]` (Y `[batch, q_heads, q_seq, v_head]`), or all
//! 3-D, Q `[batch, q_seq, q_heads * head]`, K `[batch, kv_seq, kv_heads * head]`, V `[batch,
//! kv_seq, kv_heads * v_head]` (Y `[batch, q_seq, q_heads * v_head]`), where the head counts
//! come from the attributes. Grouped-query attention: `kv_heads` must divide `q_heads`, and q
//! head `h` reads kv head `h / (q_heads / kv_heads)` (ONNX's interleaved repeat). The past
//! caches are 4-D `[batch, kv_heads, past, head]` / `[..., v_head]`, given together or not at
//! all; the presents are the past concatenated with K / V along the sequence (4-D even for 3-D
//! inputs), of `total = past + kv_seq` positions. qk_matmul_output is `[batch, q_heads, q_seq,
//! total]`.
//!
//! Attributes: `q_num_heads`, `kv_num_heads` (required for 3-D inputs; checked against the
//! shapes for 4-D ones), `scale` (default `1/sqrt(head)`), `is_causal` (0/1: position `j` is
//! hidden from query `i` when `j > i + past`, the upper-left alignment), `softcap` (applied as
//! `c * tanh(x / c)` before the mask when above 0), `qk_matmul_output_mode` (0: the scaled
//! product, 1: after the softcap, 2: after the mask, 3: after the softmax), `softmax_precision`
//! (an ONNX float type code: 1, 10, 11 or 16; the softmax is computed in f64 whatever it
//! says, which is at least that precise).
//!
//! attn_mask: bool (false hides a position) or the dtype of Q (added to the scores); it
//! broadcasts to `[batch, q_heads, q_seq, total]` from the right (rank 1 to 4), except that a
//! last axis shorter than `total` is padded with hidden positions (ONNX's reference pads, it
//! does not broadcast). nonpad_kv_seqlen (i64 `[batch]`): positions from `n[b]` on are hidden.
//! Hidden positions add -inf; a query whose every position is hidden gets NaN, as ONNX's
//! reference gives (its softmax divides 0 by 0). The softmax subtracts each row's maximum.
//!
//! Floats: f32, f64; f16 and bf16 computed in f32. Both products go through the checked
//! [`matmul`]. Refused at load: mixed dtypes or ranks, a rank other than 3 or 4, one past
//! cache without the other, a 3-D input without head counts, other attribute values.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{checked_len, dtype_error};
use crate::ops::nn::layout::check_rank;
use crate::ops::nn::linalg::{MatRef, Real, is_float, matmul, real_slice, real_tensor};
use crate::ops::nn::{Inputs, attr_f64, attr_i64, shape_error, strides, tensor_out};
use crate::tensor::{Dim, Tensor, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;
use std::borrow::Cow;

#[derive(Debug)]
struct Attention {
    inputs: Inputs,
    dtype: DType,
    /// 3 or 4: the rank of Q, K and V.
    rank: usize,
    q_heads: Option<usize>,
    kv_heads: Option<usize>,
    scale: Option<f64>,
    causal: bool,
    softcap: f64,
    qk_mode: i64,
    /// Whether output ports 1 (present_key), 2 (present_value), 3 (qk_matmul_output) are bound.
    want: [bool; 3],
}

/// The sizes of one evaluation.
#[derive(Debug, Clone, Copy)]
struct Geo {
    b: usize,
    hq: usize,
    hkv: usize,
    sq: usize,
    skv: usize,
    past: usize,
    total: usize,
    d: usize,
    dv: usize,
}

/// An optional dimension attribute that must be positive.
fn heads_attr(ctx: &BuildCtx<'_>, key: &str) -> Result<Option<usize>, Error> {
    match ctx.opt_attr(key) {
        None => Ok(None),
        Some(_) => {
            let n = ctx.i64(key)?;
            usize::try_from(n)
                .ok()
                .filter(|&n| n > 0)
                .map(Some)
                .ok_or_else(|| ctx.err(format!("`{key}` must be positive, got {n}")))
        }
    }
}

/// `d / n` for a planned dimension (a known `d` must divide evenly).
fn div_dim(ctx: &BuildCtx<'_>, d: &Dim, n: usize, what: &str) -> Result<Dim, Error> {
    match d.known() {
        Some(x) if x % n != 0 => Err(ctx.err(format!(
            "{what}'s hidden size {x} is not a multiple of its {n} heads"
        ))),
        Some(x) => Ok(Dim::Known(x / n)),
        None => Ok(Dim::unknown()),
    }
}

fn add_dim(a: &Dim, b: &Dim) -> Dim {
    match (a.known(), b.known()) {
        (Some(0), _) => b.clone(),
        (Some(x), Some(y)) => x.checked_add(y).map_or_else(Dim::unknown, Dim::Known),
        _ => Dim::unknown(),
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 3, 7)?;
    let (q, k, v) = (inputs.ty(0), inputs.ty(1), inputs.ty(2));
    let dtype = q.dtype;
    if !is_float(dtype) || k.dtype != dtype || v.dtype != dtype {
        return Err(ctx.err(format!(
            "Q, K and V must share one float dtype, got {q}, {k} and {v}"
        )));
    }
    let rank = q.rank();
    if !matches!(rank, 3 | 4) || k.rank() != rank || v.rank() != rank {
        return Err(ctx.err(format!(
            "Q, K and V must all be 3-D or all 4-D, got {q}, {k} and {v}"
        )));
    }
    if let Some(m) = inputs.opt(3) {
        if m.dtype != DType::Bool && m.dtype != dtype {
            return Err(ctx.err(format!("attn_mask must be bool or {dtype}, got {m}")));
        }
        if !(1..=4).contains(&m.rank()) {
            return Err(ctx.err(format!("attn_mask must have rank 1 to 4, got {m}")));
        }
    }
    let past = match (inputs.opt(4), inputs.opt(5)) {
        (None, None) => None,
        (Some(pk), Some(pv)) => {
            if pk.dtype != dtype || pv.dtype != dtype || pk.rank() != 4 || pv.rank() != 4 {
                return Err(ctx.err(format!(
                    "past_key and past_value must be 4-D {dtype}, got {pk} and {pv}"
                )));
            }
            Some(pk.shape[2].clone())
        }
        _ => return Err(ctx.err("past_key and past_value are given together or not at all")),
    };
    if let Some(n) = inputs.opt(6)
        && (n.dtype != DType::I64 || n.rank() != 1)
    {
        return Err(ctx.err(format!("nonpad_kv_seqlen must be 1-D i64, got {n}")));
    }
    let q_heads = heads_attr(ctx, "q_num_heads")?;
    let kv_heads = heads_attr(ctx, "kv_num_heads")?;
    let scale = match ctx.opt_attr("scale") {
        None => None,
        Some(_) => Some(ctx.f64("scale")?),
    };
    let causal = match attr_i64(ctx, "is_causal", 0)? {
        0 => false,
        1 => true,
        other => return Err(ctx.err(format!("is_causal must be 0 or 1, got {other}"))),
    };
    let softcap = attr_f64(ctx, "softcap", 0.0)?;
    let qk_mode = attr_i64(ctx, "qk_matmul_output_mode", 0)?;
    if !(0..=3).contains(&qk_mode) {
        return Err(ctx.err(format!(
            "qk_matmul_output_mode must be 0 to 3, got {qk_mode}"
        )));
    }
    // FLOAT, FLOAT16, DOUBLE, BFLOAT16: the float types ONNX allows for the softmax.
    if let Some(p) = ctx
        .opt_attr("softmax_precision")
        .map(|_| ctx.i64("softmax_precision"))
    {
        let p = p?;
        if !matches!(p, 1 | 10 | 11 | 16) {
            return Err(ctx.err(format!("softmax_precision {p} is not a float type")));
        }
    }

    // Planned dimensions: batch, q heads, q seq, head, kv heads, kv seq, head of K, v head.
    let (b, hq, sq, hkv, skv, dk, dv) = if rank == 4 {
        for (attr, dim, what) in [(q_heads, &q.shape[1], "Q"), (kv_heads, &k.shape[1], "K")] {
            if let (Some(n), Some(d)) = (attr, dim.known())
                && n != d
            {
                return Err(ctx.err(format!("{what} has {d} heads, the attribute says {n}")));
            }
        }
        (
            q.shape[0].clone(),
            q.shape[1].clone(),
            q.shape[2].clone(),
            k.shape[1].clone(),
            k.shape[2].clone(),
            k.shape[3].clone(),
            v.shape[3].clone(),
        )
    } else {
        let (Some(nq), Some(nkv)) = (q_heads, kv_heads) else {
            return Err(ctx.err("3-D inputs need `q_num_heads` and `kv_num_heads`"));
        };
        div_dim(ctx, &q.shape[2], nq, "Q")?;
        (
            q.shape[0].clone(),
            Dim::Known(nq),
            q.shape[1].clone(),
            Dim::Known(nkv),
            k.shape[1].clone(),
            div_dim(ctx, &k.shape[2], nkv, "K")?,
            div_dim(ctx, &v.shape[2], nkv, "V")?,
        )
    };
    if let (Some(x), Some(y)) = (hq.known(), hkv.known())
        && (y == 0 || x % y != 0)
    {
        return Err(ctx.err(format!("the {y} kv heads must divide the {x} query heads")));
    }
    let total = past
        .as_ref()
        .map_or_else(|| skv.clone(), |p| add_dim(p, &skv));
    let y_shape = if rank == 4 {
        vec![b.clone(), hq.clone(), sq.clone(), dv.clone()]
    } else {
        let hidden = match (q_heads, dv.known()) {
            (Some(n), Some(x)) => n.checked_mul(x).map_or_else(Dim::unknown, Dim::Known),
            _ => Dim::unknown(),
        };
        vec![b.clone(), sq.clone(), hidden]
    };
    let ty = |shape: Vec<Dim>| TensorType { dtype, shape };
    let mut outputs = vec![tensor_out(ctx, "0", ty(y_shape))?];
    let mut want = [false; 3];
    let shapes = [
        vec![b.clone(), hkv.clone(), total.clone(), dk],
        vec![b.clone(), hkv, total.clone(), dv],
        vec![b, hq, sq, total],
    ];
    for (i, shape) in shapes.into_iter().enumerate() {
        let port = (i + 1).to_string();
        if ctx.has_output(&port) {
            outputs.push(tensor_out(ctx, &port, ty(shape))?);
            want[i] = true;
        }
    }
    Ok(Built {
        kernel: Box::new(Attention {
            inputs,
            dtype,
            rank,
            q_heads,
            kv_heads,
            scale,
            causal,
            softcap,
            qk_mode,
            want,
        }),
        outputs,
    })
}

impl Kernel for Attention {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        match self.dtype {
            DType::F64 => self.compute::<f64>(inputs),
            _ => self.compute::<f32>(inputs),
        }
    }
}

/// A mask read once per evaluation: bool (false hides) or additive values.
enum Mask<'a, T: Clone> {
    Bool(&'a [bool]),
    Add(Cow<'a, [T]>),
}

/// The attention mask with its broadcast strides over `[batch, q_heads, q_seq]` and the length
/// of its last axis (positions at or past it are hidden).
struct MaskView<'a, T: Clone> {
    data: Mask<'a, T>,
    st: [usize; 3],
    len: usize,
}

impl<T: Real> MaskView<'_, T> {
    /// The bias of position `j` for query `i` of batch `b`, head `h` (0 or -inf for a bool
    /// mask; -inf past the mask's end).
    fn bias(&self, b: usize, h: usize, i: usize, j: usize) -> f64 {
        if j >= self.len {
            return f64::NEG_INFINITY;
        }
        let at = b * self.st[0] + h * self.st[1] + i * self.st[2] + j;
        match &self.data {
            Mask::Bool(m) => match m.get(at) {
                Some(true) => 0.0,
                _ => f64::NEG_INFINITY,
            },
            Mask::Add(m) => m.get(at).map_or(f64::NAN, |x| x.to_f64()),
        }
    }
}

/// Copies `n` rows of `len` elements, row `r` starting at `src[off + r * rs]`, onto `dst`.
fn copy_rows<T: Copy>(
    src: &[T],
    off: usize,
    rs: usize,
    n: usize,
    len: usize,
    dst: &mut Vec<T>,
    what: &str,
) -> Result<(), Error> {
    for r in 0..n {
        let start = off + r * rs;
        let row = src
            .get(start..start + len)
            .ok_or_else(|| shape_error(what, "rows inside the buffer", "short data"))?;
        dst.extend_from_slice(row);
    }
    Ok(())
}

impl Attention {
    /// The sizes of this evaluation, every input's shape checked against the others.
    fn geometry(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        past: Option<&Tensor>,
    ) -> Result<Geo, Error> {
        let dims = |t: &Tensor| -> Vec<usize> { t.shape.clone() };
        let (qs, ks, vs) = (dims(q), dims(k), dims(v));
        let (b, hq, sq, d, hkv, skv, dk, dv) = if self.rank == 4 {
            (qs[0], qs[1], qs[2], qs[3], ks[1], ks[2], ks[3], vs[3])
        } else {
            let (nq, nkv) = (self.q_heads.unwrap_or(1), self.kv_heads.unwrap_or(1));
            let split = |hidden: usize, n: usize, what: &str| {
                if hidden.is_multiple_of(n) {
                    Ok(hidden / n)
                } else {
                    Err(shape_error(
                        what,
                        format!("a hidden size that is a multiple of {n} heads"),
                        format!("{hidden}"),
                    ))
                }
            };
            (
                qs[0],
                nq,
                qs[1],
                split(qs[2], nq, "Q")?,
                nkv,
                ks[1],
                split(ks[2], nkv, "K")?,
                split(vs[2], nkv, "V")?,
            )
        };
        let heads_ok = |attr: Option<usize>, n: usize| attr.is_none_or(|a| a == n);
        if self.rank == 4 && (!heads_ok(self.q_heads, hq) || !heads_ok(self.kv_heads, hkv)) {
            return Err(shape_error(
                "Q",
                "the head counts of the attributes",
                format!("{qs:?} and K {ks:?}"),
            ));
        }
        let v_kv = if self.rank == 4 {
            (vs[1], vs[2])
        } else {
            (hkv, vs[1])
        };
        if ks[0] != b || vs[0] != b || dk != d || v_kv != (hkv, skv) {
            return Err(shape_error(
                "K",
                format!("K and V matching Q {qs:?} in batch, heads and head size"),
                format!("K {ks:?}, V {vs:?}"),
            ));
        }
        if hkv == 0 || hq % hkv != 0 {
            return Err(shape_error(
                "K",
                format!("a number of heads dividing Q's {hq}"),
                format!("{hkv}"),
            ));
        }
        let past_len = past.map_or(0, |p| p.shape.get(2).copied().unwrap_or(0));
        let total = past_len
            .checked_add(skv)
            .ok_or_else(|| shape_error("past_key", "a total length that fits", "overflow"))?;
        Ok(Geo {
            b,
            hq,
            hkv,
            sq,
            skv,
            past: past_len,
            total,
            d,
            dv,
        })
    }

    /// The past cache and the new rows as one `[batch, kv_heads, total, width]` buffer.
    fn present<T: Real>(
        &self,
        g: &Geo,
        new: &[T],
        past: Option<&[T]>,
        width: usize,
        what: &str,
    ) -> Result<Vec<T>, Error> {
        let n = checked_elements(&[g.b, g.hkv, g.total, width], what)?;
        let mut out = Vec::with_capacity(n);
        for bi in 0..g.b {
            for h in 0..g.hkv {
                if let Some(p) = past {
                    let off = (bi * g.hkv + h) * g.past * width;
                    copy_rows(p, off, width, g.past, width, &mut out, what)?;
                }
                let (off, rs) = if self.rank == 4 {
                    ((bi * g.hkv + h) * g.skv * width, width)
                } else {
                    (bi * g.skv * g.hkv * width + h * width, g.hkv * width)
                };
                copy_rows(new, off, rs, g.skv, width, &mut out, what)?;
            }
        }
        Ok(out)
    }

    fn mask_view<'a, T: Real>(&self, m: &'a Tensor, g: &Geo) -> Result<MaskView<'a, T>, Error> {
        checked_len(m, "attn_mask")?;
        if m.rank() == 0 || m.rank() > 4 {
            return Err(shape_error(
                "attn_mask",
                "rank 1 to 4",
                format!("{:?}", m.shape),
            ));
        }
        let mut ms = vec![1usize; 4 - m.rank()];
        ms.extend_from_slice(&m.shape);
        let full = [g.b, g.hq, g.sq];
        let fits = (0..3).all(|i| ms[i] == 1 || ms[i] == full[i]) && ms[3] <= g.total;
        if !fits {
            return Err(shape_error(
                "attn_mask",
                format!(
                    "a shape that broadcasts to [{}, {}, {}, {}]",
                    g.b, g.hq, g.sq, g.total
                ),
                format!("{:?}", m.shape),
            ));
        }
        let st = strides(&ms);
        let bst = |i: usize| if ms[i] == 1 { 0 } else { st[i] };
        let data = if m.dtype() == DType::Bool {
            Mask::Bool(
                m.as_slice::<bool>()
                    .ok_or_else(|| dtype_error("attn_mask", DType::Bool, m.dtype()))?,
            )
        } else {
            if m.dtype() != self.dtype {
                return Err(dtype_error("attn_mask", self.dtype, m.dtype()));
            }
            Mask::Add(real_slice::<T>(m, "attn_mask")?)
        };
        Ok(MaskView {
            data,
            st: [bst(0), bst(1), bst(2)],
            len: ms[3],
        })
    }

    fn compute<T: Real>(&self, inputs: &[&Value]) -> Result<Vec<Value>, Error> {
        let q = self.inputs.req(inputs, 0)?;
        let k = self.inputs.req(inputs, 1)?;
        let v = self.inputs.req(inputs, 2)?;
        let mask = self.inputs.get(inputs, 3)?;
        let pk = self.inputs.get(inputs, 4)?;
        let pv = self.inputs.get(inputs, 5)?;
        let nonpad = self.inputs.get(inputs, 6)?;
        for (t, what) in [(&q, "Q"), (&k, "K"), (&v, "V")] {
            if t.dtype() != self.dtype {
                return Err(dtype_error(what, self.dtype, t.dtype()));
            }
            check_rank(t, self.rank, what)?;
            checked_len(t, what)?;
        }
        let g = self.geometry(&q, &k, &v, pk.as_deref())?;
        let past = match (pk.as_deref(), pv.as_deref()) {
            (Some(a), Some(b)) => {
                for (t, w, what) in [(a, g.d, "past_key"), (b, g.dv, "past_value")] {
                    if t.dtype() != self.dtype {
                        return Err(dtype_error(what, self.dtype, t.dtype()));
                    }
                    checked_len(t, what)?;
                    if t.shape != [g.b, g.hkv, g.past, w] {
                        return Err(shape_error(
                            what,
                            format!("[{}, {}, {}, {w}]", g.b, g.hkv, g.past),
                            format!("{:?}", t.shape),
                        ));
                    }
                }
                Some((
                    real_slice::<T>(a, "past_key")?,
                    real_slice::<T>(b, "past_value")?,
                ))
            }
            _ => None,
        };
        let qv = real_slice::<T>(&q, "Q")?;
        let kv = real_slice::<T>(&k, "K")?;
        let vv = real_slice::<T>(&v, "V")?;
        let keys = self.present(&g, &kv, past.as_ref().map(|p| &*p.0), g.d, "K")?;
        let values = self.present(&g, &vv, past.as_ref().map(|p| &*p.1), g.dv, "V")?;
        let mask = mask
            .as_deref()
            .map(|m| self.mask_view::<T>(m, &g))
            .transpose()?;
        let lengths = match nonpad.as_deref() {
            None => None,
            Some(n) => {
                if n.dtype() != DType::I64 || n.shape != [g.b] {
                    return Err(shape_error(
                        "nonpad_kv_seqlen",
                        format!("i64[{}]", g.b),
                        format!("{}{:?}", n.dtype(), n.shape),
                    ));
                }
                Some(n.data.to_i64_vec())
            }
        };

        let scale = self.scale.unwrap_or_else(|| 1.0 / (g.d as f64).sqrt());
        let y_len = checked_elements(&[g.b, g.hq, g.sq, g.dv], "Y")?;
        let qk_len = checked_elements(&[g.b, g.hq, g.sq, g.total], "qk_matmul_output")?;
        let rows = checked_elements(&[g.sq, g.total], "scores")?;
        let mut y = vec![T::ZERO; y_len];
        let mut qk_out = if self.want[2] {
            vec![T::ZERO; qk_len]
        } else {
            Vec::new()
        };
        let mut scores = vec![T::ZERO; rows];
        let mut head_y = vec![T::ZERO; checked_elements(&[g.sq, g.dv], "Y")?];
        let mut row = vec![0f64; g.total];
        let reps = g.hq / g.hkv;
        for bi in 0..g.b {
            for h in 0..g.hq {
                let kvh = h / reps;
                let (q_off, q_rs) = if self.rank == 4 {
                    ((bi * g.hq + h) * g.sq * g.d, g.d)
                } else {
                    (bi * g.sq * g.hq * g.d + h * g.d, g.hq * g.d)
                };
                let q_ref = MatRef {
                    data: qv.get(q_off..).unwrap_or(&[]),
                    rs: q_rs,
                    cs: 1,
                };
                let k_off = (bi * g.hkv + kvh) * g.total * g.d;
                let k_ref = MatRef::transposed(keys.get(k_off..).unwrap_or(&[]), g.d);
                matmul(
                    g.sq,
                    g.total,
                    g.d,
                    q_ref,
                    k_ref,
                    &mut scores,
                    T::from_f64(scale),
                    T::ZERO,
                )?;
                let qk_base = (bi * g.hq + h) * rows;
                for i in 0..g.sq {
                    for (j, r) in row.iter_mut().enumerate() {
                        let raw = scores[i * g.total + j].to_f64();
                        let mut x = raw;
                        if self.softcap > 0.0 {
                            x = self.softcap * (x / self.softcap).tanh();
                        }
                        let mut bias = mask.as_ref().map_or(0.0, |m| m.bias(bi, h, i, j));
                        if self.causal && j > i + g.past {
                            bias = f64::NEG_INFINITY;
                        }
                        if let Some(n) = &lengths
                            && n.get(bi).is_none_or(|&n| j as i64 >= n)
                        {
                            bias = f64::NEG_INFINITY;
                        }
                        let biased = x + bias;
                        if self.want[2] {
                            qk_out[qk_base + i * g.total + j] = T::from_f64(match self.qk_mode {
                                0 => raw,
                                1 => x,
                                _ => biased,
                            });
                        }
                        *r = biased;
                    }
                    // A stable softmax: subtract the maximum. A row with every position hidden
                    // has max -inf and becomes NaN (-inf - -inf), as in ONNX's reference.
                    let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let sum: f64 = row.iter().map(|x| (x - max).exp()).sum();
                    for (j, x) in row.iter().enumerate() {
                        let p = (x - max).exp() / sum;
                        scores[i * g.total + j] = T::from_f64(p);
                        if self.want[2] && self.qk_mode == 3 {
                            qk_out[qk_base + i * g.total + j] = T::from_f64(p);
                        }
                    }
                }
                let v_off = (bi * g.hkv + kvh) * g.total * g.dv;
                matmul(
                    g.sq,
                    g.dv,
                    g.total,
                    MatRef::rows(&scores, g.total),
                    MatRef::rows(values.get(v_off..).unwrap_or(&[]), g.dv),
                    &mut head_y,
                    T::ONE,
                    T::ZERO,
                )?;
                for i in 0..g.sq {
                    let dst = if self.rank == 4 {
                        ((bi * g.hq + h) * g.sq + i) * g.dv
                    } else {
                        (bi * g.sq + i) * g.hq * g.dv + h * g.dv
                    };
                    let src = &head_y[i * g.dv..(i + 1) * g.dv];
                    y.get_mut(dst..dst + g.dv)
                        .ok_or_else(|| shape_error("Y", "rows inside the buffer", "short"))?
                        .copy_from_slice(src);
                }
            }
        }
        let y_shape = if self.rank == 4 {
            vec![g.b, g.hq, g.sq, g.dv]
        } else {
            vec![g.b, g.sq, g.hq * g.dv]
        };
        let mut out = vec![Value::Tensor(real_tensor(self.dtype, y_shape, y)?)];
        if self.want[0] {
            let shape = vec![g.b, g.hkv, g.total, g.d];
            out.push(Value::Tensor(real_tensor(self.dtype, shape, keys)?));
        }
        if self.want[1] {
            let shape = vec![g.b, g.hkv, g.total, g.dv];
            out.push(Value::Tensor(real_tensor(self.dtype, shape, values)?));
        }
        if self.want[2] {
            let shape = vec![g.b, g.hq, g.sq, g.total];
            out.push(Value::Tensor(real_tensor(self.dtype, shape, qk_out)?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run, run_opt};
    use crate::tensor::Tensor;
    use keel_bundle::Attr;

    fn one(attrs: Vec<(&str, Attr)>, inputs: &[Option<&Tensor>], n_out: usize) -> Vec<Tensor> {
        run_opt("nn.attention", attrs, inputs, n_out).unwrap()
    }

    #[test]
    fn one_query_weighs_the_values_by_softmax() {
        // Scores [1, 0] (scale 1): weights e/(e+1), 1/(e+1) over values 1 and 3.
        let q = f32s(&[1, 1, 1, 2], &[1., 0.]);
        let k = f32s(&[1, 1, 2, 2], &[1., 0., 0., 1.]);
        let v = f32s(&[1, 1, 2, 1], &[1., 3.]);
        let y = one(
            vec![("scale", Attr::F64(1.0))],
            &[Some(&q), Some(&k), Some(&v)],
            1,
        );
        let e = 1f32.exp();
        assert_close(&y[0], &f32s(&[1, 1, 1, 1], &[(e + 3.) / (e + 1.)]), 1e-6);
        // The default scale is 1/sqrt(2): scores [1/sqrt(2), 0].
        let y = run("nn.attention", vec![], &[q, k, v]).unwrap();
        let e = (1f32 / 2f32.sqrt()).exp();
        assert_close(&y[0], &f32s(&[1, 1, 1, 1], &[(e + 3.) / (e + 1.)]), 1e-6);
    }

    #[test]
    fn causal_hides_later_positions() {
        // Zero scores: query 0 sees value 2 only, query 1 the mean of 2 and 4.
        let q = f32s(&[1, 1, 2, 1], &[0., 0.]);
        let k = f32s(&[1, 1, 2, 1], &[5., 7.]);
        let v = f32s(&[1, 1, 2, 1], &[2., 4.]);
        let y = one(
            vec![("is_causal", Attr::I64(1))],
            &[Some(&q), Some(&k), Some(&v)],
            1,
        );
        assert_close(&y[0], &f32s(&[1, 1, 2, 1], &[2., 3.]), 1e-6);
    }

    #[test]
    fn bool_masks_hide_and_a_fully_hidden_row_is_nan() {
        let q = f32s(&[1, 1, 2, 1], &[0., 0.]);
        let k = f32s(&[1, 1, 2, 1], &[0., 0.]);
        let v = f32s(&[1, 1, 2, 1], &[2., 4.]);
        let m = Tensor::new(vec![2, 2], vec![false, true, false, false]).unwrap();
        let y = one(vec![], &[Some(&q), Some(&k), Some(&v), Some(&m)], 1);
        let got = y[0].as_slice::<f32>().unwrap();
        assert_eq!(got[0], 4.0);
        assert!(got[1].is_nan());
        // A float mask adds: ln 3 on position 0 weighs it 3/4.
        let m = f32s(&[2], &[3f32.ln(), 0.]);
        let y = one(vec![], &[Some(&q), Some(&k), Some(&v), Some(&m)], 1);
        assert_close(&y[0], &f32s(&[1, 1, 2, 1], &[2.5, 2.5]), 1e-6);
        // A mask shorter than the keys hides the rest.
        let m = f32s(&[1], &[0.]);
        let y = one(vec![], &[Some(&q), Some(&k), Some(&v), Some(&m)], 1);
        assert_close(&y[0], &f32s(&[1, 1, 2, 1], &[2., 2.]), 1e-6);
    }

    #[test]
    fn grouped_query_heads_share_kv_heads_in_3d() {
        // Two q heads of size 2 over one kv head; scale 1. Head 0 q = [0, 0]: uniform,
        // (4 + 8) / 2 = 6. Head 1 q = [ln 3, 0] against keys e0, e1: weights 3/4, 1/4 -> 5.
        let q = f32s(&[1, 1, 4], &[0., 0., 3f32.ln(), 0.]);
        let k = f32s(&[1, 2, 2], &[1., 0., 0., 1.]);
        let v = f32s(&[1, 2, 1], &[4., 8.]);
        let attrs = vec![
            ("q_num_heads", Attr::I64(2)),
            ("kv_num_heads", Attr::I64(1)),
            ("scale", Attr::F64(1.0)),
        ];
        let y = one(attrs, &[Some(&q), Some(&k), Some(&v)], 1);
        assert_close(&y[0], &f32s(&[1, 1, 2], &[6., 5.]), 1e-5);
    }

    #[test]
    fn past_present_and_qk_outputs() {
        // Past key 1, new key 2, q 1, scale 1: scores [1, 2].
        let q = f32s(&[1, 1, 1, 1], &[1.]);
        let k = f32s(&[1, 1, 1, 1], &[2.]);
        let v = f32s(&[1, 1, 1, 1], &[10.]);
        let pk = f32s(&[1, 1, 1, 1], &[1.]);
        let pv = f32s(&[1, 1, 1, 1], &[0.]);
        let m = f32s(&[1, 2], &[0., -1.]);
        let ins = [Some(&q), Some(&k), Some(&v), Some(&m), Some(&pk), Some(&pv)];
        let mode = |n: i64| {
            vec![
                ("scale", Attr::F64(1.0)),
                ("softcap", Attr::F64(2.0)),
                ("qk_matmul_output_mode", Attr::I64(n)),
            ]
        };
        let c = [2. * 0.5f32.tanh(), 2. * 1f32.tanh()];
        let out = one(mode(0), &ins, 4);
        assert_close(&out[1], &f32s(&[1, 1, 2, 1], &[1., 2.]), 0.0);
        assert_close(&out[2], &f32s(&[1, 1, 2, 1], &[0., 10.]), 0.0);
        assert_close(&out[3], &f32s(&[1, 1, 1, 2], &[1., 2.]), 1e-6);
        // Weights softmax([c0, c1 - 1]) over values 0 and 10.
        let (a, b) = (c[0].exp(), (c[1] - 1.).exp());
        assert_close(&out[0], &f32s(&[1, 1, 1, 1], &[10. * b / (a + b)]), 1e-5);
        let out = one(mode(1), &ins, 4);
        assert_close(&out[3], &f32s(&[1, 1, 1, 2], &c), 1e-6);
        let out = one(mode(2), &ins, 4);
        assert_close(&out[3], &f32s(&[1, 1, 1, 2], &[c[0], c[1] - 1.]), 1e-6);
        let out = one(mode(3), &ins, 4);
        assert_close(
            &out[3],
            &f32s(&[1, 1, 1, 2], &[a / (a + b), b / (a + b)]),
            1e-6,
        );
    }

    #[test]
    fn refusals_and_shape_errors() {
        let q = f32s(&[1, 1, 4], &[0.; 4]);
        let k = f32s(&[1, 2, 2], &[0.; 4]);
        let v = f32s(&[1, 2, 1], &[0.; 2]);
        // 3-D inputs need the head counts.
        assert!(run("nn.attention", vec![], &[q.clone(), k.clone(), v.clone()]).is_err());
        let heads = |extra: Option<(&'static str, Attr)>| {
            let mut a = vec![
                ("q_num_heads", Attr::I64(2)),
                ("kv_num_heads", Attr::I64(1)),
            ];
            a.extend(extra);
            a
        };
        for bad in [
            ("qk_matmul_output_mode", Attr::I64(4)),
            ("is_causal", Attr::I64(2)),
            ("softmax_precision", Attr::I64(7)),
        ] {
            let r = run(
                "nn.attention",
                heads(Some(bad)),
                &[q.clone(), k.clone(), v.clone()],
            );
            assert!(r.is_err());
        }
        // A key head size that differs from the query's is a shape error at score time.
        let k3 = f32s(&[1, 2, 3], &[0.; 6]);
        assert!(run("nn.attention", heads(None), &[q.clone(), k3, v.clone()]).is_err());
        // Only one past cache.
        let p = f32s(&[1, 1, 1, 2], &[0.; 2]);
        let r = run_opt(
            "nn.attention",
            heads(None),
            &[Some(&q), Some(&k), Some(&v), None, Some(&p)],
            1,
        );
        assert!(r.is_err());
    }
}
