//! `nn.one_hot` (ONNX OneHot): a one-hot encoding along a new axis. Ports: `0` indices (any
//! numeric dtype; floats truncated), `1` depth (one positive number, truncated), `2` values
//! (two elements `[off, on]`, any dtype) -> `0` of values' dtype, indices' shape with `depth`
//! inserted at `axis`. Attribute `axis` (i64, default -1, in `-(r+1)..=r` for indices of rank
//! r). An index in `-depth..depth` counts from the end when negative; one outside gives a row
//! of `off` (ONNX's rule).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{const_ints, take, tensor_value};
use crate::ops::nn::{Inputs, attr_i64, shape_error, tensor_out};
use crate::tensor::{Dim, TensorType, checked_elements};
use crate::value::Value;

#[derive(Debug)]
struct OneHot {
    inputs: Inputs,
    /// The axis of the output (already resolved against its rank).
    axis: usize,
    rank: usize,
}

impl Kernel for OneHot {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let ind = self.inputs.req(inputs, 0)?;
        let depth_t = self.inputs.req(inputs, 1)?;
        let vals = self.inputs.req(inputs, 2)?;
        if ind.rank() != self.rank {
            return Err(shape_error(
                "indices",
                format!("rank {}", self.rank),
                format!("{:?}", ind.shape),
            ));
        }
        let depth = match depth_t.data.to_i64_vec().as_slice() {
            [d] if *d > 0 => *d as usize,
            other => {
                return Err(shape_error(
                    "depth",
                    "one positive number",
                    format!("{other:?}"),
                ));
            }
        };
        if vals.len() != 2 {
            return Err(shape_error(
                "values",
                "two elements",
                format!("{:?}", vals.shape),
            ));
        }
        let mut shape = ind.shape.clone();
        shape.insert(self.axis, depth);
        checked_elements(&shape, "output")?;
        let inner: usize = ind.shape[self.axis..].iter().product();
        let ks = ind.data.to_i64_vec();
        let d = depth as i64;
        // Output element (o, c, i) is `on` (values[1]) when index (o, i) resolves to c.
        let mut idx = Vec::with_capacity(ks.len().saturating_mul(depth));
        let outer = ks.len().checked_div(inner).unwrap_or(0);
        for o in 0..outer {
            for c in 0..d {
                for i in 0..inner {
                    let k = ks.get(o * inner + i).copied().unwrap_or(-1 - d);
                    let k = if k < 0 { k + d } else { k };
                    idx.push(usize::from(k == c));
                }
            }
        }
        Ok(vec![tensor_value(shape, take(&vals.data, &idx)?)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 3, 3)?;
    let ind = inputs.ty(0).clone();
    let vals = inputs.ty(2);
    for (t, what) in [(&ind, "indices"), (inputs.ty(1), "depth")] {
        if !t.dtype.is_tensor_element() || t.dtype == keel_bundle::DType::Bool {
            return Err(ctx.err(format!("{what} must be numeric, found {t}")));
        }
    }
    if !vals.dtype.is_tensor_element() || vals.rank() != 1 {
        return Err(ctx.err(format!(
            "values must be a 1-D [off, on] tensor, found {vals}"
        )));
    }
    let r = ind.rank() as i64;
    let axis = attr_i64(ctx, "axis", -1)?;
    if axis < -(r + 1) || axis > r {
        return Err(ctx.err(format!("axis {axis} is out of range for rank {}", r + 1)));
    }
    let axis = if axis < 0 { axis + r + 1 } else { axis } as usize;
    let depth = match const_ints(ctx, 1).as_deref() {
        Some([d]) if *d > 0 => Dim::Known(*d as usize),
        Some(other) => return Err(ctx.err(format!("depth must be positive, found {other:?}"))),
        None => Dim::unknown(),
    };
    let mut shape = ind.shape.clone();
    shape.insert(axis, depth);
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: vals.dtype,
            shape,
        },
    )?;
    Ok(Built {
        kernel: Box::new(OneHot {
            inputs,
            axis,
            rank: ind.rank(),
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use keel_bundle::Attr;

    #[test]
    fn encodes_along_the_axis() {
        let ind = i64s(&[3], &[0, -1, 5]);
        let depth = i64s(&[], &[3]);
        let vals = f32s(&[2], &[-1., 2.]);
        // Default axis -1: rows; -1 is the last class; 5 is out of range (all off).
        let out = run(
            "nn.one_hot",
            vec![],
            &[ind.clone(), depth.clone(), vals.clone()],
        );
        assert_eq!(
            out.unwrap()[0],
            f32s(&[3, 3], &[2., -1., -1., -1., -1., 2., -1., -1., -1.])
        );
        // Axis 0: the transpose.
        let out = run(
            "nn.one_hot",
            vec![("axis", Attr::I64(0))],
            &[ind, depth, vals],
        );
        assert_eq!(
            out.unwrap()[0],
            f32s(&[3, 3], &[2., -1., -1., -1., -1., -1., -1., 2., -1.])
        );
    }
}
