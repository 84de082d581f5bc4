//! `nn.depth_to_space` (ONNX DepthToSpace, SpaceToDepth): moves blocks between the channel
//! axis and the spatial axes of an NCHW tensor. Ports: `0` input (rank 4, any dtype) -> `0`.
//! Attributes: `fn` (str: `depth_to_space` [N, C, H, W] -> [N, C/b², H·b, W·b], or
//! `space_to_depth` [N, C, H, W] -> [N, C·b², H/b, W/b]), `blocksize` (i64 b >= 1), `mode`
//! (str, depth_to_space only: `DCR` (default) or `CRD`). Sizes that do not divide are refused
//! at load when known and are shape errors at score time.
//!
//! Each is ONNX's reshape to 6-D, transpose, reshape back, done as one strided copy.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{check_rank, strided, take, tensor_value};
use crate::ops::nn::{Inputs, shape_error, strides, tensor_out};
use crate::tensor::{Dim, TensorType};
use crate::value::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Dcr,
    Crd,
    ToDepth,
}

#[derive(Debug)]
struct DepthToSpace {
    inputs: Inputs,
    mode: Mode,
    b: usize,
}

/// The 6-D view of the input, the transpose, and the 4-D output shape, for `[n, c, h, w]`.
fn plan(
    mode: Mode,
    b: usize,
    [n, c, h, w]: [usize; 4],
) -> Option<([usize; 6], [usize; 6], [usize; 4])> {
    let bb = b.checked_mul(b)?;
    Some(match mode {
        Mode::Dcr => {
            (c % bb == 0).then_some(())?;
            let c2 = c / bb;
            (
                [n, b, b, c2, h, w],
                [0, 3, 4, 1, 5, 2],
                [n, c2, h.checked_mul(b)?, w.checked_mul(b)?],
            )
        }
        Mode::Crd => {
            (c % bb == 0).then_some(())?;
            let c2 = c / bb;
            (
                [n, c2, b, b, h, w],
                [0, 1, 4, 2, 5, 3],
                [n, c2, h.checked_mul(b)?, w.checked_mul(b)?],
            )
        }
        Mode::ToDepth => {
            (h % b == 0 && w % b == 0).then_some(())?;
            let (h2, w2) = (h / b, w / b);
            (
                [n, c, h2, b, w2, b],
                [0, 3, 5, 1, 2, 4],
                [n, c.checked_mul(bb)?, h2, w2],
            )
        }
    })
}

impl Kernel for DepthToSpace {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        check_rank(&x, 4, "input")?;
        let dims = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
        let (view, perm, out) = plan(self.mode, self.b, dims).ok_or_else(|| {
            shape_error(
                "input",
                format!(
                    "sizes divisible by blocksize {} (squared for channels)",
                    self.b
                ),
                format!("{:?}", x.shape),
            )
        })?;
        let st = strides(&view);
        let shape6: Vec<usize> = perm.iter().map(|&p| view[p]).collect();
        let st6: Vec<isize> = perm.iter().map(|&p| st[p] as isize).collect();
        let idx = strided(&shape6, &st6, 0)?;
        Ok(vec![tensor_value(out.to_vec(), take(&x.data, &idx)?)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let x = inputs.ty(0).clone();
    if x.rank() != 4 || !x.dtype.is_tensor_element() {
        return Err(ctx.err(format!("input must be a rank-4 tensor, found {x}")));
    }
    let b = usize::try_from(ctx.i64("blocksize")?)
        .ok()
        .filter(|&b| b >= 1)
        .ok_or_else(|| ctx.err("blocksize must be >= 1"))?;
    let mode = match (
        ctx.str("fn")?,
        ctx.opt_attr("mode").map(|_| ctx.str("mode")).transpose()?,
    ) {
        ("depth_to_space", None | Some("DCR")) => Mode::Dcr,
        ("depth_to_space", Some("CRD")) => Mode::Crd,
        ("space_to_depth", None) => Mode::ToDepth,
        (f, m) => return Err(ctx.err(format!("unsupported fn `{f}` with mode {m:?}"))),
    };
    // Each output dimension from its input dimension, where known.
    let (b2, s) = (b * b, &x.shape);
    let div = |d: &Dim, by: usize| -> Result<Dim, Error> {
        match d.known() {
            Some(v) if v % by != 0 => Err(ctx.err(format!("{x}: {v} is not divisible by {by}"))),
            Some(v) => Ok(Dim::Known(v / by)),
            None => Ok(Dim::unknown()),
        }
    };
    let mul = |d: &Dim, by: usize| match d.known().and_then(|v| v.checked_mul(by)) {
        Some(v) => Dim::Known(v),
        None => Dim::unknown(),
    };
    let shape = match mode {
        Mode::Dcr | Mode::Crd => vec![s[0].clone(), div(&s[1], b2)?, mul(&s[2], b), mul(&s[3], b)],
        Mode::ToDepth => vec![s[0].clone(), mul(&s[1], b2), div(&s[2], b)?, div(&s[3], b)?],
    };
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: x.dtype,
            shape,
        },
    )?;
    Ok(Built {
        kernel: Box::new(DepthToSpace { inputs, mode, b }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{i64s, run};
    use keel_bundle::Attr;

    fn d2s(f: &str, mode: Option<&str>, x: &crate::tensor::Tensor) -> crate::tensor::Tensor {
        let mut a = vec![("fn", Attr::Str(f.into())), ("blocksize", Attr::I64(2))];
        if let Some(m) = mode {
            a.push(("mode", Attr::Str(m.into())));
        }
        run("nn.depth_to_space", a, std::slice::from_ref(x))
            .unwrap()
            .remove(0)
    }

    #[test]
    fn blocks_move_between_depth_and_space() {
        // Four channels of one pixel each, values = channel number.
        let x = i64s(&[1, 4, 1, 1], &[0, 1, 2, 3]);
        // DCR: channel k goes to (k / 2, k % 2).
        assert_eq!(
            d2s("depth_to_space", None, &x),
            i64s(&[1, 1, 2, 2], &[0, 1, 2, 3])
        );
        // CRD with 8 channels = 2 output channels: channel c*4 + k goes to (c, k / 2, k % 2);
        // DCR instead interleaves: channel k*2 + c.
        let x8 = i64s(&[1, 8, 1, 1], &[0, 1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(
            d2s("depth_to_space", Some("CRD"), &x8),
            i64s(&[1, 2, 2, 2], &[0, 1, 2, 3, 4, 5, 6, 7])
        );
        assert_eq!(
            d2s("depth_to_space", None, &x8),
            i64s(&[1, 2, 2, 2], &[0, 2, 4, 6, 1, 3, 5, 7])
        );
        // space_to_depth inverts DCR.
        let s = i64s(&[1, 1, 2, 2], &[0, 1, 2, 3]);
        assert_eq!(
            d2s("space_to_depth", None, &s),
            i64s(&[1, 4, 1, 1], &[0, 1, 2, 3])
        );
        let bad = i64s(&[1, 3, 1, 1], &[0, 1, 2]);
        let e = run(
            "nn.depth_to_space",
            vec![
                ("fn", Attr::Str("depth_to_space".into())),
                ("blocksize", Attr::I64(2)),
            ],
            &[bad],
        );
        assert!(e.is_err());
    }
}
