//! The training loop: epochs of optimizer steps over sharded data, on one worker or several.
//!
//! **Shards.** A worker's rows are grouped into numbered shards ([`Shard`]); `shards` of them
//! exist across all workers (16 by default), each wholly on one worker. A step's global batch
//! takes `batch_size / shards` rows from every shard, so which rows form a step depends only on
//! the shards, never on how many workers hold them or how many threads score them. Each epoch
//! shuffles every shard with a generator seeded by `(seed, epoch, shard)`.
//!
//! **One step.** Every local shard's slice of the batch goes through the network on the
//! worker's thread pool, giving that shard's loss sum and gradient sum
//! ([`Net::loss_and_grad`] adds; nothing is averaged per shard). Then the workers combine:
//! - *deterministic mode*: every worker gathers every shard's gradient
//!   ([`Group::allgather_bytes`]) and sums them in shard order, so the result is bit for bit the
//!   same with 1 worker or 8, and with any number of threads;
//! - otherwise: each worker sums its shards, then a ring allreduce sums the workers
//!   ([`Group::allreduce_sum`]), which moves 2/world of the gradient per worker instead of all
//!   of it, at the price of a summation order that depends on the number of workers.
//!
//! The sum is divided by the step's total rows and handed to the optimizer, which every worker
//! runs on identical inputs, so the parameters never diverge between workers.
//!
//! **Epochs** end with a validation pass over each worker's held-out rows (loss, accuracy, AUC
//! for two classes, RMSE for regression; combined exactly across workers), early stopping on
//! the validation loss, and a [`Checkpoint`]. Checkpoints also come every `checkpoint_interval`
//! steps; [`fit`] resumes from one at the step it was taken, with the same shuffles, so a
//! restarted job continues the run it replaces.
//!
//! A non-finite loss stops training with [`Error::Diverged`] naming the epoch and step.

use crate::collective::{self, Group};
use crate::data::{Batch, Dataset};
use crate::loss::Loss;
use crate::net::{Mode, Net, Task, Workspace};
use crate::optim::{Optimizer, OptimizerConfig, OptimizerKind, OptimizerState};
use crate::schedule::Schedule;
use chacha20::ChaCha8Rng;
use chacha20::rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Shards across all workers unless configured otherwise.
pub const DEFAULT_SHARDS: usize = 16;

/// How to train (everything but the network's shape and the data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The loss minimised.
    pub loss: Loss,
    /// The optimizer and its weight decay and clipping.
    pub optimizer: OptimizerConfig,
    /// The base learning rate.
    pub learning_rate: f64,
    /// How the learning rate changes from epoch to epoch.
    pub schedule: Schedule,
    /// Rows per optimizer step across all workers (split evenly over the shards).
    pub batch_size: usize,
    /// Passes over the training rows.
    pub epochs: usize,
    /// Seeds the shuffles and the dropout masks (the initial weights take it separately).
    pub seed: u64,
    /// Shards across all workers; at least the number of workers.
    pub shards: usize,
    /// Sum gradients in shard order, so results do not depend on workers or threads.
    pub deterministic: bool,
    /// Threads per worker (0: as many as the machine has).
    pub threads: usize,
    /// A checkpoint every this many steps (0: at the end of each epoch only).
    pub checkpoint_interval: u64,
    /// Stop after this many epochs without a better validation loss (needs validation rows).
    pub early_stopping_patience: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            loss: Loss::CrossEntropy,
            optimizer: OptimizerConfig {
                kind: OptimizerKind::Adam {
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                },
                weight_decay: 0.0,
                clip_grad_norm: None,
            },
            learning_rate: 1e-3,
            schedule: Schedule::Constant,
            batch_size: 256,
            epochs: 10,
            seed: 0,
            shards: DEFAULT_SHARDS,
            deterministic: false,
            threads: 0,
            checkpoint_interval: 0,
            early_stopping_patience: None,
        }
    }
}

/// One shard of a worker's training rows.
#[derive(Debug, Clone)]
pub struct Shard {
    /// Its number, below [`TrainConfig::shards`], unique across workers.
    pub id: usize,
    /// Its rows, in a stable order (the epoch shuffles start from it).
    pub rows: Dataset,
}

