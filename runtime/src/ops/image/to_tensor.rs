//! `image.to_tensor`: per-row images of any size to one `f32` batch tensor `[N, C, H, W]`,
//! doing what a torchvision `transforms.Compose([Resize, CenterCrop, ToTensor, Normalize])`
//! does to a Pillow image, stage by stage and bit-for-bit where Pillow is exact.
//!
//! Inputs, one of:
//! - port `bytes`: a `binary` column of encoded PNG or JPEG images;
//! - ports `data` (`binary`), `height`, `width`, `channels` (integer columns): Spark's
//!   `ImageSchema` struct parts, raw row-major bytes in BGR(A) order with 1, 3 or 4 channels.
//!
//! Output port `Y`: one `f32[N, C, H, W]` tensor column. Stages, in order, each set by
//! attributes:
//! 1. **decode** (`bytes` only) under limits: `max_bytes` (encoded length, default 64 MiB),
//!    `max_width`, `max_height` (default 8192 each; also bound the raw parts) and
//!    `max_alloc` (bytes the decoder may allocate, default 1 GiB). Orientation metadata is not
//!    applied, as with Pillow's `Image.open`. A resize target is held to the same
//!    `max_height * max_width` pixels.
//! 2. **channels**: `channels` 3 (RGB, default) or 1 (grey: Pillow's `convert("L")` luma).
//!    Alpha is dropped, as `convert("RGB")` does.
//! 3. **resize**: `size` `[h, w]`, or `shorter_side` `s` (the shorter side becomes `s`, the
//!    longer `int(s * long / short)`, as torchvision's `Resize(int)`), or neither; with
//!    `interpolation` `bilinear` (default), `area` or `nearest` as Pillow's `BILINEAR`, `BOX`
//!    and `NEAREST` (see `resample.rs`).
//! 4. **center crop**: `crop` `[h, w]` at torchvision's `CenterCrop` offsets
//!    (`round((H - h) / 2)`, Python's round-half-even); a side shorter than the crop is
//!    padded with zeros first, as torchvision does.
//! 5. **channel order**: `channel_order` `rgb` (default) or `bgr` (no effect on grey).
//! 6. **scale and normalise**: `(x * scale - mean[c]) / std[c]` with `scale` (default 1/255),
//!    `mean` and `std` (one per channel; default 0 and 1), computed in f64 and rounded to f32.
//!
//! The output's height and width must be fixed at load (`size` or `crop`): a batch tensor
//! has one shape. A null row, bytes that do not decode, an image over a limit and raw parts
//! whose length is not `height * width * nChannels` are each an error naming the column and
//! the row; nothing is ever filled in silently.

use super::pixels::{self, DecodeLimits, Layout};
use super::resample::{self, Interpolation, Pixels};
use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::{attr_f64, attr_i64, tensor_out};
use crate::tensor::{Dim, Tensor, TensorType, checked_elements};
use crate::value::{ColInfo, ColType, Value};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use keel_bundle::DType;

/// Every attribute the op reads (the planner refuses others).
pub(crate) const ATTRS: &[&str] = &[
    "channel_order",
    "channels",
    "crop",
    "interpolation",
    "max_alloc",
    "max_bytes",
    "max_height",
    "max_width",
    "mean",
    "scale",
    "shorter_side",
    "size",
    "std",
];

/// The input ports, for the message refusing any other.
const PORTS: &[&str] = &["bytes", "channels", "data", "height", "width"];

/// How a row's resize target is found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Resize {
    /// Keep the decoded size.
    Keep,
    /// To `[h, w]`.
    Fixed(usize, usize),
    /// Shorter side to this, keeping the aspect ratio (torchvision's `Resize(int)`).
    ShorterSide(usize),
}

/// Where a row's pixels come from: input positions (into the kernel's `inputs`) and the
/// column names errors report.
#[derive(Debug)]
enum Source {
    Encoded {
        at: usize,
        column: String,
    },
    Raw {
        data: (usize, String),
        height: (usize, String),
        width: (usize, String),
        channels: (usize, String),
    },
}

/// The planned op.
#[derive(Debug)]
struct ToTensor {
    source: Source,
    limits: DecodeLimits,
    channels: usize,
    resize: Resize,
    interpolation: Interpolation,
    crop: Option<(usize, usize)>,
    bgr: bool,
    scale: f64,
    mean: Vec<f64>,
    std: Vec<f64>,
    out_h: usize,
    out_w: usize,
}

