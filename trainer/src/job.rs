//! A training job as its users describe it: one flat JSON configuration shared by
//! `keel train`, `keel.train` in Python and `KeelNetEstimator` on Spark, and the steps every
//! one of them runs: statistics, the fitted feature plan, each worker's rows, training,
//! export.
//!
//! Rows reach a worker as Arrow batches holding the feature and label columns, plus, on
//! Spark, three bookkeeping columns the driver adds: `_keel_row` (a row id), `_keel_valid`
//! (whether the row is held out for validation) and, in deterministic mode, `_keel_shard`.
//! Without them (one machine) the row id is the row's position in the input, and the
//! validation split and the shards are derived from it here.

use crate::collective::Group;
use crate::data::Dataset;
use crate::export;
use crate::features::{self, FeaturePlan, FeatureSpec, FeatureStats};
use crate::loss::Loss;
use crate::net::{Activation, Net, NetSpec, Task};
use crate::optim::{OptimizerConfig, OptimizerKind};
use crate::schedule::Schedule;
use crate::train::{self, Checkpoint, EpochMetrics, Observer, Shard, TrainConfig};
use arrow_array::{Array, BooleanArray, Int32Array, Int64Array, RecordBatch};
use serde::{Deserialize, Serialize};

/// The bookkeeping columns the Spark driver adds (see the module doc).
pub const ROW_COLUMN: &str = "_keel_row";
/// Whether a row is held out for validation.
pub const VALID_COLUMN: &str = "_keel_valid";
/// A row's shard in deterministic mode.
pub const SHARD_COLUMN: &str = "_keel_shard";

