//! `nn.reduce`: reduces a tensor over some axes (ONNX `ReduceSum`, `ReduceMean`, `ReduceMax`,
//! `ReduceMin`, `ReduceProd`, `ReduceL1`, `ReduceL2`, `ReduceLogSum`, `ReduceLogSumExp`,
//! `ReduceSumSquare`, opset 18+: the axes are an input). Ports: `0` data, optional `1` axes
//! (i64, 1-D); `0` out.
//!
//! Attributes: `fn` (str: `sum mean max min prod l1 l2 log_sum log_sum_exp sum_square`),
//! `keepdims` (i64, default 1), `noop_with_empty_axes` (i64, default 0: empty or unbound
//! axes reduce every axis; 1: they leave the data as it is).
//!
//! Dtypes: floats (accumulated in f64; f16/bf16 too), i64, i32, i8, u8 (accumulated in i64,
//! wrapping; `mean l2 log_sum log_sum_exp` through f64, truncated back), bool for `max`/`min`.
//! Reducing an empty set gives the identity: 0 for sums, 1 for `prod`, -inf for `max`,
//! `log_sum` and `log_sum_exp`, +inf for `min`. `log_sum_exp` subtracts the maximum first.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{checked_len, dtype_error};
use crate::ops::nn::cast::cast_data;
use crate::ops::nn::{Inputs, attr_i64, broadcast_index, norm_axis, norm_axis_at, tensor_out};
use crate::tensor::{Dim, Tensor, TensorData, TensorType, checked_elements};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RFn {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    LogSum,
    LogSumExp,
    SumSquare,
}

/// Accumulates `x` into `out` (one slot per output element; `map[i]` is element i's slot).
fn reduce_f64(f: RFn, x: &[f64], map: &[usize], n_out: usize) -> Vec<f64> {
    let init = match f {
        RFn::Prod => 1.0,
        RFn::Max | RFn::LogSumExp => f64::NEG_INFINITY,
        RFn::Min => f64::INFINITY,
        _ => 0.0,
    };
    let mut acc = vec![init; n_out];
    let mut count = vec![0usize; n_out];
    for (&v, &o) in x.iter().zip(map) {
        let a = &mut acc[o];
        count[o] += 1;
        match f {
            RFn::Sum | RFn::Mean | RFn::LogSum => *a += v,
            RFn::Prod => *a *= v,
            RFn::L1 => *a += v.abs(),
            RFn::L2 | RFn::SumSquare => *a += v * v,
            // NaN propagates: once the slot is NaN no comparison replaces it.
            RFn::Max | RFn::LogSumExp => {
                if v > *a || v.is_nan() {
                    *a = v
                }
            }
            RFn::Min => {
                if v < *a || v.is_nan() {
                    *a = v
                }
            }
        }
    }
    match f {
        RFn::Mean => {
            for (a, &c) in acc.iter_mut().zip(&count) {
                *a /= c as f64;
            }
        }
        RFn::L2 => acc.iter_mut().for_each(|a| *a = a.sqrt()),
        RFn::LogSum => acc.iter_mut().for_each(|a| *a = a.ln()),
        RFn::LogSumExp => {
            // acc holds each slot's maximum; sum exp(x - max) in a second pass.
            let mut sums = vec![0.0; n_out];
            for (&v, &o) in x.iter().zip(map) {
                sums[o] += (v - acc[o]).exp();
            }
            for (a, s) in acc.iter_mut().zip(sums) {
                // An infinite (or NaN) maximum is the answer itself: -inf for an empty set.
                if a.is_finite() {
                    *a += s.ln();
                }
            }
        }
        _ => {}
    }
    acc
}

fn reduce_i64(f: RFn, x: &[i64], map: &[usize], n_out: usize) -> Vec<i64> {
    let init = match f {
        RFn::Prod => 1,
        RFn::Max => i64::MIN,
        RFn::Min => i64::MAX,
        _ => 0,
    };
    let mut acc = vec![init; n_out];
    for (&v, &o) in x.iter().zip(map) {
        let a = &mut acc[o];
        *a = match f {
            RFn::Prod => a.wrapping_mul(v),
            RFn::Max => (*a).max(v),
            RFn::Min => (*a).min(v),
            RFn::L1 => a.wrapping_add(v.wrapping_abs()),
            RFn::SumSquare => a.wrapping_add(v.wrapping_mul(v)),
            _ => a.wrapping_add(v),
        };
    }
    acc
}

/// The output shape (with reduced axes kept as 1) and whether each axis is reduced.
fn reduced(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect()
}

#[derive(Debug)]
struct Reduce {
    inputs: Inputs,
    f: RFn,
    keepdims: bool,
    noop: bool,
    dtype: DType,
}

