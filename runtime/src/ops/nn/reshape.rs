//! `nn.reshape` (ONNX Reshape, opset 14+): the same elements under another shape. Ports: `0`
//! data, `1` shape (i64/i32 1-D) -> `0`. Attribute `allowzero` (i64, default 0): with 0, a 0
//! in `shape` copies the input's dimension at that position; with 1 it is a real 0. One entry
//! may be -1: inferred from the element count.
//!
//! With a constant `shape` the output type is exact at load, symbolic dimensions included
//! (`[batch, 3, 4]` reshaped by `[0, -1]` is `[batch, 12]`); otherwise its rank is the
//! length of `shape` and its dimensions are unknown.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{
    check_rank, const_ints, int_input, port_ints, tensor_value, unknown_dims,
};
use crate::ops::nn::{Inputs, attr_i64, shape_error, tensor_out};
use crate::tensor::{Dim, TensorType, checked_elements};
use crate::value::Value;

#[derive(Debug)]
struct Reshape {
    inputs: Inputs,
    rank: usize,
    allowzero: bool,
    /// The shape input when known at load.
    spec: Option<Vec<i64>>,
}

/// The output shape of reshaping `input` by `spec` (ONNX's rules), or why not.
fn resolve(input: &[usize], spec: &[i64], allowzero: bool) -> Result<Vec<usize>, String> {
    let total = checked_elements(input, "data").map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        match s {
            -1 if infer.is_some() => return Err("more than one -1".into()),
            -1 => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allowzero => out.push(
                *input
                    .get(i)
                    .ok_or_else(|| format!("a 0 at position {i} past the input's rank"))?,
            ),
            s if s < 0 => return Err(format!("the negative size {s}")),
            s => out.push(usize::try_from(s).map_err(|_| format!("the size {s}"))?),
        }
    }
    if allowzero && infer.is_some() && spec.contains(&0) {
        return Err("both a 0 and a -1 with allowzero".into());
    }
    let known = out
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("an overflowing size")?;
    match infer {
        Some(i) => {
            if known == 0 || total % known != 0 {
                return Err(format!("{total} elements cannot fill {spec:?}"));
            }
            out[i] = total / known;
        }
        None if known != total => return Err(format!("{total} elements cannot fill {spec:?}")),
        None => {}
    }
    Ok(out)
}

/// The planned output of a constant `spec` on an input whose dims may be symbolic.
fn plan(ctx: &BuildCtx<'_>, x: &[Dim], spec: &[i64], allowzero: bool) -> Result<Vec<Dim>, Error> {
    if let Some(known) = x.iter().map(Dim::known).collect::<Option<Vec<_>>>() {
        let out = resolve(&known, spec, allowzero)
            .map_err(|m| ctx.err(format!("cannot reshape {known:?}: {m}")))?;
        return Ok(out.into_iter().map(Dim::Known).collect());
    }
    let mut out = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &s) in spec.iter().enumerate() {
        out.push(match s {
            -1 if infer.is_none() => {
                infer = Some(i);
                Dim::Known(1)
            }
            0 if !allowzero => x
                .get(i)
                .cloned()
                .ok_or_else(|| ctx.err(format!("a 0 at position {i} past the input's rank")))?,
            s if s >= 0 => Dim::Known(s as usize),
            s => return Err(ctx.err(format!("shape {spec:?} has the invalid entry {s}"))),
        });
    }
    if let Some(i) = infer {
        // Cancel each symbolic output dim against the same symbol in the input: what remains
        // of the input must then be known for the -1 to be.
        let mut rest: Vec<Dim> = x.to_vec();
        let mut other = 1usize;
        let mut ok = true;
        for (j, d) in out.iter().enumerate() {
            if j == i {
                continue;
            }
            match d {
                Dim::Known(n) => other = other.saturating_mul(*n),
                Dim::Sym(_) => match rest.iter().position(|r| r == d) {
                    Some(p) => {
                        rest.remove(p);
                    }
                    None => ok = false,
                },
            }
        }
        let left: Option<usize> = rest
            .iter()
            .map(Dim::known)
            .try_fold(1usize, |a, d| a.checked_mul(d?));
        out[i] = match left {
            Some(n) if ok && other != 0 && n % other == 0 => Dim::Known(n / other),
            _ => Dim::unknown(),
        };
    }
    Ok(out)
}

impl Kernel for Reshape {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        check_rank(&x, self.rank, "data")?;
        let spec = match &self.spec {
            Some(s) => s.clone(),
            None => port_ints(&self.inputs, inputs, 1, "shape")?,
        };
        let shape = resolve(&x.shape, &spec, self.allowzero).map_err(|m| {
            shape_error(
                "data",
                format!("a shape {spec:?} can take ({m})"),
                format!("{:?}", x.shape),
            )
        })?;
        Ok(vec![tensor_value(shape, x.data.clone())?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 2, 2)?;
    let x = inputs.ty(0).clone();
    let allowzero = match attr_i64(ctx, "allowzero", 0)? {
        0 => false,
        1 => true,
        v => return Err(ctx.err(format!("allowzero must be 0 or 1, found {v}"))),
    };
    let len = int_input(ctx, inputs.ty(1), "shape")?;
    let spec = const_ints(ctx, 1);
    let shape = match &spec {
        Some(s) => plan(ctx, &x.shape, s, allowzero)?,
        None => unknown_dims(
            len.ok_or_else(|| ctx.err("`shape` must be known at load or have a known length"))?,
        ),
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
        kernel: Box::new(Reshape {
            inputs,
            rank: x.rank(),
            allowzero,
            spec,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use super::resolve;
    use crate::ops::nn::testing::{f32s, i64s, run};
    use keel_bundle::Attr;

    #[test]
    fn minus_one_is_inferred_and_zero_copies() {
        let x = f32s(&[2, 3, 4], &[0.; 24]);
        let out = run("nn.reshape", vec![], &[x.clone(), i64s(&[2], &[-1, 4])]).unwrap();
        assert_eq!(out[0].shape, vec![6, 4]);
        let out = run("nn.reshape", vec![], &[x.clone(), i64s(&[3], &[0, 0, -1])]).unwrap();
        assert_eq!(out[0].shape, vec![2, 3, 4]);
        let out = run("nn.reshape", vec![], &[x, i64s(&[2], &[2, -1])]).unwrap();
        assert_eq!(out[0].shape, vec![2, 12]);
    }

    #[test]
    fn allowzero_makes_zero_a_size() {
        let x = f32s(&[0, 3, 4], &[]);
        let out = run(
            "nn.reshape",
            vec![("allowzero", Attr::I64(1))],
            &[x, i64s(&[3], &[3, 4, 0])],
        )
        .unwrap();
        assert_eq!(out[0].shape, vec![3, 4, 0]);
        assert!(resolve(&[0, 3], &[0, -1], true).is_err());
    }

    #[test]
    fn impossible_shapes_are_refused() {
        let x = f32s(&[2, 3], &[0.; 6]);
        assert!(run("nn.reshape", vec![], &[x.clone(), i64s(&[1], &[5])]).is_err());
        assert!(run("nn.reshape", vec![], &[x.clone(), i64s(&[2], &[-1, -1])]).is_err());
        assert!(run("nn.reshape", vec![], &[x.clone(), i64s(&[2], &[-1, 4])]).is_err());
        assert!(run("nn.reshape", vec![], &[x, i64s(&[2], &[-2, 3])]).is_err());
        assert!(resolve(&[2, 3], &[0, 0, 0], false).is_err());
    }
}
