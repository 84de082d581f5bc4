//! Loss functions: each row's loss and its gradient with respect to the network's raw outputs,
//! with PyTorch's formulas (the functional form named on each variant, `reduction="none"`).
//!
//! The network sums row losses and their gradients ([`crate::net::Net::loss_and_grad`]);
//! dividing by the batch's size, as PyTorch's default `reduction="mean"` does, is the caller's
//! step, so that gradients of disjoint row sets can be summed first.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::net::{Real, Task};

/// A training loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// `nn.CrossEntropyLoss` on logits: `-log_softmax(x)[y]`. Classification with 2 or more
    /// outputs; the label is the class index.
    CrossEntropy,
    /// `nn.BCEWithLogitsLoss`: `(1 - y)·x - log_sigmoid(x)`, in that stable form. Classification
    /// with one output (the positive class's logit); the label is in `[0, 1]` (0 or 1 for hard
    /// labels).
    BinaryCrossEntropy,
    /// `nn.MSELoss`: `(x - y)²`. Regression.
    Mse,
    /// `nn.PoissonNLLLoss(log_input=True, full=False)`: `exp(x) - y·x`, the output being the log
    /// of the rate. Regression; the label is a non-negative count (any non-negative value).
    Poisson,
}

impl Loss {
    /// The loss's name, as in configs.
    pub fn name(self) -> &'static str {
        match self {
            Loss::CrossEntropy => "cross_entropy",
            Loss::BinaryCrossEntropy => "binary_cross_entropy",
            Loss::Mse => "mse",
            Loss::Poisson => "poisson",
        }
    }

    /// Whether this loss fits a network with `task` and `outputs`.
    pub fn check(self, task: Task, outputs: usize) -> Result<(), Error> {
        let fail = |reason| {
            Err(Error::LossTask {
                loss: self.name(),
                task: match task {
                    Task::Classification => "classification",
                    Task::Regression => "regression",
                },
                outputs,
                reason,
            })
        };
        match (self, task) {
            (Loss::CrossEntropy, Task::Classification) if outputs < 2 => {
                fail("it needs 2 or more class logits (binary_cross_entropy takes one)")
            }
            (Loss::BinaryCrossEntropy, Task::Classification) if outputs != 1 => {
                fail("it needs exactly one logit (cross_entropy takes several)")
            }
            (Loss::CrossEntropy | Loss::BinaryCrossEntropy, Task::Classification) => Ok(()),
            (Loss::Mse | Loss::Poisson, Task::Regression) if outputs == 1 => Ok(()),
            (Loss::Mse | Loss::Poisson, Task::Regression) => fail("it needs exactly one output"),
            (Loss::CrossEntropy | Loss::BinaryCrossEntropy, Task::Regression) => {
                fail("it is a classification loss")
            }
            (Loss::Mse | Loss::Poisson, Task::Classification) => fail("it is a regression loss"),
        }
    }

    /// Row `row`'s loss for raw outputs `x` and `label`, and, when `grad` is given, its
    /// gradient with respect to `x` written (not added) there. The label is checked first; `row`
    /// only names it in the error. `x` must have the width [`Loss::check`] accepted.
    pub fn row<T: Real>(
        self,
        row: u64,
        x: &[T],
        label: f32,
        grad: Option<&mut [T]>,
    ) -> Result<T, Error> {
        let bad = |reason: String| Error::Label {
            row,
            label,
            loss: self.name(),
            reason,
        };
        if !label.is_finite() {
            return Err(bad("it must be finite".into()));
        }
        let y = T::from_f32(label);
        match self {
            Loss::CrossEntropy => {
                if label < 0.0 || label.fract() != 0.0 || label as usize >= x.len() {
                    return Err(bad(format!("it must be a class index in 0..{}", x.len())));
                }
                let class = label as usize;
                // log_softmax as PyTorch computes it: shift by the maximum, then subtract
                // log(sum(exp(shifted))), so no exp overflows.
                let m = x
                    .iter()
                    .copied()
                    .fold(x[0], |a, b| if b > a { b } else { a });
                let s = x.iter().fold(T::ZERO, |acc, &v| acc + (v - m).exp());
                let log_s = s.ln();
                if let Some(g) = grad {
                    for (gi, &xi) in g.iter_mut().zip(x) {
                        *gi = (xi - m).exp() / s;
                    }
                    g[class] -= T::ONE;
                }
                Ok(-((x[class] - m) - log_s))
            }
            Loss::BinaryCrossEntropy => {
                if !(0.0..=1.0).contains(&label) {
                    return Err(bad("it must lie in [0, 1]".into()));
                }
                let v = x[0];
                // log_sigmoid(v) = min(v, 0) - log1p(exp(-|v|)): exp never overflows.
                let min0 = if v < T::ZERO { v } else { T::ZERO };
                let log_sigmoid = min0 - (-v.abs()).exp().ln_1p();
                if let Some(g) = grad {
                    g[0] = sigmoid(v) - y;
                }
                Ok((T::ONE - y) * v - log_sigmoid)
            }
            Loss::Mse => {
                let d = x[0] - y;
                if let Some(g) = grad {
                    g[0] = d + d;
                }
                Ok(d * d)
            }
            Loss::Poisson => {
                if label < 0.0 {
                    return Err(bad("it must be a non-negative count".into()));
                }
                let e = x[0].exp();
                if let Some(g) = grad {
                    g[0] = e - y;
                }
                Ok(e - y * x[0])
            }
        }
    }
}

