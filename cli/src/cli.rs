//! The command line: clap definitions and one function per subcommand. Output meant for the
//! user goes to stdout; diagnostics go to stderr (printed by `main`), so scores piped to
//! another program are never mixed with messages.

use crate::error::Error;
use crate::files::write_atomic;
use crate::score::{ScoreJob, Scorer, score};
use clap::{Parser, Subcommand, ValueEnum};
use keel_bundle::{Bundle, Encoding};
use keel_import::compose::{self, Connection};
use keel_import::load::{Loaded, Origin};
use keel_io::Error as IoError;
use keel_io::describe as inspect;
use keel_io::format::Format;
use keel_runtime::{Model, Options};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Inspect, validate, convert and score keel model bundles.
#[derive(Debug, Parser)]
#[command(name = "keel", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Document encodings a bundle can be written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncodingArg {
    /// `manifest.json` + `graph.json`.
    Json,
    /// `manifest.pb` + `graph.pb`.
    #[value(alias = "pb")]
    Protobuf,
}

impl From<EncodingArg> for Encoding {
    fn from(e: EncodingArg) -> Self {
        match e {
            EncodingArg::Json => Encoding::Json,
            EncodingArg::Protobuf => Encoding::Protobuf,
        }
    }
}

/// Formats `keel convert` reads (`--from`). Each importer turns its format into a keel
/// bundle; `score`, `validate` and `inspect` read keel bundles and MLeap zips (told apart by
/// content) and refuse the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FromArg {
    /// A keel bundle (an MLeap Bundle.ML zip is recognised by its content and imported too).
    Keel,
    /// An MLeap Bundle.ML zip (JSON or protobuf format).
    Mleap,
    /// A Spark ML saved `PipelineModel` folder (`model.write().save(dir)`), read without a JVM.
    SparkMl,
    /// An ONNX model (`model.onnx`; external data only from files beside it).
    Onnx,
}

impl FromArg {
    /// Reads `path` in this format as a keel bundle (`sample_schema` is for `spark-ml`).
    fn load(self, path: &Path, sample_schema: Option<String>) -> Result<Bundle, Error> {
        match self {
            FromArg::Keel => load_bundle(path).map(|loaded| loaded.bundle),
            FromArg::SparkMl => {
                let options = keel_import::spark_ml::Options {
                    sample_schema,
                    name: None,
                };
                Ok(keel_import::spark_ml::convert(path, &options)?)
            }
            FromArg::Onnx => {
                keel_import::onnx::convert_file(path, &keel_import::onnx::Limits::default())
                    .map_err(|source| Error::Onnx {
                        path: path.to_path_buf(),
                        source: Box::new(source),
                    })
            }
            FromArg::Mleap => {
                let bytes = keel_import::load::read_file(path).map_err(|e| Error::load(path, e))?;
                keel_import::mleap::read(&bytes).map_err(|source| Error::Import {
                    path: path.to_path_buf(),
                    source,
                })
            }
        }
    }
}

const SCORE_HELP: &str = "\
Formats: csv (header row; an empty field is a null; a vector output `p` is written as one \
column per element, `p[element]`), jsonl (one object per line; an absent key is a null; \
NaN and infinities are written as null), arrow (Arrow IPC file), arrows (Arrow IPC stream). \
The input format comes from --format or the extension (.csv; .jsonl, .ndjson, .json; .arrow, \
.feather, .ipc; .arrows); the output format from --output-format, the output's extension, or \
else the input's format. Standard input needs --format. Arrow input may be a file or a stream \
either way.

Values are parsed by the bundle's input schema; columns are matched by name, in any order. \
A binary input (an encoded image, say) is base64 text in CSV and JSON lines (standard \
alphabet with = padding, as Python's base64.b64encode writes it), and binary outputs are \
written the same way. \
CSV and JSON lines are read --batch-size rows at a time; each Arrow input batch gives one \
output batch. Memory use is bounded by the batch size, not the input's size.

