//! Resampling 8-bit images the way Pillow's `Image.resize` does, so a model trained on
//! Pillow-resized (or torchvision-resized, which calls Pillow) images sees the same pixels.
//!
//! Pillow resizes in two separable passes, horizontal then vertical, each rounding back to
//! 8 bits. Each output pixel is a weighted sum over a window of input pixels whose weights
//! come from a filter evaluated at the distance between pixel centres. When downscaling the
//! filter is stretched by the scale factor, so every input pixel contributes (antialiasing):
//! `bilinear` is the triangle filter (support 1), `area` is the box filter (support 1/2, which
//! then averages exactly the input pixels an output pixel covers). Weights are normalised to
//! sum to one and converted to fixed point with 22 fractional bits; the sums are rounded and
//! clamped to 0..=255. Doing the same integer arithmetic here makes the result bit-for-bit
//! Pillow's, not merely close (the fixtures check that).
//!
//! `nearest` is not a filter in Pillow: it maps each output pixel centre back to the input
//! (`x_in = floor((x + 0.5) * in / out)`, with the position accumulated in f64 step by step
//! as Pillow does) and copies that pixel.

/// How pixels are resampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interpolation {
    /// Pillow's `BILINEAR`: a triangle filter, widened when downscaling.
    Bilinear,
    /// Pillow's `BOX`: the mean of the input pixels each output pixel covers.
    Area,
    /// Pillow's `NEAREST`.
    Nearest,
}

impl Interpolation {
    /// Parses the attribute's spelling.
    pub(crate) fn parse(s: &str) -> Option<Interpolation> {
        Some(match s {
            "bilinear" => Interpolation::Bilinear,
            "area" => Interpolation::Area,
            "nearest" => Interpolation::Nearest,
            _ => return None,
        })
    }

    /// Half the filter's width at scale 1 (`None` for nearest, which has no filter).
    fn support(self) -> Option<f64> {
        match self {
            Interpolation::Bilinear => Some(1.0),
            Interpolation::Area => Some(0.5),
            Interpolation::Nearest => None,
        }
    }

    /// The filter's weight at distance `x` (in input pixels, after scaling).
    fn weight(self, x: f64) -> f64 {
        match self {
            Interpolation::Bilinear => {
                let x = x.abs();
                if x < 1.0 { 1.0 - x } else { 0.0 }
            }
            // Half-open, so that a centre falling exactly between two pixels is counted once.
            Interpolation::Area => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
            Interpolation::Nearest => 0.0,
        }
    }
}

/// An 8-bit image, row-major with interleaved channels (`height * width * channels` bytes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pixels {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Channels per pixel.
    pub channels: usize,
    /// The samples.
    pub data: Vec<u8>,
}

/// Fractional bits of the fixed-point weights: Pillow's `PRECISION_BITS` (32 - 8 - 2), which
/// leaves room for a sum of 255 times weights summing to one in an i32.
const PRECISION_BITS: u32 = 22;

/// One output position's window: the first input index and the fixed-point weights.
#[derive(Debug)]
struct Window {
    start: usize,
    weights: Vec<i32>,
}

