//! Optimizers over the network's flat parameter vector, with PyTorch's update formulas
//! (`torch.optim.SGD`, `Adam`, `AdamW`, their single-tensor `foreach=False` paths) and
//! `torch.nn.utils.clip_grad_norm_` before the update.
//!
//! Hyperparameters are `f64`, as Python floats: PyTorch computes scalars such as `1 - beta2`
//! and `lr / (1 - beta1^t)` in double precision and rounds them once to `f32` for the update,
//! and so does this module. The update itself runs in `f32`, elementwise. One flat vector is
//! one parameter group, as `optimizer(model.parameters())` makes: weight decay applies to every
//! parameter, and clipping takes the norm over all of them.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The algorithm and its own hyperparameters. Defaults are PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerKind {
    /// `torch.optim.SGD`: with momentum, `buf = momentum·buf + (1 - dampening)·g` (the first
    /// step's buffer being `g` itself), then `g + momentum·buf` under Nesterov, else `buf`.
    Sgd {
        /// Momentum factor (0: plain SGD).
        #[serde(default)]
        momentum: f64,
        /// Dampening of the gradient entering the momentum buffer.
        #[serde(default)]
        dampening: f64,
        /// Nesterov momentum (needs momentum > 0 and no dampening).
        #[serde(default)]
        nesterov: bool,
    },
    /// `torch.optim.Adam`, weight decay being L2 (added to the gradient).
    Adam {
        /// First moment's decay (0.9).
        #[serde(default = "beta1")]
        beta1: f64,
        /// Second moment's decay (0.999).
        #[serde(default = "beta2")]
        beta2: f64,
        /// Added to the denominator (1e-8).
        #[serde(default = "eps")]
        eps: f64,
    },
    /// `torch.optim.AdamW`: Adam with decoupled weight decay (`p *= 1 - lr·wd` first).
    #[serde(rename = "adamw")]
    AdamW {
        /// First moment's decay (0.9).
        #[serde(default = "beta1")]
        beta1: f64,
        /// Second moment's decay (0.999).
        #[serde(default = "beta2")]
        beta2: f64,
        /// Added to the denominator (1e-8).
        #[serde(default = "eps")]
        eps: f64,
    },
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn eps() -> f64 {
    1e-8
}

impl OptimizerKind {
    /// The algorithm's name, as in configs.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd { .. } => "sgd",
            OptimizerKind::Adam { .. } => "adam",
            OptimizerKind::AdamW { .. } => "adamw",
        }
    }
}

/// An optimizer's whole config.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct OptimizerConfig {
    /// The algorithm.
    pub kind: OptimizerKind,
    /// Weight decay: L2 (into the gradient) for SGD and Adam, decoupled for AdamW (0: none).
    #[serde(default)]
    pub weight_decay: f64,
    /// `clip_grad_norm_`'s `max_norm` over all parameters (`None`: no clipping).
    #[serde(default)]
    pub clip_grad_norm: Option<f64>,
}

/// What one step saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// The gradient's 2-norm over all parameters, before clipping.
    pub grad_norm: f64,
    /// Whether clipping scaled the gradient down.
    pub clipped: bool,
}

/// An optimizer's state, for checkpoints: the steps taken and the moment buffers (empty where
/// the algorithm keeps none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct OptimizerState {
    /// The algorithm that wrote it (`sgd`, `adam`, `adamw`).
    pub algorithm: String,
    /// Steps taken.
    pub step: u64,
    /// SGD's momentum buffer.
    #[serde(default)]
    pub momentum: Vec<f32>,
    /// Adam's first moment.
    #[serde(default)]
    pub exp_avg: Vec<f32>,
    /// Adam's second moment.
    #[serde(default)]
    pub exp_avg_sq: Vec<f32>,
}

/// An optimizer for a fixed number of parameters.
#[derive(Debug, Clone)]
pub struct Optimizer {
    cfg: OptimizerConfig,
    num_params: usize,
    state: OptimizerState,
}

