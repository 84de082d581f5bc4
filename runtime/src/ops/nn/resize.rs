//! `nn.resize`: ONNX Resize (opset 11 on; the importer maps opset 10 Resize and Upsample onto
//! it). Ports: `0` X, optional `1` roi (float, `[2 * n]`: starts then ends, read only by
//! `tf_crop_and_resize`), optional `2` scales (float, `[n]`), optional `3` sizes (integer,
//! `[n]`) -> `0` Y, where `n` is X's rank or the length of `axes`. Exactly one of scales and
//! sizes is given (an empty scales tensor counts as absent).
//!
//! Attributes: `mode` (`nearest` default, `linear`, `cubic`), `coordinate_transformation_mode`
//! (`half_pixel` default, `half_pixel_symmetric`, `pytorch_half_pixel`, `align_corners`,
//! `asymmetric`, `tf_crop_and_resize`), `nearest_mode` (`round_prefer_floor` default,
//! `round_prefer_ceil`, `floor`, `ceil`), `cubic_coeff_a` (-0.75), `exclude_outside` (0),
//! `extrapolation_value` (0), `antialias` (0; widens linear and cubic filters when
//! downscaling), `axes`, `keep_aspect_ratio_policy` (`stretch` default, `not_larger`,
//! `not_smaller`; with sizes). Refused at load: other strings (opset 11's `tf_half_pixel_for_nn`
//! among them), antialias with `nearest`.
//!
//! Resizing is separable: every resized axis gets, per output position, a list of (input
//! position, weight) taps, and the axes are applied one after another, as the ONNX reference
//! does. Linear and cubic compute in f64 (floats: f32, f64, f16, bf16); nearest copies elements
//! and takes any dtype (integers only without `tf_crop_and_resize`, whose extrapolation value is
//! a float). Scale-derived sizes are `floor(in * scale)`; positions outside X read the edge.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{axes_load, int_values, take, take_or};
use crate::ops::nn::linalg::{is_float, real_tensor};
use crate::ops::nn::{Inputs, attr_f64, attr_i64, attr_i64s, shape_error, tensor_out};
use crate::tensor::{Dim, Tensor, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Nearest,
    Linear,
    Cubic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Coord {
    HalfPixel,
    HalfPixelSymmetric,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfCropAndResize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rounding {
    PreferFloor,
    PreferCeil,
    Floor,
    Ceil,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aspect {
    Stretch,
    NotLarger,
    NotSmaller,
}

#[derive(Debug)]
struct Resize {
    inputs: Inputs,
    dtype: DType,
    mode: Mode,
    coord: Coord,
    rounding: Rounding,
    cubic_a: f64,
    exclude_outside: bool,
    extrapolation: f64,
    antialias: bool,
    /// The resized axes (all of X's, in order, when `axes` is absent).
    axes: Vec<usize>,
    aspect: Aspect,
}

// Sizes beyond this are refused before anything is allocated (the element count is checked
// again as a whole).
const MAX_DIM: f64 = (1u64 << 40) as f64;

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 4)?;
    let x = inputs.ty(0).clone();
    let dtype = x.dtype;
    let rank = x.rank();
    let pick = |key: &str, default: &'static str| -> Result<String, Error> {
        match ctx.opt_attr(key) {
            None => Ok(default.to_string()),
            Some(_) => Ok(ctx.str(key)?.to_string()),
        }
    };
    let mode = match pick("mode", "nearest")?.as_str() {
        "nearest" => Mode::Nearest,
        "linear" => Mode::Linear,
        "cubic" => Mode::Cubic,
        other => return Err(ctx.err(format!("unknown `mode` {other:?}"))),
    };
    let coord = match pick("coordinate_transformation_mode", "half_pixel")?.as_str() {
        "half_pixel" => Coord::HalfPixel,
        "half_pixel_symmetric" => Coord::HalfPixelSymmetric,
        "pytorch_half_pixel" => Coord::PytorchHalfPixel,
        "align_corners" => Coord::AlignCorners,
        "asymmetric" => Coord::Asymmetric,
        "tf_crop_and_resize" => Coord::TfCropAndResize,
        other => {
            return Err(ctx.err(format!(
                "`coordinate_transformation_mode` {other:?} is not supported"
            )));
        }
    };
    let rounding = match pick("nearest_mode", "round_prefer_floor")?.as_str() {
        "round_prefer_floor" => Rounding::PreferFloor,
        "round_prefer_ceil" => Rounding::PreferCeil,
        "floor" => Rounding::Floor,
        "ceil" => Rounding::Ceil,
        other => return Err(ctx.err(format!("unknown `nearest_mode` {other:?}"))),
    };
    let aspect = match pick("keep_aspect_ratio_policy", "stretch")?.as_str() {
        "stretch" => Aspect::Stretch,
        "not_larger" => Aspect::NotLarger,
        "not_smaller" => Aspect::NotSmaller,
        other => {
            return Err(ctx.err(format!("unknown `keep_aspect_ratio_policy` {other:?}")));
        }
    };
    let antialias = attr_i64(ctx, "antialias", 0)? != 0;
    if antialias && mode == Mode::Nearest {
        return Err(ctx.err("`antialias` applies to linear and cubic modes only"));
    }
    let cubic_a = attr_f64(ctx, "cubic_coeff_a", -0.75)?;
    let exclude_outside = attr_i64(ctx, "exclude_outside", 0)? != 0;
    let extrapolation = attr_f64(ctx, "extrapolation_value", 0.0)?;
    let axes_attr = attr_i64s(ctx, "axes")?;
    let axes = if ctx.opt_attr("axes").is_none() {
        (0..rank).collect()
    } else {
        axes_load(ctx, &axes_attr, rank)?
    };
    if mode != Mode::Nearest && !is_float(dtype) {
        return Err(ctx.err(format!(
            "{mode:?} resizing takes a float tensor, got {dtype}"
        )));
    }
    if coord == Coord::TfCropAndResize && !is_float(dtype) {
        return Err(ctx.err(format!(
            "`tf_crop_and_resize` extrapolates with a float value: X must be a float tensor, got {dtype}"
        )));
    }
    if let Some(r) = inputs.opt(1)
        && !is_float(r.dtype)
    {
        return Err(ctx.err(format!("roi must be a float tensor, got {r}")));
    }
    if let Some(s) = inputs.opt(2)
        && (!is_float(s.dtype) || s.rank() != 1)
    {
        return Err(ctx.err(format!("scales must be a 1-D float tensor, got {s}")));
    }
    if let Some(s) = inputs.opt(3)
        && (!matches!(s.dtype, DType::I64 | DType::I32) || s.rank() != 1)
    {
        return Err(ctx.err(format!("sizes must be a 1-D integer tensor, got {s}")));
    }
    if inputs.opt(2).is_none() && inputs.opt(3).is_none() {
        return Err(ctx.err("needs scales (port 2) or sizes (port 3)"));
    }
    let op = Resize {
        inputs,
        dtype,
        mode,
        coord,
        rounding,
        cubic_a,
        exclude_outside,
        extrapolation,
        antialias,
        axes,
        aspect,
    };
    // The output's sizes are known when X's are and scales or sizes are constants.
    let constant = |port: usize| ctx.constant_input(&port.to_string());
    let planned = match (x.known_shape(), constant(2), constant(3)) {
        (Some(shape), Some(s), None) if op.inputs.opt(3).is_none() => {
            op.plan(&shape, Some(s), None).ok()
        }
        (Some(shape), None, Some(z)) if op.inputs.opt(2).is_none() => {
            op.plan(&shape, None, Some(z)).ok()
        }
        _ => None,
    }
    .map(|(o, _)| o);
    let shape = match planned {
        Some(out) => out.into_iter().map(Dim::Known).collect(),
        None => x
            .shape
            .iter()
            .enumerate()
            .map(|(i, d)| {
                if op.axes.contains(&i) {
                    Dim::unknown()
                } else {
                    d.clone()
                }
            })
            .collect(),
    };
    let out = tensor_out(ctx, "0", TensorType { dtype, shape })?;
    Ok(Built {
        kernel: Box::new(op),
        outputs: vec![out],
    })
}