/// The one column bound to `port` with its position among the node's inputs, or `None` when
/// the port is unbound.
fn port(ctx: &BuildCtx<'_>, port: &str) -> Result<Option<(usize, String, ColInfo)>, Error> {
    let mut at = 0;
    for (p, cols) in &ctx.inputs {
        if p == port {
            return match cols.as_slice() {
                [(c, info)] => Ok(Some((at, c.clone(), info.clone()))),
                _ => Err(ctx.err(format!("port `{port}` must bind exactly one column"))),
            };
        }
        at += cols.len();
    }
    Ok(None)
}

/// A bound port that must hold bytes.
fn binary_port(ctx: &BuildCtx<'_>, name: &str) -> Result<(usize, String), Error> {
    let (at, col, info) =
        port(ctx, name)?.ok_or_else(|| ctx.err(format!("input port `{name}` is not bound")))?;
    if info.ty != ColType::Scalar(DType::Binary) {
        return Err(ctx.err(format!(
            "port `{name}` needs a binary column, but `{col}` is {:?}",
            info.ty
        )));
    }
    Ok((at, col))
}

/// A bound port that must hold integers.
fn int_port(ctx: &BuildCtx<'_>, name: &str) -> Result<(usize, String), Error> {
    let (at, col, info) =
        port(ctx, name)?.ok_or_else(|| ctx.err(format!("input port `{name}` is not bound")))?;
    if !matches!(info.ty, ColType::Scalar(DType::I32 | DType::I64)) {
        return Err(ctx.err(format!(
            "port `{name}` needs an i32 or i64 column, but `{col}` is {:?}",
            info.ty
        )));
    }
    Ok((at, col))
}

/// A positive integer attribute (with a default) that fits `max`.
fn positive(ctx: &BuildCtx<'_>, key: &str, default: i64, max: i64) -> Result<i64, Error> {
    let v = attr_i64(ctx, key, default)?;
    if v < 1 || v > max {
        return Err(ctx.err(format!(
            "attribute `{key}` is {v}; it must be from 1 to {max}"
        )));
    }
    Ok(v)
}

/// A `[h, w]` attribute of positive sizes, `None` when absent.
fn pair(ctx: &BuildCtx<'_>, key: &str, max: i64) -> Result<Option<(usize, usize)>, Error> {
    if ctx.opt_attr(key).is_none() {
        return Ok(None);
    }
    match ctx.i64s(key)?.as_slice() {
        &[h, w] if (1..=max).contains(&h) && (1..=max).contains(&w) => {
            Ok(Some((h as usize, w as usize)))
        }
        other => Err(ctx.err(format!(
            "attribute `{key}` is {other:?}; it must be [height, width], each from 1 to {max}"
        ))),
    }
}

/// A per-channel float list (`mean`, `std`), `default` repeated when absent.
fn per_channel(
    ctx: &BuildCtx<'_>,
    key: &str,
    channels: usize,
    default: f64,
) -> Result<Vec<f64>, Error> {
    if ctx.opt_attr(key).is_none() {
        return Ok(vec![default; channels]);
    }
    let v = ctx.f64s(key)?;
    if v.len() != channels {
        return Err(ctx.err(format!(
            "attribute `{key}` has {} values for {channels} channels",
            v.len()
        )));
    }
    if let Some(x) = v.iter().find(|x| !x.is_finite()) {
        return Err(ctx.err(format!("attribute `{key}` holds {x}, not a finite number")));
    }
    Ok(v)
}

/// The largest side the op accepts for any size attribute: far above any real image, small
/// enough that products of two sides and the channels cannot overflow.
const MAX_SIDE: i64 = 1 << 16;

