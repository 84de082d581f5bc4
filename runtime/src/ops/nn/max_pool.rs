//! `nn.max_pool`: ONNX MaxPool over any number of spatial axes. Ports: `0` X
//! `[N, C, D1, ...]` -> `0` Y `[N, C, O1, ...]` (the `Indices` output is not implemented: a plan
//! error). Attributes: `auto_pad`, `ceil_mode` (0), `dilations`, `kernel_shape` (required),
//! `pads`, `storage_order` (only 0, which matters for `Indices` alone), `strides`.
//!
//! Pads never win: a window's maximum is over the taps inside X. Dtypes: f32, f64, f16, bf16,
//! i64, i32, i8, u8, compared as they are.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::window::{Placement, Window, pool_plan, pool_shape};
use crate::ops::nn::{Inputs, attr_i64, shape_error, tensor_out};
use crate::tensor::{Element, Tensor, TensorData};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct MaxPool {
    inputs: Inputs,
    window: Window,
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let (inputs, window, ty) = pool_plan(ctx)?;
    if matches!(
        ty.dtype,
        DType::Bool | DType::Utf8 | DType::ListUtf8 | DType::Binary
    ) {
        return Err(ctx.err(format!("does not take {} tensors", ty.dtype)));
    }
    if ctx.has_output("1") {
        return Err(ctx.err("the `Indices` output (port 1) is not supported"));
    }
    if attr_i64(ctx, "storage_order", 0)? != 0 {
        return Err(ctx.err("`storage_order` 1 is not supported"));
    }
    let out = tensor_out(ctx, "0", ty)?;
    Ok(Built {
        kernel: Box::new(MaxPool { inputs, window }),
        outputs: vec![out],
    })
}

impl Kernel for MaxPool {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        let data = match &x.data {
            TensorData::F32(v) => self.pool(&x.shape, v)?,
            TensorData::F64(v) => self.pool(&x.shape, v)?,
            TensorData::F16(v) => self.pool(&x.shape, v)?,
            TensorData::Bf16(v) => self.pool(&x.shape, v)?,
            TensorData::I64(v) => self.pool(&x.shape, v)?,
            TensorData::I32(v) => self.pool(&x.shape, v)?,
            TensorData::I8(v) => self.pool(&x.shape, v)?,
            TensorData::U8(v) => self.pool(&x.shape, v)?,
            TensorData::Bool(_) => return Err(shape_error("X", "a numeric tensor", "bool")),
        };
        Ok(vec![Value::Tensor(data)])
    }
}

impl MaxPool {
    fn pool<T: Element + PartialOrd>(&self, shape: &[usize], x: &[T]) -> Result<Tensor, Error> {
        let (p, out_shape) = pool_shape(&self.window, shape)?;
        let planes = shape[0] * shape[1];
        let in_size: usize = shape[2..].iter().product();
        let out_size: usize = p.out.iter().product();
        let mut out = vec![T::default(); planes * out_size];
        if out_size > 0 && shape.len() == 4 {
            // Images: the window's rows and columns as two loops, no tap lists.
            for (plane, y) in out.chunks_mut(out_size).enumerate() {
                let xs = &x[plane * in_size..(plane + 1) * in_size];
                self.pool_plane_2d(xs, shape[2], shape[3], &p, y);
            }
        } else if out_size > 0 {
            for (plane, y) in out.chunks_mut(out_size).enumerate() {
                let xs = &x[plane * in_size..(plane + 1) * in_size];
                self.window.each_window(&shape[2..], &p, |oi, taps, _| {
                    let mut best: Option<T> = None;
                    for &t in taps {
                        let v = xs[t];
                        // NaN never compares greater, so it only wins as the first tap.
                        if best.is_none_or(|b| v > b) {
                            best = Some(v);
                        }
                    }
                    y[oi] = best.unwrap_or_default();
                });
            }
        }
        Tensor::new(out_shape, out)
    }