/// One output position along an axis: the taps it reads, or `None` where
/// `tf_crop_and_resize` extrapolates.
type Taps = Option<Vec<(usize, f64)>>;

impl Kernel for Resize {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let scales = self
            .inputs
            .get(inputs, 2)?
            .filter(|s| !s.is_empty() || self.inputs.opt(3).is_none());
        let sizes = if scales.is_some() {
            None
        } else {
            self.inputs.get(inputs, 3)?
        };
        let (out, scale) = self.plan(&x.shape, scales.as_deref(), sizes.as_deref())?;
        let roi = match (self.coord, self.inputs.get(inputs, 1)?) {
            (Coord::TfCropAndResize, Some(r)) => Some(self.full_roi(&r, x.rank())?),
            (Coord::TfCropAndResize, None) => {
                return Err(shape_error(
                    "roi",
                    "a region for tf_crop_and_resize",
                    "none",
                ));
            }
            _ => None,
        };
        checked_elements(&out, "Y")?;
        // Per resized axis (in `axes` order, as the reference applies them), its taps.
        let mut plans: Vec<(usize, Vec<Taps>)> = Vec::new();
        for &ax in &self.axes {
            let (n_in, n_out) = (x.shape[ax], out[ax]);
            let span = roi.as_ref().map(|r| (r[ax], r[ax + x.rank()]));
            let identity =
                n_in == n_out && scale[ax] == 1.0 && span.is_none_or(|(a, b)| a == 0.0 && b == 1.0);
            if identity {
                continue;
            }
            if n_in == 0 && n_out > 0 {
                return Err(shape_error(
                    "X",
                    format!("a non-empty axis {ax} to resize"),
                    format!("{:?}", x.shape),
                ));
            }
            plans.push((ax, self.axis_taps(n_in, n_out, scale[ax], span)));
        }
        let y = if self.mode == Mode::Nearest {
            self.gather(&x, &out, &plans)?
        } else {
            self.interpolate(&x, &plans)?
        };
        Ok(vec![Value::Tensor(y)])
    }
}