impl Shard {
    /// Splits `data` into `count` shards by row number (row `i` into shard `i % count`),
    /// numbered `first, first + stride, ...`: how one worker shards rows that were not
    /// assigned to shards before they reached it.
    pub fn split(data: &Dataset, count: usize, first: usize, stride: usize) -> Vec<Shard> {
        let count = count.max(1);
        let mut shards: Vec<Shard> = (0..count)
            .map(|i| Shard {
                id: first + i * stride,
                rows: Dataset::new(data.numeric_width, data.categorical_width),
            })
            .collect();
        for row in 0..data.rows() {
            shards[row % count].rows.push_row(data, row);
        }
        shards
    }

    /// Groups rows by their shard number (`ids`, one per row of `data`), keeping row order
    /// within each shard.
    pub fn group(data: &Dataset, ids: &[u32]) -> Result<Vec<Shard>, Error> {
        if ids.len() != data.rows() {
            return Err(Error::Config(format!(
                "{} shard numbers for {} rows",
                ids.len(),
                data.rows()
            )));
        }
        let mut shards: Vec<Shard> = Vec::new();
        for (row, &id) in ids.iter().enumerate() {
            let id = id as usize;
            let at = match shards.binary_search_by_key(&id, |s| s.id) {
                Ok(at) => at,
                Err(at) => {
                    let rows = Dataset::new(data.numeric_width, data.categorical_width);
                    shards.insert(at, Shard { id, rows });
                    at
                }
            };
            shards[at].rows.push_row(data, row);
        }
        Ok(shards)
    }
}

/// What one epoch measured, identical on every worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// The epoch, from 0.
    pub epoch: usize,
    /// Optimizer steps taken so far in the run.
    pub steps: u64,
    /// Mean training loss over the epoch's rows.
    pub train_loss: f64,
    /// Mean validation loss, when there are validation rows.
    pub validation_loss: Option<f64>,
    /// Share of validation rows classified right (classification).
    pub validation_accuracy: Option<f64>,
    /// Area under the ROC curve on the validation rows (two classes).
    pub validation_auc: Option<f64>,
    /// Root mean squared error on the validation rows (regression).
    pub validation_rmse: Option<f64>,
    /// The learning rate the epoch used.
    pub learning_rate: f64,
    /// Training rows per second on this worker's clock.
    pub rows_per_second: f64,
}

/// Everything needed to continue a run where it was: taken at the start of a step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The epoch the next step belongs to.
    pub epoch: usize,
    /// The next step within that epoch.
    pub step_in_epoch: u64,
    /// Steps taken in the whole run.
    pub steps: u64,
    /// The parameters.
    pub params: Vec<f32>,
    /// The optimizer's moments and step count.
    pub optimizer: OptimizerState,
    /// The parameters of the best epoch so far and its validation loss (early stopping).
    pub best: Option<(f64, Vec<f32>)>,
    /// Epochs since the best one.
    pub epochs_without_improvement: usize,
    /// The metrics of the finished epochs.
    pub history: Vec<EpochMetrics>,
    /// This epoch's training loss sum and rows so far.
    pub epoch_loss: (f64, u64),
}

/// What a run hands back.
#[derive(Debug, Clone, PartialEq)]
pub struct Trained {
    /// The final parameters (the best epoch's, with early stopping).
    pub params: Vec<f32>,
    /// One entry per finished epoch.
    pub history: Vec<EpochMetrics>,
    /// Optimizer steps taken.
    pub steps: u64,
}

/// Hears about a run as it goes. Every worker calls it; a distributed caller reports from
/// one rank only.
pub trait Observer {
    /// An epoch finished.
    fn epoch(&mut self, metrics: &EpochMetrics);
    /// A checkpoint was taken.
    fn checkpoint(&mut self, checkpoint: &Checkpoint);
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn epoch(&mut self, _: &EpochMetrics) {}
    fn checkpoint(&mut self, _: &Checkpoint) {}
}

