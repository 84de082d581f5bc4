//! Sliding-window geometry shared by `nn.conv`, `nn.max_pool` and `nn.average_pool` (not an
//! op): the ONNX attributes `kernel_shape`, `strides`, `dilations`, `pads`, `auto_pad` and
//! `ceil_mode`, and from them each output size and leading pad for an input's spatial sizes.

use crate::error::Error;
use crate::op::BuildCtx;
use crate::ops::nn::{attr_i64, attr_i64s, shape_error};
use crate::tensor::Dim;

/// How pads are chosen (ONNX `auto_pad`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AutoPad {
    /// Explicit `pads`.
    NotSet,
    /// No padding.
    Valid,
    /// Output `ceil(in / stride)`, the odd pad at the end.
    SameUpper,
    /// Output `ceil(in / stride)`, the odd pad at the start.
    SameLower,
}

/// A window's geometry over `kernel.len()` spatial axes.
#[derive(Debug, Clone)]
pub(crate) struct Window {
    /// Window size per spatial axis.
    pub kernel: Vec<usize>,
    /// Step per axis.
    pub strides: Vec<usize>,
    /// Gap between window taps per axis (1: adjacent).
    pub dilations: Vec<usize>,
    /// Explicit pads: the starts, then the ends (used when `auto_pad` is `NotSet`).
    pub pads: Vec<usize>,
    /// How pads are chosen.
    pub auto_pad: AutoPad,
    /// Whether output sizes round up (pooling's `ceil_mode`).
    pub ceil: bool,
}

/// The placement of a window over one input: per spatial axis the output size and the pads
/// before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    /// Output size per axis.
    pub out: Vec<usize>,
    /// Pad before the input per axis.
    pub begin: Vec<usize>,
    /// Pad after the input per axis.
    pub end: Vec<usize>,
}

impl Window {
    /// Reads the attributes for `rank` spatial axes. `kernel` is the window size when it comes
    /// from elsewhere (a convolution's weight); pooling requires `kernel_shape`.
    pub fn read(
        ctx: &BuildCtx<'_>,
        rank: usize,
        kernel: Option<Vec<usize>>,
    ) -> Result<Window, Error> {
        let list = |key: &str, default: usize, min: i64| -> Result<Vec<usize>, Error> {
            let v = attr_i64s(ctx, key)?;
            if v.is_empty() {
                return Ok(vec![default; rank]);
            }
            if v.len() != rank {
                return Err(ctx.err(format!(
                    "`{key}` has {} values for {rank} spatial axes",
                    v.len()
                )));
            }
            v.iter()
                .map(|&x| {
                    if x < min || x > 1 << 20 {
                        Err(ctx.err(format!("`{key}` value {x} is out of range")))
                    } else {
                        Ok(x as usize)
                    }
                })
                .collect()
        };
        let shape_attr = attr_i64s(ctx, "kernel_shape")?;
        let kernel = match (kernel, shape_attr.is_empty()) {
            (Some(k), true) => k,
            (Some(k), false) => {
                let attr = list("kernel_shape", 1, 1)?;
                if attr != k {
                    return Err(ctx.err(format!(
                        "`kernel_shape` {attr:?} differs from the weight's {k:?}"
                    )));
                }
                k
            }
            (None, false) => list("kernel_shape", 1, 1)?,
            (None, true) => return Err(ctx.err("`kernel_shape` is required")),
        };
        if let Some(bad) = kernel.iter().find(|&&k| k == 0 || k > 1 << 20) {
            return Err(ctx.err(format!("window size {bad} is out of range")));
        }
        let strides = list("strides", 1, 1)?;
        let dilations = list("dilations", 1, 1)?;
        let pads = {
            let v = attr_i64s(ctx, "pads")?;
            if v.is_empty() {
                vec![0; 2 * rank]
            } else if v.len() != 2 * rank {
                return Err(ctx.err(format!(
                    "`pads` has {} values for {rank} spatial axes",
                    v.len()
                )));
            } else if let Some(bad) = v.iter().find(|&&x| !(0..=1 << 20).contains(&x)) {
                return Err(ctx.err(format!("`pads` value {bad} is out of range")));
            } else {
                v.iter().map(|&x| x as usize).collect()
            }
        };
        let auto_pad = match ctx.opt_attr("auto_pad") {
            None => AutoPad::NotSet,
            Some(_) => match ctx.str("auto_pad")? {
                "NOTSET" | "" => AutoPad::NotSet,
                "VALID" => AutoPad::Valid,
                "SAME_UPPER" => AutoPad::SameUpper,
                "SAME_LOWER" => AutoPad::SameLower,
                other => return Err(ctx.err(format!("unknown `auto_pad` {other:?}"))),
            },
        };
        let ceil = match ctx.opt_attr("ceil_mode") {
            None => false,
            Some(_) => attr_i64(ctx, "ceil_mode", 0)? != 0,
        };
        Ok(Window {
            kernel,
            strides,
            dilations,
            pads,
            auto_pad,
            ceil,
        })
    }