impl Resize {
    /// Y's shape and the scale per axis of X (1 for axes not resized), from scales or sizes.
    fn plan(
        &self,
        x: &[usize],
        scales: Option<&Tensor>,
        sizes: Option<&Tensor>,
    ) -> Result<(Vec<usize>, Vec<f64>), Error> {
        let rank = x.len();
        if self.axes.iter().any(|&a| a >= rank) {
            return Err(shape_error(
                "X",
                format!("rank above every axis in {:?}", self.axes),
                format!("{x:?}"),
            ));
        }
        let n = self.axes.len();
        let mut out = x.to_vec();
        let mut scale = vec![1.0; rank];
        let size_of = |v: f64| -> Result<usize, Error> {
            if !(0.0..MAX_DIM).contains(&v) {
                return Err(shape_error("Y", "a size below 2^40", format!("{v}")));
            }
            Ok(v as usize)
        };
        match (scales, sizes) {
            (Some(s), _) => {
                let s = s.data.to_f64_vec();
                if s.len() != n {
                    return Err(shape_error(
                        "scales",
                        format!("{n} values"),
                        s.len().to_string(),
                    ));
                }
                for (&ax, &v) in self.axes.iter().zip(&s) {
                    if !(v > 0.0 && v.is_finite()) {
                        return Err(shape_error("scales", "positive scales", format!("{v}")));
                    }
                    scale[ax] = v;
                    out[ax] = size_of((x[ax] as f64 * v).floor())?;
                }
            }
            (None, Some(z)) => {
                let z = int_values(z, "sizes")?;
                if z.len() != n {
                    return Err(shape_error(
                        "sizes",
                        format!("{n} values"),
                        z.len().to_string(),
                    ));
                }
                for (&ax, &v) in self.axes.iter().zip(&z) {
                    if v < 0 {
                        return Err(shape_error("sizes", "sizes >= 0", v.to_string()));
                    }
                    out[ax] = size_of(v as f64)?;
                    scale[ax] = v as f64 / x[ax] as f64;
                }
                if self.aspect != Aspect::Stretch && n > 0 {
                    let pick = self.axes.iter().map(|&a| scale[a]);
                    let s = if self.aspect == Aspect::NotLarger {
                        pick.fold(f64::INFINITY, f64::min)
                    } else {
                        pick.fold(f64::NEG_INFINITY, f64::max)
                    };
                    for &ax in &self.axes {
                        scale[ax] = s;
                        // Rounds half up, as the ONNX definition does.
                        out[ax] = size_of((s * x[ax] as f64 + 0.5).floor())?;
                    }
                }
                if let Some(ax) = self.axes.iter().find(|&&a| !scale[a].is_finite()) {
                    return Err(shape_error(
                        "X",
                        format!("a non-empty axis {ax} to resize"),
                        format!("{x:?}"),
                    ));
                }
            }
            (None, None) => {
                return Err(shape_error("scales", "scales or sizes", "neither"));
            }
        }
        Ok((out, scale))
    }