/// What a user asks for, in the names `keel.train` and `keel train` use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields, default)]
pub struct JobConfig {
    /// Numeric feature columns.
    pub numeric_cols: Vec<String>,
    /// Categorical feature columns (strings or integers).
    pub categorical_cols: Vec<String>,
    /// The label column.
    pub label_col: String,
    /// Classification or regression.
    pub task: Task,
    /// At most this many categories per column (the most frequent).
    pub max_categories: Option<usize>,
    /// Categories seen fewer times go to the unseen slot.
    pub min_frequency: u64,
    /// Widths of the hidden layers.
    pub hidden_layers: Vec<usize>,
    /// Width of each embedding.
    pub embedding_dim: usize,
    /// The hidden layers' activation.
    pub activation: Activation,
    /// A LayerNorm after each hidden layer.
    pub layer_norm: bool,
    /// Dropout after each hidden layer.
    pub dropout: f32,
    /// The loss (default: cross-entropy for classification, MSE for regression).
    pub loss: Option<Loss>,
    /// `sgd`, `adam` or `adamw`.
    pub optimizer: String,
    /// The base learning rate.
    pub learning_rate: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// SGD's momentum.
    pub momentum: f64,
    /// Clip the gradient's 2-norm.
    pub clip_grad_norm: Option<f64>,
    /// `constant`, `step`, `exponential` or `cosine`, per epoch.
    pub lr_schedule: String,
    /// Rows per step across all workers.
    pub batch_size: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// Seeds everything random.
    pub seed: u64,
    /// Share of rows held out for validation.
    pub validation_fraction: f64,
    /// Early stopping's patience in epochs.
    pub early_stopping_patience: Option<usize>,
    /// Results independent of workers and threads.
    pub deterministic: bool,
    /// Threads per worker (0: all cores).
    pub threads: usize,
    /// Steps between checkpoints (0: each epoch).
    pub checkpoint_interval: u64,
    /// Shards across all workers.
    pub shards: usize,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            numeric_cols: Vec::new(),
            categorical_cols: Vec::new(),
            label_col: String::new(),
            task: Task::Classification,
            max_categories: None,
            min_frequency: 1,
            hidden_layers: vec![64, 32],
            embedding_dim: 8,
            activation: Activation::Relu,
            layer_norm: false,
            dropout: 0.0,
            loss: None,
            optimizer: "adam".into(),
            learning_rate: 1e-3,
            weight_decay: 0.0,
            momentum: 0.9,
            clip_grad_norm: None,
            lr_schedule: "constant".into(),
            batch_size: 256,
            epochs: 10,
            seed: 0,
            validation_fraction: 0.1,
            early_stopping_patience: None,
            deterministic: false,
            threads: 0,
            checkpoint_interval: 0,
            shards: train::DEFAULT_SHARDS,
        }
    }
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is not valid JSON for a job, or asks for something impossible.
    #[error("invalid training job: {0}")]
    Config(String),
    /// The feature stages refused the data (a column named).
    #[error(transparent)]
    Features(#[from] features::Error),
    /// The network's spec.
    #[error(transparent)]
    Net(#[from] crate::Error),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] train::Error),
    /// The bundle could not be built.
    #[error(transparent)]
    Export(#[from] export::Error),
}

impl JobConfig {
    /// Reads a job from JSON, naming the field that is wrong.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        serde_json::from_str(text).map_err(|e| Error::Config(e.to_string()))
    }

    /// The feature stages' part.
    pub fn feature_spec(&self) -> FeatureSpec {
        FeatureSpec {
            numeric_cols: self.numeric_cols.clone(),
            categorical_cols: self.categorical_cols.clone(),
            label_col: self.label_col.clone(),
            task: self.task,
            max_categories: self.max_categories,
            min_frequency: self.min_frequency,
        }
    }

    /// The loss, defaulted by task.
    pub fn loss(&self) -> Loss {
        self.loss.unwrap_or(match self.task {
            Task::Classification => Loss::CrossEntropy,
            Task::Regression => Loss::Mse,
        })
    }

    /// The network for `plan`'s features and classes.
    pub fn net_spec(&self, plan: &FeaturePlan) -> Result<NetSpec, Error> {
        let outputs = match (self.task, self.loss()) {
            (Task::Classification, Loss::BinaryCrossEntropy) => {
                let classes = plan.num_classes().unwrap_or(0);
                if classes != 2 {
                    return Err(Error::Config(format!(
                        "binary_cross_entropy needs two classes, the label has {classes}"
                    )));
                }
                1
            }
            (Task::Classification, _) => plan.num_classes().unwrap_or(0),
            (Task::Regression, _) => 1,
        };
        Ok(NetSpec {
            numeric_width: plan.numeric_width(),
            cardinalities: plan.cardinalities(),
            embedding_dim: self.embedding_dim,
            hidden: self.hidden_layers.clone(),
            activation: self.activation,
            layer_norm: self.layer_norm,
            dropout: self.dropout,
            outputs,
            task: self.task,
        })
    }

    /// The training loop's part.
    pub fn train_config(&self) -> Result<TrainConfig, Error> {
        let kind = match self.optimizer.as_str() {
            "sgd" => OptimizerKind::Sgd {
                momentum: self.momentum,
                dampening: 0.0,
                nesterov: false,
            },
            "adam" => OptimizerKind::Adam {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            "adamw" => OptimizerKind::AdamW {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            other => {
                return Err(Error::Config(format!(
                    "optimizer `{other}`: expected sgd, adam or adamw"
                )));
            }
        };
        let schedule = match self.lr_schedule.as_str() {
            "constant" => Schedule::Constant,
            "step" => Schedule::Step {
                step_size: (self.epochs as u64 / 3).max(1),
                gamma: 0.1,
            },
            "exponential" => Schedule::Exponential { gamma: 0.9 },
            "cosine" => Schedule::Cosine {
                t_max: (self.epochs as u64).max(1),
                eta_min: 0.0,
            },
            other => {
                return Err(Error::Config(format!(
                    "lr_schedule `{other}`: expected constant, step, exponential or cosine"
                )));
            }
        };
        if !(0.0..1.0).contains(&self.validation_fraction) {
            return Err(Error::Config(format!(
                "validation_fraction {} is not in [0, 1)",
                self.validation_fraction
            )));
        }
        Ok(TrainConfig {
            loss: self.loss(),
            optimizer: OptimizerConfig {
                kind,
                weight_decay: self.weight_decay,
                clip_grad_norm: self.clip_grad_norm,
            },
            learning_rate: self.learning_rate,
            schedule,
            batch_size: self.batch_size,
            epochs: self.epochs,
            seed: self.seed,
            shards: self.shards,
            deterministic: self.deterministic,
            threads: self.threads,
            checkpoint_interval: self.checkpoint_interval,
            early_stopping_patience: self.early_stopping_patience,
        })
    }
}

/// One pass of statistics over `batches`.
pub fn statistics<'a>(
    config: &JobConfig,
    batches: impl IntoIterator<Item = &'a RecordBatch>,
) -> Result<FeatureStats, Error> {
    let mut stats = FeatureStats::new(&config.feature_spec());
    for b in batches {
        stats.update(b)?;
    }
    Ok(stats)
}

/// The feature plan from the workers' merged statistics.
pub fn fit_features(config: &JobConfig, stats: &[FeatureStats]) -> Result<FeaturePlan, Error> {
    let spec = config.feature_spec();
    let mut all = FeatureStats::new(&spec);
    for s in stats {
        all.merge(s)?;
    }
    Ok(FeaturePlan::fit(&spec, &all)?)
}

/// A worker's rows, through the feature stages, split into training and validation.
#[derive(Debug)]
pub struct WorkerData {
    train: Dataset,
    shard_ids: Option<Vec<u32>>,
    validation: Dataset,
    validation_shard_ids: Option<Vec<u32>>,
    rows_seen: u64,
    seed: u64,
    validation_fraction: f64,
}

impl WorkerData {
    /// No rows yet.
    pub fn new(config: &JobConfig, plan: &FeaturePlan) -> Self {
        let (n, c) = (plan.numeric_width(), plan.cardinalities().len());
        WorkerData {
            train: Dataset::new(n, c),
            shard_ids: None,
            validation: Dataset::new(n, c),
            validation_shard_ids: None,
            rows_seen: 0,
            seed: config.seed,
            validation_fraction: config.validation_fraction,
        }
    }

    /// Rows received so far.
    pub fn rows(&self) -> u64 {
        self.rows_seen
    }

    /// Adds a batch: its features through `plan`, each row to training or validation.
    pub fn add(&mut self, plan: &FeaturePlan, batch: &RecordBatch) -> Result<(), Error> {
        let rows = plan.transform(batch)?;
        let n = rows.rows();
        let ids = row_ids(batch, self.rows_seen)?;
        let valid = match batch.column_by_name(VALID_COLUMN) {
            Some(col) => {
                let b = col.as_any().downcast_ref::<BooleanArray>().ok_or_else(|| {
                    Error::Config(format!(
                        "{VALID_COLUMN} is {}, not boolean",
                        col.data_type()
                    ))
                })?;
                (0..n).map(|i| b.is_valid(i) && b.value(i)).collect()
            }
            None => ids
                .iter()
                .map(|&id| held_out(self.seed, id, self.validation_fraction))
                .collect::<Vec<bool>>(),
        };
        let shards = match batch.column_by_name(SHARD_COLUMN) {
            Some(col) => {
                let s = col.as_any().downcast_ref::<Int32Array>().ok_or_else(|| {
                    Error::Config(format!("{SHARD_COLUMN} is {}, not int", col.data_type()))
                })?;
                Some(s)
            }
            None => None,
        };
        if shards.is_some() != self.shard_ids.is_some() && self.rows_seen > 0 {
            return Err(Error::Config(format!(
                "some batches carry {SHARD_COLUMN} and some do not"
            )));
        }
        for (i, &is_valid) in valid.iter().enumerate() {
            let (rows_to, ids_to) = if is_valid {
                (&mut self.validation, &mut self.validation_shard_ids)
            } else {
                (&mut self.train, &mut self.shard_ids)
            };
            rows_to.push_row(&rows, i);
            if let Some(s) = shards {
                let ids = ids_to.get_or_insert_with(Vec::new);
                ids.push(u32::try_from(s.value(i)).unwrap_or(u32::MAX));
            }
        }
        if shards.is_some() {
            self.shard_ids.get_or_insert_with(Vec::new);
            self.validation_shard_ids.get_or_insert_with(Vec::new);
        }
        self.rows_seen += n as u64;
        Ok(())
    }

    /// The training and the validation rows as the shards of worker `rank` of `world`: by
    /// the shard column where the driver assigned them, else dealt round-robin over this
    /// worker's shard numbers (`rank`, `rank + world`...).
    fn shards(
        &self,
        shards: usize,
        rank: usize,
        world: usize,
    ) -> Result<(Vec<Shard>, Vec<Shard>), Error> {
        let deal = |rows: &Dataset, ids: &Option<Vec<u32>>| -> Result<Vec<Shard>, Error> {
            match ids {
                Some(ids) => Ok(Shard::group(rows, ids)?),
                None => {
                    let mine = (rank..shards).step_by(world.max(1)).count();
                    Ok(Shard::split(rows, mine, rank, world))
                }
            }
        };
        Ok((
            deal(&self.train, &self.shard_ids)?,
            deal(&self.validation, &self.validation_shard_ids)?,
        ))
    }
}

fn row_ids(batch: &RecordBatch, first: u64) -> Result<Vec<u64>, Error> {
    match batch.column_by_name(ROW_COLUMN) {
        Some(col) => {
            let a = col.as_any().downcast_ref::<Int64Array>().ok_or_else(|| {
                Error::Config(format!("{ROW_COLUMN} is {}, not bigint", col.data_type()))
            })?;
            Ok(a.values().iter().map(|&v| v as u64).collect())
        }
        None => Ok((first..first + batch.num_rows() as u64).collect()),
    }
}

/// Whether row `id` is held out: a hash of the seed and the id against the fraction.
fn held_out(seed: u64, id: u64, fraction: f64) -> bool {
    if fraction <= 0.0 {
        return false;
    }
    // SplitMix64's finaliser: a fixed, well-mixed function of (seed, id).
    let mut z = seed ^ id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64 <= fraction
}

/// Forwards a run's events as (kind, JSON bytes) pairs.
pub struct Events<'a>(pub &'a mut dyn FnMut(&str, Vec<u8>));

impl Observer for Events<'_> {
    fn epoch(&mut self, metrics: &EpochMetrics) {
        if let Ok(bytes) = serde_json::to_vec(metrics) {
            (self.0)("epoch", bytes);
        }
    }

    fn checkpoint(&mut self, checkpoint: &Checkpoint) {
        if let Ok(bytes) = serde_json::to_vec(checkpoint) {
            (self.0)("checkpoint", bytes);
        }
    }
}

