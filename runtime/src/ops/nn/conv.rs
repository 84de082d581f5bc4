//! `nn.conv`: ONNX Conv over 1, 2 or 3 (any number of) spatial axes. Ports: `0` X
//! `[N, C, D1, ...]`, `1` W `[M, C / group, k1, ...]`, optional `2` B `[M]` -> `0` Y
//! `[N, M, O1, ...]`. Attributes: `auto_pad` (`NOTSET`, `VALID`, `SAME_UPPER`, `SAME_LOWER`),
//! `dilations`, `group` (1), `kernel_shape` (must match W), `pads`, `strides`, and keel's
//! `activation` (`relu`, `sigmoid`, `tanh`: applied to Y in the same pass, with `nn.unary`'s
//! arithmetic; the ONNX importer fuses `Conv` + activation).
//!
//! Each image and group is one matrix product: W's `[M / group, C / group * k]` rows times the
//! image's patches laid out as columns (im2col), skipped for a 1x1 window without stride or pad,
//! where the image already is that matrix. A 2-D depthwise convolution (one channel per group)
//! adds each tap's scaled input rows directly instead. Floats: f32, f64; f16 and bf16 computed in f32 (a
//! constant W is converted once, at load).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::linalg::{
    MatRef, Real, constant_operand, is_float, matmul, real_slice, real_tensor,
};
use crate::ops::nn::unary::Activation;
use crate::ops::nn::window::{Placement, Window};
use crate::ops::nn::{Inputs, attr_i64, shape_error, tensor_out};
use crate::tensor::{Dim, Tensor, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct Conv {
    inputs: Inputs,
    dtype: DType,
    window: Window,
    group: usize,
    /// W converted to the computing dtype when it is known at load.
    weight: Option<Tensor>,
    /// The activation applied to Y, if any.
    activation: Option<Activation>,
}

/// What `nn.conv` and `nn.conv_transpose` read alike from X (port 0), W (port 1) and the
/// optional B (port 2): one float dtype, the ranks, `group`, and the window (W's spatial sizes,
/// or `kernel_shape` when they are unknown at load).
pub(crate) struct Header {
    pub dtype: DType,
    pub spatial: usize,
    pub group: usize,
    pub window: Window,
}

/// Reads and checks the [`Header`] of a convolution node.
pub(crate) fn header(ctx: &BuildCtx<'_>, inputs: &Inputs) -> Result<Header, Error> {
    let (x, w) = (inputs.ty(0), inputs.ty(1));
    let dtype = x.dtype;
    if w.dtype != dtype || !is_float(dtype) || inputs.opt(2).is_some_and(|b| b.dtype != dtype) {
        return Err(ctx.err(format!(
            "takes tensors of one float dtype, got {} and {}",
            x.dtype, w.dtype
        )));
    }
    if x.rank() < 3 || w.rank() != x.rank() {
        return Err(ctx.err(format!(
            "takes X [N, C, spatial...] and W of the same rank, got {x} and {w}"
        )));
    }
    let spatial = x.rank() - 2;
    let group = attr_i64(ctx, "group", 1)?;
    if !(1..=1 << 20).contains(&group) {
        return Err(ctx.err(format!("`group` must be positive, got {group}")));
    }
    let kernel = w.shape[2..]
        .iter()
        .map(Dim::known)
        .collect::<Option<Vec<_>>>();
    if kernel.is_none() && ctx.opt_attr("kernel_shape").is_none() {
        return Err(ctx.err("W's spatial sizes must be known at load (or `kernel_shape` given)"));
    }
    Ok(Header {
        dtype,
        spatial,
        group: group as usize,
        window: Window::read(ctx, spatial, kernel)?,
    })
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 3)?;
    let (x, w) = (inputs.ty(0), inputs.ty(1));
    let Header {
        dtype,
        group,
        window,
        ..
    } = header(ctx, &inputs)?;
    if let Some(m) = w.shape[0].known()
        && m % group != 0
    {
        return Err(ctx.err(format!("W's {m} filters do not split into {group} groups")));
    }
    if let (Some(c), Some(cg)) = (x.shape[1].known(), w.shape[1].known())
        && c != cg * group
    {
        return Err(ctx.err(format!(
            "X has {c} channels but W expects {cg} per group x {group} groups"
        )));
    }
    if let Some(b) = inputs.opt(2)
        && (b.rank() != 1
            || matches!((b.shape[0].known(), w.shape[0].known()), (Some(x), Some(y)) if x != y))
    {
        return Err(ctx.err(format!("B must be [M] for W {w}, got {b}")));
    }
    let mut shape = vec![x.shape[0].clone(), w.shape[0].clone()];
    shape.extend(window.dims(&x.shape[2..])?);
    let out = tensor_out(ctx, "0", TensorType { dtype, shape })?;
    // A constant W is converted once to the dtype the kernel computes in.
    let weight = constant_operand(ctx.constant_input("1"))?;
    Ok(Built {
        kernel: Box::new(Conv {
            activation: Activation::read(ctx)?,
            inputs,
            dtype,
            window,
            group,
            weight,
        }),
        outputs: vec![out],
    })
}