Errors name the row and column; rows are counted from 0, the first data row (a CSV header is \
not a row), across the whole input.";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a bundle holds: schemas, the pipeline, provenance, entries.
    ///
    /// Each stage of the pipeline gets a summary ("50 trees · 3,050 nodes · depth ≤ 6 · 10
    /// features", "25 coefficients · intercept 258.9"), then its attributes by kind and size;
    /// the backends line says whether and how this runtime plans the bundle.
    Inspect {
        /// The bundle file (a keel bundle or an MLeap Bundle.ML zip).
        bundle: PathBuf,
        /// Print one JSON document instead of the text report.
        #[arg(long)]
        json: bool,
    },
    /// Check that a bundle is intact and that this runtime can score it.
    ///
    /// Integrity (every entry's sha256), the format's limits and rules, then a plan: every op
    /// supported and the types consistent from stage to stage.
    Validate {
        /// The bundle file (a keel bundle or an MLeap Bundle.ML zip).
        bundle: PathBuf,
    },
    /// List the ops this runtime implements.
    Ops,
    /// Score a table with a bundle: one row of outputs per input row (CSV, JSON lines, Arrow).
    #[command(after_long_help = SCORE_HELP)]
    Score {
        /// The bundle file (a keel bundle or an MLeap Bundle.ML zip).
        bundle: PathBuf,
        /// The input file; `-` or absent = standard input.
        input: Option<PathBuf>,
        /// The output file; `-` or absent = standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The input format (default: from the input's extension).
        #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
        format: Option<Format>,
        /// The output format (default: from the output's extension, else the input format).
        #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
        output_format: Option<Format>,
        /// Worker mode: an Arrow IPC stream on stdin and on stdout, each batch flushed as soon
        /// as it is scored (`--format arrows --output-format arrows`, flushed).
        #[arg(long, conflicts_with_all = ["format", "output_format"])]
        arrow_stream: bool,
        /// Rows per batch when reading CSV or JSON lines.
        #[arg(long, default_value_t = 8192, value_parser = clap::value_parser!(u64).range(1..=(1 << 24)))]
        batch_size: u64,
        /// Threads that score each batch, in slices (0 = one per core). Outputs keep the
        /// input's row order.
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Drop input columns the bundle does not declare (by default they are an error, so a
        /// misspelt column name does not go unnoticed).
        #[arg(long)]
        ignore_extra_columns: bool,
        /// Scoring in a wasm sandbox (one call per batch, on one thread: --threads does not
        /// apply).
        #[command(flatten)]
        sandbox: keel_server::SandboxArgs,
    },
    /// Serve bundles over HTTP: a web page, a REST scoring API, hot reload, metrics.
    ///
    /// The API scores JSON and Arrow, has an MLeap-compatible transform endpoint, health
    /// checks and Prometheus metrics.
    Serve(keel_server::ServeArgs),
    /// Re-encode a keel bundle, or import an MLeap zip or a Spark ML saved model.
    ///
    /// A keel bundle is rewritten with the other document encoding (its tensors copied
    /// unchanged). `--from mleap` imports an MLeap Bundle.ML zip; `--from spark-ml` a Spark ML
    /// saved `PipelineModel` folder, read without a JVM. An import must also plan, or nothing
    /// is written.
    Convert {
        /// The bundle to read (a keel bundle, or the `--from` format's file or folder).
        bundle: PathBuf,
        /// Where to write the keel bundle (may be BUNDLE itself: it is replaced only once
        /// the new file is complete).
        out: PathBuf,
        /// The encoding of the manifest and graph documents (required for --from keel;
        /// default json for imports).
        #[arg(long, value_enum)]
        encoding: Option<EncodingArg>,
        /// What BUNDLE is.
        #[arg(long, value_enum, default_value_t = FromArg::Keel)]
        from: FromArg,
        /// For --from spark-ml: the input columns and types, as Spark's JSON schema
        /// (`df.schema.json()`) or DDL (`x DOUBLE, cat STRING`). Default: inferred from the
        /// stages (string indexer inputs are utf8, vector inputs are sized by the model, other
        /// inputs are f64).
        #[arg(long)]
        sample_schema: Option<String>,
    },
    /// Join a feature pipeline and a network into one bundle.
    ///
    /// The network (a keel bundle or an ONNX model) reads columns the pipeline (a keel bundle
    /// or an MLeap zip) writes; the result takes the pipeline's inputs and gives the network's
    /// outputs. Feature blocks are cast to the network's dtype (f32), and several columns
    /// (category indices for an embedding) are stacked; shapes must agree. The result must
    /// plan, or nothing is written.
    Compose {
        /// The feature pipeline.
        features: PathBuf,
        /// The network; its first dimension must be the batch (dynamic).
        network: PathBuf,
        /// Where to write the composed bundle.
        out: PathBuf,
        /// What a network input reads: `INPUT=COLUMN[,COLUMN...]`, repeatable. Default: a
        /// one-input network reads a one-output pipeline's output, or each network input the
        /// pipeline output of its name.
        #[arg(long, value_name = "INPUT=COLUMNS")]
        connect: Vec<String>,
        /// A pipeline output to keep beside the network's outputs (repeatable).
        #[arg(long, value_name = "COLUMN")]
        keep: Vec<String>,
        /// The composed bundle's name (default: `FEATURES+NETWORK` by their names).
        #[arg(long)]
        name: Option<String>,
        /// The encoding of the manifest and graph documents.
        #[arg(long, value_enum, default_value_t = EncodingArg::Json)]
        encoding: EncodingArg,
    },
    /// Train a feature + network bundle on a table (CSV, Parquet, Arrow IPC) on this machine.
    ///
    /// Fits the feature stages (string indexing with an unseen slot, mean imputation,
    /// standard scaling) and a tabular network (numeric features and one embedding per
    /// categorical column into dense layers) together, and writes the bundle that scores the
    /// raw columns: outputs `prediction` and, for classification, `probability`.
    Train(Box<crate::train::TrainArgs>),
}