/// Trains this worker's part of the job with the others of `group`; rank 0 returns the
/// bundle's bytes, the others `None`.
pub fn run_worker(
    config: &JobConfig,
    plan: &FeaturePlan,
    data: &WorkerData,
    group: &mut Group,
    resume: Option<&[u8]>,
    observer: &mut dyn Observer,
) -> Result<Option<Vec<u8>>, Error> {
    let spec = config.net_spec(plan)?;
    let train_config = config.train_config()?;
    let resume = match resume {
        Some(bytes) => Some(
            serde_json::from_slice::<Checkpoint>(bytes)
                .map_err(|e| Error::Config(format!("the checkpoint does not read: {e}")))?,
        ),
        None => None,
    };
    let (shards, validation) = data.shards(config.shards, group.rank(), group.world())?;
    let mut net = Net::init(spec.clone(), config.seed)?;
    let trained = train::fit(
        &mut net,
        &shards,
        &validation,
        &train_config,
        group,
        resume,
        observer,
    )?;
    if group.rank() != 0 {
        return Ok(None);
    }
    let params = net
        .named_params()
        .into_iter()
        .map(|p| export::ParamTensor {
            data: trained.params[p.offset..p.offset + p.shape.iter().product::<usize>()].to_vec(),
            name: p.name,
            shape: p.shape,
        })
        .collect::<Vec<_>>();
    let bundle = export::export(
        plan,
        &spec,
        &params,
        head(config.loss()),
        &export_options(config, &trained),
    )?;
    let bytes = bundle
        .to_bytes(keel_bundle::Encoding::Json)
        .map_err(|e| Error::Export(export::Error::Bundle(e)))?;
    Ok(Some(bytes))
}

