//! `nn.conv_transpose`: ONNX ConvTranspose over any number of spatial axes. Ports: `0` X
//! `[N, C, D1, ...]`, `1` W `[C, M / group, k1, ...]`, optional `2` B `[M]` -> `0` Y
//! `[N, M, O1, ...]`. Attributes: `auto_pad` (`NOTSET`, `VALID`, `SAME_UPPER`, `SAME_LOWER`),
//! `dilations`, `group` (1), `kernel_shape` (must match W), `output_padding`, `output_shape`
//! (spatial sizes only), `pads`, `strides`.
//!
//! Output size per axis: `stride * (in - 1) + output_padding + (k - 1) * dilation + 1` less
//! the pads; `output_shape` overrides it (with explicit pads kept as given, what lies past the
//! computed extent holding only the bias, as the ONNX reference does); `SAME_*` targets
//! `in * stride` (or `output_shape`) and splits the difference as pads, the odd one at the end
//! (`SAME_UPPER`) or start (`SAME_LOWER`).
//!
//! Each image and group is one matrix product, W's `[C / group, M / group * k]` transposed
//! times the image's `[C / group, in]` planes, whose columns are then added into Y at their
//! window positions (col2im). Floats: f32, f64; f16 and bf16 computed in f32.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::conv::{Header, header, next_index};
use crate::ops::nn::linalg::{MatRef, Real, constant_operand, matmul, real_slice, real_tensor};
use crate::ops::nn::window::{AutoPad, Window};
use crate::ops::nn::{Inputs, attr_i64s, shape_error, tensor_out};
use crate::tensor::{Dim, Tensor, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct ConvTranspose {
    inputs: Inputs,
    dtype: DType,
    window: Window,
    group: usize,
    output_padding: Vec<usize>,
    output_shape: Option<Vec<usize>>,
    /// W converted to the computing dtype when it is known at load.
    weight: Option<Tensor>,
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 3)?;
    let (x, w) = (inputs.ty(0).clone(), inputs.ty(1).clone());
    let Header {
        dtype,
        spatial,
        group,
        window,
    } = header(ctx, &inputs)?;
    let bounded = |key: &str| -> Result<Vec<usize>, Error> {
        let v = attr_i64s(ctx, key)?;
        if !v.is_empty() && v.len() != spatial {
            return Err(ctx.err(format!(
                "`{key}` has {} values for {spatial} spatial axes",
                v.len()
            )));
        }
        v.iter()
            .map(|&x| {
                if (0..=1 << 30).contains(&x) {
                    Ok(x as usize)
                } else {
                    Err(ctx.err(format!("`{key}` value {x} is out of range")))
                }
            })
            .collect()
    };
    let mut output_padding = bounded("output_padding")?;
    if output_padding.is_empty() {
        output_padding = vec![0; spatial];
    }
    let output_shape = Some(bounded("output_shape")?).filter(|v| !v.is_empty());
    if let Some(c) = x.shape[1].known()
        && c % group != 0
    {
        return Err(ctx.err(format!("X's {c} channels do not split into {group} groups")));
    }
    if let (Some(c), Some(cw)) = (x.shape[1].known(), w.shape[0].known())
        && c != cw
    {
        return Err(ctx.err(format!("X has {c} channels but W {cw}")));
    }
    let m = w.shape[1].known().map(|mg| mg * group);
    if let Some(b) = inputs.opt(2)
        && (b.rank() != 1 || matches!((b.shape[0].known(), m), (Some(x), Some(y)) if x != y))
    {
        return Err(ctx.err(format!("B must be [M] for W {w}, got {b}")));
    }
    let op = ConvTranspose {
        inputs,
        dtype,
        window,
        group,
        output_padding,
        output_shape,
        weight: constant_operand(ctx.constant_input("1"))?,
    };
    let mut shape = vec![
        x.shape[0].clone(),
        m.map(Dim::Known).unwrap_or_else(Dim::unknown),
    ];
    match x.shape[2..]
        .iter()
        .map(Dim::known)
        .collect::<Option<Vec<_>>>()
    {
        Some(sizes) => shape.extend(op.place(&sizes)?.0.into_iter().map(Dim::Known)),
        None => shape.extend(vec![Dim::unknown(); spatial]),
    }
    let out = tensor_out(ctx, "0", TensorType { dtype, shape })?;
    Ok(Built {
        kernel: Box::new(op),
        outputs: vec![out],
    })
}

impl Kernel for ConvTranspose {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let w_in;
        let w = match &self.weight {
            Some(w) => w,
            None => {
                w_in = self.inputs.req(inputs, 1)?;
                &*w_in
            }
        };
        let b = self.inputs.get(inputs, 2)?;
        let y = match self.dtype {
            DType::F64 => self.run::<f64>(&x, w, b.as_deref())?,
            _ => self.run::<f32>(&x, w, b.as_deref())?,
        };
        Ok(vec![Value::Tensor(y)])
    }
}

