//! `nn.unary`: an elementwise function of one tensor (ONNX's one-input math, logic and
//! activation ops). Ports: `0` in, `0` out (same shape).
//!
//! Attributes: `fn` (str), one of `abs neg exp log sqrt reciprocal floor ceil round sign sin
//! cos tan asin acos atan sinh cosh asinh acosh atanh erf not isnan isinf relu sigmoid tanh
//! softplus softsign identity hard_swish mish gelu leaky_relu elu selu celu hard_sigmoid
//! thresholded_relu bitwise_not shrink swish`; `alpha`, `beta`, `gamma` (f64, with ONNX's
//! defaults per function: LeakyRelu alpha 0.01, Elu 1, Selu alpha 1.6732632 gamma 1.0507010,
//! Celu 1, HardSigmoid alpha 0.2 beta 0.5, ThresholdedRelu 1, Swish 1); `bias`, `lambd`
//! (f64, shrink: defaults 0 and 0.5); `approximate` (str, gelu: `none` or
//! `tanh`); `detect_positive`, `detect_negative` (i64, isinf, default 1).
//!
//! Dtypes: the math on f32, f64 (each element computed in f64) and f16/bf16 (through f32);
//! `abs neg sign relu` also on i64, i32, i8, u8 (wrapping: `abs(-128i8)` is -128);
//! `bitwise_not` on integers; `not` on bool; `isnan isinf` output bool; `identity` any dtype.
//! `round` rounds half to even, as ONNX's.

use crate::error::Error;
use crate::op::{BuildCtx, Built, Kernel};
use crate::ops::nn::binary::{checked_len, dtype_error};
use crate::ops::nn::cast::{narrow, widen};
use crate::ops::nn::{Inputs, attr_f64, attr_i64, tensor_out};
use crate::tensor::{Element, Tensor, TensorData, TensorType};
use crate::value::Value;
use keel_bundle::DType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnFn {
    Abs,
    Neg,
    Exp,
    Log,
    Sqrt,
    Reciprocal,
    Floor,
    Ceil,
    Round,
    Sign,
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Asinh,
    Acosh,
    Atanh,
    Erf,
    Not,
    IsNan,
    IsInf,
    Relu,
    Sigmoid,
    Tanh,
    Softplus,
    Softsign,
    Identity,
    HardSwish,
    Mish,
    Gelu,
    LeakyRelu,
    Elu,
    Selu,
    Celu,
    HardSigmoid,
    ThresholdedRelu,
    BitwiseNot,
    Shrink,
    Swish,
}

const NAMES: &[(&str, UnFn)] = &[
    ("abs", UnFn::Abs),
    ("neg", UnFn::Neg),
    ("exp", UnFn::Exp),
    ("log", UnFn::Log),
    ("sqrt", UnFn::Sqrt),
    ("reciprocal", UnFn::Reciprocal),
    ("floor", UnFn::Floor),
    ("ceil", UnFn::Ceil),
    ("round", UnFn::Round),
    ("sign", UnFn::Sign),
    ("sin", UnFn::Sin),
    ("cos", UnFn::Cos),
    ("tan", UnFn::Tan),
    ("asin", UnFn::Asin),
    ("acos", UnFn::Acos),
    ("atan", UnFn::Atan),
    ("sinh", UnFn::Sinh),
    ("cosh", UnFn::Cosh),
    ("asinh", UnFn::Asinh),
    ("acosh", UnFn::Acosh),
    ("atanh", UnFn::Atanh),
    ("erf", UnFn::Erf),
    ("not", UnFn::Not),
    ("isnan", UnFn::IsNan),
    ("isinf", UnFn::IsInf),
    ("relu", UnFn::Relu),
    ("sigmoid", UnFn::Sigmoid),
    ("tanh", UnFn::Tanh),
    ("softplus", UnFn::Softplus),
    ("softsign", UnFn::Softsign),
    ("identity", UnFn::Identity),
    ("hard_swish", UnFn::HardSwish),
    ("mish", UnFn::Mish),
    ("gelu", UnFn::Gelu),
    ("leaky_relu", UnFn::LeakyRelu),
    ("elu", UnFn::Elu),
    ("selu", UnFn::Selu),
    ("celu", UnFn::Celu),
    ("hard_sigmoid", UnFn::HardSigmoid),
    ("thresholded_relu", UnFn::ThresholdedRelu),
    ("bitwise_not", UnFn::BitwiseNot),
    ("shrink", UnFn::Shrink),
    ("swish", UnFn::Swish),
];

