//! keel's WASI scoring module (`wasm32-wasip1`): `keel-wasi BUNDLE [--format F] [--output-format
//! F] [--batch-size N] [--ignore-extra-columns]` reads the bundle from a file the host lets it
//! see (`wasmtime run --dir .`), then scores standard input to standard output with keel-io's
//! loop, the one `keel score` runs: CSV, JSON lines (the default) or Arrow IPC (file or
//! stream) in, the same format out unless told otherwise.
//!
//! Errors go to standard error as one JSON object, `{"error": {"code", "message", "column",
//! "row"}}` (the REST server's shape, so an edge host can forward it), with exit status 1 for
//! refused input and 2 for a usage mistake. The module needs only WASI's stdio, one preopened
//! file and the arguments: no clock, network or randomness.

use keel_io::Format;
use keel_io::input::Extra;
use keel_io::stream::{StreamOptions, score_stream};
use keel_runtime::Model;
use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;

const USAGE: &str = "usage: keel-wasi BUNDLE [--format csv|jsonl|arrow|arrows] \
                     [--output-format F] [--batch-size N] [--ignore-extra-columns]";

/// What went wrong, as the error line reports it.
struct Failure {
    code: &'static str,
    message: String,
    column: Option<String>,
    row: Option<u64>,
    status: u8,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: "usage",
            message: message.into(),
            column: None,
            row: None,
            status: 2,
        }
    }
}

impl From<keel_io::Error> for Failure {
    fn from(e: keel_io::Error) -> Self {
        Failure {
            code: e.code(),
            message: e.to_string(),
            column: e.column().map(str::to_string),
            row: e.row(),
            status: 1,
        }
    }
}

impl From<keel_runtime::Error> for Failure {
    fn from(e: keel_runtime::Error) -> Self {
        keel_io::Error::Score(e).into()
    }
}

struct Args {
    bundle: String,
    input: Format,
    output: Option<Format>,
    batch_size: usize,
    extra: Extra,
}

fn format_arg(value: Option<String>, flag: &str) -> Result<Format, Failure> {
    let value = value.ok_or_else(|| Failure::usage(format!("{flag} needs a value\n{USAGE}")))?;
    Format::from_name(&value).ok_or_else(|| {
        Failure::usage(format!(
            "{flag} {value}: expected csv, jsonl, arrow or arrows"
        ))
    })
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, Failure> {
    let mut bundle = None;
    let mut parsed = Args {
        bundle: String::new(),
        input: Format::Jsonl,
        output: None,
        batch_size: 8192,
        extra: Extra::Reject,
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--format" => parsed.input = format_arg(args.next(), "--format")?,
            "--output-format" => parsed.output = Some(format_arg(args.next(), "--output-format")?),
            "--batch-size" => {
                parsed.batch_size = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| Failure::usage("--batch-size needs a positive integer"))?;
            }
            "--ignore-extra-columns" => parsed.extra = Extra::Ignore,
            "-h" | "--help" => return Err(Failure::usage(USAGE)),
            flag if flag.starts_with("--") => {
                return Err(Failure::usage(format!("unknown option {flag}\n{USAGE}")));
            }
            path if bundle.is_none() => bundle = Some(path.to_string()),
            extra => {
                return Err(Failure::usage(format!(
                    "unexpected argument {extra}\n{USAGE}"
                )));
            }
        }
    }
    parsed.bundle = bundle.ok_or_else(|| Failure::usage(USAGE))?;
    Ok(parsed)
}

fn run() -> Result<(), Failure> {
    let args = parse_args(std::env::args().skip(1))?;
    let bytes = std::fs::read(&args.bundle).map_err(|e| Failure {
        code: "read_bundle",
        message: format!(
            "cannot read the bundle `{}`: {e} (a WASI host must let the module see it, e.g. \
             `wasmtime run --dir . keel-wasi.wasm {}`)",
            args.bundle, args.bundle
        ),
        column: None,
        row: None,
        status: 1,
    })?;
    let model = Model::from_bytes(&bytes)?;
    let options = StreamOptions {
        input: args.input,
        output: args.output.unwrap_or(args.input),
        batch_size: args.batch_size,
        extra: args.extra,
    };
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    score_stream(
        &model,
        Box::new(BufReader::with_capacity(1 << 16, stdin)),
        &mut out,
        &options,
        |batch| model.score(batch),
    )?;
    out.flush()
        .map_err(|e| Failure::from(keel_io::Error::WriteOutput(e)))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            let line = error_line(&f);
            let _ = writeln!(std::io::stderr(), "{line}");
            ExitCode::from(f.status)
        }
    }
}

/// The error line: the REST server's error object, so an edge host can forward it as it is.
fn error_line(f: &Failure) -> String {
    serde_json::json!({"error": {
        "code": f.code,
        "message": f.message,
        "column": f.column,
        "row": f.row,
    }})
    .to_string()
}