impl Kernel for Reduce {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        if x.dtype() != self.dtype {
            return Err(dtype_error("data", self.dtype, x.dtype()));
        }
        checked_len(&x, "data")?;
        let axes = match self.inputs.get(inputs, 1)? {
            Some(a) => a
                .data
                .to_i64_vec()
                .into_iter()
                .map(|v| norm_axis_at(v, x.rank(), "axes"))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        if axes.is_empty() && self.noop {
            return Ok(vec![Value::Tensor(x.into_owned())]);
        }
        let axes: Vec<usize> = if axes.is_empty() {
            (0..x.rank()).collect()
        } else {
            axes
        };
        let kept = reduced(&x.shape, &axes);
        let n_out = checked_elements(&kept, "output")?;
        // For every input element, its output slot.
        let map = broadcast_index(&kept, &x.shape);
        let ints = matches!(
            self.dtype,
            DType::I64 | DType::I32 | DType::I8 | DType::U8 | DType::Bool
        );
        let through_f64 = matches!(self.f, RFn::Mean | RFn::L2 | RFn::LogSum | RFn::LogSumExp);
        let data = if ints && !through_f64 {
            TensorData::I64(reduce_i64(self.f, &x.data.to_i64_vec(), &map, n_out).into())
        } else {
            TensorData::F64(reduce_f64(self.f, &x.data.to_f64_vec(), &map, n_out).into())
        };
        let data = cast_data(&data, self.dtype).unwrap_or(data);
        let shape = if self.keepdims {
            kept
        } else {
            (0..x.rank())
                .filter(|i| !axes.contains(i))
                .map(|i| x.shape[i])
                .collect()
        };
        Ok(vec![Value::Tensor(Tensor::from_data(shape, data)?)])
    }
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 2)?;
    let name = ctx.str("fn")?;
    let f = match name {
        "sum" => RFn::Sum,
        "mean" => RFn::Mean,
        "max" => RFn::Max,
        "min" => RFn::Min,
        "prod" => RFn::Prod,
        "l1" => RFn::L1,
        "l2" => RFn::L2,
        "log_sum" => RFn::LogSum,
        "log_sum_exp" => RFn::LogSumExp,
        "sum_square" => RFn::SumSquare,
        other => return Err(ctx.err(format!("unknown fn `{other}`"))),
    };
    let keepdims = attr_i64(ctx, "keepdims", 1)? != 0;
    let noop = attr_i64(ctx, "noop_with_empty_axes", 0)? != 0;
    let x = inputs.ty(0).clone();
    let ok = match x.dtype {
        DType::Bool => matches!(f, RFn::Max | RFn::Min),
        d => d.is_tensor_element(),
    };
    if !ok {
        return Err(ctx.err(format!("`{name}` does not take {}", x.dtype)));
    }
    let rank = x.rank();
    // The axes, when known at load: `Some(empty)` for none bound.
    let axes: Option<Vec<usize>> = match inputs.opt(1) {
        None => Some(Vec::new()),
        Some(t) => {
            if !matches!(t.dtype, DType::I64 | DType::I32) || t.rank() != 1 {
                return Err(ctx.err(format!("axes must be a 1-D integer tensor, found {t}")));
            }
            match ctx.constant_input("1") {
                Some(c) => Some(
                    c.data
                        .to_i64_vec()
                        .into_iter()
                        .map(|a| norm_axis(ctx, a, rank))
                        .collect::<Result<_, _>>()?,
                ),
                None => None,
            }
        }
    };
    let shape: Vec<Dim> = match &axes {
        Some(a) if a.is_empty() && noop => x.shape.clone(),
        Some(a) => {
            let all = a.is_empty();
            (0..rank)
                .filter_map(|i| match (all || a.contains(&i), keepdims) {
                    (true, true) => Some(Dim::Known(1)),
                    (true, false) => None,
                    (false, _) => Some(x.shape[i].clone()),
                })
                .collect()
        }
        // Axes only known when a batch arrives: the rank is known when dims are kept, or when
        // the axes' count is.
        None if keepdims => vec![Dim::unknown(); rank],
        None => {
            let n = inputs
                .opt(1)
                .and_then(|t| t.shape[0].known())
                .filter(|&n| n > 0 && n <= rank);
            let n = n.ok_or_else(|| {
                ctx.err("axes computed at score time need keepdims = 1 or a known count")
            })?;
            vec![Dim::unknown(); rank - n]
        }
    };
    let dtype = x.dtype;
    let out = tensor_out(ctx, "0", TensorType { dtype, shape })?;
    Ok(Built {
        kernel: Box::new(Reduce {
            inputs,
            f,
            keepdims,
            noop,
            dtype,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use crate::ops::nn::testing::{assert_close, f32s, i64s, run, run_opt};
    use crate::tensor::Tensor;
    use keel_bundle::Attr;

    fn red(f: &str, keep: i64, x: &Tensor, axes: Option<&Tensor>) -> Tensor {
        let attrs = vec![("fn", Attr::Str(f.into())), ("keepdims", Attr::I64(keep))];
        run_opt("nn.reduce", attrs, &[Some(x), axes], 1)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn every_fn_over_one_axis() {
        let x = f32s(&[2, 3], &[1.0, 2.0, 3.0, -1.0, 0.5, 2.0]);
        let ax = i64s(&[1], &[1]);
        let g = |f| red(f, 0, &x, Some(&ax));
        assert_eq!(g("sum").shape, vec![2]);
        assert_close(&g("sum"), &f32s(&[2], &[6.0, 1.5]), 1e-6);
        assert_close(&g("mean"), &f32s(&[2], &[2.0, 0.5]), 1e-6);
        assert_close(&g("max"), &f32s(&[2], &[3.0, 2.0]), 0.0);
        assert_close(&g("min"), &f32s(&[2], &[1.0, -1.0]), 0.0);
        assert_close(&g("prod"), &f32s(&[2], &[6.0, -1.0]), 1e-6);
        assert_close(&g("l1"), &f32s(&[2], &[6.0, 3.5]), 1e-6);
        assert_close(&g("l2"), &f32s(&[2], &[14f32.sqrt(), 5.25f32.sqrt()]), 1e-6);
        assert_close(&g("sum_square"), &f32s(&[2], &[14.0, 5.25]), 1e-6);
        assert_close(&g("log_sum"), &f32s(&[2], &[6f32.ln(), 1.5f32.ln()]), 1e-6);
        let lse = |v: &[f32]| v.iter().map(|x| x.exp()).sum::<f32>().ln();
        assert_close(
            &g("log_sum_exp"),
            &f32s(&[2], &[lse(&[1.0, 2.0, 3.0]), lse(&[-1.0, 0.5, 2.0])]),
            1e-5,
        );
    }

    #[test]
    fn log_sum_exp_is_stable() {
        let x = f32s(&[2], &[1000.0, 1000.0]);
        let out = red("log_sum_exp", 1, &x, None);
        assert_eq!(out.shape, vec![1]);
        assert_close(&out, &f32s(&[1], &[1000.0 + 2f32.ln()]), 1e-3);
    }

    #[test]
    fn axes_keepdims_and_noop() {
        let x = f32s(&[2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        let s = red("sum", 1, &x, Some(&i64s(&[2], &[0, -1])));
        assert_eq!(s.shape, vec![1, 2, 1]);
        assert_eq!(
            s.as_slice::<f32>().unwrap(),
            &[1.0 + 2.0 + 5.0 + 6.0, 3.0 + 4.0 + 7.0 + 8.0]
        );
        let all = red("sum", 0, &x, None);
        assert_eq!(all.shape, Vec::<usize>::new());
        assert_eq!(all.as_slice::<f32>().unwrap(), &[36.0]);
        let attrs = vec![
            ("fn", Attr::Str("sum".into())),
            ("noop_with_empty_axes", Attr::I64(1)),
        ];
        let same = run("nn.reduce", attrs, &[x.clone(), i64s(&[0], &[])]).unwrap();
        assert_eq!(same[0], x);
        assert!(
            run(
                "nn.reduce",
                vec![("fn", Attr::Str("sum".into()))],
                &[x, i64s(&[1], &[3])]
            )
            .is_err()
        );
    }

    #[test]
    fn empty_sets_give_identities() {
        let x = f32s(&[2, 0], &[]);
        let ax = i64s(&[1], &[1]);
        assert_eq!(
            red("sum", 0, &x, Some(&ax)).as_slice::<f32>().unwrap(),
            &[0.0, 0.0]
        );
        assert_eq!(
            red("prod", 0, &x, Some(&ax)).as_slice::<f32>().unwrap(),
            &[1.0, 1.0]
        );
        let m = red("log_sum_exp", 0, &x, Some(&ax));
        assert_eq!(m.as_slice::<f32>().unwrap(), &[f32::NEG_INFINITY; 2]);
    }

    #[test]
    fn integers_and_bools() {
        let x = i64s(&[3], &[5, -7, 2]);
        assert_eq!(red("sum", 0, &x, None).as_slice::<i64>().unwrap(), &[0]);
        assert_eq!(red("max", 0, &x, None).as_slice::<i64>().unwrap(), &[5]);
        assert_eq!(red("mean", 0, &x, None).as_slice::<i64>().unwrap(), &[0]);
        assert_eq!(red("l1", 0, &x, None).as_slice::<i64>().unwrap(), &[14]);
        let b = Tensor::new(vec![2], vec![true, false]).unwrap();
        assert_eq!(
            red("min", 0, &b, None).as_slice::<bool>().unwrap(),
            &[false]
        );
    }
}