impl ConvTranspose {
    /// Per spatial axis: the output size and the (possibly negative) pad before it.
    fn place(&self, input: &[usize]) -> Result<(Vec<usize>, Vec<i64>), Error> {
        let w = &self.window;
        let r = w.kernel.len();
        if input.len() != r {
            return Err(shape_error(
                "X",
                format!("{r} spatial axes"),
                format!("{input:?}"),
            ));
        }
        let (mut out, mut begin) = (Vec::with_capacity(r), Vec::with_capacity(r));
        for ax in 0..r {
            // Sizes are bounded at load (2^20 or 2^30); i64 holds every product here.
            let n = input[ax] as i64;
            let s = w.strides[ax] as i64;
            let span = (w.kernel[ax] as i64 - 1) * w.dilations[ax] as i64 + 1;
            let natural = s * (n - 1).max(0) + self.output_padding[ax] as i64 + span;
            let wanted = self.output_shape.as_ref().map(|o| o[ax] as i64);
            let (o, b) = match w.auto_pad {
                AutoPad::SameUpper | AutoPad::SameLower => {
                    let o = wanted.unwrap_or(n * s);
                    let total = natural - o;
                    let b = if w.auto_pad == AutoPad::SameUpper {
                        total.div_euclid(2)
                    } else {
                        total - total.div_euclid(2)
                    };
                    (o, b)
                }
                AutoPad::NotSet | AutoPad::Valid => {
                    let (b, e) = if w.auto_pad == AutoPad::Valid {
                        (0, 0)
                    } else {
                        (w.pads[ax] as i64, w.pads[ax + r] as i64)
                    };
                    (wanted.unwrap_or(natural - b - e), b)
                }
            };
            if o < 0 {
                return Err(shape_error(
                    "Y",
                    "a non-negative output size",
                    format!("{o} on spatial axis {ax}"),
                ));
            }
            out.push(o as usize);
            begin.push(b);
        }
        Ok((out, begin))
    }

