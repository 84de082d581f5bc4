//! `nn.flatten` (ONNX Flatten): a 2-D view `[prod(dims[..axis]), prod(dims[axis..])]`. Ports:
//! `0` -> `0`. Attribute `axis` (i64, default 1, in `-rank..=rank`).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{check_rank, dim_product, tensor_value};
use crate::ops::nn::{Inputs, attr_i64, tensor_out};
use crate::tensor::{TensorType, checked_elements};
use crate::value::Value;

#[derive(Debug)]
struct Flatten {
    inputs: Inputs,
    rank: usize,
    axis: usize,
}

impl Kernel for Flatten {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        check_rank(&x, self.rank, "input")?;
        let outer = checked_elements(&x.shape[..self.axis], "input")?;
        let inner = checked_elements(&x.shape[self.axis..], "input")?;
        Ok(vec![tensor_value(vec![outer, inner], x.data.clone())?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let x = inputs.ty(0).clone();
    let rank = x.rank();
    let a = attr_i64(ctx, "axis", 1)?;
    let r = rank as i64;
    if a < -r || a > r {
        return Err(ctx.err(format!("axis {a} is out of range for rank {rank}")));
    }
    let axis = if a < 0 { (a + r) as usize } else { a as usize };
    let shape = vec![dim_product(&x.shape[..axis]), dim_product(&x.shape[axis..])];
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: x.dtype,
            shape,
        },
    )?;
    Ok(Built {
        kernel: Box::new(Flatten { inputs, rank, axis }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, run};
    use keel_bundle::Attr;

    #[test]
    fn axes_before_and_after_the_split_multiply() {
        let x = f32s(&[2, 3, 4], &[0.; 24]);
        let shape = |axis: i64| {
            run(
                "nn.flatten",
                vec![("axis", Attr::I64(axis))],
                std::slice::from_ref(&x),
            )
            .unwrap()[0]
                .shape
                .clone()
        };
        assert_eq!(shape(0), vec![1, 24]);
        assert_eq!(shape(1), vec![2, 12]);
        assert_eq!(shape(3), vec![24, 1]);
        assert_eq!(shape(-1), vec![6, 4]);
        assert!(run("nn.flatten", vec![("axis", Attr::I64(4))], &[x]).is_err());
    }
}
