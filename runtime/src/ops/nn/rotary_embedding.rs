//! `nn.rotary_embedding`: ONNX RotaryEmbedding (opset 23), rotary position embeddings. Ports:
//! `0` input, `1` cos_cache, `2` sin_cache, `3` position_ids? -> `0` (input's shape and dtype).
//!
//! The input is 4-D `[batch, heads, seq, head]` or 3-D `[batch, seq, heads * head]` (then
//! `num_heads` says how many heads). With position_ids (i64 `[batch, seq]`) the caches are
//! `[max_position, rotary / 2]` tables indexed by position; without, they are `[batch, seq,
//! rotary / 2]`. The first `rotary` elements of every head rotate (`rotary_embedding_dim`, 0
//! meaning the whole head; even, at most the head size), the rest pass through. Pairs are the
//! two halves of the rotated part, or with `interleaved` 1 adjacent elements: `(x1, x2)` becomes
//! `(cos * x1 - sin * x2, sin * x1 + cos * x2)`.
//!
//! Attributes: `interleaved` (0/1), `num_heads`, `rotary_embedding_dim`. Floats f32, f64, f16,
//! bf16, computed in f64. A position outside the cache is a `tensor_shape` error naming it and
//! its place (negative ones included), never a panic.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{checked_len, dtype_error};
use crate::ops::nn::layout::check_rank;
use crate::ops::nn::linalg::{is_float, real_slice, real_tensor};
use crate::ops::nn::{Inputs, attr_i64, shape_error, tensor_out};
use crate::tensor::Tensor;
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct Rotary {
    inputs: Inputs,
    dtype: DType,
    rank: usize,
    interleaved: bool,
    num_heads: usize,
    rotary_dim: usize,
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 3, 4)?;
    let x = inputs.ty(0).clone();
    let (c, s) = (inputs.ty(1), inputs.ty(2));
    if !is_float(x.dtype) || c.dtype != x.dtype || s.dtype != x.dtype {
        return Err(ctx.err(format!(
            "input and caches must share one float dtype, got {x}, {c} and {s}"
        )));
    }
    let rank = x.rank();
    if !matches!(rank, 3 | 4) {
        return Err(ctx.err(format!("input must be 3-D or 4-D, got {x}")));
    }
    let cache_rank = match inputs.opt(3) {
        Some(p) if p.dtype != DType::I64 || p.rank() != 2 => {
            return Err(ctx.err(format!("position_ids must be 2-D i64, got {p}")));
        }
        Some(_) => 2,
        None => 3,
    };
    if c.rank() != cache_rank || s.rank() != cache_rank {
        return Err(ctx.err(format!(
            "the caches must be {cache_rank}-D here, got {c} and {s}"
        )));
    }
    let interleaved = match attr_i64(ctx, "interleaved", 0)? {
        0 => false,
        1 => true,
        other => return Err(ctx.err(format!("interleaved must be 0 or 1, got {other}"))),
    };
    let nonneg = |key: &str| -> Result<usize, Error> {
        let v = attr_i64(ctx, key, 0)?;
        usize::try_from(v).map_err(|_| ctx.err(format!("`{key}` must be >= 0, got {v}")))
    };
    let num_heads = nonneg("num_heads")?;
    let rotary_dim = nonneg("rotary_embedding_dim")?;
    if rank == 3 && num_heads == 0 {
        return Err(ctx.err("3-D input needs `num_heads`"));
    }
    if !rotary_dim.is_multiple_of(2) {
        return Err(ctx.err(format!("rotary_embedding_dim {rotary_dim} must be even")));
    }
    let dtype = x.dtype;
    let out = tensor_out(ctx, "0", x)?;
    Ok(Built {
        kernel: Box::new(Rotary {
            inputs,
            dtype,
            rank,
            interleaved,
            num_heads,
            rotary_dim,
        }),
        outputs: vec![out],
    })
}

