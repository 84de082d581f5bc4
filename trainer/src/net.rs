//! The tabular network: numeric features and one embedding per categorical column,
//! concatenated, through hidden dense layers into an output head.
//!
//! Each hidden layer is `Linear`, then `LayerNorm` when [`NetSpec::layer_norm`], then the
//! activation, then (training only) inverted dropout; the head is one `Linear` giving raw
//! outputs (logits, or the regression value before any link). Layouts, formulas and default
//! initial distributions are PyTorch's, so a [`Net`]'s flat parameter vector is the
//! `state_dict` of the module [`NetSpec`] describes, concatenated in order.
//!
//! The passes run in `f32` (PyTorch's default dtype) through the generic kernels below; the
//! gradient checks run the same kernels in `f64`. Dense products go through `gemm`,
//! single-threaded: callers split batches across threads and workers, and sum the gradients
//! that [`Net::loss_and_grad`] returns per row set. A [`Workspace`] keeps every intermediate
//! buffer between calls, so steady-state steps do not allocate.

mod gemm;
mod real;

pub use real::Real;

use chacha20::ChaCha8Rng;
use chacha20::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::data::Batch;
use crate::error::Error;
use crate::loss::{Loss, sigmoid};
use gemm::{MatRef, matmul};

/// What the network predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// `outputs` classes: logits, a softmax probability, the arg-max as the prediction.
    Classification,
    /// One output: the prediction itself (`exp` of it under the Poisson loss).
    Regression,
}

/// The hidden layers' activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// PyTorch's exact (erf) GELU.
    Gelu,
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + exp(-x))`.
    Sigmoid,
    /// `x * sigmoid(x)`.
    Silu,
}

/// The network's shape. Parameter names and layouts are PyTorch's, for a module holding
/// `embeddings` (a `ModuleList` of `nn.Embedding`), `layers` (`nn.Linear`), `norms`
/// (`nn.LayerNorm`, when `layer_norm`) and `head` (`nn.Linear`):
/// `embeddings.{i}.weight` `[cardinalities[i], embedding_dim]`, `layers.{j}.weight`
/// `[out, in]`, `layers.{j}.bias` `[out]`, `norms.{j}.weight`/`.bias` `[out]`,
/// `head.weight` `[outputs, last]`, `head.bias` `[outputs]`. The first layer's input is the
/// numeric block followed by the embeddings in column order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetSpec {
    /// Width of the numeric feature block.
    pub numeric_width: usize,
    /// Rows of each categorical column's embedding table (its vocabulary plus unseen slots).
    pub cardinalities: Vec<usize>,
    /// Width of every embedding.
    pub embedding_dim: usize,
    /// Widths of the hidden layers, in order.
    pub hidden: Vec<usize>,
    /// Activation after each hidden layer (after its LayerNorm when there is one).
    pub activation: Activation,
    /// A LayerNorm after each hidden dense layer, before the activation.
    pub layer_norm: bool,
    /// Dropout probability after each hidden activation (0: none); training only.
    pub dropout: f32,
    /// Outputs of the head: classes for classification, 1 for regression.
    pub outputs: usize,
    /// What the outputs mean.
    pub task: Task,
}

/// LayerNorm's epsilon: PyTorch's default.
pub const LAYER_NORM_EPS: f64 = 1e-5;

impl NetSpec {
    /// Width of the first layer's input: the numeric block plus one embedding per column.
    pub fn input_width(&self) -> usize {
        self.numeric_width + self.cardinalities.len() * self.embedding_dim
    }

    /// Checks that the spec describes a network that can be built: no zero width, an input,
    /// outputs that fit the task (one for regression; one logit for binary classification
    /// under [`Loss::BinaryCrossEntropy`], or one per class), a dropout in `[0, 1)`, and a
    /// parameter count that fits memory addresses.
    pub fn validate(&self) -> Result<(), Error> {
        let fail = |field, reason: &str| {
            Err(Error::Spec {
                field,
                reason: reason.to_string(),
            })
        };
        if self.numeric_width == 0 && self.cardinalities.is_empty() {
            return fail(
                "numeric_width",
                "is 0 and there are no categorical columns: the network has no input",
            );
        }
        if let Some(c) = self.cardinalities.iter().position(|&c| c == 0) {
            return Err(Error::Spec {
                field: "cardinalities",
                reason: format!("[{c}] is 0: an embedding table needs at least one row"),
            });
        }
        if !self.cardinalities.is_empty() && self.embedding_dim == 0 {
            return fail("embedding_dim", "is 0 but there are categorical columns");
        }
        if let Some(j) = self.hidden.iter().position(|&h| h == 0) {
            return Err(Error::Spec {
                field: "hidden",
                reason: format!("[{j}] is 0: a hidden layer needs at least one unit"),
            });
        }
        match self.task {
            _ if self.outputs == 0 => return fail("outputs", "is 0"),
            Task::Regression if self.outputs != 1 => {
                return Err(Error::Spec {
                    field: "outputs",
                    reason: format!("is {}: a regression network has one output", self.outputs),
                });
            }
            _ => {}
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Spec {
                field: "dropout",
                reason: format!("is {}: it must lie in [0, 1)", self.dropout),
            });
        }
        if Layout::new(self).is_none() {
            return fail("hidden", "gives more parameters than memory can address");
        }
        Ok(())
    }
}

impl Activation {
    /// The activation at `x`, with PyTorch's formulas (GELU's exact erf form:
    /// `x · ½(1 + erf(x/√2))`).
    pub fn apply<T: Real>(self, x: T) -> T {
        match self {
            Activation::Relu => {
                if x > T::ZERO {
                    x
                } else {
                    T::ZERO
                }
            }
            Activation::Gelu => {
                x * T::from_f64(0.5)
                    * (T::ONE + (x * T::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf())
            }
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => sigmoid(x),
            Activation::Silu => x * sigmoid(x),
        }
    }

    /// The activation's derivative at `x` (ReLU's is 0 at 0, as PyTorch's backward takes it).
    pub fn derivative<T: Real>(self, x: T) -> T {
        match self {
            Activation::Relu => {
                if x > T::ZERO {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
            Activation::Gelu => {
                // Φ(x) + x·φ(x), φ the standard normal density.
                let cdf = T::from_f64(0.5)
                    * (T::ONE + (x * T::from_f64(std::f64::consts::FRAC_1_SQRT_2)).erf());
                let pdf = (T::from_f64(-0.5) * x * x).exp()
                    * T::from_f64(
                        0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2,
                    );
                cdf + x * pdf
            }
            Activation::Tanh => {
                let t = x.tanh();
                T::ONE - t * t
            }
            Activation::Sigmoid => {
                let s = sigmoid(x);
                s * (T::ONE - s)
            }
            Activation::Silu => {
                let s = sigmoid(x);
                s * (T::ONE + x * (T::ONE - s))
            }
        }
    }
}

/// Whether dropout keeps unit `unit` of hidden layer `layer` for global row `row` at optimizer
/// step `step`, under probability `p` of dropping.
///
/// A pure function of its arguments (counter-based): SplitMix64's finaliser chained over
/// `seed`, `step`, `row` and `(layer, unit)` gives 64 bits, whose top 24 are a uniform `u` in
/// `[0, 1)`; the unit is kept when `u >= p`. So the mask of a row does not depend on which
/// batch, thread or worker computes it, and a run is reproducible from its seed. (PyTorch draws
/// masks from a sequential generator, so its masks are not reproduced; the distribution is.)
pub fn dropout_keep(seed: u64, step: u64, row: u64, layer: u32, unit: u32, p: f32) -> bool {
    let mut h = splitmix(seed ^ 0x6b65_656c_6472_6f70);
    for v in [step, row, (u64::from(layer) << 32) | u64::from(unit)] {
        h = splitmix(h ^ v);
    }
    // 24 bits convert to f32 exactly.
    let u = (h >> 40) as f32 * (1.0 / (1u64 << 24) as f32);
    u >= p
}

/// SplitMix64's output function (a bijection on u64 with full avalanche).
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Whether a pass trains (dropout on) or evaluates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No dropout.
    Eval,
    /// Dropout on, its masks drawn by [`dropout_keep`] from `seed`, the optimizer `step` and
    /// each row's global id `first_row + i` (`i` its place in the batch).
    Train {
        /// The run's seed.
        seed: u64,
        /// The optimizer step this pass computes gradients for.
        step: u64,
        /// The global id of the batch's first row.
        first_row: u64,
    },
}

impl Mode {
    fn row_id(self, i: usize) -> u64 {
        match self {
            Mode::Eval => i as u64,
            Mode::Train { first_row, .. } => first_row + i as u64,
        }
    }
}

/// One named parameter tensor within the flat vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamInfo {
    /// PyTorch's `state_dict` key, e.g. `layers.0.weight`.
    pub name: String,
    /// PyTorch's shape, e.g. `[out, in]` for a Linear weight.
    pub shape: Vec<usize>,
    /// Index of its first element in the flat vector (elements row-major from there).
    pub offset: usize,
}

impl ParamInfo {
    /// Elements held.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether it holds no element (never, for a validated spec).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Offsets of one Linear's weight `[outputs, inputs]` and bias `[outputs]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dense {
    w: usize,
    b: usize,
    inputs: usize,
    outputs: usize,
}