/// Plans the op: checks the ports and attributes and fixes the output type.
pub fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    if let Some((p, _)) = ctx
        .inputs
        .iter()
        .find(|(p, _)| !PORTS.contains(&p.as_str()))
    {
        return Err(ctx.err(format!(
            "unknown input port `{p}` (the op reads `bytes`, or `data`, `height`, `width` and \
             `channels`)"
        )));
    }
    let raw_ports = ["data", "height", "width", "channels"];
    let bound = |p: &str| ctx.inputs.iter().any(|(q, _)| q == p);
    let source = match (
        bound("bytes"),
        raw_ports.iter().filter(|p| bound(p)).count(),
    ) {
        (true, 0) => {
            let (at, column) = binary_port(ctx, "bytes")?;
            Source::Encoded { at, column }
        }
        (false, 4) => Source::Raw {
            data: binary_port(ctx, "data")?,
            height: int_port(ctx, "height")?,
            width: int_port(ctx, "width")?,
            channels: int_port(ctx, "channels")?,
        },
        _ => {
            return Err(ctx.err(
                "bind either port `bytes` (encoded images) or all four of `data`, `height`, \
                 `width` and `channels` (Spark's image parts)",
            ));
        }
    };
    let max_width = positive(ctx, "max_width", 8192, MAX_SIDE)?;
    let max_height = positive(ctx, "max_height", 8192, MAX_SIDE)?;
    let limits = DecodeLimits {
        max_width: max_width as u32,
        max_height: max_height as u32,
        max_bytes: positive(ctx, "max_bytes", 64 << 20, i64::from(u32::MAX))? as usize,
        max_alloc: positive(ctx, "max_alloc", 1 << 30, i64::MAX)? as u64,
    };
    let channels = match attr_i64(ctx, "channels", 3)? {
        c @ (1 | 3) => c as usize,
        c => {
            return Err(ctx.err(format!(
                "attribute `channels` is {c}; it must be 3 (RGB) or 1 (grey)"
            )));
        }
    };
    let resize = match (pair(ctx, "size", MAX_SIDE)?, ctx.opt_attr("shorter_side")) {
        (Some(_), Some(_)) => {
            return Err(ctx.err("set `size` or `shorter_side`, not both"));
        }
        (Some((h, w)), None) => Resize::Fixed(h, w),
        (None, Some(_)) => {
            Resize::ShorterSide(positive(ctx, "shorter_side", 1, MAX_SIDE)? as usize)
        }
        (None, None) => Resize::Keep,
    };
    let interpolation = match ctx.opt_attr("interpolation") {
        None => Interpolation::Bilinear,
        Some(_) => {
            let s = ctx.str("interpolation")?;
            Interpolation::parse(s).ok_or_else(|| {
                ctx.err(format!(
                    "attribute `interpolation` is `{s}`; it must be `bilinear`, `area` or \
                     `nearest`"
                ))
            })?
        }
    };
    let crop = pair(ctx, "crop", MAX_SIDE)?;
    let bgr = match ctx.opt_attr("channel_order") {
        None => false,
        Some(_) => match ctx.str("channel_order")? {
            "rgb" => false,
            "bgr" => true,
            s => {
                return Err(ctx.err(format!(
                    "attribute `channel_order` is `{s}`; it must be `rgb` or `bgr`"
                )));
            }
        },
    };
    let scale = attr_f64(ctx, "scale", 1.0 / 255.0)?;
    if !scale.is_finite() {
        return Err(ctx.err(format!("attribute `scale` is {scale}, not a finite number")));
    }
    let mean = per_channel(ctx, "mean", channels, 0.0)?;
    let std = per_channel(ctx, "std", channels, 1.0)?;
    if std.contains(&0.0) {
        return Err(ctx.err("attribute `std` holds a zero"));
    }
    let (out_h, out_w) = match (crop, resize) {
        (Some(hw), _) => hw,
        (None, Resize::Fixed(h, w)) => (h, w),
        _ => {
            return Err(ctx.err(
                "the output's height and width must be fixed: set `crop` or `size` (a batch \
                 tensor has one shape, and these images may differ in size)",
            ));
        }
    };
    let ty = TensorType {
        dtype: DType::F32,
        shape: vec![
            Dim::batch(),
            Dim::Known(channels),
            Dim::Known(out_h),
            Dim::Known(out_w),
        ],
    };
    Ok(Built {
        outputs: vec![tensor_out(ctx, "Y", ty)?],
        kernel: Box::new(ToTensor {
            source,
            limits,
            channels,
            resize,
            interpolation,
            crop,
            bgr,
            scale,
            mean,
            std,
            out_h,
            out_w,
        }),
    })
}

/// Row `row` of a bytes column (`None` for a null).
fn bytes_at(a: &dyn Array, row: usize) -> Option<&[u8]> {
    if a.is_null(row) {
        return None;
    }
    match a.data_type() {
        DataType::Binary => Some(a.as_binary::<i32>().value(row)),
        DataType::LargeBinary => Some(a.as_binary::<i64>().value(row)),
        _ => None,
    }
}