    /// roi as starts then ends for every axis of X (0 and 1 for axes not resized).
    fn full_roi(&self, roi: &Tensor, rank: usize) -> Result<Vec<f64>, Error> {
        let v = roi.data.to_f64_vec();
        let n = self.axes.len();
        if v.len() != 2 * n {
            return Err(shape_error(
                "roi",
                format!("{} values", 2 * n),
                v.len().to_string(),
            ));
        }
        let mut full = vec![0.0; 2 * rank];
        full[rank..].fill(1.0);
        for (i, &ax) in self.axes.iter().enumerate() {
            full[ax] = v[i];
            full[rank + ax] = v[n + i];
        }
        Ok(full)
    }

    /// The input coordinate output position `y` maps to along an axis.
    fn source(&self, y: usize, n_in: usize, n_out: usize, s: f64, roi: Option<(f64, f64)>) -> f64 {
        // The resized length as ONNX defines it, `in * scale`: with scales it may be fractional
        // (the output then holds its floor), and align_corners and tf_crop_and_resize divide
        // by it.
        let (y, fin, fout) = (y as f64, n_in as f64, s * n_in as f64);
        match self.coord {
            Coord::HalfPixel => (y + 0.5) / s - 0.5,
            Coord::HalfPixelSymmetric => {
                // Centres the output canvas on the input when rounding made it smaller.
                let adjustment = n_out as f64 / fout;
                let offset = fin / 2.0 * (1.0 - adjustment);
                offset + (y + 0.5) / s - 0.5
            }
            Coord::PytorchHalfPixel => {
                if n_out > 1 {
                    (y + 0.5) / s - 0.5
                } else {
                    0.0
                }
            }
            Coord::AlignCorners => {
                if fout != 1.0 {
                    y * (fin - 1.0) / (fout - 1.0)
                } else {
                    0.0
                }
            }
            Coord::Asymmetric => y / s,
            Coord::TfCropAndResize => {
                let (a, b) = roi.unwrap_or((0.0, 1.0));
                if fout != 1.0 {
                    a * (fin - 1.0) + y * (b - a) * (fin - 1.0) / (fout - 1.0)
                } else {
                    0.5 * (a + b) * (fin - 1.0)
                }
            }
        }
    }