/// The windows mapping `in_size` input pixels onto `out_size` output pixels along one axis.
fn windows(in_size: usize, out_size: usize, interp: Interpolation, support: f64) -> Vec<Window> {
    let scale = in_size as f64 / out_size as f64;
    // Downscaling widens the filter so every input pixel contributes (antialiasing).
    let filter_scale = scale.max(1.0);
    let support = support * filter_scale;
    (0..out_size)
        .map(|x| {
            let center = (x as f64 + 0.5) * scale;
            // Truncation toward zero then clamping, as Pillow's `(int)` casts do.
            let start = ((center - support + 0.5) as i64).max(0) as usize;
            let end = ((center + support + 0.5) as i64).clamp(0, in_size as i64) as usize;
            let raw: Vec<f64> = (start..end.max(start))
                .map(|i| interp.weight((i as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = raw.iter().sum();
            let weights = raw
                .iter()
                .map(|&w| {
                    let w = if total != 0.0 { w / total } else { w };
                    let fixed = w * f64::from(1u32 << PRECISION_BITS);
                    // Round half away from zero, as Pillow's `(int)(x +/- 0.5)`.
                    if fixed < 0.0 {
                        (fixed - 0.5) as i32
                    } else {
                        (fixed + 0.5) as i32
                    }
                })
                .collect();
            Window { start, weights }
        })
        .collect()
}

/// A fixed-point sum back to a byte: rounded (the sum starts at one half) and clamped.
fn clip8(sum: i32) -> u8 {
    if sum <= 0 {
        0
    } else if sum >= (255 << PRECISION_BITS) {
        255
    } else {
        (sum >> PRECISION_BITS) as u8
    }
}

/// Resamples along one axis. `outer` lines of `inner`-strided samples: for the horizontal
/// pass a line is a row and a step is one pixel (`channels` samples); for the vertical pass a
/// line is a column of samples and a step is one row.
fn pass(src: &Pixels, out_w: usize, out_h: usize, horizontal: bool, ws: &[Window]) -> Pixels {
    let c = src.channels;
    let mut data = vec![0u8; out_w * out_h * c];
    let half = 1i32 << (PRECISION_BITS - 1);
    for y in 0..out_h {
        for x in 0..out_w {
            for ch in 0..c {
                let mut sum = half;
                if horizontal {
                    let w = &ws[x];
                    let row = y * src.width * c;
                    for (k, &wt) in w.weights.iter().enumerate() {
                        sum += i32::from(src.data[row + (w.start + k) * c + ch]) * wt;
                    }
                } else {
                    let w = &ws[y];
                    for (k, &wt) in w.weights.iter().enumerate() {
                        sum += i32::from(src.data[((w.start + k) * src.width + x) * c + ch]) * wt;
                    }
                }
                data[(y * out_w + x) * c + ch] = clip8(sum);
            }
        }
    }
    Pixels {
        height: out_h,
        width: out_w,
        channels: c,
        data,
    }
}

/// Pillow's nearest-neighbour source indices along one axis.
fn nearest_indices(in_size: usize, out_size: usize) -> Vec<usize> {
    let step = in_size as f64 / out_size as f64;
    let mut pos = step * 0.5;
    (0..out_size)
        .map(|_| {
            // Accumulated, not multiplied, as Pillow does: the two can differ in the last bit
            // exactly where a position lands on a pixel boundary.
            let i = (pos.max(0.0) as usize).min(in_size.saturating_sub(1));
            pos += step;
            i
        })
        .collect()
}

/// Resizes `src` to `out_h` x `out_w` (both at least 1; `src` non-empty).
pub(crate) fn resize(src: Pixels, out_h: usize, out_w: usize, interp: Interpolation) -> Pixels {
    if src.height == out_h && src.width == out_w {
        return src;
    }
    let Some(support) = interp.support() else {
        let xs = nearest_indices(src.width, out_w);
        let ys = nearest_indices(src.height, out_h);
        let c = src.channels;
        let mut data = Vec::with_capacity(out_h * out_w * c);
        for &y in &ys {
            for &x in &xs {
                let at = (y * src.width + x) * c;
                data.extend_from_slice(&src.data[at..at + c]);
            }
        }
        return Pixels {
            height: out_h,
            width: out_w,
            channels: c,
            data,
        };
    };
    // Each pass is skipped when its axis keeps its size, as in Pillow: a pass at scale 1 is
    // the identity anyway, and skipping it saves a copy.
    let mut img = src;
    if img.width != out_w {
        let ws = windows(img.width, out_w, interp, support);
        img = pass(&img, out_w, img.height, true, &ws);
    }
    if img.height != out_h {
        let ws = windows(img.height, out_h, interp, support);
        img = pass(&img, img.width, out_h, false, &ws);
    }
    img
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grey(height: usize, width: usize, data: Vec<u8>) -> Pixels {
        Pixels {
            height,
            width,
            channels: 1,
            data,
        }
    }

    #[test]
    fn area_halving_averages_each_pair_rounding_half_up() {
        // BOX from 4 to 2 columns: each output is the mean of two inputs; (10+21)/2 = 15.5
        // rounds to 16 (the fixed-point sum starts at one half).
        let out = resize(
            grey(1, 4, vec![10, 21, 100, 200]),
            1,
            2,
            Interpolation::Area,
        );
        assert_eq!(out.data, vec![16, 150]);
    }

    #[test]
    fn bilinear_downscaling_is_antialiased() {
        // 4 -> 2 with the triangle filter widened to support 2: output 0 has centre 1.0 and
        // weights 0.75, 0.75, 0.25 on inputs 0, 1, 2 (normalised by 1.75), so the far pixel
        // still counts: (0*0.75 + 0*0.75 + 175*0.25) / 1.75 = 25.
        let out = resize(
            grey(1, 4, vec![0, 0, 175, 175]),
            1,
            2,
            Interpolation::Bilinear,
        );
        assert_eq!(out.data, vec![25, 150]);
    }

    #[test]
    fn bilinear_upscaling_interpolates_between_centres() {
        // 2 -> 4: output centres at input positions 0.25, 0.75, 1.25, 1.75 (minus the 0.5 of
        // the pixel centre): weights clamp at the edges, so 0, 25, 75, 100.
        let out = resize(grey(1, 2, vec![0, 100]), 1, 4, Interpolation::Bilinear);
        assert_eq!(out.data, vec![0, 25, 75, 100]);
    }

    #[test]
    fn nearest_picks_the_pixel_under_each_output_centre() {
        let out = resize(
            grey(1, 5, vec![1, 2, 3, 4, 5]),
            1,
            2,
            Interpolation::Nearest,
        );
        // Centres at 1.25 and 3.75.
        assert_eq!(out.data, vec![2, 4]);
        let out = resize(grey(2, 1, vec![7, 9]), 3, 1, Interpolation::Nearest);
        assert_eq!(out.data, vec![7, 9, 9]);
    }

    #[test]
    fn channels_are_resampled_independently() {
        let src = Pixels {
            height: 1,
            width: 2,
            channels: 3,
            data: vec![0, 10, 200, 100, 10, 0],
        };
        let out = resize(src, 2, 1, Interpolation::Area);
        assert_eq!(out.data, vec![50, 10, 100, 50, 10, 100]);
    }
}