    /// The output sizes and pads for spatial input sizes `input`, or a shape error when the
    /// window does not fit.
    pub fn place(&self, input: &[usize]) -> Result<Placement, Error> {
        let rank = self.kernel.len();
        if input.len() != rank {
            return Err(shape_error(
                "X",
                format!("{rank} spatial axes"),
                format!("{input:?}"),
            ));
        }
        let mut p = Placement {
            out: Vec::with_capacity(rank),
            begin: Vec::with_capacity(rank),
            end: Vec::with_capacity(rank),
        };
        for ax in 0..rank {
            let (n, s) = (input[ax], self.strides[ax]);
            // The extent the window covers, taps and gaps.
            // (Saturating: sizes are bounded at load, but usize is 32 bits on wasm32.)
            let span = self.kernel[ax]
                .saturating_sub(1)
                .saturating_mul(self.dilations[ax])
                .saturating_add(1);
            let (out, b, e) = match self.auto_pad {
                AutoPad::NotSet | AutoPad::Valid => {
                    let (b, e) = if self.auto_pad == AutoPad::Valid {
                        (0, 0)
                    } else {
                        (self.pads[ax], self.pads[ax + rank])
                    };
                    let padded = n.saturating_add(b).saturating_add(e);
                    if padded < span {
                        return Err(shape_error(
                            "X",
                            format!("spatial size of at least {span} (with pads)"),
                            format!("{input:?}"),
                        ));
                    }
                    let mut out = if self.ceil {
                        (padded - span).div_ceil(s) + 1
                    } else {
                        (padded - span) / s + 1
                    };
                    // A window may not start in the end pad (rounding up could place one
                    // there).
                    if self.ceil && (out - 1) * s >= n + b {
                        out -= 1;
                    }
                    (out, b, e)
                }
                AutoPad::SameUpper | AutoPad::SameLower => {
                    let out = n.div_ceil(s);
                    let total =
                        ((out.max(1) - 1).saturating_mul(s).saturating_add(span)).saturating_sub(n);
                    let small = total / 2;
                    if self.auto_pad == AutoPad::SameUpper {
                        (out, small, total - small)
                    } else {
                        (out, total - small, small)
                    }
                }
            };
            p.out.push(out);
            p.begin.push(b);
            p.end.push(e);
        }
        Ok(p)
    }

    /// Visits every window of one channel plane of spatial sizes `input` placed as `p`, in
    /// output order: `f(out_index, taps, padded)` gets the flat offsets of the window's taps
    /// inside the plane and how many of its taps fall inside the padded input (pads included,
    /// what lies past the end pad, which rounding up can reach, excluded).
    pub fn each_window(
        &self,
        input: &[usize],
        p: &Placement,
        mut f: impl FnMut(usize, &[usize], usize),
    ) {
        let r = input.len();
        let st = crate::ops::nn::strides(input);
        // Per axis and output index: the offsets (coordinate x stride) of the taps inside the
        // input, and how many taps lie inside the padded input. A window is the product of its
        // axes' taps, so the per-tap work below is one addition.
        let mut axes: Vec<Vec<(Vec<usize>, usize)>> = Vec::with_capacity(r);
        for ax in 0..r {
            let n = input[ax] as isize;
            let end = n + p.end[ax] as isize;
            axes.push(
                (0..p.out[ax])
                    .map(|o| {
                        let mut offs = Vec::with_capacity(self.kernel[ax]);
                        let mut padded = 0;
                        for k in 0..self.kernel[ax] {
                            let i = (o * self.strides[ax] + k * self.dilations[ax]) as isize
                                - p.begin[ax] as isize;
                            if i < end {
                                padded += 1;
                            }
                            if i >= 0 && i < n {
                                offs.push(i as usize * st[ax]);
                            }
                        }
                        (offs, padded)
                    })
                    .collect(),
            );
        }
        let out_size: usize = p.out.iter().product();
        let (mut taps, mut next) = (Vec::new(), Vec::new());
        let mut o = vec![0usize; r];
        for oi in 0..out_size {
            taps.clear();
            taps.push(0usize);
            let mut padded = 1;
            for ax in 0..r {
                let (offs, pc) = &axes[ax][o[ax]];
                padded *= pc;
                next.clear();
                for &t in &taps {
                    next.extend(offs.iter().map(|&d| t + d));
                }
                std::mem::swap(&mut taps, &mut next);
            }
            f(oi, &taps, padded);
            crate::ops::nn::conv::next_index(&mut o, &p.out);
        }
    }

