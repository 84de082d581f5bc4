//! `keel score`: files and pipes around keel-io's scoring loop ([`keel_io::stream`]), which
//! reads batches, scores each and writes each until the input ends, in bounded memory with
//! global row numbers in errors. Batches are scored in process, or with `--sandbox` one call
//! per batch inside the wasm sandbox (reading and writing stay on the host either way).

use crate::error::Error;
use crate::files::{OutputFile, same_file};
use keel_bundle::Manifest;
use keel_io::Error as IoError;
use keel_io::format::{self, Format};
use keel_io::input::Extra;
use keel_io::stream::{Interface, StreamOptions, score_stream, score_stream_with};
use keel_runtime::Model;
use keel_sandbox::SandboxedModel;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

/// What to score and how.
#[derive(Debug, Clone)]
pub struct ScoreJob {
    /// The input file; `None` = standard input.
    pub input: Option<PathBuf>,
    /// The output file; `None` = standard output.
    pub output: Option<PathBuf>,
    /// The input format, if not told by the extension.
    pub format: Option<Format>,
    /// The output format, if not told by the extension (default: the input's).
    pub output_format: Option<Format>,
    /// Rows per batch for CSV and JSON lines (Arrow inputs keep their own batches).
    pub batch_size: usize,
    /// Threads scoring each batch (`Model::score_parallel`; 0 = one per core).
    pub threads: usize,
    /// Drop input columns the bundle does not declare instead of refusing them.
    pub ignore_extra_columns: bool,
}

pub use keel_io::stream::Scored;

/// What scores the batches.
#[derive(Debug, Clone, Copy)]
pub enum Scorer<'a> {
    /// A planned model, in process (`--threads` threads per batch).
    Native(&'a Model),
    /// A model loaded in the sandbox, one call per batch; `manifest` is the bundle's, as the
    /// host read it.
    Sandboxed {
        /// The model.
        model: &'a SandboxedModel,
        /// The bundle's manifest (its inputs and outputs).
        manifest: &'a Manifest,
    },
}

enum Target {
    Stdout(BufWriter<std::io::StdoutLock<'static>>),
    File(OutputFile, BufWriter<std::fs::File>),
}

/// `-` means standard input/output, as in most tools.
fn not_dash(p: &Option<PathBuf>) -> Option<&Path> {
    p.as_deref().filter(|p| *p != Path::new("-"))
}

/// Scores `job` with `model` (loaded from `bundle_path`, which is only used to refuse writing
/// the output over it).
pub fn score(model: Scorer<'_>, bundle_path: &Path, job: &ScoreJob) -> Result<Scored, Error> {
    let in_path = not_dash(&job.input);
    let out_path = not_dash(&job.output);
    let in_format = format::input_format(job.format, in_path)?;
    let out_format = format::output_format(job.output_format, out_path, in_format)?;
    if let Some(out) = out_path {
        for (what, other) in [("input", in_path), ("bundle", Some(bundle_path))] {
            if other.is_some_and(|o| same_file(o, out)) {
                return Err(Error::Usage(format!(
                    "the output `{}` is the {what} file; write the scores somewhere else",
                    out.display()
                )));
            }
        }
    }

    // Open the input before creating the output, so a mistyped input path leaves no file.
    let reader: Box<dyn BufRead> = match in_path {
        None => Box::new(std::io::stdin().lock()),
        Some(p) => Box::new(BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(p).map_err(|source| Error::ReadFile {
                path: p.to_path_buf(),
                source,
            })?,
        )),
    };
    let mut target = match out_path {
        None => Target::Stdout(BufWriter::with_capacity(1 << 16, std::io::stdout().lock())),
        Some(p) => {
            let (file, w) = OutputFile::create(p)?;
            Target::File(file, w)
        }
    };
    let scored = {
        let writer: &mut dyn Write = match &mut target {
            Target::Stdout(w) => w,
            Target::File(_, w) => w,
        };
        run(model, reader, writer, in_format, out_format, job)?
    };
    match target {
        Target::Stdout(mut w) => w.flush().map_err(IoError::WriteOutput)?,
        Target::File(file, w) => file.commit(w)?,
    }
    Ok(scored)
}

/// The loop itself, on any reader and writer (the REST server will reuse it on sockets).
pub fn run(
    model: Scorer<'_>,
    reader: Box<dyn BufRead + '_>,
    writer: &mut dyn Write,
    in_format: Format,
    out_format: Format,
    job: &ScoreJob,
) -> Result<Scored, Error> {
    let extra = if job.ignore_extra_columns {
        Extra::Ignore
    } else {
        Extra::Reject
    };
    // Writers report I/O failures in their own words (the CSV writer turns them into text),
    // so whether the output pipe was closed is watched here, at the byte level.
    let mut watch = Watch {
        inner: writer,
        broken: false,
    };
    let result = score_all(model, reader, &mut watch, in_format, out_format, job, extra);
    match result {
        Err(_) if watch.broken => {
            Err(IoError::WriteOutput(std::io::ErrorKind::BrokenPipe.into()).into())
        }
        other => other,
    }
}

fn score_all(
    model: Scorer<'_>,
    reader: Box<dyn BufRead + '_>,
    writer: &mut dyn Write,
    in_format: Format,
    out_format: Format,
    job: &ScoreJob,
    extra: Extra,
) -> Result<Scored, Error> {
    let options = StreamOptions {
        input: in_format,
        output: out_format,
        batch_size: job.batch_size,
        extra,
    };
    match model {
        Scorer::Native(model) => Ok(score_stream(model, reader, writer, &options, |batch| {
            model.score_parallel(batch, job.threads)
        })?),
        Scorer::Sandboxed { model, manifest } => {
            let interface = Interface {
                inputs: &manifest.inputs,
                outputs: &manifest.outputs,
                output_schema: model.output_schema(),
            };
            score_stream_with(
                &interface,
                reader,
                writer,
                &options,
                |batch, rows_before| {
                    model
                        .score(batch)
                        .map_err(|e| Error::Sandboxed(e.offset_rows(rows_before)))
                },
            )
        }
    }
}

/// A writer that remembers whether the other end of the pipe went away.
struct Watch<'a> {
    inner: &'a mut dyn Write,
    broken: bool,
}

impl Watch<'_> {
    fn note<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &r
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            self.broken = true;
        }
        r
    }
}

impl Write for Watch<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.inner.write(buf);
        self.note(r)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.inner.flush();
        self.note(r)
    }
}