/// The error function, to about 1e-15: `2/sqrt(pi) * exp(-x^2) * sum 2^n x^(2n+1) / (2n+1)!!`.
/// Every term is positive, so the series has no cancellation; beyond |x| = 6, erf is +-1 to
/// f64 precision.
pub(crate) fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a >= 6.0 {
        return 1f64.copysign(x);
    }
    let x2 = a * a;
    let (mut term, mut sum) = (a, a);
    // About 2 x^2 + 40 terms reach the last bit; 300 bounds the loop for |x| < 6.
    for n in 1..300 {
        term *= 2.0 * x2 / f64::from(2 * n + 1);
        sum += term;
        if term <= sum * 1e-17 {
            break;
        }
    }
    (std::f64::consts::FRAC_2_SQRT_PI * (-x2).exp() * sum).copysign(x)
}

fn sigmoid(x: f64) -> f64 {
    // The two forms keep exp's argument non-positive, so neither overflows.
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn softplus(x: f64) -> f64 {
    // log(1 + e^x) without overflow for large x.
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

/// The function's parameters (defaults resolved at build).
#[derive(Debug, Clone, Copy)]
struct Params {
    alpha: f64,
    beta: f64,
    gamma: f64,
    bias: f64,
    lambd: f64,
    gelu_tanh: bool,
    detect_pos: bool,
    detect_neg: bool,
}

impl UnFn {
    fn float(self, x: f64, p: &Params) -> f64 {
        use UnFn::*;
        match self {
            Abs => x.abs(),
            Neg => -x,
            Exp => x.exp(),
            Log => x.ln(),
            Sqrt => x.sqrt(),
            Reciprocal => 1.0 / x,
            Floor => x.floor(),
            Ceil => x.ceil(),
            Round => x.round_ties_even(),
            Sign => {
                if x == 0.0 || x.is_nan() {
                    x
                } else {
                    x.signum()
                }
            }
            Sin => x.sin(),
            Cos => x.cos(),
            Tan => x.tan(),
            Asin => x.asin(),
            Acos => x.acos(),
            Atan => x.atan(),
            Sinh => x.sinh(),
            Cosh => x.cosh(),
            Asinh => x.asinh(),
            Acosh => x.acosh(),
            Atanh => x.atanh(),
            Erf => erf(x),
            Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Sigmoid => sigmoid(x),
            Tanh => x.tanh(),
            Softplus => softplus(x),
            Softsign => x / (1.0 + x.abs()),
            HardSwish => x * (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Mish => x * softplus(x).tanh(),
            Gelu => {
                if p.gelu_tanh {
                    let c = (2.0 / std::f64::consts::PI).sqrt();
                    0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
                } else {
                    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
                }
            }
            LeakyRelu => {
                if x < 0.0 {
                    p.alpha * x
                } else {
                    x
                }
            }
            Elu => {
                if x < 0.0 {
                    p.alpha * x.exp_m1()
                } else {
                    x
                }
            }
            Selu => {
                if x <= 0.0 {
                    p.gamma * (p.alpha * x.exp() - p.alpha)
                } else {
                    p.gamma * x
                }
            }
            Celu => x.max(0.0) + (p.alpha * (x / p.alpha).exp_m1()).min(0.0),
            HardSigmoid => (p.alpha * x + p.beta).clamp(0.0, 1.0),
            ThresholdedRelu => {
                if x > p.alpha {
                    x
                } else {
                    0.0
                }
            }
            Shrink => {
                if x < -p.lambd {
                    x + p.bias
                } else if x > p.lambd {
                    x - p.bias
                } else {
                    0.0
                }
            }
            Swish => x * sigmoid(p.alpha * x),
            Identity | Not | IsNan | IsInf | BitwiseNot => x,
        }
    }

    fn float_pred(self, x: f64, p: &Params) -> bool {
        match self {
            UnFn::IsNan => x.is_nan(),
            _ => x.is_infinite() && ((x > 0.0 && p.detect_pos) || (x < 0.0 && p.detect_neg)),
        }
    }

    /// The integer functions, on the value widened to i64 (the caller narrows by wrapping).
    fn int(self, x: i64) -> i64 {
        match self {
            UnFn::Abs => x.wrapping_abs(),
            UnFn::Neg => x.wrapping_neg(),
            UnFn::Sign => x.signum(),
            UnFn::Relu => x.max(0),
            UnFn::BitwiseNot => !x,
            _ => x,
        }
    }

    fn takes_int(self) -> bool {
        matches!(
            self,
            UnFn::Abs | UnFn::Neg | UnFn::Sign | UnFn::Relu | UnFn::BitwiseNot | UnFn::Identity
        )
    }
}

/// An activation a layer op (`nn.gemm`, `nn.conv`) applies to its own output (attribute
/// `activation`), so that a layer is one pass: the same arithmetic as `nn.unary` with that
/// `fn` on the op's dtype (the importer fuses `Gemm`/`Conv` + `Relu`/`Sigmoid`/`Tanh` into it),
/// so fusing changes no bit of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `relu`.
    Relu,
    /// `sigmoid`.
    Sigmoid,
    /// `tanh`.
    Tanh,
}

impl Activation {
    /// The names the attribute takes (`nn.unary`'s `fn` names).
    pub(crate) const NAMES: &'static [&'static str] = &["relu", "sigmoid", "tanh"];

    /// The activation named `name`, if it is one of [`Activation::NAMES`].
    pub(crate) fn from_name(name: &str) -> Option<Activation> {
        match name {
            "relu" => Some(Activation::Relu),
            "sigmoid" => Some(Activation::Sigmoid),
            "tanh" => Some(Activation::Tanh),
            _ => None,
        }
    }

    /// The op's `activation` attribute, if set (a plan error naming it when it is not one of
    /// [`Activation::NAMES`]).
    pub(crate) fn read(ctx: &BuildCtx<'_>) -> Result<Option<Activation>, Error> {
        if ctx.opt_attr("activation").is_none() {
            return Ok(None);
        }
        let name = ctx.str("activation")?;
        Activation::from_name(name).map(Some).ok_or_else(|| {
            ctx.err(format!(
                "activation `{name}` is not one of {}",
                Activation::NAMES.join(", ")
            ))
        })
    }

    /// Applies the function to a layer's output computed in `T` (f32 or f64) for an op of
    /// `dtype`: an f16 or bf16 op's values are rounded to its dtype before the function reads
    /// them, as the unfused graph's `nn.unary` would read them.
    // A `Vec` rather than a slice: only a sized type downcasts to the concrete f32 or f64
    // buffer.
    #[allow(clippy::ptr_arg)]
    pub(crate) fn apply<T: crate::ops::nn::linalg::Real>(self, dtype: DType, out: &mut Vec<T>) {
        let any: &mut dyn std::any::Any = out;
        if let Some(v) = any.downcast_mut::<Vec<f64>>() {
            self.apply_f64(v);
        } else if let Some(v) = any.downcast_mut::<Vec<f32>>() {
            match dtype {
                DType::F16 => self.apply_f32(v, |x| half::f16::from_f32(x).to_f32()),
                DType::Bf16 => self.apply_f32(v, |x| half::bf16::from_f32(x).to_f32()),
                _ => self.apply_f32(v, |x| x),
            }
        }
    }

    /// Applies the function to f32 values in place; `round` first rounds each value to the
    /// op's storage dtype and back (f16, bf16: the unfused graph's activation reads the
    /// narrowed product).
    pub(crate) fn apply_f32(self, v: &mut [f32], round: impl Fn(f32) -> f32) {
        match self {
            // Tested on the rounded value, so a tiny negative that rounds to -0 stays -0.
            // A select on every element (not a conditional store), which vectorises.
            Activation::Relu => v
                .iter_mut()
                .for_each(|x| *x = if round(*x) < 0.0 { 0.0 } else { *x }),
            Activation::Sigmoid => v
                .iter_mut()
                .for_each(|x| *x = sigmoid(f64::from(round(*x))) as f32),
            Activation::Tanh => v
                .iter_mut()
                .for_each(|x| *x = f64::from(round(*x)).tanh() as f32),
        }
    }

    /// Applies the function to f64 values in place.
    pub(crate) fn apply_f64(self, v: &mut [f64]) {
        match self {
            Activation::Relu => v
                .iter_mut()
                .for_each(|x| *x = if *x < 0.0 { 0.0 } else { *x }),
            Activation::Sigmoid => v.iter_mut().for_each(|x| *x = sigmoid(*x)),
            Activation::Tanh => v.iter_mut().for_each(|x| *x = x.tanh()),
        }
    }
}

fn map_float<T: Element>(v: &[T], f: impl Fn(T) -> T) -> TensorData {
    T::wrap(v.iter().map(|&x| f(x)).collect())
}

#[derive(Debug)]
struct Unary {
    inputs: Inputs,
    f: UnFn,
    p: Params,
    dtype: DType,
}

impl Unary {
    fn apply(&self, x: &Tensor) -> Result<TensorData, Error> {
        let (f, p) = (self.f, &self.p);
        if f == UnFn::Identity {
            return Ok(x.data.clone());
        }
        Ok(match (&x.data, f) {
            (TensorData::F32(v), UnFn::IsNan | UnFn::IsInf) => {
                bool::wrap(v.iter().map(|&x| f.float_pred(f64::from(x), p)).collect())
            }
            (TensorData::F64(v), UnFn::IsNan | UnFn::IsInf) => {
                bool::wrap(v.iter().map(|&x| f.float_pred(x, p)).collect())
            }
            // The activations between layers, in f32 as they are (exact: no rounding involved),
            // without the per-element dispatch of the general path.
            (TensorData::F32(v), UnFn::Relu) => map_float(v, |x| if x < 0.0 { 0.0 } else { x }),
            (TensorData::F32(v), UnFn::LeakyRelu) => {
                let a = p.alpha as f32;
                map_float(v, |x| if x < 0.0 { a * x } else { x })
            }
            (TensorData::F32(v), _) => map_float(v, |x| f.float(f64::from(x), p) as f32),
            (TensorData::F64(v), _) => map_float(v, |x| f.float(x, p)),
            (TensorData::Bool(v), UnFn::Not) => bool::wrap(v.iter().map(|&x| !x).collect()),
            // Every keel integer type widens to i64; `as` narrows back by wrapping.
            (TensorData::I64(v), _) => map_float(v, |x| f.int(x)),
            (TensorData::I32(v), _) => map_float(v, |x| f.int(i64::from(x)) as i32),
            (TensorData::I8(v), _) => map_float(v, |x| f.int(i64::from(x)) as i8),
            (TensorData::U8(v), _) => map_float(v, |x| f.int(i64::from(x)) as u8),
            (other, _) => return Err(dtype_error("X", self.dtype, other.dtype())),
        })
    }
}

impl Kernel for Unary {
    fn eval(&self, inputs: &[&Value], _rows: usize) -> Result<Vec<Value>, Error> {
        let x = self.inputs.req(inputs, 0)?;
        if x.dtype() != self.dtype {
            return Err(dtype_error("X", self.dtype, x.dtype()));
        }
        checked_len(&x, "X")?;
        let wide = widen(&x);
        let out = Tensor {
            shape: x.shape.clone(),
            data: self.apply(&wide)?,
        };
        Ok(vec![Value::Tensor(narrow(out, self.dtype))])
    }
}

fn is_float(d: DType) -> bool {
    matches!(d, DType::F32 | DType::F64 | DType::F16 | DType::Bf16)
}

pub(crate) fn build(ctx: &BuildCtx<'_>) -> Result<Built, Error> {
    let inputs = Inputs::read(ctx, 1, 1)?;
    let name = ctx.str("fn")?;
    let f = NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, f)| f)
        .ok_or_else(|| ctx.err(format!("unknown fn `{name}`")))?;
    let x = inputs.ty(0);
    let d = x.dtype;
    let ok = match f {
        UnFn::Identity => d.is_tensor_element(),
        UnFn::Not => d == DType::Bool,
        UnFn::BitwiseNot => matches!(d, DType::I64 | DType::I32 | DType::I8 | DType::U8),
        _ if f.takes_int() => d.is_tensor_element() && d != DType::Bool,
        _ => is_float(d),
    };
    if !ok {
        return Err(ctx.err(format!("`{name}` does not take {d}")));
    }
    let (alpha0, beta0) = match f {
        UnFn::LeakyRelu => (0.01, 0.0),
        UnFn::Selu => (f64::from(1.673_263_2_f32), 0.0),
        UnFn::HardSigmoid => (0.2, 0.5),
        _ => (1.0, 0.0),
    };
    let approximate = match ctx.opt_attr("approximate") {
        None => "none",
        Some(_) => ctx.str("approximate")?,
    };
    let gelu_tanh = match approximate {
        "none" => false,
        "tanh" => true,
        other => return Err(ctx.err(format!("approximate must be none or tanh, found `{other}`"))),
    };
    let p = Params {
        alpha: attr_f64(ctx, "alpha", alpha0)?,
        beta: attr_f64(ctx, "beta", beta0)?,
        gamma: attr_f64(ctx, "gamma", f64::from(1.050_701_f32))?,
        bias: attr_f64(ctx, "bias", 0.0)?,
        lambd: attr_f64(ctx, "lambd", 0.5)?,
        gelu_tanh,
        detect_pos: attr_i64(ctx, "detect_positive", 1)? != 0,
        detect_neg: attr_i64(ctx, "detect_negative", 1)? != 0,
    };
    if f == UnFn::Celu && p.alpha == 0.0 {
        return Err(ctx.err("celu's alpha must not be 0"));
    }
    let dtype = if matches!(f, UnFn::IsNan | UnFn::IsInf) {
        DType::Bool
    } else {
        d
    };
    let out = tensor_out(
        ctx,
        "0",
        TensorType {
            dtype,
            shape: x.shape.clone(),
        },
    )?;
    Ok(Built {
        kernel: Box::new(Unary {
            inputs,
            f,
            p,
            dtype: d,
        }),
        outputs: vec![out],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::nn::testing::{assert_close, f32s, run};
    use keel_bundle::Attr;

    fn un(f: &str, attrs: Vec<(&str, Attr)>, x: &Tensor) -> Result<Tensor, Error> {
        let mut a = vec![("fn", Attr::Str(f.into()))];
        a.extend(attrs);
        run("nn.unary", a, std::slice::from_ref(x)).map(|mut v| v.remove(0))
    }

    fn f(name: &str, xs: &[f32]) -> Vec<f32> {
        un(name, vec![], &f32s(&[xs.len()], xs))
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .to_vec()
    }

    #[test]
    fn erf_matches_tabulated_values() {
        // Abramowitz & Stegun table 7.1.
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.5, 0.999_999_256_901_627_7),
        ] {
            assert!((erf(x) - want).abs() < 1e-14, "erf({x}) = {}", erf(x));
            assert!((erf(-x) + want).abs() < 1e-14);
        }
        assert_eq!(erf(10.0), 1.0);
    }

    #[test]
    fn math_and_rounding() {
        assert_eq!(
            f("round", &[0.5, 1.5, 2.5, -0.5, -1.5, 2.6]),
            vec![0.0, 2.0, 2.0, -0.0, -2.0, 3.0]
        );
        assert_eq!(f("sign", &[-3.0, 0.0, 2.0]), vec![-1.0, 0.0, 1.0]);
        assert_eq!(f("floor", &[-1.5, 1.5]), vec![-2.0, 1.0]);
        assert_eq!(f("ceil", &[-1.5, 1.5]), vec![-1.0, 2.0]);
        assert_eq!(f("reciprocal", &[4.0, -0.5]), vec![0.25, -2.0]);
        assert_eq!(f("sqrt", &[9.0]), vec![3.0]);
        assert_eq!(f("neg", &[1.0]), vec![-1.0]);
        assert!(f("log", &[-1.0])[0].is_nan());
    }

    #[test]
    fn shrink_and_swish() {
        let x = f32s(&[5], &[-2.0, -0.5, 0.0, 0.5, 2.0]);
        // Shrink with lambd 1, bias 0.5: |x| <= 1 -> 0, else x moved toward 0 by 0.5.
        let s = un(
            "shrink",
            vec![("lambd", Attr::F64(1.0)), ("bias", Attr::F64(0.5))],
            &x,
        )
        .unwrap();
        assert_eq!(s, f32s(&[5], &[-1.5, 0.0, 0.0, 0.0, 1.5]));
        // Defaults lambd 0.5 (strict inequality keeps +-0.5 at 0), bias 0.
        let s = un("shrink", vec![], &x).unwrap();
        assert_eq!(s, f32s(&[5], &[-2.0, 0.0, 0.0, 0.0, 2.0]));
        // Swish with alpha 2: x * sigmoid(2x); sigmoid(4) = 0.98201379, sigmoid(1) = 0.73105858.
        let w = un("swish", vec![("alpha", Attr::F64(2.0))], &x).unwrap();
        let want = [
            -2.0 * (1.0 - 0.982_013_8),
            -0.5 * (1.0 - 0.731_058_6),
            0.0,
            0.5 * 0.731_058_6,
            2.0 * 0.982_013_8,
        ];
        assert_close(&w, &f32s(&[5], &want), 1e-6);
    }

    #[test]
    fn activations_follow_their_definitions() {
        let x = [-2.0f32, -0.5, 0.0, 0.5, 2.0];
        let near = |got: Vec<f32>, want: Vec<f32>| {
            assert_close(&f32s(&[got.len()], &got), &f32s(&[want.len()], &want), 1e-6)
        };
        near(f("relu", &x), vec![0.0, 0.0, 0.0, 0.5, 2.0]);
        let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
        near(f("sigmoid", &x), x.iter().map(|&v| sig(v)).collect());
        near(
            f("softplus", &x),
            x.iter().map(|&v| (v.exp() + 1.0).ln()).collect(),
        );
        near(
            f("softsign", &x),
            x.iter().map(|&v| v / (1.0 + v.abs())).collect(),
        );
        near(
            f("hard_swish", &x),
            vec![
                -2.0 * (1.0 / 6.0),
                -0.5 * (0.5 - 1.0 / 12.0),
                0.0,
                0.5 * (0.5 + 1.0 / 12.0),
                2.0 * (0.5 + 1.0 / 3.0),
            ],
        );
        near(
            f("mish", &x),
            x.iter().map(|&v| v * (v.exp() + 1.0).ln().tanh()).collect(),
        );
        near(f("leaky_relu", &x), vec![-0.02, -0.005, 0.0, 0.5, 2.0]);
        near(
            f("elu", &x),
            vec![(-2f32).exp() - 1.0, (-0.5f32).exp() - 1.0, 0.0, 0.5, 2.0],
        );
        let (a, g) = (1.673_263_2f32, 1.050_701f32);
        near(
            f("selu", &x),
            x.iter()
                .map(|&v| {
                    if v <= 0.0 {
                        g * (a * v.exp() - a)
                    } else {
                        g * v
                    }
                })
                .collect(),
        );
        near(
            f("celu", &x),
            vec![(-2f32).exp() - 1.0, (-0.5f32).exp() - 1.0, 0.0, 0.5, 2.0],
        );
        near(f("hard_sigmoid", &x), vec![0.1, 0.4, 0.5, 0.6, 0.9]);
        near(f("thresholded_relu", &x), vec![0.0, 0.0, 0.0, 0.0, 2.0]);
        // gelu(1) = 0.5 (1 + erf(1 / sqrt 2)) = 0.8413447.
        near(f("gelu", &[1.0]), vec![0.841_344_7]);
        let t = un(
            "gelu",
            vec![("approximate", Attr::Str("tanh".into()))],
            &f32s(&[1], &[1.0]),
        )
        .unwrap();
        // 0.5 (1 + tanh(sqrt(2 / pi) (1 + 0.044715))) = 0.8411920.
        near(t.as_slice::<f32>().unwrap().to_vec(), vec![0.841_192]);
        let l = un(
            "leaky_relu",
            vec![("alpha", Attr::F64(0.1))],
            &f32s(&[1], &[-1.0]),
        )
        .unwrap();
        near(l.as_slice::<f32>().unwrap().to_vec(), vec![-0.1]);
    }

    #[test]
    fn predicates_output_bool() {
        let x = f32s(&[4], &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.0]);
        let nan = un("isnan", vec![], &x).unwrap();
        assert_eq!(
            nan.as_slice::<bool>().unwrap(),
            &[true, false, false, false]
        );
        let inf = un("isinf", vec![("detect_negative", Attr::I64(0))], &x).unwrap();
        assert_eq!(
            inf.as_slice::<bool>().unwrap(),
            &[false, true, false, false]
        );
        let b = Tensor::new(vec![2], vec![true, false]).unwrap();
        assert_eq!(
            un("not", vec![], &b).unwrap().as_slice::<bool>().unwrap(),
            &[false, true]
        );
        assert!(un("not", vec![], &x).is_err());
    }

    #[test]
    fn integers_wrap() {
        let x = Tensor::new(vec![3], vec![-128i8, -3, 5]).unwrap();
        assert_eq!(
            un("abs", vec![], &x).unwrap().as_slice::<i8>().unwrap(),
            &[-128, 3, 5]
        );
        assert_eq!(
            un("relu", vec![], &x).unwrap().as_slice::<i8>().unwrap(),
            &[0, 0, 5]
        );
        assert_eq!(
            un("sign", vec![], &x).unwrap().as_slice::<i8>().unwrap(),
            &[-1, -1, 1]
        );
        let u = Tensor::new(vec![2], vec![0u8, 0x0f]).unwrap();
        assert_eq!(
            un("bitwise_not", vec![], &u)
                .unwrap()
                .as_slice::<u8>()
                .unwrap(),
            &[0xff, 0xf0]
        );
        assert!(un("exp", vec![], &x).is_err());
    }

    #[test]
    fn halves_round_back() {
        use half::f16;
        let x = Tensor::new(vec![2], vec![f16::from_f32(4.0), f16::from_f32(-1.0)]).unwrap();
        let s = un("abs", vec![], &x).unwrap();
        assert_eq!(
            s.as_slice::<f16>().unwrap(),
            &[f16::from_f32(4.0), f16::from_f32(1.0)]
        );
    }
}
