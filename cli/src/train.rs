//! `keel train`: a feature + network bundle trained on this machine from a CSV, Parquet or
//! Arrow IPC file, with the options `keel.train` and `KeelNetEstimator` take, a line of
//! progress per epoch on stderr, and the bundle written whole or not at all.
//!
//! The table is read into memory (training passes over it once per epoch); CSV columns are
//! typed by inference over the first rows, as pandas and Spark's `inferSchema` do.

use crate::error::Error;
use arrow_array::RecordBatch;
use clap::Args;
use keel_train::job::{self, Events, JobConfig};
use std::fs::File;
use std::io::{BufReader, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Rows read per batch.
const BATCH_ROWS: usize = 8192;
/// CSV rows whose values decide the columns' types.
const INFER_ROWS: usize = 10_000;

/// The options of `keel train` (each also a field of the JSON job `--config` reads).
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The training table: .csv (header row), .parquet, or Arrow IPC (.arrow file, .arrows
    /// stream).
    pub input: PathBuf,
    /// Where to write the bundle.
    #[arg(short, long)]
    pub output: PathBuf,
    /// A JSON job (the fields below in snake_case: `label_col`, `hidden_layers`...); flags
    /// given on the command line override it.
    #[arg(long, value_name = "JOB.json")]
    pub config: Option<PathBuf>,
    /// The label column.
    #[arg(long)]
    pub label: Option<String>,
    /// Numeric feature columns (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub numeric: Vec<String>,
    /// Categorical feature columns (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// classification or regression.
    #[arg(long)]
    pub task: Option<String>,
    /// Hidden layer widths, e.g. 64,32.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Vec<usize>,
    /// Width of each categorical column's embedding.
    #[arg(long)]
    pub embedding_dim: Option<usize>,
    /// relu, gelu, tanh, sigmoid or silu.
    #[arg(long)]
    pub activation: Option<String>,
    /// A LayerNorm after each hidden layer.
    #[arg(long)]
    pub layer_norm: bool,
    /// Dropout probability after each hidden layer.
    #[arg(long)]
    pub dropout: Option<f32>,
    /// cross_entropy, binary_cross_entropy, mse or poisson (default: by task).
    #[arg(long)]
    pub loss: Option<String>,
    /// sgd, adam or adamw.
    #[arg(long)]
    pub optimizer: Option<String>,
    /// The base learning rate.
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// SGD's momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Clip the gradient's 2-norm to this.
    #[arg(long)]
    pub clip_grad_norm: Option<f64>,
    /// constant, step, exponential or cosine (per epoch).
    #[arg(long)]
    pub lr_schedule: Option<String>,
    /// Rows per optimizer step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Passes over the data.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seeds the weights, shuffles, dropout and the validation split.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Share of rows held out for validation.
    #[arg(long)]
    pub validation_fraction: Option<f64>,
    /// Stop after this many epochs without a better validation loss.
    #[arg(long)]
    pub early_stopping_patience: Option<usize>,
    /// Results that do not depend on the number of threads.
    #[arg(long)]
    pub deterministic: bool,
    /// Threads (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress lines.
    #[arg(short, long)]
    pub quiet: bool,
}

impl TrainArgs {
    /// The job: `--config` (or the defaults), then each flag given.
    fn job(&self) -> Result<JobConfig, Error> {
        let mut job = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
                    path: path.clone(),
                    source,
                })?;
                JobConfig::from_json(&text).map_err(|e| Error::Train(Box::new(e)))?
            }
            None => JobConfig::default(),
        };
        let named = |what: &str, value: &str| -> Result<serde_json::Value, Error> {
            serde_json::from_value(serde_json::Value::String(value.to_string()))
                .map_err(|_| Error::Usage(format!("--{what} {value}: not a known value")))
        };
        if let Some(v) = &self.label {
            job.label_col.clone_from(v);
        }
        if !self.numeric.is_empty() {
            job.numeric_cols.clone_from(&self.numeric);
        }
        if !self.categorical.is_empty() {
            job.categorical_cols.clone_from(&self.categorical);
        }
        if let Some(v) = &self.task {
            job.task = serde_json::from_value(named("task", v)?).map_err(|_| {
                Error::Usage(format!("--task {v}: expected classification or regression"))
            })?;
        }
        if !self.hidden.is_empty() {
            job.hidden_layers.clone_from(&self.hidden);
        }
        if let Some(v) = &self.activation {
            job.activation = serde_json::from_value(named("activation", v)?).map_err(|_| {
                Error::Usage(format!(
                    "--activation {v}: expected relu, gelu, tanh, sigmoid or silu"
                ))
            })?;
        }
        if let Some(v) = &self.loss {
            job.loss = Some(serde_json::from_value(named("loss", v)?).map_err(|_| {
                Error::Usage(format!(
                    "--loss {v}: expected cross_entropy, binary_cross_entropy, mse or poisson"
                ))
            })?);
        }
        macro_rules! set {
            ($($flag:ident => $field:ident),*) => {$(
                if let Some(v) = &self.$flag { job.$field = v.clone().into(); }
            )*};
        }
        set!(embedding_dim => embedding_dim, dropout => dropout, optimizer => optimizer,
             learning_rate => learning_rate, weight_decay => weight_decay, momentum => momentum,
             lr_schedule => lr_schedule, batch_size => batch_size, epochs => epochs, seed => seed,
             validation_fraction => validation_fraction, threads => threads);
        if self.clip_grad_norm.is_some() {
            job.clip_grad_norm = self.clip_grad_norm;
        }
        if self.early_stopping_patience.is_some() {
            job.early_stopping_patience = self.early_stopping_patience;
        }
        job.layer_norm |= self.layer_norm;
        job.deterministic |= self.deterministic;
        if job.label_col.is_empty() {
            return Err(Error::Usage("--label: name the label column".into()));
        }
        if job.numeric_cols.is_empty() && job.categorical_cols.is_empty() {
            return Err(Error::Usage(
                "--numeric / --categorical: name at least one feature column".into(),
            ));
        }
        Ok(job)
    }
}