fn stdout_line(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| IoError::WriteOutput(e).into())
}

/// Reads and verifies a keel bundle, or imports an MLeap Bundle.ML zip (told apart by content,
/// as `keel serve` does).
fn load_bundle(path: &Path) -> Result<Loaded, Error> {
    keel_import::load::read_path(path).map_err(|e| Error::load(path, e))
}

/// Encodes `bundle`, reads the bytes back, and only then writes them to `out` (replacing it
/// once complete): the writer and the reader must agree, or the result is a bug to report, not
/// a file to keep. Returns the bytes written.
fn write_checked(bundle: &Bundle, encoding: EncodingArg, out: &Path) -> Result<Vec<u8>, Error> {
    let fail = |source| Error::Bundle {
        path: out.to_path_buf(),
        source,
    };
    let bytes = bundle.to_bytes(encoding.into()).map_err(fail)?;
    Bundle::from_bytes(&bytes).map_err(fail)?;
    write_atomic(out, &bytes)?;
    Ok(bytes)
}

/// Plans a verified bundle with the runtime.
fn plan(path: &Path, bundle: &Bundle) -> Result<Model, Error> {
    Model::from_bundle(bundle, &Options::default()).map_err(|source| Error::Plan {
        path: path.to_path_buf(),
        source: Box::new(source),
    })
}

