//! `nn.where`: picks elements from two tensors by a condition (ONNX `Where`), with NumPy
//! broadcasting of all three. Ports: `0` condition (bool), `1` X, `2` Y (one dtype, any), `0`
//! out: X where the condition holds, else Y.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{checked_len, dtype_error};
use crate::ops::nn::{Inputs, broadcast_dims, broadcast_index, broadcast_shape, tensor_out};
use crate::tensor::{Element, Tensor, TensorData, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

fn select<T: Element>(
    c: &Tensor,
    cv: &[bool],
    x: (&[T], &[usize]),
    y: (&[T], &[usize]),
) -> Result<Tensor, Error> {
    let shape = broadcast_shape(&broadcast_shape(&c.shape, x.1)?, y.1)?;
    checked_elements(&shape, "output")?;
    let data = if c.shape == shape && x.1 == shape.as_slice() && y.1 == shape.as_slice() {
        cv.iter()
            .zip(x.0.iter().zip(y.0))
            .map(|(&c, (&a, &b))| if c { a } else { b })
            .collect()
    } else {
        // In-range indices: every operand's length was checked against its shape.
        let (ic, ix, iy) = (
            broadcast_index(&c.shape, &shape),
            broadcast_index(x.1, &shape),
            broadcast_index(y.1, &shape),
        );
        ic.iter()
            .zip(ix.iter().zip(&iy))
            .map(|(&k, (&i, &j))| if cv[k] { x.0[i] } else { y.0[j] })
            .collect()
    };
    Ok(Tensor {
        shape,
        data: T::wrap(data),
    })
}

#[derive(Debug)]
struct Where {
    inputs: Inputs,
    dtype: DType,
}

impl Kernel for Where {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let c = self.inputs.req(inputs, 0)?;
        let x = self.inputs.req(inputs, 1)?;
        let y = self.inputs.req(inputs, 2)?;
        for (t, what) in [(&c, "condition"), (&x, "X"), (&y, "Y")] {
            checked_len(t, what)?;
        }
        let cv = c
            .as_slice::<bool>()
            .ok_or_else(|| dtype_error("condition", DType::Bool, c.dtype()))?;
        let (xs, ys) = (&x.shape[..], &y.shape[..]);
        macro_rules! pick {
            ($($v:ident),*) => {
                match (&x.data, &y.data) {
                    $((TensorData::$v(a), TensorData::$v(b)) => select(&c, cv, (a, xs), (b, ys))?,)*
                    _ => return Err(dtype_error("Y", self.dtype, y.dtype())),
                }
            };
        }
        let out = pick!(F32, F64, F16, Bf16, I64, I32, I8, U8, Bool);
        Ok(vec![Value::Tensor(out)])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 3, 3)?;
    let (c, x, y) = (inputs.ty(0), inputs.ty(1), inputs.ty(2));
    if c.dtype != DType::Bool {
        return Err(ctx.err(format!("the condition must be bool, found {}", c.dtype)));
    }
    if x.dtype != y.dtype {
        return Err(ctx.err(format!("X is {} but Y is {}", x.dtype, y.dtype)));
    }
    let shape = broadcast_dims(&c.shape, &x.shape)
        .and_then(|s| broadcast_dims(&s, &y.shape))
        .ok_or_else(|| ctx.err(format!("types {c}, {x} and {y} do not broadcast")))?;
    let dtype = x.dtype;
    let out = tensor_out(ctx, "0", TensorType { dtype, shape })?;
    Ok(Built {
        kernel: Box::new(Where { inputs, dtype }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use crate::tensor::Tensor;

    #[test]
    fn picks_by_condition_with_broadcasting() {
        let c = Tensor::new(vec![2, 2], vec![true, false, true, true]).unwrap();
        let x = f32s(&[2, 2], &[1.0, 2.0, 3.0, 4.0]);
        let y = f32s(&[2, 2], &[9.0, 8.0, 7.0, 6.0]);
        let out = run("nn.where", vec![], &[c.clone(), x, y]).unwrap();
        assert_eq!(out[0].as_slice::<f32>().unwrap(), &[1.0, 8.0, 3.0, 4.0]);
        let c = Tensor::new(vec![2, 1], vec![true, false]).unwrap();
        let out = run(
            "nn.where",
            vec![],
            &[c, i64s(&[3], &[1, 2, 3]), i64s(&[], &[0])],
        )
        .unwrap();
        assert_eq!(out[0].shape, vec![2, 3]);
        assert_eq!(out[0].as_slice::<i64>().unwrap(), &[1, 2, 3, 0, 0, 0]);
    }

    #[test]
    fn a_non_bool_condition_is_refused() {
        let x = f32s(&[1], &[1.0]);
        assert!(run("nn.where", vec![], &[x.clone(), x.clone(), x]).is_err());
    }
}