    /// The filter's weight at distance `d` (in input positions scaled by the filter's width).
    fn kernel(&self, d: f64) -> f64 {
        let d = d.abs();
        match self.mode {
            Mode::Linear => (1.0 - d).max(0.0),
            Mode::Cubic => {
                // Keys' cubic convolution with coefficient `a`.
                let a = self.cubic_a;
                if d <= 1.0 {
                    ((a + 2.0) * d - (a + 3.0)) * d * d + 1.0
                } else if d < 2.0 {
                    ((a * d - 5.0 * a) * d + 8.0 * a) * d - 4.0 * a
                } else {
                    0.0
                }
            }
            Mode::Nearest => 0.0,
        }
    }

    /// Every output position's taps along one axis.
    fn axis_taps(&self, n_in: usize, n_out: usize, s: f64, roi: Option<(f64, f64)>) -> Vec<Taps> {
        let last = n_in.saturating_sub(1);
        let clamp = |i: i64| (i.max(0) as usize).min(last);
        (0..n_out)
            .map(|y| {
                let x = self.source(y, n_in, n_out, s, roi);
                if self.coord == Coord::TfCropAndResize && (x < 0.0 || x > last as f64) {
                    return None;
                }
                if !x.is_finite() {
                    return Some(vec![(0, f64::NAN)]);
                }
                let fl = x.floor();
                let frac = x - fl;
                if self.mode == Mode::Nearest {
                    let up = match self.rounding {
                        _ if frac == 0.0 => false,
                        Rounding::PreferFloor => frac > 0.5,
                        Rounding::PreferCeil => frac >= 0.5,
                        Rounding::Floor => false,
                        Rounding::Ceil => true,
                    };
                    return Some(vec![(clamp(fl as i64 + i64::from(up)), 1.0)]);
                }
                // The filter's half-width in taps: 1 (linear) or 2 (cubic), widened by 1 / scale
                // when antialiasing a downscale.
                let s_eff = if self.antialias { s.min(1.0) } else { 1.0 };
                let support = if self.mode == Mode::Linear { 1.0 } else { 2.0 };
                let half = if self.antialias {
                    // The ONNX reference's footprint: 1 - floor(-support / scale + 1) + ...
                    (1.0 - ((-support / s_eff).floor() + 1.0)) as i64
                } else {
                    support as i64
                };
                // The taps nearest x, preferring the left one at an exact position.
                let left = if frac == 0.0 {
                    fl as i64 - 1
                } else {
                    fl as i64
                };
                let mut taps: Vec<(i64, f64)> = (left - half + 1..=left + half)
                    .map(|i| (i, self.kernel((i as f64 - x) * s_eff)))
                    .collect();
                if self.antialias {
                    let sum: f64 = taps.iter().map(|t| t.1).sum();
                    if sum != 0.0 {
                        taps.iter_mut().for_each(|t| t.1 /= sum);
                    }
                }
                if self.exclude_outside {
                    for t in &mut taps {
                        if t.0 < 0 || t.0 > last as i64 {
                            t.1 = 0.0;
                        }
                    }
                    let sum: f64 = taps.iter().map(|t| t.1).sum();
                    if sum != 0.0 {
                        taps.iter_mut().for_each(|t| t.1 /= sum);
                    }
                }
                Some(taps.into_iter().map(|(i, w)| (clamp(i), w)).collect())
            })
            .collect()
    }

    /// Nearest: every output element copies one input element (or the extrapolation value).
    fn gather(
        &self,
        x: &Tensor,
        out: &[usize],
        plans: &[(usize, Vec<Taps>)],
    ) -> Result<Tensor, Error> {
        let rank = x.rank();
        // Per axis, the source index of each output position (identity on untouched axes).
        let mut src: Vec<Vec<Option<usize>>> = (0..rank)
            .map(|ax| (0..out[ax]).map(Some).collect())
            .collect();
        for (ax, taps) in plans {
            src[*ax] = taps
                .iter()
                .map(|t| t.as_ref().and_then(|v| v.first().map(|p| p.0)))
                .collect();
        }
        let st = crate::ops::nn::strides(&x.shape);
        let idx = crate::ops::nn::layout::map_index(out, |ix| {
            let mut off = 0usize;
            for (ax, &i) in ix.iter().enumerate() {
                match src[ax][i] {
                    Some(s) => off += s * st[ax],
                    None => return Ok(None),
                }
            }
            Ok(Some(off))
        })?;
        let data = if idx.iter().any(Option::is_none) {
            let fill = real_tensor::<f64>(self.dtype, vec![1], vec![self.extrapolation])?;
            take_or(&x.data, &idx, &fill.data)?
        } else {
            let idx: Vec<usize> = idx.into_iter().flatten().collect();
            take(&x.data, &idx)?
        };
        Tensor::from_data(out.to_vec(), data)
    }