impl Kernel for Conv {
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

impl Conv {
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
        let m = w.shape.first().copied().unwrap_or(0);
        let cg = c / g;
        let mut want_w = vec![m, cg];
        want_w.extend(&self.window.kernel);
        if c % g != 0 || m % g != 0 || w.shape != want_w {
            return Err(shape_error(
                "W",
                format!("{want_w:?} with {g} groups for X {:?}", x.shape),
                format!("{:?}", w.shape),
            ));
        }
        let p = self.window.place(&x.shape[2..])?;
        let in_size: usize = x.shape[2..].iter().product();
        let out_size = checked_elements(&p.out, "Y")?;
        let mut shape = vec![n, m];
        shape.extend(&p.out);
        let total = checked_elements(&shape, "Y")?;
        let ksize: usize = self.window.kernel.iter().product();
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
        let (mg, depth) = (m / g, cg * ksize);
        // A 1x1 window with unit strides and no pads reads each channel plane as it is.
        let direct = self.window.kernel.iter().all(|&k| k == 1)
            && self.window.strides.iter().all(|&s| s == 1)
            && p.begin.iter().chain(&p.end).all(|&x| x == 0);
        let mut col = if direct {
            Vec::new()
        } else {
            vec![T::ZERO; checked_elements(&[depth, out_size], "im2col")?]
        };
        // Depthwise 2-D (one input and one output channel per group, MobileNet's 3x3): each
        // tap is a scaled row added into the output, no im2col and no 1-row matrix products.
        let depthwise = r == 2 && cg == 1 && mg == 1;
        if total > 0 && depthwise {
            for (img, y_img) in out.chunks_mut(m * out_size).enumerate() {
                for (ch, y_plane) in y_img.chunks_mut(out_size).enumerate() {
                    let start = (img * c + ch) * in_size;
                    let plane = &xv[start..start + in_size];
                    let taps = &wv[ch * ksize..(ch + 1) * ksize];
                    self.depthwise_plane(plane, &x.shape[2..], &p, taps, y_plane);
                }
                if let Some(bias) = &bias {
                    for (plane, &bv) in y_img.chunks_mut(out_size.max(1)).zip(bias.iter()) {
                        for v in plane {
                            *v = *v + bv;
                        }
                    }
                }
            }
        } else if total > 0 {
            for (img, y_img) in out.chunks_mut(m * out_size).enumerate() {
                for gi in 0..g {
                    let start = (img * c + gi * cg) * in_size;
                    let xg = &xv[start..start + cg * in_size];
                    let rhs: &[T] = if direct {
                        xg
                    } else {
                        im2col(xg, &x.shape[2..], &p, &self.window, cg, &mut col);
                        &col
                    };
                    let wg = &wv[gi * mg * depth..(gi + 1) * mg * depth];
                    let yg = &mut y_img[gi * mg * out_size..(gi + 1) * mg * out_size];
                    matmul(
                        mg,
                        out_size,
                        depth,
                        MatRef::rows(wg, depth),
                        MatRef::rows(rhs, out_size),
                        yg,
                        T::ONE,
                        T::ZERO,
                    )?;
                }
                if let Some(bias) = &bias {
                    for (plane, &bv) in y_img.chunks_mut(out_size.max(1)).zip(bias.iter()) {
                        for v in plane {
                            *v = *v + bv;
                        }
                    }
                }
            }
        }
        if let Some(act) = self.activation {
            act.apply(self.dtype, &mut out);
        }
        real_tensor(self.dtype, shape, out)
    }

