//! Learning-rate schedules, stepped **per epoch**: the rate for every optimizer step of epoch
//! `e` (counted from 0) is [`Schedule::lr_at`]`(base_lr, e)`. That is PyTorch's usual use, one
//! `scheduler.step()` after each epoch; the formulas are the closed forms of PyTorch's
//! schedulers (`StepLR`, `ExponentialLR`, `CosineAnnealingLR`, and `LinearLR` then another one
//! under `SequentialLR` for a warmup), computed in `f64` as Python does.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A learning-rate schedule, as a function of the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    /// The base rate throughout.
    Constant,
    /// `StepLR`: `base · gamma^⌊epoch / step_size⌋`.
    Step {
        /// Epochs between decays (≥ 1).
        step_size: u64,
        /// Factor per decay.
        gamma: f64,
    },
    /// `ExponentialLR`: `base · gamma^epoch`.
    Exponential {
        /// Factor per epoch.
        gamma: f64,
    },
    /// `CosineAnnealingLR`'s closed form:
    /// `eta_min + (base - eta_min)·(1 + cos(π·epoch/t_max))/2`. It reaches `eta_min` at
    /// `t_max` and, as PyTorch's, rises again after it (a cosine of period `2·t_max`).
    Cosine {
        /// Epochs from the base rate to `eta_min` (≥ 1).
        t_max: u64,
        /// The lowest rate.
        #[serde(default)]
        eta_min: f64,
    },
    /// `LinearLR(start_factor, end_factor=1, total_iters=epochs)` for the first `epochs`
    /// epochs (`base · (start_factor + (1 - start_factor)·epoch/epochs)`), then `then` with
    /// its epochs counted from 0 again (`SequentialLR` with one milestone).
    Warmup {
        /// Warmup epochs (≥ 1).
        epochs: u64,
        /// The first epoch's factor, in `(0, 1]`.
        start_factor: f64,
        /// The schedule after the warmup.
        then: Box<Schedule>,
    },
}

impl Schedule {
    /// Checks the schedule's fields against PyTorch's ranges.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |field, reason: String| {
            Err(Error::Config {
                what: "schedule",
                field,
                reason,
            })
        };
        let positive = |field, g: f64| {
            if g.is_finite() && g > 0.0 {
                Ok(())
            } else {
                bad(field, format!("is {g}: it must be > 0"))
            }
        };
        match self {
            Schedule::Constant => Ok(()),
            Schedule::Step { step_size, gamma } => {
                if *step_size == 0 {
                    return bad("step_size", "is 0: it must be >= 1".into());
                }
                positive("gamma", *gamma)
            }
            Schedule::Exponential { gamma } => positive("gamma", *gamma),
            Schedule::Cosine { t_max, eta_min } => {
                if *t_max == 0 {
                    return bad("t_max", "is 0: it must be >= 1".into());
                }
                if !(eta_min.is_finite() && *eta_min >= 0.0) {
                    return bad("eta_min", format!("is {eta_min}: it must be >= 0"));
                }
                Ok(())
            }
            Schedule::Warmup {
                epochs,
                start_factor,
                then,
            } => {
                if *epochs == 0 {
                    return bad("epochs", "is 0: it must be >= 1".into());
                }
                if !(*start_factor > 0.0 && *start_factor <= 1.0) {
                    return bad(
                        "start_factor",
                        format!("is {start_factor}: it must lie in (0, 1]"),
                    );
                }
                then.validate()
            }
        }
    }

    /// The learning rate for every optimizer step of epoch `epoch` (from 0).
    pub fn lr_at(&self, base_lr: f64, epoch: u64) -> f64 {
        let e = epoch as f64;
        match self {
            Schedule::Constant => base_lr,
            Schedule::Step { step_size, gamma } => {
                base_lr * gamma.powf((epoch / (*step_size).max(1)) as f64)
            }
            Schedule::Exponential { gamma } => base_lr * gamma.powf(e),
            Schedule::Cosine { t_max, eta_min } => {
                let t = (*t_max).max(1) as f64;
                eta_min + (base_lr - eta_min) * (1.0 + (std::f64::consts::PI * e / t).cos()) / 2.0
            }
            Schedule::Warmup {
                epochs,
                start_factor,
                then,
            } => {
                if epoch < *epochs {
                    base_lr * (start_factor + (1.0 - start_factor) * e / *epochs as f64)
                } else {
                    then.lr_at(base_lr, epoch - epochs)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-15 * b.abs().max(1.0)
    }

    #[test]
    fn closed_forms_at_known_points() {
        let step = Schedule::Step {
            step_size: 3,
            gamma: 0.5,
        };
        let got: Vec<f64> = (0..7).map(|e| step.lr_at(1.0, e)).collect();
        assert_eq!(got, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]);
        let exp = Schedule::Exponential { gamma: 0.9 };
        assert!(close(exp.lr_at(2.0, 2), 2.0 * 0.81));
        let cos = Schedule::Cosine {
            t_max: 10,
            eta_min: 0.1,
        };
        assert!(close(cos.lr_at(1.0, 0), 1.0));
        assert!(close(cos.lr_at(1.0, 5), 0.55));
        assert!(close(cos.lr_at(1.0, 10), 0.1));
        // Past t_max the cosine rises again, as PyTorch's.
        assert!(close(cos.lr_at(1.0, 15), 0.55));
        assert_eq!(Schedule::Constant.lr_at(0.3, 1000), 0.3);
    }

    #[test]
    fn warmup_ramps_linearly_then_hands_over() {
        let s = Schedule::Warmup {
            epochs: 4,
            start_factor: 0.2,
            then: Box::new(Schedule::Step {
                step_size: 1,
                gamma: 0.5,
            }),
        };
        let got: Vec<f64> = (0..7).map(|e| s.lr_at(1.0, e)).collect();
        for (g, want) in got.iter().zip([0.2, 0.4, 0.6, 0.8, 1.0, 0.5, 0.25]) {
            assert!(close(*g, want), "{got:?}");
        }
    }

    #[test]
    fn configs_read_from_json_and_are_checked() {
        let s: Schedule = serde_json::from_str(
            r#"{"type": "warmup", "epochs": 2, "start_factor": 0.1,
                "then": {"type": "cosine", "t_max": 8}}"#,
        )
        .unwrap();
        s.validate().unwrap();
        let back: Schedule = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        let c: Schedule = serde_json::from_str(r#"{"type": "constant"}"#).unwrap();
        assert_eq!(c, Schedule::Constant);
        assert!(
            serde_json::from_str::<Schedule>(r#"{"type": "cosine", "t_max": 8, "tmin": 0}"#)
                .is_err()
        );
        for bad in [
            Schedule::Step {
                step_size: 0,
                gamma: 0.5,
            },
            Schedule::Cosine {
                t_max: 0,
                eta_min: 0.0,
            },
            Schedule::Exponential { gamma: -1.0 },
            Schedule::Warmup {
                epochs: 1,
                start_factor: 0.0,
                then: Box::new(Schedule::Constant),
            },
        ] {
            assert!(
                matches!(bad.validate(), Err(Error::Config { .. })),
                "{bad:?}"
            );
        }
    }
}