/// Trains on one machine (all cores) over `batches`, which are read twice: statistics, then
/// rows. Returns the bundle's bytes.
pub fn run_local(
    config: &JobConfig,
    batches: &[RecordBatch],
    observer: &mut dyn Observer,
) -> Result<Vec<u8>, Error> {
    let stats = statistics(config, batches)?;
    let plan = fit_features(config, &[stats])?;
    let mut data = WorkerData::new(config, &plan);
    for b in batches {
        data.add(&plan, b)?;
    }
    let mut group = Group::local();
    let bytes = run_worker(config, &plan, &data, &mut group, None, observer)?;
    bytes.ok_or_else(|| Error::Config("rank 0 wrote no bundle".into()))
}

/// The job as the bundle records it: without the thread count, which never changes the
/// result (shards are summed in their order whatever the threads), so that deterministic runs
/// on different machines write the same bytes.
fn recorded_params(config: &JobConfig) -> serde_json::Value {
    let mut value = serde_json::to_value(config).unwrap_or(serde_json::Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("threads");
    }
    value
}

/// The network's last step in the bundle, from the loss it was trained with.
fn head(loss: Loss) -> export::Head {
    match loss {
        Loss::CrossEntropy => export::Head::Softmax,
        Loss::BinaryCrossEntropy => export::Head::Sigmoid,
        Loss::Mse => export::Head::Identity,
        Loss::Poisson => export::Head::Exp,
    }
}

/// What the bundle records about its training: the job and the metrics of every epoch (not
/// the timings, so that the same job writes the same bytes).
fn export_options(config: &JobConfig, trained: &train::Trained) -> export::ExportOptions {
    let history: Vec<serde_json::Value> = trained
        .history
        .iter()
        .map(|m| {
            serde_json::json!({
                "epoch": m.epoch,
                "steps": m.steps,
                "train_loss": m.train_loss,
                "validation_loss": m.validation_loss,
                "validation_accuracy": m.validation_accuracy,
                "validation_auc": m.validation_auc,
                "validation_rmse": m.validation_rmse,
                "learning_rate": m.learning_rate,
            })
        })
        .collect();
    export::ExportOptions {
        name: None,
        created: None,
        params: recorded_params(config),
        metrics: serde_json::json!({ "steps": trained.steps, "epochs": history }),
    }
}