    /// One channel of a 2-D depthwise convolution: for each of the window's taps (row `a`,
    /// column `b`, weight `taps[a * kw + b]`), every output row whose input row is inside the
    /// image adds the tap's weight times the input row's in-range samples (pads read zero);
    /// with a unit stride that is one contiguous multiply-add over the row.
    fn depthwise_plane<T: Real>(
        &self,
        plane: &[T],
        input: &[usize],
        p: &Placement,
        taps: &[T],
        y: &mut [T],
    ) {
        let win = &self.window;
        let (h, w) = (input[0], input[1]);
        let (kh, kw) = (win.kernel[0], win.kernel[1]);
        let (sh, sw) = (win.strides[0], win.strides[1].max(1));
        let (dh, dw) = (win.dilations[0], win.dilations[1]);
        let (bh, bw) = (p.begin[0] as isize, p.begin[1] as isize);
        let (oh_n, ow_n) = (p.out[0], p.out[1]);
        for a in 0..kh {
            for b in 0..kw {
                let wt = taps[a * kw + b];
                // Output columns whose input column `ow * sw + b * dw - bw` lies in `0..w`.
                let off = (b * dw) as isize - bw;
                let lo = if off >= 0 {
                    0
                } else {
                    off.unsigned_abs().div_ceil(sw)
                };
                let hi = if (w as isize) - off <= 0 {
                    0
                } else {
                    (((w as isize) - off) as usize).div_ceil(sw)
                }
                .min(ow_n);
                if lo >= hi {
                    continue;
                }
                for oh in 0..oh_n {
                    let i = (oh * sh + a * dh) as isize - bh;
                    if i < 0 || i as usize >= h {
                        continue;
                    }
                    let row = &plane[i as usize * w..(i as usize + 1) * w];
                    let out = &mut y[oh * ow_n + lo..oh * ow_n + hi];
                    let first = (lo as isize * sw as isize + off) as usize;
                    if sw == 1 {
                        for (o, &v) in out.iter_mut().zip(&row[first..first + (hi - lo)]) {
                            *o = *o + wt * v;
                        }
                    } else {
                        for (o, &v) in out.iter_mut().zip(row[first..].iter().step_by(sw)) {
                            *o = *o + wt * v;
                        }
                    }
                }
            }
        }
    }
}

/// Advances a row-major multi-index over `dims`; false once it wraps around.
pub(crate) fn next_index(idx: &mut [usize], dims: &[usize]) -> bool {
    for ax in (0..idx.len()).rev() {
        idx[ax] += 1;
        if idx[ax] < dims[ax] {
            return true;
        }
        idx[ax] = 0;
    }
    false
}

