//! Getting one row's pixels: decoding an encoded PNG or JPEG under limits, or taking Spark's
//! raw image parts, then converting to the channels the network wants (RGB or grey) as Pillow's
//! `Image.convert` does.
//!
//! Decoding is the one place where a few bytes of user input can ask for gigabytes (a PNG
//! header declaring 100000 x 100000 pixels compresses to almost nothing), so every size is
//! checked before anything is allocated: the encoded length, then the declared width and height
//! and the decoder's total allocation through [`image::Limits`].
//!
//! Each failure is a message; the kernel wraps it in an error naming the column and the row.

use super::resample::Pixels;
use image::{DynamicImage, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// The order and meaning of a source's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// One luma channel.
    Grey,
    /// Luma and alpha.
    GreyAlpha,
    /// Red, green, blue.
    Rgb,
    /// Red, green, blue, alpha.
    Rgba,
    /// Blue, green, red (OpenCV's and Spark's `ImageSchema` order).
    Bgr,
    /// Blue, green, red, alpha.
    Bgra,
}

impl Layout {
    fn channels(self) -> usize {
        match self {
            Layout::Grey => 1,
            Layout::GreyAlpha => 2,
            Layout::Rgb | Layout::Bgr => 3,
            Layout::Rgba | Layout::Bgra => 4,
        }
    }
}

/// The bounds a decode runs under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecodeLimits {
    /// Widest image accepted, in pixels.
    pub max_width: u32,
    /// Tallest image accepted, in pixels.
    pub max_height: u32,
    /// Longest encoded image accepted, in bytes.
    pub max_bytes: usize,
    /// Most bytes the decoder may allocate.
    pub max_alloc: u64,
}

/// Decodes a PNG or JPEG into 8-bit samples and their layout.
pub(crate) fn decode(bytes: &[u8], limits: &DecodeLimits) -> Result<(Pixels, Layout), String> {
    if bytes.len() > limits.max_bytes {
        return Err(format!(
            "the encoded image is {} bytes, above the limit of {} (attribute `max_bytes`)",
            bytes.len(),
            limits.max_bytes
        ));
    }
    let format = image::guess_format(bytes).ok();
    if !matches!(format, Some(ImageFormat::Png | ImageFormat::Jpeg)) {
        return Err(format!(
            "the bytes are not a PNG or JPEG image ({})",
            match format {
                Some(f) => format!("found {f:?}"),
                None => "unrecognised signature".to_string(),
            }
        ));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes));
    reader.set_format(format.unwrap_or(ImageFormat::Png));
    let mut bounds = Limits::default();
    bounds.max_image_width = Some(limits.max_width);
    bounds.max_image_height = Some(limits.max_height);
    bounds.max_alloc = Some(limits.max_alloc);
    reader.limits(bounds);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(l) => format!(
            "the image exceeds the decoding limits ({l}; at most {} x {} pixels, attributes \
             `max_width` and `max_height`)",
            limits.max_width, limits.max_height
        ),
        other => format!("the image does not decode: {other}"),
    })?;
    Ok(eight_bit(image))
}

/// The decoded image as 8-bit samples. Sixteen-bit samples keep their high byte, as Pillow
/// reads a 16-bit RGB PNG; float images (which PNG and JPEG never give) are converted.
fn eight_bit(image: DynamicImage) -> (Pixels, Layout) {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let high = |v: &[u16]| v.iter().map(|s| (s >> 8) as u8).collect::<Vec<u8>>();
    let (data, layout) = match image {
        DynamicImage::ImageLuma8(b) => (b.into_raw(), Layout::Grey),
        DynamicImage::ImageLumaA8(b) => (b.into_raw(), Layout::GreyAlpha),
        DynamicImage::ImageRgb8(b) => (b.into_raw(), Layout::Rgb),
        DynamicImage::ImageRgba8(b) => (b.into_raw(), Layout::Rgba),
        DynamicImage::ImageLuma16(b) => (high(b.as_raw()), Layout::Grey),
        DynamicImage::ImageLumaA16(b) => (high(b.as_raw()), Layout::GreyAlpha),
        DynamicImage::ImageRgb16(b) => (high(b.as_raw()), Layout::Rgb),
        DynamicImage::ImageRgba16(b) => (high(b.as_raw()), Layout::Rgba),
        other => (other.to_rgba8().into_raw(), Layout::Rgba),
    };
    let channels = layout.channels();
    (
        Pixels {
            height,
            width,
            channels,
            data,
        },
        layout,
    )
}