/// Why training stopped without a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work (named).
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// No worker holds a training row.
    #[error("no training rows: every partition is empty after the validation split")]
    NoData,
    /// The loss or a gradient became NaN or infinite.
    #[error(
        "training diverged at epoch {epoch}, step {step}: the loss is {loss}; lower the learning rate or clip the gradient's norm"
    )]
    Diverged {
        /// The epoch, from 0.
        epoch: usize,
        /// The step in the run, from 1.
        step: u64,
        /// The loss seen.
        loss: f64,
    },
    /// The network refused a batch (a bad category index or label, named).
    #[error(transparent)]
    Net(#[from] crate::Error),
    /// The workers could not talk.
    #[error(transparent)]
    Collective(#[from] collective::Error),
    /// A checkpoint from another run (other shapes).
    #[error("the checkpoint does not fit this run: {0}")]
    Checkpoint(String),
}

/// Trains `net` on this worker's `shards` (and scores its `validation` shards after each epoch) together
/// with the other workers of `group`, from `resume` when given.
pub fn fit(
    net: &mut Net,
    shards: &[Shard],
    validation: &[Shard],
    config: &TrainConfig,
    group: &mut Group,
    resume: Option<Checkpoint>,
    observer: &mut dyn Observer,
) -> Result<Trained, Error> {
    check_config(config, group, shards)?;
    let mut optimizer = Optimizer::new(config.optimizer, net.num_params())?;
    let mut state = match resume {
        Some(c) => {
            if c.params.len() != net.num_params() {
                return Err(Error::Checkpoint(format!(
                    "{} parameters, the network has {}",
                    c.params.len(),
                    net.num_params()
                )));
            }
            net.params_mut().copy_from_slice(&c.params);
            optimizer
                .restore(c.optimizer.clone())
                .map_err(|e| Error::Checkpoint(e.to_string()))?;
            c
        }
        None => Checkpoint {
            epoch: 0,
            step_in_epoch: 0,
            steps: 0,
            params: Vec::new(),
            optimizer: optimizer.state(),
            best: None,
            epochs_without_improvement: 0,
            history: Vec::new(),
            epoch_loss: (0.0, 0),
        },
    };

    let per_shard = (config.batch_size / config.shards).max(1);
    let steps_per_epoch = {
        let local = shards
            .iter()
            .map(|s| s.rows.rows().div_ceil(per_shard))
            .max()
            .unwrap_or(0) as f64;
        // The longest shard anywhere sets the epoch's length: gathered, so every worker agrees.
        let all = group.allgather_bytes(&local.to_le_bytes())?;
        all.iter().map(|b| f64_from(b)).fold(0.0, f64::max) as u64
    };
    if steps_per_epoch == 0 {
        return Err(Error::NoData);
    }
    let threads = match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(shards.len().max(1));
    let pool = if threads > 1 {
        Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("keel-train-{i}"))
                .build()
                .map_err(|e| Error::Config(format!("cannot start {threads} threads: {e}")))?,
        )
    } else {
        None
    };
    let n = net.num_params();
    let mut slots: Vec<ShardSlot> = shards
        .iter()
        .map(|_| ShardSlot {
            grads: vec![0.0; n],
            loss: 0.0,
            rows: 0,
            ws: Workspace::new(),
        })
        .collect();
    // The summed gradient, then two slots for the step's loss and rows (ring mode).
    let mut total = vec![0.0f32; n + 2];

    while state.epoch < config.epochs {
        let epoch = state.epoch;
        let lr = config.schedule.lr_at(config.learning_rate, epoch as u64);
        let order: Vec<Dataset> = shards
            .iter()
            .map(|s| shuffled(&s.rows, config.seed, epoch, s.id))
            .collect();
        let started = std::time::Instant::now();
        let mut epoch_rows_here = 0u64;
        while state.step_in_epoch < steps_per_epoch {
            if config.checkpoint_interval > 0
                && state.steps > 0
                && state.steps % config.checkpoint_interval == 0
                && state.step_in_epoch > 0
            {
                state.params = net.params().to_vec();
                state.optimizer = optimizer.state();
                observer.checkpoint(&state);
            }
            let t = state.step_in_epoch as usize;
            let step = state.steps + 1;
            // Each shard's slice of this step, through the network on the worker's threads.
            let work = |slot: &mut ShardSlot, shard: &Shard, rows: &Dataset| {
                slot.grads.iter_mut().for_each(|g| *g = 0.0);
                let start = t * per_shard;
                let batch = rows.batch(start..start + per_shard);
                slot.rows = batch.rows as u64;
                slot.loss = 0.0;
                if batch.rows == 0 {
                    return Ok(());
                }
                let mode = Mode::Train {
                    seed: config.seed,
                    step,
                    first_row: ((shard.id as u64) << 32) | start as u64,
                };
                slot.loss =
                    net.loss_and_grad(&batch, config.loss, mode, &mut slot.grads, &mut slot.ws)?;
                Ok::<(), crate::Error>(())
            };
            run_shards(&mut slots, shards, &order, pool.as_ref(), &work)?;
            // One worker sums its shards in shard order either way: the deterministic path's
            // order, without serialising every shard's gradient.
            let (loss_sum, rows) = if config.deterministic && group.world() > 1 {
                combine_in_shard_order(&slots, shards, group, &mut total[..n])?
            } else {
                total.iter_mut().for_each(|g| *g = 0.0);
                let mut sums = [0.0f64; 2];
                for slot in &slots {
                    for (t, g) in total[..n].iter_mut().zip(&slot.grads) {
                        *t += g;
                    }
                    sums[0] += slot.loss;
                    sums[1] += slot.rows as f64;
                }
                if group.world() == 1 {
                    (sums[0], sums[1] as u64)
                } else {
                    // The loss and row count ride at the gradient's end: one exchange per
                    // step instead of two (each a round of the ring). Rows stay exact in f32
                    // below 2^24 per step; the loss only feeds the metrics and the
                    // divergence check.
                    total[n] = sums[0] as f32;
                    total[n + 1] = sums[1] as f32;
                    group.allreduce_sum(&mut total)?;
                    (f64::from(total[n]), total[n + 1] as u64)
                }
            };
            epoch_rows_here += slots.iter().map(|s| s.rows).sum::<u64>();
            if !loss_sum.is_finite() {
                return Err(Error::Diverged {
                    epoch,
                    step,
                    loss: loss_sum,
                });
            }
            if rows > 0 {
                let scale = 1.0 / rows as f32;
                let grads = &mut total[..n];
                grads.iter_mut().for_each(|g| *g *= scale);
                optimizer.step(net.params_mut(), grads, lr)?;
                if net.params().iter().any(|p| !p.is_finite()) {
                    return Err(Error::Diverged {
                        epoch,
                        step,
                        loss: f64::NAN,
                    });
                }
            }
            state.epoch_loss.0 += loss_sum;
            state.epoch_loss.1 += rows;
            state.steps = step;
            state.step_in_epoch += 1;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let mut metrics = validate(net, validation, config, group)?;
        metrics.epoch = epoch;
        metrics.steps = state.steps;
        metrics.train_loss = state.epoch_loss.0 / state.epoch_loss.1.max(1) as f64;
        metrics.learning_rate = lr;
        metrics.rows_per_second = epoch_rows_here as f64 / elapsed.max(1e-9);
        state.history.push(metrics.clone());
        observer.epoch(&metrics);

        let mut stop = false;
        if let (Some(patience), Some(loss)) =
            (config.early_stopping_patience, metrics.validation_loss)
        {
            let better = state.best.as_ref().is_none_or(|(best, _)| loss < *best);
            if better {
                state.best = Some((loss, net.params().to_vec()));
                state.epochs_without_improvement = 0;
            } else {
                state.epochs_without_improvement += 1;
                stop = state.epochs_without_improvement >= patience;
            }
        }
        state.epoch += 1;
        state.step_in_epoch = 0;
        state.epoch_loss = (0.0, 0);
        state.params = net.params().to_vec();
        state.optimizer = optimizer.state();
        observer.checkpoint(&state);
        if stop {
            break;
        }
    }
    let params = match state.best {
        Some((_, best)) => best,
        None => net.params().to_vec(),
    };
    net.params_mut().copy_from_slice(&params);
    Ok(Trained {
        params,
        history: state.history,
        steps: state.steps,
    })
}