    /// The output's spatial dims for planned input dims (unknown where an input dim is).
    pub fn dims(&self, input: &[Dim]) -> Result<Vec<Dim>, Error> {
        match input.iter().map(Dim::known).collect::<Option<Vec<_>>>() {
            Some(sizes) => Ok(self
                .place(&sizes)?
                .out
                .into_iter()
                .map(Dim::Known)
                .collect()),
            None => Ok(vec![Dim::unknown(); input.len()]),
        }
    }
}

/// What pooling ops share at load: the one input `0` X `[N, C, spatial...]`, the window, and
/// the output type `[N, C, out...]` with X's dtype.
pub(crate) fn pool_plan(
    ctx: &BuildCtx<'_>,
) -> Result<(crate::ops::nn::Inputs, Window, crate::tensor::TensorType), Error> {
    let inputs = crate::ops::nn::Inputs::read(ctx, 1, 1)?;
    let x = inputs.ty(0);
    if x.rank() < 3 {
        return Err(ctx.err(format!("takes X [N, C, spatial...], got {x}")));
    }
    let window = Window::read(ctx, x.rank() - 2, None)?;
    let mut shape = x.shape[..2].to_vec();
    shape.extend(window.dims(&x.shape[2..])?);
    let ty = crate::tensor::TensorType {
        dtype: x.dtype,
        shape,
    };
    Ok((inputs, window, ty))
}

/// What pooling kernels share at score time: X's planes, the placement and Y's shape.
pub(crate) fn pool_shape(w: &Window, x: &[usize]) -> Result<(Placement, Vec<usize>), Error> {
    if x.len() != w.kernel.len() + 2 {
        return Err(shape_error(
            "X",
            format!("rank {}", w.kernel.len() + 2),
            format!("{x:?}"),
        ));
    }
    let p = w.place(&x[2..])?;
    let mut shape = x[..2].to_vec();
    shape.extend(&p.out);
    crate::tensor::checked_elements(&shape, "Y")?;
    Ok((p, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(
        kernel: usize,
        stride: usize,
        pads: [usize; 2],
        auto_pad: AutoPad,
        ceil: bool,
    ) -> Window {
        Window {
            kernel: vec![kernel],
            strides: vec![stride],
            dilations: vec![1],
            pads: pads.to_vec(),
            auto_pad,
            ceil,
        }
    }

    #[test]
    fn output_sizes_follow_onnx() {
        // floor((5 + 2 - 3) / 2) + 1 = 3
        let w = window(3, 2, [1, 1], AutoPad::NotSet, false);
        assert_eq!(w.place(&[5]).unwrap().out, vec![3]);
        // ceil((4 - 3) / 2) + 1 = 2; floor gives 1.
        assert_eq!(
            window(3, 2, [0, 0], AutoPad::NotSet, true)
                .place(&[4])
                .unwrap()
                .out,
            vec![2]
        );
        assert_eq!(
            window(3, 2, [0, 0], AutoPad::NotSet, false)
                .place(&[4])
                .unwrap()
                .out,
            vec![1]
        );
        // SAME_UPPER on 5 with stride 2, kernel 3: out 3, total pad (3-1)*2+3-5 = 2 -> 1, 1.
        let p = window(3, 2, [0, 0], AutoPad::SameUpper, false)
            .place(&[5])
            .unwrap();
        assert_eq!((p.out, p.begin, p.end), (vec![3], vec![1], vec![1]));
        // kernel 2 stride 1 on 4: total 1, SAME_LOWER puts it first.
        let p = window(2, 1, [0, 0], AutoPad::SameLower, false)
            .place(&[4])
            .unwrap();
        assert_eq!((p.out, p.begin, p.end), (vec![4], vec![1], vec![0]));
        assert!(
            window(3, 1, [0, 0], AutoPad::Valid, false)
                .place(&[2])
                .is_err()
        );
    }
}
