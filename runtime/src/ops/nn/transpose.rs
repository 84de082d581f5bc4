//! `nn.transpose` (ONNX Transpose): permutes axes, output axis `i` being input axis
//! `perm[i]`. Ports: `0` -> `0`. Attribute `perm` (i64s, a permutation of `0..rank`; default
//! the reversed axes).

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::layout::{check_rank, strided, take, tensor_value};
use crate::ops::nn::{Inputs, attr_i64s, strides, tensor_out};
use crate::tensor::TensorType;
use crate::value::Value;

#[derive(Debug)]
struct Transpose {
    inputs: Inputs,
    perm: Vec<usize>,
}

impl Kernel for Transpose {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        check_rank(&x, self.perm.len(), "data")?;
        let st = strides(&x.shape);
        let shape: Vec<usize> = self.perm.iter().map(|&p| x.shape[p]).collect();
        let steps: Vec<isize> = self.perm.iter().map(|&p| st[p] as isize).collect();
        let idx = strided(&shape, &steps, 0)?;
        Ok(vec![tensor_value(shape, take(&x.data, &idx)?)?])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let x = inputs.ty(0).clone();
    let rank = x.rank();
    let perm: Vec<usize> = match ctx.opt_attr("perm") {
        None => (0..rank).rev().collect(),
        Some(_) => {
            let p = attr_i64s(ctx, "perm")?;
            let mut seen = vec![false; rank];
            let mut out = Vec::with_capacity(rank);
            for &v in &p {
                match usize::try_from(v).ok().filter(|&u| u < rank) {
                    Some(u) if !seen[u] => {
                        seen[u] = true;
                        out.push(u);
                    }
                    _ => {
                        return Err(
                            ctx.err(format!("perm {p:?} is not a permutation of 0..{rank}"))
                        );
                    }
                }
            }
            if out.len() != rank {
                return Err(ctx.err(format!("perm {p:?} is not a permutation of 0..{rank}")));
            }
            out
        }
    };
    let shape = perm.iter().map(|&p| x.shape[p].clone()).collect();
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype: x.dtype,
            shape,
        },
    )?;
    Ok(Built {
        kernel: Box::new(Transpose { inputs, perm }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{f32s, i64s, run};
    use keel_bundle::Attr;

    #[test]
    fn the_default_reverses_the_axes() {
        let x = f32s(&[2, 3], &[1., 2., 3., 4., 5., 6.]);
        let out = run("nn.transpose", vec![], &[x]).unwrap();
        assert_eq!(out[0], f32s(&[3, 2], &[1., 4., 2., 5., 3., 6.]));
    }

    #[test]
    fn a_permutation_moves_axes() {
        // x[i][j][k] = 100i + 10j + k with shape [2, 1, 3]; perm [2, 0, 1] -> [3, 2, 1].
        let x = i64s(&[2, 1, 3], &[0, 1, 2, 100, 101, 102]);
        let out = run(
            "nn.transpose",
            vec![("perm", Attr::I64s(vec![2, 0, 1]))],
            std::slice::from_ref(&x),
        );
        assert_eq!(out.unwrap()[0], i64s(&[3, 2, 1], &[0, 100, 1, 101, 2, 102]));
        for bad in [vec![0, 1], vec![0, 0, 1], vec![0, 1, 3]] {
            assert!(
                run(
                    "nn.transpose",
                    vec![("perm", Attr::I64s(bad))],
                    std::slice::from_ref(&x)
                )
                .is_err()
            );
        }
    }
}