impl Kernel for Rotary {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let c = self.inputs.req(inputs, 1)?;
        let s = self.inputs.req(inputs, 2)?;
        let pos = self.inputs.get(inputs, 3)?;
        for (t, what) in [(&x, "input"), (&c, "cos_cache"), (&s, "sin_cache")] {
            if t.dtype() != self.dtype {
                return Err(dtype_error(what, self.dtype, t.dtype()));
            }
            checked_len(t, what)?;
        }
        check_rank(&x, self.rank, "input")?;
        let out = self.rotate(&x, &c, &s, pos.as_deref())?;
        Ok(vec![Value::Tensor(real_tensor(
            self.dtype,
            x.shape.clone(),
            out,
        )?)])
    }
}

impl Rotary {
    fn rotate(
        &self,
        x: &Tensor,
        c: &Tensor,
        s: &Tensor,
        pos: Option<&Tensor>,
    ) -> Result<Vec<f64>, Error> {
        // Batch, heads, seq, head size, and the strides of (batch, head, seq) in the input.
        let (b, h, n, d, st) = if self.rank == 4 {
            let [b, h, n, d] = x.shape[..] else {
                return Err(shape_error("input", "4-D", format!("{:?}", x.shape)));
            };
            (b, h, n, d, [h * n * d, n * d, d])
        } else {
            let [b, n, hidden] = x.shape[..] else {
                return Err(shape_error("input", "3-D", format!("{:?}", x.shape)));
            };
            let h = self.num_heads;
            if !hidden.is_multiple_of(h) {
                return Err(shape_error(
                    "input",
                    format!("a hidden size that is a multiple of {h} heads"),
                    hidden.to_string(),
                ));
            }
            let d = hidden / h;
            (b, h, n, d, [n * hidden, d, hidden])
        };
        let r = if self.rotary_dim == 0 {
            d
        } else {
            self.rotary_dim
        };
        if r > d || !r.is_multiple_of(2) {
            return Err(shape_error(
                "input",
                format!("a head size of at least rotary_embedding_dim {r} (even)"),
                d.to_string(),
            ));
        }
        let half = r / 2;
        // For each (batch, seq): the row of the caches to read.
        let rows: Vec<usize> = match pos {
            Some(p) => {
                if p.shape != [b, n] || p.dtype() != DType::I64 {
                    return Err(shape_error(
                        "position_ids",
                        format!("i64[{b}, {n}]"),
                        format!("{}{:?}", p.dtype(), p.shape),
                    ));
                }
                let max = c.shape.first().copied().unwrap_or(0);
                p.data
                    .to_i64_vec()
                    .into_iter()
                    .enumerate()
                    .map(|(i, k)| {
                        usize::try_from(k).ok().filter(|&k| k < max).ok_or_else(|| {
                            shape_error(
                                "position_ids",
                                format!("positions in 0..{max}"),
                                format!("{k} at position {i}"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?
            }
            None => (0..b * n).collect(),
        };
        let want = match pos {
            Some(_) => vec![c.shape.first().copied().unwrap_or(0), half],
            None => vec![b, n, half],
        };
        for (t, what) in [(c, "cos_cache"), (s, "sin_cache")] {
            if t.shape != want {
                return Err(shape_error(
                    what,
                    format!("{want:?}"),
                    format!("{:?}", t.shape),
                ));
            }
        }
        let xv = real_slice::<f64>(x, "input")?;
        let cv = real_slice::<f64>(c, "cos_cache")?;
        let sv = real_slice::<f64>(s, "sin_cache")?;
        let mut out = xv.to_vec();
        for bi in 0..b {
            for si in 0..n {
                let row = rows[bi * n + si] * half;
                let (cos, sin) = (&cv[row..row + half], &sv[row..row + half]);
                for hi in 0..h {
                    let base = bi * st[0] + hi * st[1] + si * st[2];
                    let head = &xv[base..base + d];
                    let dst = &mut out[base..base + d];
                    for j in 0..half {
                        let (i1, i2) = if self.interleaved {
                            (2 * j, 2 * j + 1)
                        } else {
                            (j, j + half)
                        };
                        let (x1, x2) = (head[i1], head[i2]);
                        dst[i1] = cos[j] * x1 - sin[j] * x2;
                        dst[i2] = sin[j] * x1 + cos[j] * x2;
                    }
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, i64s, run, run_opt};
    use keel_bundle::Attr;

    #[test]
    fn halves_and_interleaved_pairs_rotate() {
        // One batch, head and position; head [1, 2, 3, 4]; cos [0, 1], sin [1, 0]:
        // halves pair (1, 3) and (2, 4): (0*1 - 1*3, 1*1 + 0*3) = (-3, 1); (2, 4) unchanged.
        let x = f32s(&[1, 1, 1, 4], &[1., 2., 3., 4.]);
        let c = f32s(&[1, 1, 2], &[0., 1.]);
        let s = f32s(&[1, 1, 2], &[1., 0.]);
        let y = run(
            "nn.rotary_embedding",
            vec![],
            &[x.clone(), c.clone(), s.clone()],
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 1, 4], &[-3., 2., 1., 4.]), 1e-6);
        // Interleaved pairs (1, 2) and (3, 4): (-2, 1), (3, 4).
        let y = run(
            "nn.rotary_embedding",
            vec![("interleaved", Attr::I64(1))],
            &[x, c, s],
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 1, 4], &[-2., 1., 3., 4.]), 1e-6);
    }

    #[test]
    fn positions_index_the_cache_and_partial_rotation_in_3d() {
        // 3-D [1, 2, 2 heads * 4]; rotary dim 2: only elements 0 and 1 of each head rotate.
        // Position 1 for both tokens: cos 0, sin 1: (x0, x1) -> (-x1, x0).
        let x = f32s(
            &[1, 2, 8],
            &[
                1., 2., 3., 4., 5., 6., 7., 8., 1., 1., 1., 1., 2., 3., 4., 5.,
            ],
        );
        let c = f32s(&[2, 1], &[1., 0.]);
        let s = f32s(&[2, 1], &[0., 1.]);
        let p = i64s(&[1, 2], &[1, 1]);
        let attrs = vec![
            ("num_heads", Attr::I64(2)),
            ("rotary_embedding_dim", Attr::I64(2)),
        ];
        let y = run_opt(
            "nn.rotary_embedding",
            attrs.clone(),
            &[Some(&x), Some(&c), Some(&s), Some(&p)],
            1,
        )
        .unwrap();
        let want = [
            -2., 1., 3., 4., -6., 5., 7., 8., -1., 1., 1., 1., -3., 2., 4., 5.,
        ];
        assert_close(&y[0], &f32s(&[1, 2, 8], &want), 1e-6);
        // A position past the cache is an error naming it.
        let p = i64s(&[1, 2], &[0, 2]);
        let e = run_opt(
            "nn.rotary_embedding",
            attrs,
            &[Some(&x), Some(&c), Some(&s), Some(&p)],
            1,
        )
        .unwrap_err();
        assert!(e.to_string().contains("2 at position 1"), "{e}");
    }

    #[test]
    fn refusals() {
        let x = f32s(&[1, 2, 8], &[0.; 16]);
        let c = f32s(&[1, 2, 4], &[0.; 8]);
        // 3-D without num_heads; an odd rotary dim.
        assert!(
            run(
                "nn.rotary_embedding",
                vec![],
                &[x.clone(), c.clone(), c.clone()]
            )
            .is_err()
        );
        let odd = vec![
            ("num_heads", Attr::I64(1)),
            ("rotary_embedding_dim", Attr::I64(3)),
        ];
        assert!(run("nn.rotary_embedding", odd, &[x, c.clone(), c]).is_err());
    }
}