impl Optimizer {
    /// An optimizer for `num_params` parameters, its hyperparameters checked against
    /// PyTorch's ranges.
    pub fn new(cfg: OptimizerConfig, num_params: usize) -> Result<Optimizer, Error> {
        let what = cfg.kind.name();
        let bad = |field, reason: String| {
            Err(Error::Config {
                what,
                field,
                reason,
            })
        };
        if !(cfg.weight_decay.is_finite() && cfg.weight_decay >= 0.0) {
            return bad(
                "weight_decay",
                format!("is {}: it must be >= 0", cfg.weight_decay),
            );
        }
        if let Some(c) = cfg.clip_grad_norm
            && !(c.is_finite() && c > 0.0)
        {
            return bad("clip_grad_norm", format!("is {c}: it must be > 0"));
        }
        let (mut momentum, mut exp_avg, mut exp_avg_sq) = (Vec::new(), Vec::new(), Vec::new());
        match cfg.kind {
            OptimizerKind::Sgd {
                momentum: m,
                dampening,
                nesterov,
            } => {
                if !(m.is_finite() && m >= 0.0) {
                    return bad("momentum", format!("is {m}: it must be >= 0"));
                }
                if !dampening.is_finite() {
                    return bad("dampening", format!("is {dampening}: it must be finite"));
                }
                if nesterov && (m <= 0.0 || dampening != 0.0) {
                    return bad(
                        "nesterov",
                        "needs momentum > 0 and zero dampening (as PyTorch)".into(),
                    );
                }
                if m != 0.0 {
                    momentum = vec![0.0; num_params];
                }
            }
            OptimizerKind::Adam { beta1, beta2, eps }
            | OptimizerKind::AdamW { beta1, beta2, eps } => {
                for (field, b) in [("beta1", beta1), ("beta2", beta2)] {
                    if !(0.0..1.0).contains(&b) {
                        return bad(field, format!("is {b}: it must lie in [0, 1)"));
                    }
                }
                if !(eps.is_finite() && eps >= 0.0) {
                    return bad("eps", format!("is {eps}: it must be >= 0"));
                }
                exp_avg = vec![0.0; num_params];
                exp_avg_sq = vec![0.0; num_params];
            }
        }
        Ok(Optimizer {
            cfg,
            num_params,
            state: OptimizerState {
                algorithm: what.to_string(),
                step: 0,
                momentum,
                exp_avg,
                exp_avg_sq,
            },
        })
    }

    /// The config.
    pub fn config(&self) -> &OptimizerConfig {
        &self.cfg
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.state.step
    }

    /// A copy of the state, for a checkpoint.
    pub fn state(&self) -> OptimizerState {
        self.state.clone()
    }

    /// Restores a state from [`Optimizer::state`] of an optimizer with the same algorithm and
    /// parameter count.
    pub fn restore(&mut self, state: OptimizerState) -> Result<(), Error> {
        if state.algorithm != self.state.algorithm {
            return Err(Error::State(format!(
                "it was written by {}, this optimizer is {}",
                state.algorithm, self.state.algorithm
            )));
        }
        for (name, saved, own) in [
            ("momentum", &state.momentum, &self.state.momentum),
            ("exp_avg", &state.exp_avg, &self.state.exp_avg),
            ("exp_avg_sq", &state.exp_avg_sq, &self.state.exp_avg_sq),
        ] {
            if saved.len() != own.len() {
                return Err(Error::State(format!(
                    "`{name}` holds {} values, this optimizer needs {} (for {} parameters)",
                    saved.len(),
                    own.len(),
                    self.num_params
                )));
            }
        }
        self.state = state;
        Ok(())
    }