    /// Linear and cubic: the axes applied one after another over f64 values.
    fn interpolate(&self, x: &Tensor, plans: &[(usize, Vec<Taps>)]) -> Result<Tensor, Error> {
        let mut shape = x.shape.clone();
        let mut cur = x.data.to_f64_vec();
        for (ax, taps) in plans {
            let outer: usize = shape[..*ax].iter().product();
            let inner: usize = shape[ax + 1..].iter().product();
            let n_in = shape[*ax];
            let mut next_shape = shape.clone();
            next_shape[*ax] = taps.len();
            let mut next = vec![0.0f64; checked_elements(&next_shape, "Y")?];
            for o in 0..outer {
                for (j, t) in taps.iter().enumerate() {
                    let dst = &mut next[(o * taps.len() + j) * inner..][..inner];
                    match t {
                        None => dst.fill(self.extrapolation),
                        Some(t) => {
                            for &(i, w) in t {
                                let src = cur
                                    .get((o * n_in + i) * inner..(o * n_in + i + 1) * inner)
                                    .ok_or_else(|| {
                                        shape_error("X", "taps inside the input", "past its end")
                                    })?;
                                for (d, &v) in dst.iter_mut().zip(src) {
                                    *d += w * v;
                                }
                            }
                        }
                    }
                }
            }
            shape = next_shape;
            cur = next;
        }
        real_tensor::<f64>(self.dtype, shape, cur)
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, i64s, run, run_opt};
    use keel_bundle::Attr;

    fn s(v: &str) -> Attr {
        Attr::Str(v.into())
    }

    #[test]
    fn nearest_upscale_by_scales() {
        // [[1, 2], [3, 4]] x (2, 3), half_pixel + round_prefer_floor: rows 0 0 1 1, columns
        // (y + 0.5) / 3 - 0.5 = -1/3, 0, 1/3, 2/3, 1, 4/3 -> 0 0 0 1 1 1.
        let x = f32s(&[1, 1, 2, 2], &[1., 2., 3., 4.]);
        let scales = f32s(&[4], &[1., 1., 2., 3.]);
        let y = run_opt("nn.resize", vec![], &[Some(&x), None, Some(&scales)], 1).unwrap();
        let r1 = [1., 1., 1., 2., 2., 2.];
        let r2 = [3., 3., 3., 4., 4., 4.];
        let want: Vec<f32> = [r1, r1, r2, r2].concat();
        assert_close(&y[0], &f32s(&[1, 1, 4, 6], &want), 0.0);
    }