/// Where each tensor lies in the flat vector, in `state_dict` order: every embedding, every
/// hidden Linear, every LayerNorm, then the head (the module's attribute order).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Layout {
    embeddings: Vec<usize>,
    layers: Vec<Dense>,
    /// `(weight, bias)` offsets per hidden layer; empty without LayerNorm.
    norms: Vec<(usize, usize)>,
    head: Dense,
    total: usize,
}

impl Layout {
    /// `None` when the count overflows `usize`.
    fn new(spec: &NetSpec) -> Option<Layout> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<usize> {
            let start = at;
            at = at.checked_add(n)?;
            Some(start)
        };
        let mut embeddings = Vec::with_capacity(spec.cardinalities.len());
        for &c in &spec.cardinalities {
            embeddings.push(take(c.checked_mul(spec.embedding_dim)?)?);
        }
        let mut layers = Vec::with_capacity(spec.hidden.len());
        let mut inputs = spec.input_width();
        for &outputs in &spec.hidden {
            let w = take(outputs.checked_mul(inputs)?)?;
            let b = take(outputs)?;
            layers.push(Dense {
                w,
                b,
                inputs,
                outputs,
            });
            inputs = outputs;
        }
        let mut norms = Vec::new();
        if spec.layer_norm {
            for &h in &spec.hidden {
                norms.push((take(h)?, take(h)?));
            }
        }
        let w = take(spec.outputs.checked_mul(inputs)?)?;
        let b = take(spec.outputs)?;
        let head = Dense {
            w,
            b,
            inputs,
            outputs: spec.outputs,
        };
        Some(Layout {
            embeddings,
            layers,
            norms,
            head,
            total: at,
        })
    }
}

/// A network: its spec and every parameter in one flat `f32` vector, in PyTorch's
/// `state_dict` order and layouts ([`Net::named_params`] lists them).
#[derive(Debug, Clone, PartialEq)]
pub struct Net {
    spec: NetSpec,
    params: Vec<f32>,
    layout: Layout,
}

/// Reusable buffers for [`Net::loss_and_grad`] and [`Net::predict`]; one per thread. They
/// grow to the largest batch seen and are kept, so later calls do not allocate.
#[derive(Debug, Default)]
pub struct Workspace {
    bufs: Buffers<f32>,
}

impl Workspace {
    /// An empty workspace.
    pub fn new() -> Self {
        Workspace::default()
    }
}

/// The passes' intermediates, per hidden layer where named so.
#[derive(Debug, Default)]
struct Buffers<T> {
    /// The first layer's input, `rows × input_width`.
    x0: Vec<T>,
    /// Each Linear's output.
    z: Vec<Vec<T>>,
    /// Each LayerNorm's output (unused without LayerNorm).
    y: Vec<Vec<T>>,
    /// Each LayerNorm's per-row mean and reciprocal standard deviation.
    mean: Vec<Vec<T>>,
    rstd: Vec<Vec<T>>,
    /// Each layer's output: activation, then dropout.
    h: Vec<Vec<T>>,
    /// Each layer's dropout factors (0 or `1/(1-p)`), when dropout is on.
    keep: Vec<Vec<T>>,
    /// Whether the last forward pass applied dropout (`keep` is current).
    dropped: bool,
    /// The head's output, `rows × outputs`.
    out: Vec<T>,
    /// Gradients flowing backwards: of the outputs, and two scratch buffers.
    d_out: Vec<T>,
    d_a: Vec<T>,
    d_b: Vec<T>,
}