/// `1 / (1 + e^-x)`, with exp's argument kept non-positive so neither branch overflows.
pub(crate) fn sigmoid<T: Real>(x: T) -> T {
    if x >= T::ZERO {
        T::ONE / (T::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::ONE + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Loss; 4] = [
        Loss::CrossEntropy,
        Loss::BinaryCrossEntropy,
        Loss::Mse,
        Loss::Poisson,
    ];

    fn value(loss: Loss, x: &[f64], label: f32) -> f64 {
        loss.row(0, x, label, None).unwrap()
    }

    #[test]
    fn values_match_the_textbook_formulas() {
        let ln2 = std::f64::consts::LN_2;
        // Equal logits: every class has probability 1/n.
        assert!((value(Loss::CrossEntropy, &[0.5, 0.5], 1.0) - ln2).abs() < 1e-15);
        let ce = value(Loss::CrossEntropy, &[1.0, 2.0, 3.0], 0.0);
        let expect = -(1f64.exp() / (1f64.exp() + 2f64.exp() + 3f64.exp())).ln();
        assert!((ce - expect).abs() < 1e-14);
        // -log(sigmoid(0)) = ln 2 either way; -log(1 - sigmoid(2)) for label 0.
        assert!((value(Loss::BinaryCrossEntropy, &[0.0], 1.0) - ln2).abs() < 1e-15);
        let bce = value(Loss::BinaryCrossEntropy, &[2.0], 0.0);
        assert!((bce - -(1.0 - 1.0 / (1.0 + (-2f64).exp())).ln()).abs() < 1e-14);
        assert_eq!(value(Loss::Mse, &[3.0], 1.0), 4.0);
        assert!((value(Loss::Poisson, &[1.0], 2.0) - (1f64.exp() - 2.0)).abs() < 1e-15);
    }

    #[test]
    fn extreme_logits_stay_finite() {
        let ce = value(Loss::CrossEntropy, &[1000.0, -1000.0], 1.0);
        assert!((ce - 2000.0).abs() < 1e-9);
        let x = [100f32];
        let mut g = [0f32];
        let bce = Loss::BinaryCrossEntropy
            .row(0, &x, 0.0, Some(&mut g))
            .unwrap();
        assert_eq!((bce, g[0]), (100.0, 1.0));
        assert_eq!(value(Loss::BinaryCrossEntropy, &[-100.0], 1.0), 100.0);
    }

    #[test]
    fn gradients_match_central_differences() {
        let cases: [(Loss, &[f64], f32); 6] = [
            (Loss::CrossEntropy, &[0.3, -1.2, 2.0], 2.0),
            (Loss::CrossEntropy, &[0.3, -1.2], 0.0),
            (Loss::BinaryCrossEntropy, &[-0.7], 1.0),
            (Loss::BinaryCrossEntropy, &[1.3], 0.25),
            (Loss::Mse, &[0.4], -1.5),
            (Loss::Poisson, &[0.4], 3.0),
        ];
        for (loss, x, label) in cases {
            let mut g = vec![0f64; x.len()];
            loss.row(0, x, label, Some(&mut g)).unwrap();
            for i in 0..x.len() {
                let h = 1e-6;
                let (mut up, mut down) = (x.to_vec(), x.to_vec());
                up[i] += h;
                down[i] -= h;
                let fd = (value(loss, &up, label) - value(loss, &down, label)) / (2.0 * h);
                assert!(
                    (fd - g[i]).abs() < 1e-8,
                    "{loss:?} output {i}: analytic {} vs numeric {fd}",
                    g[i]
                );
            }
        }
    }

    #[test]
    fn invalid_labels_name_the_row() {
        let bad: [(Loss, &[f64], f32); 6] = [
            (Loss::CrossEntropy, &[0.0, 0.0], 2.0),
            (Loss::CrossEntropy, &[0.0, 0.0], -1.0),
            (Loss::CrossEntropy, &[0.0, 0.0], 0.5),
            (Loss::BinaryCrossEntropy, &[0.0], 1.5),
            (Loss::Poisson, &[0.0], -1.0),
            (Loss::Mse, &[0.0], f32::NAN),
        ];
        for (loss, x, label) in bad {
            let err = loss.row(17, x, label, None).unwrap_err();
            assert!(
                matches!(err, Error::Label { row: 17, .. }),
                "{loss:?} {label}"
            );
            assert!(err.to_string().contains("row 17"), "{err}");
        }
    }

    #[test]
    fn each_loss_fits_its_task_only() {
        use Task::{Classification as C, Regression as R};
        let ok = [
            (Loss::CrossEntropy, C, 3),
            (Loss::BinaryCrossEntropy, C, 1),
            (Loss::Mse, R, 1),
            (Loss::Poisson, R, 1),
        ];
        for (loss, task, outputs) in ok {
            loss.check(task, outputs).unwrap();
        }
        let bad = [
            (Loss::CrossEntropy, C, 1),
            (Loss::BinaryCrossEntropy, C, 2),
            (Loss::Mse, C, 1),
            (Loss::CrossEntropy, R, 1),
            (Loss::Poisson, R, 2),
        ];
        for (loss, task, outputs) in bad {
            assert!(matches!(
                loss.check(task, outputs),
                Err(Error::LossTask { .. })
            ));
        }
    }

    #[test]
    fn names_are_the_serde_names() {
        for loss in ALL {
            let json = serde_json::to_string(&loss).unwrap();
            assert_eq!(json, format!("\"{}\"", loss.name()));
            assert_eq!(serde_json::from_str::<Loss>(&json).unwrap(), loss);
        }
    }
}