    /// One update of `params` from `grads` (already averaged over the global batch) at
    /// learning rate `lr`. Clipping scales `grads` in place. A NaN or infinity in `grads` is
    /// reported as [`Error::NonFiniteGradient`] before anything changes.
    pub fn step(
        &mut self,
        params: &mut [f32],
        grads: &mut [f32],
        lr: f64,
    ) -> Result<StepStats, Error> {
        for (what, got) in [("parameters", params.len()), ("gradients", grads.len())] {
            if got != self.num_params {
                return Err(Error::ParamCount {
                    what,
                    expected: self.num_params,
                    got,
                });
            }
        }
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(Error::Config {
                what: self.cfg.kind.name(),
                field: "lr",
                reason: format!("is {lr}: it must be >= 0"),
            });
        }
        let grad_norm = grads
            .iter()
            .map(|&g| f64::from(g) * f64::from(g))
            .sum::<f64>()
            .sqrt();
        if !grad_norm.is_finite()
            && let Some((index, &value)) = grads.iter().enumerate().find(|(_, g)| !g.is_finite())
        {
            return Err(Error::NonFiniteGradient { index, value });
        }
        let mut clipped = false;
        if let Some(max_norm) = self.cfg.clip_grad_norm {
            // clip_grad_norm_: coef = max_norm / (norm + 1e-6), applied when below 1.
            let coef = (max_norm / (grad_norm + 1e-6)) as f32;
            if coef < 1.0 {
                clipped = true;
                for g in grads.iter_mut() {
                    *g *= coef;
                }
            }
        }
        self.state.step += 1;
        let wd = self.cfg.weight_decay;
        let wd32 = wd as f32;
        let st = &mut self.state;
        match self.cfg.kind {
            OptimizerKind::Sgd {
                momentum,
                dampening,
                nesterov,
            } => {
                let (m, keep, lr32) = (momentum as f32, (1.0 - dampening) as f32, lr as f32);
                let first = st.step == 1;
                for (i, (p, &g)) in params.iter_mut().zip(grads.iter()).enumerate() {
                    let mut d = if wd != 0.0 { g + *p * wd32 } else { g };
                    if momentum != 0.0 {
                        let buf = &mut st.momentum[i];
                        *buf = if first { d } else { *buf * m + d * keep };
                        d = if nesterov { d + *buf * m } else { *buf };
                    }
                    *p += d * -lr32;
                }
            }
            OptimizerKind::Adam { beta1, beta2, eps }
            | OptimizerKind::AdamW { beta1, beta2, eps } => {
                let decoupled = matches!(self.cfg.kind, OptimizerKind::AdamW { .. });
                let t = st.step as f64;
                let bc1 = 1.0 - beta1.powf(t);
                let bc2_sqrt = (1.0 - beta2.powf(t)).sqrt();
                let step_size = (lr / bc1) as f32;
                let (w1, w2) = ((1.0 - beta1) as f32, (1.0 - beta2) as f32);
                let (b2, bc2s, eps) = (beta2 as f32, bc2_sqrt as f32, eps as f32);
                let shrink = (1.0 - lr * wd) as f32;
                for (i, (p, &g)) in params.iter_mut().zip(grads.iter()).enumerate() {
                    let g = if decoupled {
                        *p *= shrink;
                        g
                    } else if wd != 0.0 {
                        g + *p * wd32
                    } else {
                        g
                    };
                    let m = &mut st.exp_avg[i];
                    *m = lerp(*m, g, w1);
                    let v = &mut st.exp_avg_sq[i];
                    *v = *v * b2 + g * g * w2;
                    let denom = v.sqrt() / bc2s + eps;
                    *p += -step_size * (*m / denom);
                }
            }
        }
        Ok(StepStats { grad_norm, clipped })
    }
}