/// Row `row` of an integer column (`None` for a null).
fn int_at(a: &dyn Array, row: usize) -> Option<i64> {
    if a.is_null(row) {
        return None;
    }
    match a.data_type() {
        DataType::Int32 => Some(i64::from(a.as_primitive::<Int32Type>().value(row))),
        DataType::Int64 => Some(a.as_primitive::<Int64Type>().value(row)),
        _ => None,
    }
}

/// The Arrow array a kernel input holds (inputs of this op are always plain columns).
fn array<'v>(inputs: &[&'v Value], at: usize, column: &str) -> Result<&'v ArrayRef, Error> {
    match inputs.get(at) {
        Some(Value::Array(a)) => Ok(a),
        _ => Err(Error::ColumnType {
            column: column.to_string(),
            expected: "a column of bytes or integers".into(),
            found: "a feature block or tensor".into(),
        }),
    }
}

/// Python's `round(x / 2)` for an integer `x` (half to even), as torchvision's crop offsets.
fn half_round_even(x: usize) -> usize {
    let q = x / 2;
    // An odd x is q + 0.5 exactly: round to the even of q and q + 1.
    if x % 2 == 1 && q % 2 == 1 { q + 1 } else { q }
}

/// Offset of a centred window of `size` in `len` pixels: where the window starts in the
/// (zero-padded, when the window is larger) input, possibly before its first pixel.
fn crop_offset(len: usize, size: usize) -> isize {
    if size <= len {
        half_round_even(len - size) as isize
    } else {
        // torchvision pads `(size - len) // 2` before (and the rest after), then crops at 0.
        -(((size - len) / 2) as isize)
    }
}

impl ToTensor {
    /// The column errors about a whole image name: the bytes, or the raw parts' `data`.
    fn column(&self) -> &str {
        match &self.source {
            Source::Encoded { column, .. } => column,
            Source::Raw { data, .. } => &data.1,
        }
    }

    /// Row `row`'s pixels as decoded (or taken from the raw parts), with the column to blame.
    fn source_pixels(&self, inputs: &[&Value], row: usize) -> Result<(Pixels, Layout), Error> {
        let bad = |column: &str, message: String| Error::BadValue {
            column: column.to_string(),
            row,
            message,
        };
        let missing = |column: &str| Error::Missing {
            column: column.to_string(),
            row,
            node: String::new(),
        };
        match &self.source {
            Source::Encoded { at, column } => {
                let a = array(inputs, *at, column)?;
                let bytes = bytes_at(a.as_ref(), row).ok_or_else(|| missing(column))?;
                pixels::decode(bytes, &self.limits).map_err(|m| bad(column, m))
            }
            Source::Raw {
                data,
                height,
                width,
                channels,
            } => {
                let int = |(at, column): &(usize, String)| -> Result<i64, Error> {
                    let a = array(inputs, *at, column)?;
                    int_at(a.as_ref(), row).ok_or_else(|| missing(column))
                };
                let (h, w, c) = (int(height)?, int(width)?, int(channels)?);
                let a = array(inputs, data.0, &data.1)?;
                let bytes = bytes_at(a.as_ref(), row).ok_or_else(|| missing(&data.1))?;
                pixels::raw(bytes, h, w, c, &self.limits).map_err(|m| bad(&data.1, m))
            }
        }
    }

    /// The size row pixels are resized to.
    fn target(&self, h: usize, w: usize) -> (usize, usize) {
        match self.resize {
            Resize::Keep => (h, w),
            Resize::Fixed(th, tw) => (th, tw),
            Resize::ShorterSide(s) => {
                // torchvision: `int(size * long / short)` in Python floats.
                let (short, long) = if w <= h { (w, h) } else { (h, w) };
                let new_long = ((s as f64 * long as f64 / short as f64) as usize).max(1);
                if w <= h { (new_long, s) } else { (s, new_long) }
            }
        }
    }