/// Spark's `ImageSchema` parts of one row as pixels: `data` holds `height * width * channels`
/// bytes, row-major, channels interleaved in BGR(A) order (1, 3 or 4 channels).
pub(crate) fn raw(
    data: &[u8],
    height: i64,
    width: i64,
    channels: i64,
    limits: &DecodeLimits,
) -> Result<(Pixels, Layout), String> {
    let layout = match channels {
        1 => Layout::Grey,
        3 => Layout::Bgr,
        4 => Layout::Bgra,
        _ => {
            return Err(format!(
                "nChannels is {channels}; Spark images have 1, 3 or 4"
            ));
        }
    };
    if height < 1
        || width < 1
        || height > i64::from(limits.max_height)
        || width > i64::from(limits.max_width)
    {
        return Err(format!(
            "the image is {height} x {width} pixels; it must be at least 1 x 1 and at most \
             {} x {} (attributes `max_height` and `max_width`)",
            limits.max_height, limits.max_width
        ));
    }
    // Both are at most u32::MAX, so the product fits in i64 and usize on 64-bit targets; the
    // checked form keeps 32-bit targets (wasm32) honest.
    let expected = (height as usize)
        .checked_mul(width as usize)
        .and_then(|n| n.checked_mul(channels as usize));
    if expected != Some(data.len()) {
        return Err(format!(
            "data holds {} bytes, but height x width x nChannels = {height} x {width} x \
             {channels} needs {}",
            data.len(),
            expected.map_or_else(
                || "more than this platform addresses".into(),
                |n| n.to_string()
            )
        ));
    }
    Ok((
        Pixels {
            height: height as usize,
            width: width as usize,
            channels: channels as usize,
            data: data.to_vec(),
        },
        layout,
    ))
}

/// Pillow's luma from 8-bit R, G, B (`convert("L")`): ITU-R 601-2, `R * 299/1000 + G *
/// 587/1000 + B * 114/1000`, computed as Pillow does in 16-bit fixed point and rounded.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471 + 0x8000) >> 16) as u8
}

/// Converts to `channels` (3: RGB, 1: grey) as Pillow's `convert("RGB")` / `convert("L")`:
/// alpha is dropped (not composited), grey is repeated into R, G and B, colour becomes luma.
pub(crate) fn to_channels(src: Pixels, layout: Layout, channels: usize) -> Pixels {
    let c = layout.channels();
    let target = if channels == 1 { 1 } else { 3 };
    if (layout == Layout::Grey && target == 1) || (layout == Layout::Rgb && target == 3) {
        return src;
    }
    let mut data = Vec::with_capacity(src.height * src.width * target);
    for px in src.data.chunks_exact(c) {
        let (r, g, b) = match layout {
            Layout::Grey | Layout::GreyAlpha => (px[0], px[0], px[0]),
            Layout::Rgb | Layout::Rgba => (px[0], px[1], px[2]),
            Layout::Bgr | Layout::Bgra => (px[2], px[1], px[0]),
        };
        if target == 1 {
            // Grey stays as it is rather than going through the luma weights (which sum to
            // one in fixed point only up to rounding).
            data.push(match layout {
                Layout::Grey | Layout::GreyAlpha => r,
                _ => luma(r, g, b),
            });
        } else {
            data.extend_from_slice(&[r, g, b]);
        }
    }
    Pixels {
        height: src.height,
        width: src.width,
        channels: target,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> DecodeLimits {
        DecodeLimits {
            max_width: 64,
            max_height: 64,
            max_bytes: 1 << 20,
            max_alloc: 1 << 24,
        }
    }

    #[test]
    fn luma_matches_pillows_weights() {
        // Pillow: Image.new("RGB", (1, 1), (r, g, b)).convert("L").getpixel((0, 0)).
        assert_eq!(luma(255, 255, 255), 255);
        assert_eq!(luma(255, 0, 0), 76);
        assert_eq!(luma(0, 255, 0), 150);
        assert_eq!(luma(0, 0, 255), 29);
        assert_eq!(luma(10, 200, 30), 124);
        assert_eq!(luma(128, 64, 32), 79);
    }

    #[test]
    fn bgr_becomes_rgb_and_alpha_is_dropped() {
        let src = Pixels {
            height: 1,
            width: 2,
            channels: 4,
            data: vec![1, 2, 3, 255, 4, 5, 6, 0],
        };
        let out = to_channels(src, Layout::Bgra, 3);
        assert_eq!(out.data, vec![3, 2, 1, 6, 5, 4]);
        let grey = Pixels {
            height: 1,
            width: 2,
            channels: 1,
            data: vec![9, 200],
        };
        assert_eq!(
            to_channels(grey, Layout::Grey, 3).data,
            vec![9, 9, 9, 200, 200, 200]
        );
    }

    #[test]
    fn raw_parts_are_checked_before_use() {
        let l = limits();
        assert!(raw(&[0; 12], 2, 2, 3, &l).is_ok());
        let e = raw(&[0; 11], 2, 2, 3, &l).unwrap_err();
        assert!(e.contains("11 bytes") && e.contains("needs 12"), "{e}");
        assert!(raw(&[0; 4], 2, 2, 2, &l).unwrap_err().contains("nChannels"));
        assert!(raw(&[], 0, 2, 1, &l).is_err());
        assert!(raw(&[0; 65], 1, 65, 1, &l).unwrap_err().contains("at most"));
    }

    #[test]
    fn garbage_and_oversized_bytes_are_refused_before_decoding() {
        let l = limits();
        assert!(
            decode(b"not an image", &l)
                .unwrap_err()
                .contains("not a PNG")
        );
        let big = vec![0u8; (1 << 20) + 1];
        assert!(decode(&big, &l).unwrap_err().contains("max_bytes"));
    }
}