/// Loads a bundle in a new sandbox: the host has read and verified it (`load_bundle`); the
/// guest reads it again and plans it under the sandbox's budget. The guest reads keel bundles
/// only, so an imported file (an MLeap zip) goes in as the keel bundle it converted to.
fn load_sandboxed(
    path: &Path,
    loaded: &Loaded,
    limits: keel_sandbox::Limits,
) -> Result<keel_sandbox::SandboxedModel, Error> {
    let fail = |source| Error::SandboxLoad {
        path: path.to_path_buf(),
        source,
    };
    let bytes = match loaded.origin {
        Origin::Keel => std::fs::read(path).map_err(|source| Error::ReadFile {
            path: path.to_path_buf(),
            source,
        })?,
        _ => loaded
            .bundle
            .to_bytes(loaded.bundle.encoding)
            .map_err(|source| Error::Bundle {
                path: path.to_path_buf(),
                source,
            })?,
    };
    let sandbox = keel_sandbox::Sandbox::new(limits).map_err(fail)?;
    keel_sandbox::SandboxedModel::load(&sandbox, &bytes).map_err(fail)
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Inspect { bundle: path, json } => {
            let bundle = load_bundle(&path)?.bundle;
            let planned = Model::from_bundle(&bundle, &Options::default());
            let text = if json {
                let doc = inspect::to_json(&bundle, &planned);
                let mut s = serde_json::to_string_pretty(&doc)
                    .map_err(|e| IoError::Input(format!("cannot render the report: {e}")))?;
                s.push('\n');
                s
            } else {
                inspect::to_text(&bundle, &planned)
            };
            stdout_line(&text)
        }
        Command::Validate { bundle: path } => {
            let Loaded { bundle, origin } = load_bundle(&path)?;
            let model = plan(&path, &bundle)?;
            let m = &bundle.manifest;
            let read_as = match origin {
                Origin::Keel => format!(
                    "{} {}, {} encoding, {} entries",
                    m.format,
                    m.format_version,
                    match bundle.encoding {
                        Encoding::Json => "json",
                        Encoding::Protobuf => "protobuf",
                    },
                    m.entries.len() + 1,
                ),
                Origin::Mleap => "an MLeap Bundle.ML zip, imported".to_string(),
                Origin::Onnx => "an ONNX model, imported".to_string(),
            };
            stdout_line(&format!(
                "ok: `{}`: {} ({read_as}), {} steps planned on {}\n",
                path.display(),
                m.name,
                model.step_count(),
                model.backends().join(", ")
            ))
        }
        Command::Ops => {
            let mut text = String::new();
            for name in keel_runtime::registry::names() {
                text.push_str(name);
                text.push('\n');
            }
            stdout_line(&text)
        }
        Command::Score {
            bundle: path,
            input,
            output,
            format,
            output_format,
            arrow_stream,
            batch_size,
            threads,
            ignore_extra_columns,
            sandbox,
        } => {
            let loaded = load_bundle(&path)?;
            let (format, output_format) = if arrow_stream {
                (Some(Format::Arrows), Some(Format::Arrows))
            } else {
                (format, output_format)
            };
            let job = ScoreJob {
                input,
                output,
                format,
                output_format,
                batch_size: usize::try_from(batch_size).unwrap_or(usize::MAX),
                threads,
                ignore_extra_columns,
            };
            let Some(limits) = sandbox.limits() else {
                let model = plan(&path, &loaded.bundle)?;
                return score(Scorer::Native(&model), &path, &job).map(|_| ());
            };
            let model = load_sandboxed(&path, &loaded, limits)?;
            let scorer = Scorer::Sandboxed {
                model: &model,
                manifest: &loaded.bundle.manifest,
            };
            score(scorer, &path, &job).map(|_| ())
        }
        Command::Serve(args) => Ok(keel_server::run(args)?),
        Command::Convert {
            bundle: path,
            out,
            encoding,
            from,
            sample_schema,
        } => {
            if from != FromArg::SparkMl && sample_schema.is_some() {
                return Err(Error::Usage(
                    "convert: --sample-schema applies to imports with --from spark-ml".into(),
                ));
            }
            let encoding = match (encoding, from) {
                (Some(e), _) => e,
                (None, FromArg::Keel) => {
                    return Err(Error::Usage(
                        "`keel convert` of a keel bundle needs --encoding json|protobuf".into(),
                    ));
                }
                (None, _) => EncodingArg::Json,
            };
            let bundle = from.load(&path, sample_schema)?;
            if from != FromArg::Keel {
                // An imported bundle must also plan: a conversion the runtime cannot score is
                // an importer bug to report, not a file to write.
                plan(&path, &bundle)?;
            }
            let bytes = write_checked(&bundle, encoding, &out)?;
            stdout_line(&format!(
                "ok: wrote `{}` ({} encoding, {} bytes)\n",
                out.display(),
                match encoding {
                    EncodingArg::Json => "json",
                    EncodingArg::Protobuf => "protobuf",
                },
                bytes.len()
            ))
        }
        Command::Train(args) => crate::train::run(&args),
        Command::Compose {
            features,
            network,
            out,
            connect,
            keep,
            name,
            encoding,
        } => {
            let opts = compose::Options {
                connect: connect
                    .iter()
                    .map(|c| parse_connection(c))
                    .collect::<Result<_, _>>()?,
                keep,
                name,
                ..compose::Options::default()
            };
            let feats = load_bundle(&features)?.bundle;
            let net = load_bundle(&network)?.bundle;
            let bundle =
                compose::compose(&feats, &net, &opts).map_err(|source| Error::Compose {
                    features: features.clone(),
                    network: network.clone(),
                    source: Box::new(source),
                })?;
            let bytes = write_checked(&bundle, encoding, &out)?;
            let m = &bundle.manifest;
            let fields = |f: &[keel_bundle::Field]| {
                f.iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            stdout_line(&format!(
                "ok: wrote `{}` ({} bytes): inputs {}; outputs {}\n",
                out.display(),
                bytes.len(),
                fields(&m.inputs),
                fields(&m.outputs)
            ))
        }
    }
}

/// Parses `--connect INPUT=COL[,COL...]`.
fn parse_connection(text: &str) -> Result<Connection, Error> {
    let usage = || {
        Error::Usage(format!(
            "compose: --connect `{text}` is not INPUT=COLUMN[,COLUMN...]"
        ))
    };
    let (input, cols) = text.split_once('=').ok_or_else(usage)?;
    let columns: Vec<String> = cols.split(',').map(|c| c.trim().to_string()).collect();
    if input.trim().is_empty() || columns.iter().any(String::is_empty) {
        return Err(usage());
    }
    Ok(Connection {
        input: input.trim().to_string(),
        columns,
    })
}

/// Parses `--format`/`--output-format` values (names and aliases are `Format::from_name`'s).
fn parse_format(text: &str) -> Result<Format, String> {
    text.parse()
}