    /// One `h x w` plane of a 2-D pooling into `y` (the placement's output size): the taps of
    /// each window in the same order as [`Window::each_window`] gives them (rows, then columns),
    /// so a NaN wins exactly as there; taps in the padding are skipped.
    fn pool_plane_2d<T: Element + PartialOrd>(
        &self,
        xs: &[T],
        h: usize,
        w: usize,
        p: &Placement,
        y: &mut [T],
    ) {
        let win = &self.window;
        let (kh, kw) = (win.kernel[0], win.kernel[1]);
        let (sh, sw) = (win.strides[0], win.strides[1]);
        let (dh, dw) = (win.dilations[0], win.dilations[1]);
        let (bh, bw) = (p.begin[0] as isize, p.begin[1] as isize);
        let (oh_n, ow_n) = (p.out[0], p.out[1]);
        // Output columns whose whole window lies inside the input: `ow * sw - bw >= 0` and
        // `ow * sw - bw + (kw - 1) * dw < w`.
        let col_span = (kw - 1) * dw;
        let ow_lo = (bw.max(0) as usize).div_ceil(sw.max(1)).min(ow_n);
        let ow_hi = if w + (bw.max(0) as usize) > col_span {
            ((w + bw.max(0) as usize - col_span - 1) / sw.max(1) + 1).min(ow_n)
        } else {
            0
        }
        .max(ow_lo);
        for oh in 0..oh_n {
            let i0 = (oh * sh) as isize - bh;
            let rows_inside = i0 >= 0 && (i0 as usize) + (kh - 1) * dh < h;
            let y_row = &mut y[oh * ow_n..(oh + 1) * ow_n];
            for (ow, out) in y_row.iter_mut().enumerate() {
                if rows_inside && (ow_lo..ow_hi).contains(&ow) {
                    // Every tap inside: the first tap starts the maximum (so a NaN there
                    // stays, as below), no padding checks.
                    let j0 = ow * sw - bw as usize;
                    let top = i0 as usize * w + j0;
                    let mut best = xs[top];
                    for a in 0..kh {
                        let base = top + a * dh * w;
                        for b in 0..kw {
                            let v = xs[base + b * dw];
                            if v > best {
                                best = v;
                            }
                        }
                    }
                    *out = best;
                    continue;
                }
                let mut best: Option<T> = None;
                for a in 0..kh {
                    let i = (oh * sh + a * dh) as isize - bh;
                    if i < 0 || i as usize >= h {
                        continue;
                    }
                    let row = &xs[i as usize * w..(i as usize + 1) * w];
                    for b in 0..kw {
                        let j = (ow * sw + b * dw) as isize - bw;
                        if j < 0 || j as usize >= w {
                            continue;
                        }
                        let v = row[j as usize];
                        if best.is_none_or(|m| v > m) {
                            best = Some(v);
                        }
                    }
                }
                *out = best.unwrap_or_default();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, run, run_n};
    use crate::tensor::Tensor;
    use keel_bundle::Attr;

    #[test]
    fn windows_strides_and_pads() {
        // 4x4 of 0..16, 2x2 windows, stride 2: the bottom-right of each block.
        let x = f32s(
            &[1, 1, 4, 4],
            &(0..16).map(|v| v as f32).collect::<Vec<_>>(),
        );
        let y = run(
            "nn.max_pool",
            vec![
                ("kernel_shape", Attr::I64s(vec![2, 2])),
                ("strides", Attr::I64s(vec![2, 2])),
            ],
            std::slice::from_ref(&x),
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 2, 2], &[5., 7., 13., 15.]), 0.0);
        // Negative values with a pad: the pad does not contribute a 0.
        let neg = f32s(&[1, 1, 2], &[-3., -1.]);
        let y = run(
            "nn.max_pool",
            vec![
                ("kernel_shape", Attr::I64s(vec![2])),
                ("pads", Attr::I64s(vec![1, 1])),
            ],
            &[neg],
        )
        .unwrap();
        assert_close(&y[0], &f32s(&[1, 1, 3], &[-3., -1., -1.]), 0.0);
    }

    #[test]
    fn ceil_mode_and_bytes() {
        // 5 wide, window 2, stride 2: floor gives 2 outputs, ceil 3 (the last one partial).
        let x = Tensor::new(vec![1, 1, 5], vec![1u8, 9, 3, 4, 7]).unwrap();
        let y = run(
            "nn.max_pool",
            vec![
                ("kernel_shape", Attr::I64s(vec![2])),
                ("strides", Attr::I64s(vec![2])),
                ("ceil_mode", Attr::I64(1)),
            ],
            &[x],
        )
        .unwrap();
        assert_eq!(y[0].as_slice::<u8>().unwrap(), &[9, 4, 7]);
    }

    #[test]
    fn indices_are_refused() {
        let x = f32s(&[1, 1, 2], &[1., 2.]);
        let e = run_n(
            "nn.max_pool",
            vec![("kernel_shape", Attr::I64s(vec![2]))],
            &[x],
            2,
        );
        assert!(e.is_err());
    }
}