/// `a + w·(b - a)` as PyTorch's `lerp` computes it (from the far end when `w >= 0.5`, which
/// keeps the result exact at `w = 1`).
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(kind: OptimizerKind, weight_decay: f64, clip: Option<f64>) -> OptimizerConfig {
        OptimizerConfig {
            kind,
            weight_decay,
            clip_grad_norm: clip,
        }
    }

    const ADAM: OptimizerKind = OptimizerKind::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };

    #[test]
    fn sgd_with_momentum_follows_pytorchs_recurrence() {
        // p = 1, g = 0.5 then 0.25, momentum 0.9, dampening 0.5, wd 0.1, lr 0.1; by hand:
        // step 1: d = 0.5 + 0.1 = 0.6, buf = 0.6, p = 1 - 0.06 = 0.94
        // step 2: d = 0.25 + 0.094 = 0.344, buf = 0.54 + 0.172 = 0.712, p = 0.94 - 0.0712
        let kind = OptimizerKind::Sgd {
            momentum: 0.9,
            dampening: 0.5,
            nesterov: false,
        };
        let mut opt = Optimizer::new(cfg(kind, 0.1, None), 1).unwrap();
        let mut p = [1f32];
        opt.step(&mut p, &mut [0.5], 0.1).unwrap();
        assert!((p[0] - 0.94).abs() < 1e-7);
        opt.step(&mut p, &mut [0.25], 0.1).unwrap();
        assert!((p[0] - (0.94 - 0.0712)).abs() < 1e-7, "{}", p[0]);
    }

    #[test]
    fn nesterov_adds_the_buffer_to_the_gradient() {
        // step 1: buf = g = 1, d = 1 + 0.9 = 1.9; step 2: buf = 0.9 + 1 = 1.9, d = 1 + 1.71.
        let kind = OptimizerKind::Sgd {
            momentum: 0.9,
            dampening: 0.0,
            nesterov: true,
        };
        let mut opt = Optimizer::new(cfg(kind, 0.0, None), 1).unwrap();
        let mut p = [0f32];
        opt.step(&mut p, &mut [1.0], 1.0).unwrap();
        assert!((p[0] + 1.9).abs() < 1e-6);
        opt.step(&mut p, &mut [1.0], 1.0).unwrap();
        assert!((p[0] + 1.9 + 2.71).abs() < 1e-6, "{}", p[0]);
    }

    #[test]
    fn adams_first_step_moves_by_lr_times_the_sign() {
        // After bias correction m̂ = g and v̂ = g², so the step is lr·g/(|g| + eps).
        let mut opt = Optimizer::new(cfg(ADAM, 0.0, None), 2).unwrap();
        let mut p = [1f32, 1.0];
        opt.step(&mut p, &mut [3.0, -0.001], 0.01).unwrap();
        assert!(
            (p[0] - 0.99).abs() < 1e-7 && (p[1] - 1.01).abs() < 1e-6,
            "{p:?}"
        );
        // Second step with the same gradient: m̂ = g and v̂ = g² again.
        opt.step(&mut p, &mut [3.0, -0.001], 0.01).unwrap();
        assert!((p[0] - 0.98).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn adamw_decays_before_the_update_and_adam_through_the_gradient() {
        let kind = OptimizerKind::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        let mut opt = Optimizer::new(cfg(kind, 0.5, None), 1).unwrap();
        let mut p = [2f32];
        opt.step(&mut p, &mut [1.0], 0.1).unwrap();
        // p = 2·(1 - 0.05) - 0.1·sign(1)
        assert!((p[0] - 1.8).abs() < 1e-6, "{}", p[0]);
        // Adam's L2: the gradient 1 + 0.5·2 = 2 keeps its sign, the step is lr.
        let mut opt = Optimizer::new(cfg(ADAM, 0.5, None), 1).unwrap();
        let mut p = [2f32];
        opt.step(&mut p, &mut [-0.5], 0.1).unwrap();
        // g = -0.5 + 1 = 0.5 > 0, so p decreases by lr.
        assert!((p[0] - 1.9).abs() < 1e-6, "{}", p[0]);
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let kind = OptimizerKind::Sgd {
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
        };
        let mut opt = Optimizer::new(cfg(kind, 0.0, Some(1.0)), 2).unwrap();
        let mut p = [0f32, 0.0];
        let mut g = [3f32, 4.0];
        let stats = opt.step(&mut p, &mut g, 1.0).unwrap();
        assert_eq!(stats.grad_norm, 5.0);
        assert!(stats.clipped);
        let coef = 1.0 / (5.0 + 1e-6);
        assert!((g[0] - 3.0 * coef as f32).abs() < 1e-7);
        assert!((p[1] + 4.0 * coef as f32).abs() < 1e-7);
        // Below the max norm: left alone.
        let mut g = [0.3f32, 0.4];
        assert!(!opt.step(&mut p, &mut g, 1.0).unwrap().clipped);
        assert_eq!(g, [0.3, 0.4]);
    }

    #[test]
    fn a_non_finite_gradient_is_reported_and_nothing_changes() {
        let mut opt = Optimizer::new(cfg(ADAM, 0.0, Some(1.0)), 3).unwrap();
        let mut p = [1f32, 2.0, 3.0];
        let err = opt
            .step(&mut p, &mut [0.1, f32::NAN, 0.2], 0.1)
            .unwrap_err();
        assert!(
            matches!(err, Error::NonFiniteGradient { index: 1, .. }),
            "{err}"
        );
        assert_eq!(p, [1.0, 2.0, 3.0]);
        assert_eq!(opt.steps(), 0);
    }

    #[test]
    fn state_round_trips_and_resumes_identically() {
        let mut a = Optimizer::new(cfg(ADAM, 0.01, None), 2).unwrap();
        let mut pa = [1f32, -1.0];
        a.step(&mut pa, &mut [0.3, 0.1], 0.01).unwrap();
        let json = serde_json::to_string(&a.state()).unwrap();
        let mut b = Optimizer::new(cfg(ADAM, 0.01, None), 2).unwrap();
        b.restore(serde_json::from_str(&json).unwrap()).unwrap();
        let mut pb = pa;
        a.step(&mut pa, &mut [0.2, -0.4], 0.01).unwrap();
        b.step(&mut pb, &mut [0.2, -0.4], 0.01).unwrap();
        assert_eq!(pa, pb);
        // Another algorithm's or size's state is refused.
        let mut sgd = Optimizer::new(
            cfg(
                OptimizerKind::Sgd {
                    momentum: 0.9,
                    dampening: 0.0,
                    nesterov: false,
                },
                0.0,
                None,
            ),
            2,
        )
        .unwrap();
        assert!(matches!(sgd.restore(a.state()), Err(Error::State(_))));
        let mut small = Optimizer::new(cfg(ADAM, 0.0, None), 1).unwrap();
        assert!(matches!(small.restore(a.state()), Err(Error::State(_))));
    }

    #[test]
    fn configs_read_from_json_with_pytorchs_defaults() {
        let c: OptimizerConfig =
            serde_json::from_str(r#"{"kind": {"type": "adamw"}, "weight_decay": 0.01}"#).unwrap();
        assert_eq!(
            c.kind,
            OptimizerKind::AdamW {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8
            }
        );
        assert_eq!(c.clip_grad_norm, None);
        let c: OptimizerConfig = serde_json::from_str(
            r#"{"kind": {"type": "sgd", "momentum": 0.9, "nesterov": true}, "clip_grad_norm": 1.0}"#,
        )
        .unwrap();
        assert_eq!(c.clip_grad_norm, Some(1.0));
        for bad in [
            r#"{"kind": {"type": "adam", "betas": [0.9, 0.99]}}"#,
            r#"{"kind": {"type": "sgd"}, "lr": 0.1}"#,
            r#"{"kind": {"type": "rmsprop"}}"#,
        ] {
            assert!(
                serde_json::from_str::<OptimizerConfig>(bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn out_of_range_hyperparameters_are_refused() {
        let bad = [
            cfg(
                OptimizerKind::Sgd {
                    momentum: 0.0,
                    dampening: 0.0,
                    nesterov: true,
                },
                0.0,
                None,
            ),
            cfg(
                OptimizerKind::Adam {
                    beta1: 1.0,
                    beta2: 0.999,
                    eps: 1e-8,
                },
                0.0,
                None,
            ),
            cfg(ADAM, -0.1, None),
            cfg(ADAM, 0.0, Some(0.0)),
        ];
        for c in bad {
            assert!(
                matches!(Optimizer::new(c, 1), Err(Error::Config { .. })),
                "{c:?}"
            );
        }
    }
}