/// Runs `keel train`.
pub fn run(args: &TrainArgs) -> Result<(), Error> {
    let job = args.job()?;
    let started = Instant::now();
    let batches = read_table(&args.input)?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let progress = !args.quiet;
    let tty = std::io::stderr().is_terminal();
    if progress {
        eprintln!(
            "keel train: {rows} rows from `{}`; {} epochs",
            args.input.display(),
            job.epochs
        );
    }
    let epochs = job.epochs;
    let mut on_event = |kind: &str, payload: Vec<u8>| {
        if !progress || kind != "epoch" {
            return;
        }
        if let Ok(m) = serde_json::from_slice::<serde_json::Value>(&payload) {
            eprintln!("{}", epoch_line(&m, epochs, started, tty));
        }
    };
    let bytes = job::run_local(&job, &batches, &mut Events(&mut on_event))
        .map_err(|e| Error::Train(Box::new(e)))?;
    crate::files::write_atomic(&args.output, &bytes)?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "ok: wrote `{}` ({} bytes) in {:.1} s",
        args.output.display(),
        bytes.len(),
        started.elapsed().as_secs_f64()
    )
    .and_then(|()| out.flush())
    .map_err(|e| keel_io::Error::WriteOutput(e).into())
}

/// One epoch's progress line: a bar where stderr is a terminal, then the figures.
fn epoch_line(m: &serde_json::Value, epochs: usize, started: Instant, tty: bool) -> String {
    let done = m["epoch"].as_u64().unwrap_or(0) as usize + 1;
    let mut line = format!("epoch {done}/{epochs}");
    if tty {
        let width = 24;
        let filled = width * done / epochs.max(1);
        line.push_str(&format!(
            " [{}{}]",
            "#".repeat(filled),
            ".".repeat(width - filled)
        ));
    }
    line.push_str(&format!(
        "  loss {:.4}",
        m["train_loss"].as_f64().unwrap_or(f64::NAN)
    ));
    for (key, name) in [
        ("validation_loss", "val_loss"),
        ("validation_auc", "val_auc"),
        ("validation_accuracy", "val_acc"),
        ("validation_rmse", "val_rmse"),
    ] {
        if let Some(v) = m[key].as_f64() {
            line.push_str(&format!("  {name} {v:.4}"));
        }
    }
    line.push_str(&format!(
        "  {:.0} rows/s  {:.1}s",
        m["rows_per_second"].as_f64().unwrap_or(0.0),
        started.elapsed().as_secs_f64()
    ));
    line
}

/// The whole table at `path`, by its extension.
pub fn read_table(path: &Path) -> Result<Vec<RecordBatch>, Error> {
    let open = || {
        File::open(path).map_err(|source| Error::ReadFile {
            path: path.to_path_buf(),
            source,
        })
    };
    let bad = |message: String| Error::Table {
        path: path.to_path_buf(),
        message,
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "csv" => {
            let mut file = open()?;
            let format = arrow_csv::reader::Format::default().with_header(true);
            let (schema, _) = format
                .infer_schema(BufReader::new(&mut file), Some(INFER_ROWS))
                .map_err(|e| bad(format!("cannot infer the CSV's columns: {e}")))?;
            file.seek(SeekFrom::Start(0))
                .map_err(|source| Error::ReadFile {
                    path: path.to_path_buf(),
                    source,
                })?;
            let reader = arrow_csv::ReaderBuilder::new(Arc::new(schema))
                .with_format(format)
                .with_batch_size(BATCH_ROWS)
                .build(BufReader::new(file))
                .map_err(|e| bad(e.to_string()))?;
            collect(reader.map(|b| b.map_err(|e| bad(format!("CSV: {e}")))))
        }
        "parquet" => {
            let reader =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(open()?)
                    .and_then(|b| b.with_batch_size(BATCH_ROWS).build())
                    .map_err(|e| bad(format!("Parquet: {e}")))?;
            collect(reader.map(|b| b.map_err(|e| bad(format!("Parquet: {e}")))))
        }
        "arrow" | "arrows" | "ipc" | "feather" => {
            let mut file = open()?;
            let mut magic = [0u8; 6];
            let is_file = file.read_exact(&mut magic).is_ok() && &magic == b"ARROW1";
            file.seek(SeekFrom::Start(0))
                .map_err(|source| Error::ReadFile {
                    path: path.to_path_buf(),
                    source,
                })?;
            if is_file {
                let reader = arrow_ipc::reader::FileReader::try_new(file, None)
                    .map_err(|e| bad(format!("Arrow IPC file: {e}")))?;
                collect(reader.map(|b| b.map_err(|e| bad(format!("Arrow IPC: {e}")))))
            } else {
                let reader = arrow_ipc::reader::StreamReader::try_new(BufReader::new(file), None)
                    .map_err(|e| bad(format!("Arrow IPC stream: {e}")))?;
                collect(reader.map(|b| b.map_err(|e| bad(format!("Arrow IPC: {e}")))))
            }
        }
        _ => Err(Error::Usage(format!(
            "`{}`: expected a .csv, .parquet, .arrow or .arrows file",
            path.display()
        ))),
    }
}

fn collect(
    batches: impl Iterator<Item = Result<RecordBatch, Error>>,
) -> Result<Vec<RecordBatch>, Error> {
    batches.collect()
}
