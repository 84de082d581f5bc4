//! `nn.shape` (ONNX Shape, opset 15+): a tensor's shape as an i64 vector. Ports: `0` data ->
//! `0` (i64 1-D). Attributes `start` (i64, default 0), `end` (i64, default the rank): the
//! axes returned, negative counting from the end, clamped to `0..=rank`. When every returned
//! dimension is known at load the output is a constant ([`Kernel::constant_outputs`]), so
//! Shape -> Gather -> Concat -> Reshape chains plan exact shapes.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{check_rank, tensor_value};
use crate::ops::nn::{Inputs, attr_i64, tensor_out};
use crate::tensor::{Element, TensorType};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug)]
struct Shape {
    inputs: Inputs,
    rank: usize,
    start: usize,
    end: usize,
    /// The returned dimensions when all are known at load.
    known: Option<Vec<i64>>,
}

impl Kernel for Shape {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        check_rank(&x, self.rank, "data")?;
        let dims: Vec<i64> = x.shape[self.start..self.end]
            .iter()
            .map(|&d| d as i64)
            .collect();
        Ok(vec![tensor_value(vec![dims.len()], i64::wrap(dims))?])
    }

    fn constant_outputs(&self) -> Option<Vec<Value>> {
        let dims = self.known.clone()?;
        tensor_value(vec![dims.len()], i64::wrap(dims))
            .ok()
            .map(|v| vec![v])
    }
}

/// ONNX's clamping of `start`/`end` to `0..=rank`.
fn clamp(v: i64, rank: usize) -> usize {
    let r = rank as i64;
    (if v < 0 { v + r } else { v }).clamp(0, r) as usize
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let rank = inputs.ty(0).rank();
    let start = clamp(attr_i64(ctx, "start", 0)?, rank);
    let end = clamp(attr_i64(ctx, "end", rank as i64)?, rank).max(start);
    let out = tensor_out(ctx, "0", TensorType::known(DType::I64, &[end - start]))?;
    let known = inputs.ty(0).shape[start..end]
        .iter()
        .map(|d| d.known().and_then(|n| i64::try_from(n).ok()))
        .collect();
    Ok(Built {
        kernel: Box::new(Shape {
            inputs,
            rank,
            start,
            end,
            known,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use keel_bundle::Attr;

    #[test]
    fn the_shape_and_a_window_of_it() {
        let x = f32s(&[3, 4, 5], &[0.; 60]);
        let out = run("nn.shape", vec![], std::slice::from_ref(&x)).unwrap();
        assert_eq!(out[0], i64s(&[3], &[3, 4, 5]));
        let w = vec![("start", Attr::I64(-2)), ("end", Attr::I64(10))];
        assert_eq!(
            run("nn.shape", w, std::slice::from_ref(&x)).unwrap()[0],
            i64s(&[2], &[4, 5])
        );
        let w = vec![("start", Attr::I64(2)), ("end", Attr::I64(1))];
        assert_eq!(run("nn.shape", w, &[x]).unwrap()[0], i64s(&[0], &[]));
    }
}