    #[test]
    fn linear_align_corners_and_half_pixel() {
        // [1, 3] to 3 wide: align_corners samples 0, 0.5, 1 -> 1, 2, 3.
        let x = f32s(&[1, 2], &[1., 3.]);
        let sizes = i64s(&[2], &[1, 3]);
        let y = run_opt(
            "nn.resize",
            vec![
                ("mode", s("linear")),
                ("coordinate_transformation_mode", s("align_corners")),
            ],
            &[Some(&x), None, None, Some(&sizes)],
            1,
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 3], &[1., 2., 3.]), 1e-6);
        // half_pixel upscale x2 of [1, 3]: sources -0.25, 0.25, 0.75, 1.25 -> edge 1,
        // 1.5, 2.5, edge 3.
        let scales = f32s(&[2], &[1., 2.]);
        let y = run_opt(
            "nn.resize",
            vec![("mode", s("linear"))],
            &[Some(&x), None, Some(&scales)],
            1,
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 4], &[1., 1.5, 2.5, 3.]), 1e-6);
    }

    #[test]
    fn cubic_at_a_half_position() {
        // [0, 0, 1, 0, 0] x2 asymmetric, output 5 samples x = 2.5: weights of Keys' cubic
        // (a = -0.75) at distances 1.5, 0.5, 0.5, 1.5 are -0.09375, 0.59375, 0.59375, -0.09375;
        // x[2] = 1 sits at distance 0.5: 0.59375.
        let x = f32s(&[5], &[0., 0., 1., 0., 0.]);
        let scales = f32s(&[1], &[2.]);
        let y = run_opt(
            "nn.resize",
            vec![
                ("mode", s("cubic")),
                ("coordinate_transformation_mode", s("asymmetric")),
            ],
            &[Some(&x), None, Some(&scales)],
            1,
        )
        .unwrap();
        let v = y[0].as_slice::<f32>().unwrap();
        assert_eq!(y[0].shape, vec![10]);
        assert!((v[4] - 1.0).abs() < 1e-6 && (v[5] - 0.59375).abs() < 1e-6);
        assert!((v[3] - 0.59375).abs() < 1e-6);
    }

    #[test]
    fn crop_extrapolates_and_axes_select() {
        // tf_crop_and_resize on [0, 10] with roi [0.5, 1.5] to 3: sources 0.5, 1, 1.5;
        // 1.5 > 1 extrapolates to 7.
        let x = f32s(&[1, 2], &[0., 10.]);
        let roi = f32s(&[2], &[0.5, 1.5]);
        let sizes = i64s(&[1], &[3]);
        let y = run_opt(
            "nn.resize",
            vec![
                ("mode", s("linear")),
                ("coordinate_transformation_mode", s("tf_crop_and_resize")),
                ("extrapolation_value", Attr::F64(7.0)),
                ("axes", Attr::I64s(vec![1])),
            ],
            &[Some(&x), Some(&roi), None, Some(&sizes)],
            1,
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 3], &[5., 10., 7.]), 1e-6);
    }

    #[test]
    fn antialias_averages_a_downscale() {
        // [0, 4, 8, 12] halved, linear with antialias: the filter spans 2 input positions each
        // side. Output 0 sits at 0.5: taps -1..=2 weigh 0.25, 0.75, 0.75, 0.25 (edge-clamped
        // -1 -> 0), normalised by 2: (0.25*0 + 0.75*0 + 0.75*4 + 0.25*8) / 2 = 2.5.
        let x = f32s(&[4], &[0., 4., 8., 12.]);
        let scales = f32s(&[1], &[0.5]);
        let y = run_opt(
            "nn.resize",
            vec![("mode", s("linear")), ("antialias", Attr::I64(1))],
            &[Some(&x), None, Some(&scales)],
            1,
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[2], &[2.5, 9.5]), 1e-6);
    }

    #[test]
    fn refusals() {
        let x = f32s(&[2], &[1., 2.]);
        let scales = f32s(&[1], &[2.]);
        let bad = |attrs: Vec<(&str, Attr)>| {
            run_opt("nn.resize", attrs, &[Some(&x), None, Some(&scales)], 1).is_err()
        };
        assert!(bad(vec![("mode", s("area"))]));
        assert!(bad(vec![(
            "coordinate_transformation_mode",
            s("tf_half_pixel_for_nn")
        )]));
        assert!(bad(vec![("antialias", Attr::I64(1))]));
        // Neither scales nor sizes.
        assert!(run("nn.resize", vec![], std::slice::from_ref(&x)).is_err());
        // A negative scale is a shape error at score time.
        let neg = f32s(&[1], &[-1.]);
        assert!(run_opt("nn.resize", vec![], &[Some(&x), None, Some(&neg)], 1).is_err());
    }
}