/// One local shard's share of a step.
struct ShardSlot {
    grads: Vec<f32>,
    loss: f64,
    rows: u64,
    ws: Workspace,
}

fn check_config(config: &TrainConfig, group: &Group, shards: &[Shard]) -> Result<(), Error> {
    if config.batch_size == 0 {
        return Err(Error::Config("batch_size must be at least 1".into()));
    }
    if config.shards == 0 || config.shards < group.world() {
        return Err(Error::Config(format!(
            "{} shards for {} workers: each worker needs at least one",
            config.shards,
            group.world()
        )));
    }
    if !(config.learning_rate.is_finite() && config.learning_rate > 0.0) {
        return Err(Error::Config(format!(
            "learning_rate must be positive, not {}",
            config.learning_rate
        )));
    }
    if let Some(s) = shards.iter().find(|s| s.id >= config.shards) {
        return Err(Error::Config(format!(
            "shard {} is not below the {} shards configured",
            s.id, config.shards
        )));
    }
    if config.early_stopping_patience == Some(0) {
        return Err(Error::Config(
            "early_stopping_patience must be at least 1".into(),
        ));
    }
    Ok(())
}

/// `rows` shuffled for `epoch`: a pure function of the seed, the epoch and the shard number.
fn shuffled(rows: &Dataset, seed: u64, epoch: usize, shard: usize) -> Dataset {
    let mut order: Vec<usize> = (0..rows.rows()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // One stream per (epoch, shard): ChaCha's stream id, so no two shuffles share numbers.
    rng.set_stream(((epoch as u64) << 32) | shard as u64);
    // Fisher–Yates with Lemire's unbiased bounded draw, written out so the order depends on
    // nothing but the generator's raw output.
    for i in (1..order.len()).rev() {
        let j = below(&mut rng, i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let mut out = Dataset::new(rows.numeric_width, rows.categorical_width);
    for row in order {
        out.push_row(rows, row);
    }
    out
}

/// A uniform draw from `0..n` (Lemire's method, rejecting the biased low products).
fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = u128::from(rng.next_u64()) * u128::from(n);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

/// Runs `work` for every local shard, on `pool`'s threads when there is one. The pool lives
/// as long as the run: a step is a few milliseconds, and spawning threads per step cost more
/// than the work on small batches.
fn run_shards<F>(
    slots: &mut [ShardSlot],
    shards: &[Shard],
    order: &[Dataset],
    pool: Option<&rayon::ThreadPool>,
    work: &F,
) -> Result<(), crate::Error>
where
    F: Fn(&mut ShardSlot, &Shard, &Dataset) -> Result<(), crate::Error> + Sync,
{
    use rayon::prelude::*;
    match pool {
        Some(pool) if slots.len() > 1 => pool.install(|| {
            slots
                .par_iter_mut()
                .zip(shards.par_iter())
                .zip(order.par_iter())
                .try_for_each(|((slot, shard), rows)| work(slot, shard, rows))
        }),
        _ => {
            for ((slot, shard), rows) in slots.iter_mut().zip(shards).zip(order) {
                work(slot, shard, rows)?;
            }
            Ok(())
        }
    }
}

/// Deterministic mode: every shard's gradient and loss, from every worker, summed in shard
/// order into `total`.
fn combine_in_shard_order(
    slots: &[ShardSlot],
    shards: &[Shard],
    group: &mut Group,
    total: &mut [f32],
) -> Result<(f64, u64), Error> {
    // Payload per shard: id (u64), rows (u64), loss (f64), then the gradient (f32 each).
    let mut local = Vec::with_capacity(slots.len() * (24 + total.len() * 4));
    for (slot, shard) in slots.iter().zip(shards) {
        local.extend_from_slice(&(shard.id as u64).to_le_bytes());
        local.extend_from_slice(&slot.rows.to_le_bytes());
        local.extend_from_slice(&slot.loss.to_le_bytes());
        for g in &slot.grads {
            local.extend_from_slice(&g.to_le_bytes());
        }
    }
    let gathered = group.allgather_bytes(&local)?;
    let record = 24 + total.len() * 4;
    let mut parts: Vec<&[u8]> = Vec::new();
    for bytes in &gathered {
        if bytes.len() % record != 0 {
            return Err(Error::Config(format!(
                "a worker sent {} bytes of gradients, not a multiple of {record}: do all workers train the same network?",
                bytes.len()
            )));
        }
        parts.extend(bytes.chunks_exact(record));
    }
    parts.sort_by_key(|p| u64_from(&p[..8]));
    total.iter_mut().for_each(|g| *g = 0.0);
    let (mut loss, mut rows) = (0.0f64, 0u64);
    for p in parts {
        rows += u64_from(&p[8..16]);
        loss += f64_from(&p[16..24]);
        for (t, g) in total.iter_mut().zip(p[24..].chunks_exact(4)) {
            *t += f32::from_le_bytes([g[0], g[1], g[2], g[3]]);
        }
    }
    Ok((loss, rows))
}

fn u64_from(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

fn f64_from(b: &[u8]) -> f64 {
    f64::from_bits(u64_from(b))
}

/// The validation pass: each of this worker's validation shards scored, its sums (loss, rows,
/// right answers, squared error) gathered from every worker and added in shard order, so every
/// worker gets the same figures, whatever the number of workers.
fn validate(
    net: &Net,
    shards: &[Shard],
    config: &TrainConfig,
    group: &mut Group,
) -> Result<EpochMetrics, Error> {
    const CHUNK: usize = 4096;
    let spec = net.spec();
    let mut ws = Workspace::new();
    let mut out = Vec::new();
    let binary = spec.task == Task::Classification && binary_outputs(spec.outputs, config.loss);
    let mut scores: Vec<u8> = Vec::new();
    // Per shard: id, then loss sum, rows, right answers, squared error.
    let mut local: Vec<u8> = Vec::with_capacity(shards.len() * 40);
    for shard in shards {
        let rows = &shard.rows;
        let mut sums = [0.0f64; 4];
        let mut start = 0;
        while start < rows.rows() {
            let batch: Batch<'_> = rows.batch(start..start + CHUNK);
            net.predict(&batch, &mut out, &mut ws)?;
            sums[1] += batch.rows as f64;
            let k = spec.outputs;
            for (i, &label) in batch.labels.iter().enumerate() {
                let o = &out[i * k..(i + 1) * k];
                sums[0] += f64::from(config.loss.row((start + i) as u64, o, label, None)?);
                match spec.task {
                    Task::Classification => {
                        let class = if k == 1 {
                            usize::from(o[0] > 0.0)
                        } else {
                            argmax(o)
                        };
                        sums[2] += f64::from(u8::from(class as f32 == label));
                        if binary {
                            let score = if k == 1 { o[0] } else { o[1] - o[0] };
                            scores.extend_from_slice(&score.to_le_bytes());
                            scores.push(u8::from(label > 0.5));
                        }
                    }
                    Task::Regression => {
                        let value = if config.loss == Loss::Poisson {
                            o[0].exp()
                        } else {
                            o[0]
                        };
                        let e = f64::from(value - label);
                        sums[3] += e * e;
                    }
                }
            }
            start += CHUNK;
        }
        local.extend_from_slice(&(shard.id as u64).to_le_bytes());
        for v in sums {
            local.extend_from_slice(&v.to_le_bytes());
        }
    }
    let gathered = group.allgather_bytes(&local)?;
    let mut records: Vec<&[u8]> = gathered.iter().flat_map(|b| b.chunks_exact(40)).collect();
    records.sort_by_key(|r| u64_from(&r[..8]));
    let mut total = [0.0f64; 4];
    for r in records {
        for (i, t) in total.iter_mut().enumerate() {
            *t += f64_from(&r[8 + i * 8..16 + i * 8]);
        }
    }
    let mut m = EpochMetrics {
        epoch: 0,
        steps: 0,
        train_loss: 0.0,
        validation_loss: None,
        validation_accuracy: None,
        validation_auc: None,
        validation_rmse: None,
        learning_rate: 0.0,
        rows_per_second: 0.0,
    };
    if total[1] == 0.0 {
        return Ok(m);
    }
    m.validation_loss = Some(total[0] / total[1]);
    match spec.task {
        Task::Classification => {
            m.validation_accuracy = Some(total[2] / total[1]);
            if binary {
                let all = group.allgather_bytes(&scores)?;
                let mut pairs: Vec<(f32, bool)> = all
                    .iter()
                    .flat_map(|b| b.chunks_exact(5))
                    .map(|c| (f32::from_le_bytes([c[0], c[1], c[2], c[3]]), c[4] == 1))
                    .collect();
                m.validation_auc = auc(&mut pairs);
            }
        }
        Task::Regression => m.validation_rmse = Some((total[3] / total[1]).sqrt()),
    }
    Ok(m)
}

/// Whether a classifier's outputs separate two classes (a single logit, or two classes).
fn binary_outputs(outputs: usize, loss: Loss) -> bool {
    outputs == 2 || (outputs == 1 && loss == Loss::BinaryCrossEntropy)
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best
}

/// The area under the ROC curve (ties counted half), as the Mann–Whitney statistic; `None`
/// when one class is absent.
pub fn auc(pairs: &mut [(f32, bool)]) -> Option<f64> {
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let positives = pairs.iter().filter(|p| p.1).count() as f64;
    let negatives = pairs.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    // Rank sum of the positives with average ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < pairs.len() {
        let mut j = i;
        while j < pairs.len() && pairs[j].0 == pairs[i].0 {
            j += 1;
        }
        let avg_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += avg_rank * pairs[i..j].iter().filter(|p| p.1).count() as f64;
        i = j;
    }
    Some((rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_as_half_and_needs_both_classes() {
        // Positives at 0.8 and 0.4, negatives at 0.4 and 0.1: of the four pairs, three are
        // ordered right and one is tied, so the AUC is (3 + 0.5) / 4.
        let mut p = vec![(0.8, true), (0.4, true), (0.4, false), (0.1, false)];
        assert_eq!(auc(&mut p), Some(0.875));
        let mut one = vec![(0.3, true), (0.2, true)];
        assert_eq!(auc(&mut one), None);
    }

    fn rows(n: usize) -> Dataset {
        Dataset {
            numeric_width: 1,
            categorical_width: 0,
            numeric: (0..n).map(|i| i as f32).collect(),
            categorical: Vec::new(),
            labels: (0..n).map(|i| (i % 2) as f32).collect(),
        }
    }

    #[test]
    fn split_and_group_keep_row_order_within_shards() {
        let d = rows(7);
        let split = Shard::split(&d, 3, 1, 4);
        assert_eq!(
            split.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![1, 5, 9]
        );
        assert_eq!(split[0].rows.numeric, vec![0.0, 3.0, 6.0]);
        let grouped = Shard::group(&d, &[2, 0, 2, 0, 1, 1, 2]).unwrap();
        assert_eq!(
            grouped.iter().map(|s| s.id).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert_eq!(grouped[2].rows.numeric, vec![0.0, 2.0, 6.0]);
        assert!(Shard::group(&d, &[0]).is_err());
    }

    #[test]
    fn shuffles_depend_on_seed_epoch_and_shard_only() {
        let d = rows(50);
        let a = shuffled(&d, 7, 1, 3);
        assert_eq!(a, shuffled(&d, 7, 1, 3));
        assert_ne!(a.numeric, shuffled(&d, 7, 2, 3).numeric);
        assert_ne!(a.numeric, shuffled(&d, 7, 1, 4).numeric);
        let mut sorted = a.numeric.clone();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(sorted, d.numeric);
    }
}