/// Resizes `v` to `n` elements without shrinking its capacity (contents left as they are).
fn fit<T: Real>(v: &mut Vec<T>, n: usize) {
    v.resize(n, T::ZERO);
}

impl Net {
    /// A network with PyTorch's default initial distributions, drawn from `seed`: Linear
    /// weights and biases `U(-1/√fan_in, 1/√fan_in)` (what `kaiming_uniform_(a=√5)` gives),
    /// embeddings `N(0, 1)`, LayerNorm weights 1 and biases 0.
    ///
    /// Reproducible everywhere: the draws come from ChaCha8 (`chacha20::ChaCha8Rng`, seeded
    /// by `seed_from_u64`, whose output is fixed by the algorithm) in `state_dict` order;
    /// a uniform is the top 53 bits of one `u64` scaled to `[0, 1)`, then to `[-b, b)`; a
    /// normal pair is Box–Muller over two such uniforms (cosine first), computed in `f64` and
    /// rounded to `f32`. The values differ from PyTorch's generator; the distributions match.
    pub fn init(spec: NetSpec, seed: u64) -> Result<Net, Error> {
        spec.validate()?;
        let layout = Layout::new(&spec).ok_or(Error::Spec {
            field: "hidden",
            reason: "gives more parameters than memory can address".into(),
        })?;
        let mut params = vec![0f32; layout.total];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut unit = move || (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        for (c, &off) in layout.embeddings.iter().enumerate() {
            let n = spec.cardinalities[c] * spec.embedding_dim;
            let mut k = 0;
            while k < n {
                // 1 - u lies in (0, 1], so its log is finite.
                let r = (-2.0 * (1.0 - unit()).ln()).sqrt();
                let theta = std::f64::consts::TAU * unit();
                params[off + k] = (r * theta.cos()) as f32;
                if k + 1 < n {
                    params[off + k + 1] = (r * theta.sin()) as f32;
                }
                k += 2;
            }
        }
        let mut linear = |d: &Dense, params: &mut [f32]| {
            let bound = 1.0 / (d.inputs as f64).sqrt();
            for p in &mut params[d.w..d.w + d.outputs * d.inputs] {
                *p = ((2.0 * unit() - 1.0) * bound) as f32;
            }
            for p in &mut params[d.b..d.b + d.outputs] {
                *p = ((2.0 * unit() - 1.0) * bound) as f32;
            }
        };
        for d in &layout.layers {
            linear(d, &mut params);
        }
        for (&(g, _), &h) in layout.norms.iter().zip(&spec.hidden) {
            params[g..g + h].fill(1.0);
        }
        linear(&layout.head, &mut params);
        Ok(Net {
            spec,
            params,
            layout,
        })
    }

    /// A network with the given parameters (flat, in [`Net::named_params`]' order).
    pub fn from_params(spec: NetSpec, params: Vec<f32>) -> Result<Net, Error> {
        spec.validate()?;
        let layout = Layout::new(&spec).ok_or(Error::Spec {
            field: "hidden",
            reason: "gives more parameters than memory can address".into(),
        })?;
        if params.len() != layout.total {
            return Err(Error::ParamCount {
                what: "parameters",
                expected: layout.total,
                got: params.len(),
            });
        }
        Ok(Net {
            spec,
            params,
            layout,
        })
    }

    /// The spec.
    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    /// Every parameter, flat.
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Every parameter, flat, for an optimizer to update.
    pub fn params_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// The parameters, giving the network up.
    pub fn into_params(self) -> Vec<f32> {
        self.params
    }

    /// Parameters held.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// Every parameter tensor, in `state_dict` order: names, PyTorch shapes and offsets.
    pub fn named_params(&self) -> Vec<ParamInfo> {
        let l = &self.layout;
        let mut out = Vec::new();
        let mut push = |name: String, shape: Vec<usize>, offset: usize| {
            out.push(ParamInfo {
                name,
                shape,
                offset,
            });
        };
        for (i, (&off, &c)) in l
            .embeddings
            .iter()
            .zip(&self.spec.cardinalities)
            .enumerate()
        {
            push(
                format!("embeddings.{i}.weight"),
                vec![c, self.spec.embedding_dim],
                off,
            );
        }
        for (j, d) in l.layers.iter().enumerate() {
            push(format!("layers.{j}.weight"), vec![d.outputs, d.inputs], d.w);
            push(format!("layers.{j}.bias"), vec![d.outputs], d.b);
        }
        for (j, (&(g, b), &h)) in l.norms.iter().zip(&self.spec.hidden).enumerate() {
            push(format!("norms.{j}.weight"), vec![h], g);
            push(format!("norms.{j}.bias"), vec![h], b);
        }
        push(
            "head.weight".into(),
            vec![l.head.outputs, l.head.inputs],
            l.head.w,
        );
        push("head.bias".into(), vec![l.head.outputs], l.head.b);
        out
    }

    /// Names flat index `index` as `name[i, j]` (e.g. `layers.0.weight[3, 1]`), to report a
    /// parameter an optimizer or a check found at fault; `None` past the end.
    pub fn param_at(&self, index: usize) -> Option<String> {
        let info = self
            .named_params()
            .into_iter()
            .find(|p| (p.offset..p.offset + p.len()).contains(&index))?;
        let mut rest = index - info.offset;
        let mut at = vec![0; info.shape.len()];
        for (k, &dim) in info.shape.iter().enumerate().rev() {
            at[k] = rest % dim;
            rest /= dim;
        }
        let at: Vec<String> = at.iter().map(ToString::to_string).collect();
        Some(format!("{}[{}]", info.name, at.join(", ")))
    }

    /// The sum over the batch's rows of each row's `loss`, with its gradient with respect to
    /// every parameter **added** into `grads` (so the gradients of disjoint row sets can be
    /// summed in any fixed order; divide by the global batch size for PyTorch's mean).
    ///
    /// On error (a category outside its table, a label the loss cannot take, a mis-shaped
    /// batch or `grads`), `grads` is left as it was.
    pub fn loss_and_grad(
        &self,
        batch: &Batch<'_>,
        loss: Loss,
        mode: Mode,
        grads: &mut [f32],
        ws: &mut Workspace,
    ) -> Result<f64, Error> {
        self.run(&self.params, batch, loss, mode, grads, &mut ws.bufs)
    }

    /// The raw outputs (logits, or the regression value before any link), `rows × outputs`
    /// row-major, into `out` (cleared first). Evaluation mode: no dropout.
    pub fn predict(
        &self,
        batch: &Batch<'_>,
        out: &mut Vec<f32>,
        ws: &mut Workspace,
    ) -> Result<(), Error> {
        self.check_batch(batch, false)?;
        forward(
            &self.spec,
            &self.layout,
            &self.params,
            batch,
            Mode::Eval,
            &mut ws.bufs,
        )?;
        out.clear();
        out.extend_from_slice(&ws.bufs.out);
        Ok(())
    }

    /// [`Net::loss_and_grad`] in any float type, with the parameters given (the gradient
    /// checks run it in `f64`).
    fn run<T: Real>(
        &self,
        params: &[T],
        batch: &Batch<'_>,
        loss: Loss,
        mode: Mode,
        grads: &mut [T],
        bufs: &mut Buffers<T>,
    ) -> Result<f64, Error> {
        if grads.len() != self.layout.total {
            return Err(Error::ParamCount {
                what: "gradients",
                expected: self.layout.total,
                got: grads.len(),
            });
        }
        loss.check(self.spec.task, self.spec.outputs)?;
        self.check_batch(batch, true)?;
        forward(&self.spec, &self.layout, params, batch, mode, bufs)?;
        let o = self.spec.outputs;
        fit(&mut bufs.d_out, batch.rows * o);
        let mut total = 0f64;
        for i in 0..batch.rows {
            let l = loss.row(
                mode.row_id(i),
                &bufs.out[i * o..(i + 1) * o],
                batch.labels[i],
                Some(&mut bufs.d_out[i * o..(i + 1) * o]),
            )?;
            total += l.to_f64();
        }
        backward(&self.spec, &self.layout, params, batch, bufs, grads);
        Ok(total)
    }

    /// Checks the batch's widths and block lengths against the spec.
    fn check_batch(&self, batch: &Batch<'_>, labels: bool) -> Result<(), Error> {
        let need = |what, expected: usize, got: usize| {
            if expected == got {
                Ok(())
            } else {
                Err(Error::BatchShape {
                    what,
                    expected,
                    got,
                })
            }
        };
        need(
            "numeric_width",
            self.spec.numeric_width,
            batch.numeric_width,
        )?;
        need(
            "categorical_width",
            self.spec.cardinalities.len(),
            batch.categorical_width,
        )?;
        need(
            "the numeric block",
            batch.rows * batch.numeric_width,
            batch.numeric.len(),
        )?;
        need(
            "the categorical block",
            batch.rows * batch.categorical_width,
            batch.categorical.len(),
        )?;
        if labels {
            need("the labels", batch.rows, batch.labels.len())?;
        }
        Ok(())
    }
}

/// Sizes the per-layer buffer lists for `layers` hidden layers.
fn per_layer<T>(v: &mut Vec<Vec<T>>, layers: usize) {
    v.resize_with(layers, Vec::new);
}

/// The forward pass into `bufs` (`bufs.out` holds the outputs).
fn forward<T: Real>(
    spec: &NetSpec,
    layout: &Layout,
    params: &[T],
    batch: &Batch<'_>,
    mode: Mode,
    bufs: &mut Buffers<T>,
) -> Result<(), Error> {
    let rows = batch.rows;
    let (nw, e) = (spec.numeric_width, spec.embedding_dim);
    let d0 = spec.input_width();
    let Buffers {
        x0,
        z,
        y,
        mean,
        rstd,
        h,
        keep,
        dropped,
        out,
        ..
    } = bufs;
    fit(x0, rows * d0);
    for i in 0..rows {
        let x = &mut x0[i * d0..(i + 1) * d0];
        for (dst, &src) in x[..nw].iter_mut().zip(&batch.numeric[i * nw..(i + 1) * nw]) {
            *dst = T::from_f32(src);
        }
        let cats =
            &batch.categorical[i * batch.categorical_width..(i + 1) * batch.categorical_width];
        for (c, (&index, &card)) in cats.iter().zip(&spec.cardinalities).enumerate() {
            let k = match usize::try_from(index) {
                Ok(k) if k < card => k,
                _ => {
                    return Err(Error::CategoryOutOfRange {
                        column: c,
                        row: mode.row_id(i),
                        index,
                        cardinality: card,
                    });
                }
            };
            let table = layout.embeddings[c] + k * e;
            x[nw + c * e..nw + (c + 1) * e].copy_from_slice(&params[table..table + e]);
        }
    }
    let layers = layout.layers.len();
    for v in [
        &mut *z, &mut *y, &mut *mean, &mut *rstd, &mut *h, &mut *keep,
    ] {
        per_layer(v, layers);
    }
    let dropout = match mode {
        Mode::Train { seed, step, .. } if spec.dropout > 0.0 => Some((seed, step)),
        _ => None,
    };
    *dropped = dropout.is_some();
    for (j, d) in layout.layers.iter().enumerate() {
        let (before, after) = h.split_at_mut(j);
        let input: &[T] = if j == 0 { x0 } else { &before[j - 1] };
        let width = d.outputs;
        linear(params, d, rows, input, &mut z[j]);
        let pre: &[T] = if let Some(&(g, b)) = layout.norms.get(j) {
            layer_norm(
                &z[j],
                rows,
                width,
                &params[g..g + width],
                &params[b..b + width],
                &mut y[j],
                &mut mean[j],
                &mut rstd[j],
            );
            &y[j]
        } else {
            &z[j]
        };
        let hj = &mut after[0];
        fit(hj, rows * width);
        for (o, &p) in hj.iter_mut().zip(pre) {
            *o = spec.activation.apply(p);
        }
        if let Some((seed, step)) = dropout {
            // Inverted dropout, as PyTorch: kept units scaled by 1/(1-p), computed in f32.
            let scale = T::from_f32(1.0 / (1.0 - spec.dropout));
            let kj = &mut keep[j];
            fit(kj, rows * width);
            for i in 0..rows {
                let row = mode.row_id(i);
                for u in 0..width {
                    let kept = dropout_keep(seed, step, row, j as u32, u as u32, spec.dropout);
                    let f = if kept { scale } else { T::ZERO };
                    kj[i * width + u] = f;
                    hj[i * width + u] *= f;
                }
            }
        }
    }
    let last: &[T] = if layers == 0 { x0 } else { &h[layers - 1] };
    linear(params, &layout.head, rows, last, out);
    Ok(())
}

/// `out = input · Wᵀ + b` for `rows` rows.
fn linear<T: Real>(params: &[T], d: &Dense, rows: usize, input: &[T], out: &mut Vec<T>) {
    fit(out, rows * d.outputs);
    let bias = &params[d.b..d.b + d.outputs];
    for r in out.chunks_exact_mut(d.outputs) {
        r.copy_from_slice(bias);
    }
    matmul(
        rows,
        d.outputs,
        d.inputs,
        MatRef::rows(input, d.inputs),
        MatRef::transposed(&params[d.w..d.w + d.outputs * d.inputs], d.inputs),
        out,
        true,
    );
}

/// LayerNorm over each row of `z` (`rows × width`), as PyTorch: biased variance, eps
/// [`LAYER_NORM_EPS`] inside the square root, then `x̂·γ + β`. Moments are accumulated in f64.
#[allow(clippy::too_many_arguments)]
fn layer_norm<T: Real>(
    z: &[T],
    rows: usize,
    width: usize,
    gamma: &[T],
    beta: &[T],
    y: &mut Vec<T>,
    mean: &mut Vec<T>,
    rstd: &mut Vec<T>,
) {
    fit(y, rows * width);
    fit(mean, rows);
    fit(rstd, rows);
    let n = width as f64;
    for i in 0..rows {
        let x = &z[i * width..(i + 1) * width];
        let m = x.iter().map(|v| v.to_f64()).sum::<f64>() / n;
        let var = x.iter().map(|v| (v.to_f64() - m).powi(2)).sum::<f64>() / n;
        let (m, r) = (
            T::from_f64(m),
            T::from_f64(1.0 / (var + LAYER_NORM_EPS).sqrt()),
        );
        mean[i] = m;
        rstd[i] = r;
        for k in 0..width {
            y[i * width + k] = (x[k] - m) * r * gamma[k] + beta[k];
        }
    }
}

/// The backward pass, from `bufs.d_out` (the loss's gradient per output), adding every
/// parameter's gradient into `grads`.
fn backward<T: Real>(
    spec: &NetSpec,
    layout: &Layout,
    params: &[T],
    batch: &Batch<'_>,
    bufs: &mut Buffers<T>,
    grads: &mut [T],
) {
    let rows = batch.rows;
    let layers = layout.layers.len();
    // Taken out of `bufs` for the pass and put back: no allocation, simpler borrows.
    let mut d_next = std::mem::take(&mut bufs.d_out);
    let mut d_a = std::mem::take(&mut bufs.d_a);
    let mut d_b = std::mem::take(&mut bufs.d_b);
    let mut next = layout.head;
    {
        let input: &[T] = if layers == 0 {
            &bufs.x0
        } else {
            &bufs.h[layers - 1]
        };
        dense_grads(grads, &next, rows, input, &d_next);
    }
    for j in (0..layers).rev() {
        let d = layout.layers[j];
        let width = d.outputs;
        // Gradient with respect to this layer's output: d_next · W_next.
        input_grad(params, &next, rows, &d_next, &mut d_a);
        if bufs.dropped {
            for (g, &k) in d_a.iter_mut().zip(&bufs.keep[j]) {
                *g *= k;
            }
        }
        let norm = layout.norms.get(j).copied();
        let pre: &[T] = if norm.is_some() {
            &bufs.y[j]
        } else {
            &bufs.z[j]
        };
        for (g, &p) in d_a.iter_mut().zip(pre) {
            *g *= spec.activation.derivative(p);
        }
        if let Some((g_off, b_off)) = norm {
            fit(&mut d_b, rows * width);
            let (z, m, r) = (&bufs.z[j], &bufs.mean[j], &bufs.rstd[j]);
            let inv_n = T::from_f64(1.0 / width as f64);
            for i in 0..rows {
                let (mi, ri) = (m[i], r[i]);
                let dy = &d_a[i * width..(i + 1) * width];
                let zi = &z[i * width..(i + 1) * width];
                let (mut sum_g, mut sum_gx) = (T::ZERO, T::ZERO);
                for k in 0..width {
                    let xhat = (zi[k] - mi) * ri;
                    grads[g_off + k] += dy[k] * xhat;
                    grads[b_off + k] += dy[k];
                    let g = dy[k] * params[g_off + k];
                    sum_g += g;
                    sum_gx += g * xhat;
                }
                let (mean_g, mean_gx) = (sum_g * inv_n, sum_gx * inv_n);
                let dz = &mut d_b[i * width..(i + 1) * width];
                for k in 0..width {
                    let xhat = (zi[k] - mi) * ri;
                    dz[k] = ri * (dy[k] * params[g_off + k] - mean_g - xhat * mean_gx);
                }
            }
            std::mem::swap(&mut d_a, &mut d_b);
        }
        // d_a is now the gradient with respect to the Linear's output.
        let input: &[T] = if j == 0 { &bufs.x0 } else { &bufs.h[j - 1] };
        dense_grads(grads, &d, rows, input, &d_a);
        std::mem::swap(&mut d_next, &mut d_a);
        next = d;
    }
    if !layout.embeddings.is_empty() {
        // The first layer's input gradient, scattered into the embedding rows used.
        input_grad(params, &next, rows, &d_next, &mut d_a);
        let (nw, e, d0) = (spec.numeric_width, spec.embedding_dim, spec.input_width());
        let cw = batch.categorical_width;
        for i in 0..rows {
            for (c, &off) in layout.embeddings.iter().enumerate() {
                // Indices were checked by the forward pass.
                let k = batch.categorical[i * cw + c] as usize;
                let src = &d_a[i * d0 + nw + c * e..i * d0 + nw + (c + 1) * e];
                for (g, &v) in grads[off + k * e..off + (k + 1) * e].iter_mut().zip(src) {
                    *g += v;
                }
            }
        }
    }
    bufs.d_out = d_next;
    bufs.d_a = d_a;
    bufs.d_b = d_b;
}

/// Adds a Linear's weight gradient `dzᵀ · input` and bias gradient (column sums of `dz`).
fn dense_grads<T: Real>(grads: &mut [T], d: &Dense, rows: usize, input: &[T], dz: &[T]) {
    matmul(
        d.outputs,
        d.inputs,
        rows,
        MatRef::transposed(dz, d.outputs),
        MatRef::rows(input, d.inputs),
        &mut grads[d.w..d.w + d.outputs * d.inputs],
        true,
    );
    let gb = &mut grads[d.b..d.b + d.outputs];
    for r in dz[..rows * d.outputs].chunks_exact(d.outputs) {
        for (g, &v) in gb.iter_mut().zip(r) {
            *g += v;
        }
    }
}

/// A Linear's input gradient `dz · W` into `out` (`rows × inputs`).
fn input_grad<T: Real>(params: &[T], d: &Dense, rows: usize, dz: &[T], out: &mut Vec<T>) {
    fit(out, rows * d.inputs);
    matmul(
        rows,
        d.inputs,
        d.outputs,
        MatRef::rows(dz, d.outputs),
        MatRef::rows(&params[d.w..d.w + d.outputs * d.inputs], d.inputs),
        out,
        false,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;

    const ACTIVATIONS: [Activation; 5] = [
        Activation::Relu,
        Activation::Gelu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Silu,
    ];

    fn spec(activation: Activation, layer_norm: bool, dropout: f32, loss: Loss) -> NetSpec {
        let (task, outputs) = match loss {
            Loss::CrossEntropy => (Task::Classification, 3),
            Loss::BinaryCrossEntropy => (Task::Classification, 1),
            Loss::Mse | Loss::Poisson => (Task::Regression, 1),
        };
        NetSpec {
            numeric_width: 3,
            cardinalities: vec![4, 3],
            embedding_dim: 2,
            hidden: vec![5, 4],
            activation,
            layer_norm,
            dropout,
            outputs,
            task,
        }
    }

    /// Six rows with every category of the first column used, labels fitting `loss`.
    fn data(loss: Loss) -> Dataset {
        let rows = 6;
        let numeric = (0..rows * 3)
            .map(|k| ((k * 37 % 17) as f32 - 8.0) / 5.0)
            .collect();
        let categorical = (0..rows)
            .flat_map(|i| [(i % 4) as i64, (i * 2 % 3) as i64])
            .collect();
        let labels = (0..rows)
            .map(|i| match loss {
                Loss::CrossEntropy => (i % 3) as f32,
                Loss::BinaryCrossEntropy => (i % 2) as f32,
                Loss::Mse => i as f32 * 0.5 - 1.0,
                Loss::Poisson => (i % 4) as f32,
            })
            .collect();
        Dataset {
            numeric_width: 3,
            categorical_width: 2,
            numeric,
            categorical,
            labels,
        }
    }

    /// The loss and its analytic gradient in f64 at `params`.
    fn f64_loss(
        net: &Net,
        params: &[f64],
        batch: &Batch<'_>,
        loss: Loss,
        mode: Mode,
    ) -> (f64, Vec<f64>) {
        let mut grads = vec![0f64; params.len()];
        let mut bufs = Buffers::default();
        let l = net
            .run(params, batch, loss, mode, &mut grads, &mut bufs)
            .unwrap();
        (l, grads)
    }

    /// Central differences in f64 against the analytic gradient, every parameter. The
    /// tolerance catches a wrong sign or a missing term (errors of order the gradient), while
    /// the differences' own error is about h² ≈ 1e-12.
    fn check_gradients(net: &Net, loss: Loss, mode: Mode) {
        let d = data(loss);
        let batch = d.batch(0..d.rows());
        let p: Vec<f64> = net.params().iter().map(|&v| f64::from(v)).collect();
        let (_, analytic) = f64_loss(net, &p, &batch, loss, mode);
        let h = 1e-6;
        for i in 0..p.len() {
            let (mut up, mut down) = (p.clone(), p.clone());
            up[i] += h;
            down[i] -= h;
            let fd = (f64_loss(net, &up, &batch, loss, mode).0
                - f64_loss(net, &down, &batch, loss, mode).0)
                / (2.0 * h);
            assert!(
                (fd - analytic[i]).abs() <= 1e-6 * analytic[i].abs().max(1.0),
                "{:?} {loss:?} {mode:?}: {} analytic {} vs numeric {fd}",
                net.spec(),
                net.param_at(i).unwrap(),
                analytic[i]
            );
        }
    }

    const TRAIN: Mode = Mode::Train {
        seed: 7,
        step: 3,
        first_row: 100,
    };

    #[test]
    fn gradients_match_finite_differences_for_each_activation_with_and_without_layer_norm() {
        for activation in ACTIVATIONS {
            for layer_norm in [false, true] {
                let net = Net::init(spec(activation, layer_norm, 0.0, Loss::Mse), 1).unwrap();
                check_gradients(&net, Loss::Mse, Mode::Eval);
            }
        }
    }

    #[test]
    fn gradients_match_finite_differences_for_each_loss() {
        for loss in [
            Loss::CrossEntropy,
            Loss::BinaryCrossEntropy,
            Loss::Mse,
            Loss::Poisson,
        ] {
            let net = Net::init(spec(Activation::Gelu, true, 0.0, loss), 2).unwrap();
            check_gradients(&net, loss, Mode::Eval);
        }
    }

    #[test]
    fn gradients_match_finite_differences_through_a_fixed_dropout_mask() {
        let net = Net::init(spec(Activation::Tanh, true, 0.4, Loss::CrossEntropy), 3).unwrap();
        check_gradients(&net, Loss::CrossEntropy, TRAIN);
        // The mask did drop something, so the check covered it.
        let d = data(Loss::CrossEntropy);
        let p: Vec<f64> = net.params().iter().map(|&v| f64::from(v)).collect();
        let train = f64_loss(&net, &p, &d.batch(0..6), Loss::CrossEntropy, TRAIN).0;
        let eval = f64_loss(&net, &p, &d.batch(0..6), Loss::CrossEntropy, Mode::Eval).0;
        assert!((train - eval).abs() > 1e-3);
    }

    #[test]
    fn gradients_match_finite_differences_without_hidden_layers_or_inputs_of_one_kind() {
        let mut s = spec(Activation::Relu, false, 0.0, Loss::CrossEntropy);
        s.hidden.clear();
        check_gradients(
            &Net::init(s.clone(), 4).unwrap(),
            Loss::CrossEntropy,
            Mode::Eval,
        );
        // Numeric inputs only: the batch's categorical block must be empty too.
        s.cardinalities.clear();
        s.hidden = vec![3];
        let net = Net::init(s, 5).unwrap();
        let mut d = data(Loss::CrossEntropy);
        d.categorical.clear();
        d.categorical_width = 0;
        let p: Vec<f64> = net.params().iter().map(|&v| f64::from(v)).collect();
        let (_, g) = f64_loss(&net, &p, &d.batch(0..6), Loss::CrossEntropy, Mode::Eval);
        let h = 1e-6;
        for i in 0..p.len() {
            let (mut up, mut down) = (p.clone(), p.clone());
            up[i] += h;
            down[i] -= h;
            let b = d.batch(0..6);
            let fd = (f64_loss(&net, &up, &b, Loss::CrossEntropy, Mode::Eval).0
                - f64_loss(&net, &down, &b, Loss::CrossEntropy, Mode::Eval).0)
                / (2.0 * h);
            assert!((fd - g[i]).abs() <= 1e-6 * g[i].abs().max(1.0));
        }
    }

    #[test]
    fn f32_pass_agrees_with_the_f64_one() {
        let loss = Loss::CrossEntropy;
        let net = Net::init(spec(Activation::Silu, true, 0.25, loss), 6).unwrap();
        let d = data(loss);
        let b = d.batch(0..6);
        let mut g32 = vec![0f32; net.num_params()];
        let l32 = net
            .loss_and_grad(&b, loss, TRAIN, &mut g32, &mut Workspace::new())
            .unwrap();
        let p: Vec<f64> = net.params().iter().map(|&v| f64::from(v)).collect();
        let (l64, g64) = f64_loss(&net, &p, &b, loss, TRAIN);
        assert!((l32 - l64).abs() < 1e-5 * l64.abs().max(1.0));
        for (a, b) in g32.iter().zip(&g64) {
            assert!((f64::from(*a) - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn splitting_a_batch_changes_nothing_but_rounding() {
        // Dropout on: masks follow global row ids, so two halves give the whole's result.
        let loss = Loss::CrossEntropy;
        let net = Net::init(spec(Activation::Relu, true, 0.5, loss), 8).unwrap();
        let d = data(loss);
        let mode = |first_row| Mode::Train {
            seed: 1,
            step: 9,
            first_row,
        };
        let mut ws = Workspace::new();
        let mut whole = vec![0f32; net.num_params()];
        let lw = net
            .loss_and_grad(&d.batch(0..6), loss, mode(40), &mut whole, &mut ws)
            .unwrap();
        let mut parts = vec![0f32; net.num_params()];
        let l1 = net
            .loss_and_grad(&d.batch(0..2), loss, mode(40), &mut parts, &mut ws)
            .unwrap();
        let l2 = net
            .loss_and_grad(&d.batch(2..6), loss, mode(42), &mut parts, &mut ws)
            .unwrap();
        assert!((lw - (l1 + l2)).abs() < 1e-5);
        for (a, b) in whole.iter().zip(&parts) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        // Another first row draws other masks.
        let mut other = vec![0f32; net.num_params()];
        let lo = net
            .loss_and_grad(&d.batch(0..6), loss, mode(0), &mut other, &mut ws)
            .unwrap();
        assert!((lo - lw).abs() > 1e-4);
    }

    #[test]
    fn dropout_masks_are_a_pure_function_with_the_right_rate() {
        assert_eq!(
            dropout_keep(1, 2, 3, 0, 4, 0.5),
            dropout_keep(1, 2, 3, 0, 4, 0.5)
        );
        let n = 100_000u32;
        let kept = (0..n).filter(|&u| dropout_keep(5, 0, 7, 1, u, 0.3)).count();
        let rate = kept as f64 / f64::from(n);
        assert!((rate - 0.7).abs() < 0.01, "{rate}");
        // Rows and steps decorrelate: the same unit differs across rows.
        let rows = (0..1000u64)
            .filter(|&r| dropout_keep(5, 0, r, 1, 0, 0.5))
            .count();
        assert!((400..600).contains(&rows), "{rows}");
        assert!((0..1000).all(|u| dropout_keep(5, 0, 0, 0, u, 0.0)));
    }

    #[test]
    fn an_eval_pass_after_a_training_pass_uses_no_mask() {
        // Regression test: the backward pass once applied the previous training pass's mask.
        let loss = Loss::Mse;
        let net = Net::init(spec(Activation::Relu, false, 0.5, loss), 3).unwrap();
        let d = data(loss);
        let b = d.batch(0..6);
        let mut fresh = vec![0f32; net.num_params()];
        net.loss_and_grad(&b, loss, Mode::Eval, &mut fresh, &mut Workspace::new())
            .unwrap();
        let mut ws = Workspace::new();
        let mut scratch = vec![0f32; net.num_params()];
        net.loss_and_grad(&b, loss, TRAIN, &mut scratch, &mut ws)
            .unwrap();
        let mut after = vec![0f32; net.num_params()];
        net.loss_and_grad(&b, loss, Mode::Eval, &mut after, &mut ws)
            .unwrap();
        assert_eq!(fresh, after);
    }

    #[test]
    fn predict_gives_the_outputs_the_loss_sees() {
        let loss = Loss::Mse;
        let net = Net::init(spec(Activation::Gelu, false, 0.5, loss), 9).unwrap();
        let d = data(loss);
        let b = d.batch(0..6);
        let mut ws = Workspace::new();
        let mut out = vec![];
        net.predict(&b, &mut out, &mut ws).unwrap();
        assert_eq!(out.len(), 6);
        let by_hand: f64 = out
            .iter()
            .zip(&d.labels)
            .map(|(o, y)| f64::from(o - y).powi(2))
            .sum();
        let mut g = vec![0f32; net.num_params()];
        let l = net
            .loss_and_grad(&b, loss, Mode::Eval, &mut g, &mut ws)
            .unwrap();
        assert!((l - by_hand).abs() < 1e-5 * by_hand.max(1.0));
    }

    #[test]
    fn steady_state_calls_reuse_the_workspace() {
        let loss = Loss::CrossEntropy;
        let net = Net::init(spec(Activation::Relu, true, 0.2, loss), 9).unwrap();
        let d = data(loss);
        let mut ws = Workspace::new();
        let mut g = vec![0f32; net.num_params()];
        // The backward pass trades its three gradient buffers around, so each may take every
        // role once before all are large enough: a few warm-up calls, then no new buffer.
        let mut step = |rows| {
            net.loss_and_grad(&d.batch(0..rows), loss, TRAIN, &mut g, &mut ws)
                .unwrap();
            let b = &ws.bufs;
            let mut p = vec![
                b.x0.as_ptr(),
                b.z[1].as_ptr(),
                b.h[0].as_ptr(),
                b.keep[1].as_ptr(),
            ];
            p.extend([b.d_a.as_ptr(), b.d_b.as_ptr(), b.d_out.as_ptr()]);
            p.sort();
            p
        };
        for _ in 0..4 {
            step(6);
        }
        let warm = step(6);
        for rows in [5, 6, 3, 6] {
            assert_eq!(step(rows), warm);
        }
    }

    #[test]
    fn out_of_range_categories_and_bad_labels_name_column_and_row() {
        let loss = Loss::CrossEntropy;
        let net = Net::init(spec(Activation::Relu, false, 0.0, loss), 1).unwrap();
        let mut ws = Workspace::new();
        let mut g = vec![0f32; net.num_params()];
        for bad in [4i64, -1] {
            let mut d = data(loss);
            d.categorical[2 * 2] = bad; // row 2, column 0
            let err = net
                .loss_and_grad(&d.batch(0..6), loss, TRAIN, &mut g, &mut ws)
                .unwrap_err();
            assert_eq!(
                err,
                Error::CategoryOutOfRange {
                    column: 0,
                    row: 102,
                    index: bad,
                    cardinality: 4
                }
            );
            assert!(net.predict(&d.batch(0..6), &mut vec![], &mut ws).is_err());
        }
        let mut d = data(loss);
        d.labels[5] = 3.0;
        let err = net
            .loss_and_grad(&d.batch(0..6), loss, TRAIN, &mut g, &mut ws)
            .unwrap_err();
        assert!(matches!(err, Error::Label { row: 105, .. }), "{err}");
        // Nothing was added on the way.
        assert!(g.iter().all(|&v| v == 0.0));
        // A loss that does not fit, a short gradient buffer, a mis-shaped batch.
        let d = data(loss);
        assert!(matches!(
            net.loss_and_grad(&d.batch(0..6), Loss::Mse, TRAIN, &mut g, &mut ws),
            Err(Error::LossTask { .. })
        ));
        assert!(matches!(
            net.loss_and_grad(&d.batch(0..6), loss, TRAIN, &mut g[1..], &mut ws),
            Err(Error::ParamCount { .. })
        ));
        let mut b = d.batch(0..6);
        b.numeric_width = 2;
        assert!(matches!(
            net.loss_and_grad(&b, loss, TRAIN, &mut g, &mut ws),
            Err(Error::BatchShape { .. })
        ));
    }

    #[test]
    fn init_is_seeded_and_follows_pytorchs_distributions() {
        let mut s = spec(Activation::Relu, true, 0.0, Loss::CrossEntropy);
        s.cardinalities = vec![2000];
        s.embedding_dim = 8;
        let a = Net::init(s.clone(), 42).unwrap();
        assert_eq!(a, Net::init(s.clone(), 42).unwrap());
        assert_ne!(a.params(), Net::init(s.clone(), 43).unwrap().params());
        for p in a.named_params() {
            let v = &a.params()[p.offset..p.offset + p.len()];
            if p.name.starts_with("embeddings") {
                let n = v.len() as f64;
                let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
                let var = v
                    .iter()
                    .map(|&x| (f64::from(x) - mean).powi(2))
                    .sum::<f64>()
                    / n;
                assert!(
                    mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
                    "{mean} {var}"
                );
            } else if p.name.starts_with("norms") {
                let want = if p.name.ends_with("weight") { 1.0 } else { 0.0 };
                assert!(v.iter().all(|&x| x == want), "{}", p.name);
            } else {
                let fan_in = a
                    .named_params()
                    .iter()
                    .find(|q| q.name == p.name.replace("bias", "weight"))
                    .unwrap()
                    .shape[1];
                let bound = 1.0 / (fan_in as f32).sqrt();
                assert!(v.iter().all(|x| x.abs() <= bound), "{}", p.name);
                assert!(v.iter().any(|x| x.abs() > bound / 2.0), "{}", p.name);
            }
        }
    }

    #[test]
    fn named_params_follow_the_state_dict() {
        let net = Net::init(spec(Activation::Relu, true, 0.0, Loss::CrossEntropy), 0).unwrap();
        let got: Vec<(String, Vec<usize>)> = net
            .named_params()
            .into_iter()
            .map(|p| (p.name, p.shape))
            .collect();
        let want: Vec<(String, Vec<usize>)> = [
            ("embeddings.0.weight", vec![4, 2]),
            ("embeddings.1.weight", vec![3, 2]),
            ("layers.0.weight", vec![5, 7]),
            ("layers.0.bias", vec![5]),
            ("layers.1.weight", vec![4, 5]),
            ("layers.1.bias", vec![4]),
            ("norms.0.weight", vec![5]),
            ("norms.0.bias", vec![5]),
            ("norms.1.weight", vec![4]),
            ("norms.1.bias", vec![4]),
            ("head.weight", vec![3, 4]),
            ("head.bias", vec![3]),
        ]
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
        assert_eq!(got, want);
        let total: usize = net.named_params().iter().map(ParamInfo::len).sum();
        assert_eq!(total, net.num_params());
        assert_eq!(
            net.param_at(8 + 6 + 7 + 2).as_deref(),
            Some("layers.0.weight[1, 2]")
        );
        assert_eq!(net.param_at(net.num_params()), None);
        assert!(matches!(
            Net::from_params(net.spec().clone(), vec![0.0; 3]),
            Err(Error::ParamCount { expected, got: 3, .. }) if expected == net.num_params()
        ));
    }

    #[test]
    fn invalid_specs_are_refused_with_the_field() {
        let base = spec(Activation::Relu, false, 0.0, Loss::CrossEntropy);
        type Change = fn(&mut NetSpec);
        let cases: [(&str, Change); 7] = [
            ("hidden", |s| s.hidden[1] = 0),
            ("cardinalities", |s| s.cardinalities[0] = 0),
            ("embedding_dim", |s| s.embedding_dim = 0),
            ("outputs", |s| s.outputs = 0),
            ("outputs", |s| s.task = Task::Regression),
            ("dropout", |s| s.dropout = 1.0),
            ("numeric_width", |s| {
                s.numeric_width = 0;
                s.cardinalities.clear();
            }),
        ];
        for (field, change) in cases {
            let mut s = base.clone();
            change(&mut s);
            match Net::init(s, 0) {
                Err(Error::Spec { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