    fn run<T: Real>(&self, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> Result<Tensor, Error> {
        let r = self.window.kernel.len();
        let g = self.group;
        if x.rank() != r + 2 {
            return Err(shape_error(
                "X",
                format!("rank {}", r + 2),
                format!("{:?}", x.shape),
            ));
        }
        let (n, c) = (x.shape[0], x.shape[1]);
        let mg = w.shape.get(1).copied().unwrap_or(0);
        let mut want_w = vec![c, mg];
        want_w.extend(&self.window.kernel);
        if c % g != 0 || w.shape != want_w {
            return Err(shape_error(
                "W",
                format!("{want_w:?} with {g} groups for X {:?}", x.shape),
                format!("{:?}", w.shape),
            ));
        }
        let m = mg * g;
        let cg = c / g;
        let (out_sp, begin) = self.place(&x.shape[2..])?;
        let mut shape = vec![n, m];
        shape.extend(&out_sp);
        let total = checked_elements(&shape, "Y")?;
        let out_size = checked_elements(&out_sp, "Y")?;
        let in_size: usize = x.shape[2..].iter().product();
        let ksize: usize = self.window.kernel.iter().product();
        let rows = mg * ksize;
        let xv = real_slice::<T>(x, "X")?;
        let wv = real_slice::<T>(w, "W")?;
        let bias = match b {
            Some(b) => {
                if b.shape != [m] {
                    return Err(shape_error("B", format!("[{m}]"), format!("{:?}", b.shape)));
                }
                Some(real_slice::<T>(b, "B")?)
            }
            None => None,
        };
        let mut out = vec![T::ZERO; total];
        let mut col = vec![T::ZERO; checked_elements(&[rows, in_size], "col2im")?];
        // Per spatial axis, kernel tap and input position: the output position, if inside Y.
        let targets: Vec<Vec<Option<usize>>> = (0..r)
            .map(|ax| {
                let (k, n_in) = (self.window.kernel[ax], x.shape[2 + ax]);
                let (s, d) = (
                    self.window.strides[ax] as i64,
                    self.window.dilations[ax] as i64,
                );
                (0..k * n_in)
                    .map(|t| {
                        let (ki, ii) = ((t / n_in) as i64, (t % n_in) as i64);
                        let o = ii * s + ki * d - begin[ax];
                        usize::try_from(o).ok().filter(|&o| o < out_sp[ax])
                    })
                    .collect()
            })
            .collect();
        let out_strides = crate::ops::nn::strides(&out_sp);
        if total > 0 && in_size > 0 {
            for (img, y_img) in out.chunks_mut(m * out_size).enumerate() {
                for gi in 0..g {
                    let start = (img * c + gi * cg) * in_size;
                    let xg = &xv[start..start + cg * in_size];
                    let wg = &wv[gi * cg * rows..(gi + 1) * cg * rows];
                    matmul(
                        rows,
                        in_size,
                        cg,
                        MatRef::transposed(wg, rows),
                        MatRef::rows(xg, in_size),
                        &mut col,
                        T::ONE,
                        T::ZERO,
                    )?;
                    // col2im: row (oc, k) adds each input position's value at its target.
                    let yg = &mut y_img[gi * mg * out_size..(gi + 1) * mg * out_size];
                    let mut k = vec![0usize; r];
                    let mut i = vec![0usize; r];
                    for (row, src) in col.chunks(in_size).enumerate() {
                        let oc = row / ksize;
                        let plane = &mut yg[oc * out_size..(oc + 1) * out_size];
                        i.iter_mut().for_each(|v| *v = 0);
                        for &v in src {
                            let mut off = Some(0usize);
                            for ax in 0..r {
                                let n_in = x.shape[2 + ax];
                                off = match (off, targets[ax][k[ax] * n_in + i[ax]]) {
                                    (Some(acc), Some(o)) => Some(acc + o * out_strides[ax]),
                                    _ => None,
                                };
                            }
                            if let Some(p) = off.and_then(|o| plane.get_mut(o)) {
                                *p = *p + v;
                            }
                            next_index(&mut i, &x.shape[2..]);
                        }
                        next_index(&mut k, &self.window.kernel);
                    }
                }
                if let Some(bias) = &bias {
                    for (plane, &bv) in y_img.chunks_mut(out_size.max(1)).zip(bias.iter()) {
                        for v in plane {
                            *v = *v + bv;
                        }
                    }
                }
            }
        } else if let Some(bias) = &bias {
            // No input positions: Y is the bias alone.
            for (ch, v) in out.chunks_mut(out_size.max(1)).enumerate() {
                let bv = bias.get(ch % m.max(1)).copied().unwrap_or(T::ZERO);
                v.iter_mut().for_each(|x| *x = bv);
            }
        }
        real_tensor(self.dtype, shape, out)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run};
    use keel_bundle::Attr;

    #[test]
    fn one_d_stride_and_pads() {
        // X [1, 2], W [1, 10] (k = 2), stride 2: each x stamps [x, 10x] at 2i: [1, 10, 2, 20].
        let x = f32s(&[1, 1, 2], &[1., 2.]);
        let w = f32s(&[1, 1, 2], &[1., 10.]);
        let y = run(
            "nn.conv_transpose",
            vec![("strides", Attr::I64s(vec![2]))],
            &[x.clone(), w.clone()],
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 4], &[1., 10., 2., 20.]), 0.0);
        // Stride 1: overlapping stamps [1, 10 + 2, 20]; pads 1 and 0 drop the first.
        let y = run(
            "nn.conv_transpose",
            vec![("pads", Attr::I64s(vec![1, 0]))],
            &[x.clone(), w.clone()],
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 2], &[12., 20.]), 0.0);
        // output_padding 1 with stride 2 adds one position at the end (zero).
        let y = run(
            "nn.conv_transpose",
            vec![
                ("strides", Attr::I64s(vec![2])),
                ("output_padding", Attr::I64s(vec![1])),
            ],
            &[x, w],
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 5], &[1., 10., 2., 20., 0.]), 0.0);
    }

    #[test]
    fn groups_channels_and_bias() {
        // Two groups of one channel each, W [2, 1, 1]: channel 0 x2, channel 1 x3, bias 1, -1.
        let x = f32s(&[1, 2, 2], &[1., 2., 3., 4.]);
        let w = f32s(&[2, 1, 1], &[2., 3.]);
        let b = f32s(&[2], &[1., -1.]);
        let y = run(
            "nn.conv_transpose",
            vec![("group", Attr::I64(2))],
            &[x.clone(), w, b],
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 2, 2], &[3., 5., 8., 11.]), 0.0);
        // One group, W [2, 2, 1]: output channel j sums w[c, j] x[c].
        let w = f32s(&[2, 2, 1], &[1., 2., 10., 20.]);
        let y = run("nn.conv_transpose", vec![], &[x, w]).unwrap();
        assert_close(&y[0], &f32s(&[1, 2, 2], &[31., 42., 62., 84.]), 0.0);
    }

    #[test]
    fn two_d_same_upper() {
        // X 2x2 of ones, W 2x2 of ones, stride 2: each input stamps a 2x2 block; SAME_UPPER
        // targets 4x4 (total pad 0): all ones.
        let x = f32s(&[1, 1, 2, 2], &[1.; 4]);
        let w = f32s(&[1, 1, 2, 2], &[1.; 4]);
        let y = run(
            "nn.conv_transpose",
            vec![
                ("strides", Attr::I64s(vec![2, 2])),
                ("auto_pad", Attr::Str("SAME_UPPER".into())),
            ],
            &[x, w],
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 4, 4], &[1.; 16]), 0.0);
    }

    #[test]
    fn mismatched_weights_are_refused() {
        let x = f32s(&[1, 3, 2], &[0.; 6]);
        let w = f32s(&[2, 1, 1], &[1.; 2]);
        assert!(run("nn.conv_transpose", vec![], &[x, w]).is_err());
    }
}