    /// Writes one row's `[C, H, W]` block.
    fn write_row(&self, img: &Pixels, out: &mut [f32]) {
        let c = self.channels;
        let (oy, ox) = match self.crop {
            Some((ch, cw)) => (crop_offset(img.height, ch), crop_offset(img.width, cw)),
            None => (0, 0),
        };
        let plane = self.out_h * self.out_w;
        for ch in 0..c {
            // The output channel `ch` reads source channel `src` (reversed for BGR).
            let src = if self.bgr { c - 1 - ch } else { ch };
            let (mean, std) = (self.mean[ch], self.std[ch]);
            for y in 0..self.out_h {
                let sy = y as isize + oy;
                for x in 0..self.out_w {
                    let sx = x as isize + ox;
                    // Outside the image is torchvision's zero padding.
                    let v = if sy >= 0
                        && sx >= 0
                        && (sy as usize) < img.height
                        && (sx as usize) < img.width
                    {
                        img.data[((sy as usize) * img.width + sx as usize) * c + src]
                    } else {
                        0
                    };
                    out[ch * plane + y * self.out_w + x] =
                        ((f64::from(v) * self.scale - mean) / std) as f32;
                }
            }
        }
    }
}

impl Kernel for ToTensor {
    fn eval(&self, inputs: &[&Value], rows: usize) -> Result<Vec<Value>, Error> {
        let shape = vec![rows, self.channels, self.out_h, self.out_w];
        let n = checked_elements(&shape, "image.to_tensor output")?;
        let per_row = self.channels * self.out_h * self.out_w;
        let mut out = vec![0f32; n];
        for row in 0..rows {
            let (img, layout) = self.source_pixels(inputs, row)?;
            let img = pixels::to_channels(img, layout, self.channels);
            let (th, tw) = self.target(img.height, img.width);
            // `shorter_side` scales the longer side with it: a 1 x 8192 strip asked for a
            // shorter side of 256 would become 2 million pixels long. The resized image is
            // held to the same pixel budget as a decoded one.
            let budget = u64::from(self.limits.max_width) * u64::from(self.limits.max_height);
            if (th as u64).saturating_mul(tw as u64) > budget {
                return Err(Error::BadValue {
                    column: self.column().to_string(),
                    row,
                    message: format!(
                        "resizing the {} x {} image to {th} x {tw} passes the limit of \
                         {budget} pixels (attributes `max_height` x `max_width`)",
                        img.height, img.width
                    ),
                });
            }
            let img = resample::resize(img, th, tw, self.interpolation);
            self.write_row(&img, &mut out[row * per_row..(row + 1) * per_row]);
        }
        Ok(vec![Value::Tensor(Tensor::new(shape, out)?)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Model, Options};
    use arrow_array::types::Float32Type;
    use arrow_array::{BinaryArray, Int32Array, RecordBatch};
    use keel_bundle::{Attr, Bundle, Field, Manifest, Node};
    use std::sync::Arc;

    /// A one-node bundle reading `inputs` (field, port) into `image.to_tensor`, whose output
    /// `x` is declared `f32[out]` per row.
    fn model(
        inputs: &[(Field, &str)],
        attrs: Vec<(&str, Attr)>,
        out: [u64; 3],
    ) -> Result<Model, Error> {
        let mut node = Node::new("prep", "image.to_tensor");
        for (f, p) in inputs {
            node = node.with_input(p, [f.name.clone()]);
        }
        for (k, v) in attrs {
            node = node.with_attr(k, v);
        }
        node = node.with_output("Y", ["x"]);
        let root = Node::pipeline("root", vec![node]);
        let fields: Vec<Field> = inputs.iter().map(|(f, _)| f.clone()).collect();
        let manifest = Manifest::new(
            "t",
            "root",
            fields,
            vec![Field::tensor("x", DType::F32, out.to_vec())],
        );
        let bundle = Bundle::new(manifest, root, Vec::<(String, Vec<u8>)>::new())?;
        Model::from_bundle(&bundle, &Options::default())
    }

    fn plan_err(attrs: Vec<(&str, Attr)>) -> String {
        let f = Field::scalar("img", DType::Binary, true);
        match model(&[(f, "bytes")], attrs, [3, 1, 1]) {
            Ok(_) => "planned".into(),
            Err(e) => e.to_string(),
        }
    }

    /// The output column's values, all rows flattened.
    fn values(batch: &RecordBatch) -> Vec<f32> {
        let list = batch.column(0).as_fixed_size_list();
        list.values()
            .as_primitive::<Float32Type>()
            .values()
            .to_vec()
    }

    #[test]
    fn the_output_needs_a_fixed_size() {
        assert!(plan_err(vec![]).contains("fixed"), "{}", plan_err(vec![]));
        let e = plan_err(vec![("shorter_side", Attr::I64(8))]);
        assert!(e.contains("`crop` or `size`"), "{e}");
    }

    #[test]
    fn attributes_are_checked_at_load() {
        let crop = || ("crop", Attr::I64s(vec![1, 1]));
        let cases: Vec<(Vec<(&str, Attr)>, &str)> = vec![
            (vec![("size", Attr::I64s(vec![4]))], "`size`"),
            (vec![("size", Attr::I64s(vec![0, 4]))], "`size`"),
            (vec![crop(), ("channels", Attr::I64(2))], "`channels`"),
            (
                vec![crop(), ("interpolation", Attr::Str("bicubic".into()))],
                "bicubic",
            ),
            (
                vec![crop(), ("mean", Attr::F64s(vec![0.5, 0.5]))],
                "`mean` has 2 values for 3 channels",
            ),
            (
                vec![crop(), ("std", Attr::F64s(vec![1.0, 0.0, 1.0]))],
                "zero",
            ),
            (
                vec![
                    ("size", Attr::I64s(vec![2, 2])),
                    ("shorter_side", Attr::I64(2)),
                ],
                "not both",
            ),
            (vec![crop(), ("max_width", Attr::I64(0))], "`max_width`"),
            (vec![crop(), ("antialias", Attr::Bool(true))], "`antialias`"),
        ];
        for (attrs, want) in cases {
            let e = plan_err(attrs);
            assert!(e.contains(want), "{want}: {e}");
        }
    }

    #[test]
    fn ports_are_checked_at_load() {
        let bytes = Field::scalar("img", DType::Binary, true);
        let size = || vec![("size", Attr::I64s(vec![2, 2]))];
        let e = model(&[(bytes.clone(), "data")], size(), [3, 2, 2]).unwrap_err();
        assert!(e.to_string().contains("either port `bytes`"), "{e}");
        let s = Field::scalar("s", DType::Utf8, true);
        let e = model(&[(s, "bytes")], size(), [3, 2, 2]).unwrap_err();
        assert!(e.to_string().contains("binary"), "{e}");
        let e = model(&[(bytes, "pixels")], size(), [3, 2, 2]).unwrap_err();
        assert!(e.to_string().contains("unknown input port `pixels`"), "{e}");
    }

    /// Scores Spark raw parts (`data`, `height`, `width`, `channels`) through the op.
    fn raw_rows(
        rows: &[(Option<&[u8]>, i32, i32, i32)],
        attrs: Vec<(&str, Attr)>,
        out: [u64; 3],
    ) -> Result<Vec<f32>, Error> {
        let fields = [
            (Field::scalar("data", DType::Binary, true), "data"),
            (Field::scalar("h", DType::I32, false), "height"),
            (Field::scalar("w", DType::I32, false), "width"),
            (Field::scalar("c", DType::I32, false), "channels"),
        ];
        let m = model(&fields, attrs, out)?;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(BinaryArray::from_opt_vec(
                rows.iter().map(|r| r.0).collect(),
            )),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.3))),
        ];
        let batch = RecordBatch::try_new(m.input_schema(), cols)
            .map_err(|e| Error::Interface(e.to_string()))?;
        Ok(values(&m.score(&batch)?))
    }

    #[test]
    fn raw_bgr_parts_become_normalised_rgb_planes() {
        // One 1 x 2 BGR image: pixels (b, g, r) = (10, 20, 30) and (40, 50, 60).
        let data: &[u8] = &[10, 20, 30, 40, 50, 60];
        let attrs = vec![
            ("size", Attr::I64s(vec![1, 2])),
            ("scale", Attr::F64(1.0)),
            ("mean", Attr::F64s(vec![0.0, 10.0, 20.0])),
            ("std", Attr::F64s(vec![1.0, 2.0, 4.0])),
        ];
        let got = raw_rows(&[(Some(data), 1, 2, 3)], attrs, [3, 1, 2]).unwrap();
        // Planes R, G, B: R = [30, 60]; G = ([20, 50] - 10) / 2; B = ([10, 40] - 20) / 4.
        assert_eq!(got, vec![30.0, 60.0, 5.0, 20.0, -2.5, 5.0]);
        // `bgr` turns the planes back.
        let attrs = vec![
            ("size", Attr::I64s(vec![1, 2])),
            ("scale", Attr::F64(1.0)),
            ("channel_order", Attr::Str("bgr".into())),
        ];
        let got = raw_rows(&[(Some(data), 1, 2, 3)], attrs, [3, 1, 2]).unwrap();
        assert_eq!(got, vec![10.0, 40.0, 20.0, 50.0, 30.0, 60.0]);
    }

    #[test]
    fn rows_of_different_sizes_meet_at_the_crop() {
        // A 1 x 3 grey image and a 1 x 1 one, cropped to 1 x 2: the first is cut at offset
        // round(1 / 2) = 0, the second is padded with one zero after (torchvision pads
        // (2 - 1) // 2 = 0 before).
        let attrs = vec![
            ("crop", Attr::I64s(vec![1, 2])),
            ("channels", Attr::I64(1)),
            ("scale", Attr::F64(1.0)),
        ];
        let a: &[u8] = &[7, 8, 9];
        let b: &[u8] = &[5];
        let got = raw_rows(&[(Some(a), 1, 3, 1), (Some(b), 1, 1, 1)], attrs, [1, 1, 2]);
        assert_eq!(got.unwrap(), vec![7.0, 8.0, 5.0, 0.0]);
    }

    #[test]
    fn bad_raw_rows_name_the_column_and_row() {
        let attrs = || vec![("size", Attr::I64s(vec![1, 1]))];
        let ok: &[u8] = &[1, 2, 3];
        let short: &[u8] = &[1, 2];
        let e = raw_rows(
            &[(Some(ok), 1, 1, 3), (Some(short), 1, 1, 3)],
            attrs(),
            [3, 1, 1],
        )
        .unwrap_err();
        assert!(
            matches!(&e, Error::BadValue { column, row: 1, .. } if column == "data"),
            "{e:?}"
        );
        assert!(e.to_string().contains("2 bytes"), "{e}");
        let e = raw_rows(&[(Some(ok), 1, 1, 3), (None, 1, 1, 3)], attrs(), [3, 1, 1]).unwrap_err();
        assert!(
            matches!(&e, Error::Missing { column, row: 1, .. } if column == "data"),
            "{e:?}"
        );
        let e = raw_rows(&[(Some(ok), 1, 1, 2)], attrs(), [3, 1, 1]).unwrap_err();
        assert!(e.to_string().contains("nChannels is 2"), "{e}");
    }

    #[test]
    fn a_resize_past_the_pixel_budget_is_refused_by_row() {
        // A 1 x 64 strip with a shorter side of 64 would be 64 x 4096: past 64 x 64.
        let attrs = vec![
            ("shorter_side", Attr::I64(64)),
            ("crop", Attr::I64s(vec![1, 1])),
            ("max_width", Attr::I64(64)),
            ("max_height", Attr::I64(64)),
        ];
        let strip = [7u8; 64];
        let e = raw_rows(&[(Some(&strip[..]), 1, 64, 1)], attrs, [3, 1, 1]).unwrap_err();
        assert!(
            matches!(&e, Error::BadValue { column, row: 0, .. } if column == "data"),
            "{e:?}"
        );
        assert!(e.to_string().contains("64 x 4096"), "{e}");
    }

    #[test]
    fn shorter_side_keeps_the_aspect_ratio_as_torchvision() {
        let k = |resize| ToTensor {
            source: Source::Encoded {
                at: 0,
                column: String::new(),
            },
            limits: DecodeLimits {
                max_width: 1,
                max_height: 1,
                max_bytes: 1,
                max_alloc: 1,
            },
            channels: 3,
            resize,
            interpolation: Interpolation::Bilinear,
            crop: None,
            bgr: false,
            scale: 1.0,
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
            out_h: 1,
            out_w: 1,
        };
        // int(224 * 500 / 375) = 298 (298.67 truncated).
        assert_eq!(k(Resize::ShorterSide(224)).target(375, 500), (224, 298));
        assert_eq!(k(Resize::ShorterSide(224)).target(500, 375), (298, 224));
        assert_eq!(k(Resize::ShorterSide(8)).target(4, 4), (8, 8));
        assert_eq!(k(Resize::Keep).target(3, 5), (3, 5));
    }

    #[test]
    fn crop_offsets_follow_torchvision() {
        // round((H - h) / 2) with half to even: 1 -> 0, 3 -> 2 (1.5 -> 2), 5 -> 2 (2.5 -> 2).
        assert_eq!(crop_offset(5, 4), 0);
        assert_eq!(crop_offset(7, 4), 2);
        assert_eq!(crop_offset(9, 4), 2);
        assert_eq!(crop_offset(8, 4), 2);
        // Larger than the image: padded by (4 - 1) // 2 = 1 before.
        assert_eq!(crop_offset(1, 4), -1);
    }
}