/// Lays out the patches of `cg` channel planes of spatial size `input` as a
/// `[cg * prod(kernel), prod(out)]` matrix: row `(c, k)` holds, for every output position, the
/// input element tap `k` of the window reads there (zero in the pads).
fn im2col<T: Real>(x: &[T], input: &[usize], p: &Placement, w: &Window, cg: usize, col: &mut [T]) {
    let r = input.len();
    let in_size: usize = input.iter().product();
    let out_size: usize = p.out.iter().product();
    let last = r - 1;
    let run = p.out[last];
    if out_size == 0 || run == 0 {
        return;
    }
    let in_strides = crate::ops::nn::strides(input);
    let outer_dims = &p.out[..last];
    let mut row = 0;
    for ch in 0..cg {
        let plane = &x[ch * in_size..(ch + 1) * in_size];
        let mut k = vec![0usize; r];
        loop {
            let dst_row = &mut col[row * out_size..(row + 1) * out_size];
            let mut o = vec![0usize; last];
            for dst in dst_row.chunks_mut(run) {
                // The offset of this output row's taps along every axis but the last, or
                // `None` when the tap falls in a pad.
                let mut base = Some(0usize);
                for ax in 0..last {
                    let i = (o[ax] * w.strides[ax] + k[ax] * w.dilations[ax]) as isize
                        - p.begin[ax] as isize;
                    if i < 0 || i as usize >= input[ax] {
                        base = None;
                        break;
                    }
                    base = base.map(|b| b + i as usize * in_strides[ax]);
                }
                match base {
                    None => dst.fill(T::ZERO),
                    Some(b) => {
                        let s = w.strides[last].max(1);
                        let off = (k[last] * w.dilations[last]) as isize - p.begin[last] as isize;
                        let n = input[last] as isize;
                        // Output positions `lo..hi` read inside the row (`0 <= ol*s + off <
                        // n`); the ones before and after read padding. Inside, a stride of 1
                        // is one slice copy.
                        let lo = if off >= 0 {
                            0
                        } else {
                            (off.unsigned_abs()).div_ceil(s)
                        };
                        let hi = if n - off <= 0 {
                            0
                        } else {
                            ((n - off) as usize).div_ceil(s)
                        }
                        .min(dst.len());
                        let lo = lo.min(hi);
                        dst[..lo].fill(T::ZERO);
                        dst[hi..].fill(T::ZERO);
                        let first = b as isize + lo as isize * s as isize + off;
                        if hi == lo {
                            // Every tap of this row falls in the padding.
                        } else if s == 1 {
                            let from = first as usize;
                            dst[lo..hi].copy_from_slice(&plane[from..from + (hi - lo)]);
                        } else {
                            for (j, d) in dst[lo..hi].iter_mut().enumerate() {
                                *d = plane[first as usize + j * s];
                            }
                        }
                    }
                }
                next_index(&mut o, outer_dims);
            }
            row += 1;
            if !next_index(&mut k, &w.kernel) {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run, run_opt};
    use keel_bundle::Attr;

    fn iota(n: usize) -> Vec<f32> {
        (0..n).map(|x| x as f32).collect()
    }

    #[test]
    fn a_3x3_sum_with_padding_and_stride() {
        // X 0..25 as 5x5, W all ones 3x3, pads 1, strides 2: each output sums a window.
        let x = f32s(&[1, 1, 5, 5], &iota(25));
        let w = f32s(&[1, 1, 3, 3], &[1.0; 9]);
        let y = run(
            "nn.conv",
            vec![
                ("pads", Attr::I64s(vec![1, 1, 1, 1])),
                ("strides", Attr::I64s(vec![2, 2])),
            ],
            &[x, w],
        )
        .unwrap();
        // Top-left: 0+1+5+6 = 12; top-middle: 1+2+3+6+7+8 = 27; centre: 6+7+8+11+12+13+16+17+18.
        assert_eq!(y[0].shape, vec![1, 1, 3, 3]);
        let v = y[0].as_slice::<f32>().unwrap();
        assert_eq!((v[0], v[1], v[4]), (12.0, 27.0, 108.0));
    }

    #[test]
    fn groups_bias_and_1x1() {
        // Two channels, depthwise (group 2) 1x1 with weights 2 and 3, bias 1 and -1.
        let x = f32s(&[1, 2, 1, 2], &[1., 2., 3., 4.]);
        let w = f32s(&[2, 1, 1, 1], &[2., 3.]);
        let b = f32s(&[2], &[1., -1.]);
        let y = run("nn.conv", vec![("group", Attr::I64(2))], &[x, w, b]).unwrap();
        assert_close(&y[0], &f32s(&[1, 2, 1, 2], &[3., 5., 8., 11.]), 0.0);
    }

    #[test]
    fn one_d_dilated_and_same_padding() {
        // X [1, 1, 5] = 0..5, W [1, 1, 2] = [1, 10], dilation 2: y[i] = x[i] + 10 x[i + 2].
        let x = f32s(&[1, 1, 5], &iota(5));
        let w = f32s(&[1, 1, 2], &[1., 10.]);
        let y = run(
            "nn.conv",
            vec![("dilations", Attr::I64s(vec![2]))],
            &[x.clone(), w.clone()],
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 3], &[20., 31., 42.]), 0.0);
        // SAME_UPPER, no dilation: pad 1 at the end; y[i] = x[i] + 10 x[i + 1].
        let y = run_opt(
            "nn.conv",
            vec![("auto_pad", Attr::Str("SAME_UPPER".into()))],
            &[Some(&x), Some(&w), None],
            1,
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 5], &[10., 21., 32., 43., 4.]), 0.0);
    }

    #[test]
    fn empty_windows_are_refused() {
        let x = f32s(&[1, 1, 2], &[1., 2.]);
        let w = f32s(&[1, 1, 0], &[]);
        assert!(run("nn.conv", vec![], &[x, w]).is_err());
    }

    #[test]
    fn mismatched_channels_are_refused() {
        let x = f32s(&[1, 3, 2, 2], &[0.0; 12]);
        let w = f32s(&[1, 2, 1, 1], &[1.0; 2]);
        assert!(run("nn.conv", vec![], &[x, w]).is_err());
    }

    #[test]
    fn a_fused_activation_is_bit_for_bit_the_unary_after_it() {
        let x = f32s(
            &[1, 2, 4, 4],
            &iota(32)
                .iter()
                .map(|v| (v - 15.5) / 4.0)
                .collect::<Vec<_>>(),
        );
        let w = f32s(
            &[3, 2, 3, 3],
            &iota(54)
                .iter()
                .map(|v| ((v * 7.0) % 11.0 - 5.0) / 8.0)
                .collect::<Vec<_>>(),
        );
        let b = f32s(&[3], &[0.5, -0.25, 0.0]);
        let pads = ("pads", Attr::I64s(vec![1, 1, 1, 1]));
        for act in ["relu", "sigmoid", "tanh"] {
            let fused = run(
                "nn.conv",
                vec![pads.clone(), ("activation", Attr::Str(act.into()))],
                &[x.clone(), w.clone(), b.clone()],
            )
            .unwrap();
            let y = run(
                "nn.conv",
                vec![pads.clone()],
                &[x.clone(), w.clone(), b.clone()],
            )
            .unwrap();
            let want = run("nn.unary", vec![("fn", Attr::Str(act.into()))], &y).unwrap();
            assert_eq!(fused, want, "{act}");
        }
    }

    /// The convolution sum written out naively for one channel per group.
    fn naive_depthwise(
        x: &[f32],
        (c, h, w): (usize, usize, usize),
        k: &[f32],
        (kh, kw): (usize, usize),
        (s, pad, d): (usize, usize, usize),
    ) -> (Vec<f32>, usize, usize) {
        let oh = (h + 2 * pad - d * (kh - 1) - 1) / s + 1;
        let ow = (w + 2 * pad - d * (kw - 1) - 1) / s + 1;
        let mut y = vec![0f32; c * oh * ow];
        for ch in 0..c {
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = 0f64;
                    for a in 0..kh {
                        for b in 0..kw {
                            let (r, q) = (
                                (i * s + a * d) as isize - pad as isize,
                                (j * s + b * d) as isize - pad as isize,
                            );
                            if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < w {
                                acc += f64::from(k[ch * kh * kw + a * kw + b])
                                    * f64::from(x[ch * h * w + r as usize * w + q as usize]);
                            }
                        }
                    }
                    y[ch * oh * ow + i * ow + j] = acc as f32;
                }
            }
        }
        (y, oh, ow)
    }

    #[test]
    fn depthwise_matches_the_sum_written_out() {
        let (c, h, w) = (3, 7, 6);
        let x: Vec<f32> = iota(c * h * w)
            .iter()
            .map(|v| ((v * 13.0) % 17.0 - 8.0) / 4.0)
            .collect();
        let k: Vec<f32> = iota(c * 9)
            .iter()
            .map(|v| ((v * 5.0) % 7.0 - 3.0) / 2.0)
            .collect();
        for (s, pad, d) in [(1, 1, 1), (2, 1, 1), (1, 0, 2), (2, 2, 1)] {
            let (want, oh, ow) = naive_depthwise(&x, (c, h, w), &k, (3, 3), (s, pad, d));
            let got = run(
                "nn.conv",
                vec![
                    ("group", Attr::I64(c as i64)),
                    ("strides", Attr::I64s(vec![s as i64; 2])),
                    ("pads", Attr::I64s(vec![pad as i64; 4])),
                    ("dilations", Attr::I64s(vec![d as i64; 2])),
                ],
                &[f32s(&[1, c, h, w], &x), f32s(&[c, 1, 3, 3], &k)],
            )
            .unwrap();
            assert_close(&got[0], &f32s(&[1, c, oh, ow], &want), 1e-5);
        }
    }
}
