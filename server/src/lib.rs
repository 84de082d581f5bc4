//! `keel serve`: the REST scoring server. The `keel` binary (crate `keel-cli`) embeds it; the
//! request and answer bodies are parsed and written with `keel_io`, the codecs `keel score`
//! uses, so both read the same values the same way.
//!
//! Layout (one concern per module):
//! - [`router`]: [`app`] builds the axum `Router` (routes, fallbacks, middleware) from an
//!   [`AppState`]; tests drive it with tower's `oneshot`, without a socket;
//! - [`state`]: the shared state and the server's configuration;
//! - [`registry`]: the loaded models, swapped atomically (`ArcSwap`), with versions;
//! - [`auth`]: bearer tokens and roles (`--tokens`, `KEEL_ADMIN_TOKEN`), 401 vs 403;
//! - [`request_id`]: `x-request-id` on every answer, in the log and in error bodies;
//! - [`tls`]: HTTPS (`--tls-cert`, `--tls-key`) with rustls;
//! - [`api`] / [`admin`]: the handlers; [`codec`]: media types and `Accept` negotiation, over
//!   keel-io's document codecs (`keel_io::json_doc`, `keel_io::leapframe`);
//! - [`body`]: reading a body under the size limit, and the request's phase (a leaf module);
//! - [`pool`]: the scoring pool that keeps big batches off the async reactor;
//! - [`error`]: `AppError`, the one JSON error answer of every rejection; [`head_errors`]: the
//!   same shape for the 400/431/414 hyper writes itself for heads it cannot parse;
//! - [`watch`]: loading bundles from files and directories, and reloading them on change;
//! - [`metrics`]: Prometheus counters and histograms; [`openapi`]: the API description;
//! - [`web`]: the web page at `/` (files under `server/web/`, built into the binary);
//! - [`playground`]: the browser-side playground at `/playground/`, from keel's npm package;
//! - [`server`]: the accept loop (hyper), connection and header limits, timeouts and graceful
//!   shutdown on SIGTERM/SIGINT.

pub mod admin;
pub mod api;
pub mod auth;
pub mod body;
pub mod codec;
pub mod demo;
pub mod error;
pub mod head_errors;
pub mod metrics;
pub mod openapi;
pub mod playground;
pub mod pool;
pub mod registry;
pub mod request_id;
pub mod router;
pub mod server;
pub mod state;
pub mod tls;
pub mod watch;
pub mod web;

pub use error::AppError;
pub use registry::{Registry, Source};
pub use router::app;
pub use state::{AppState, Config};

use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Why the server could not start or stop (an address in use, a signal handler that could not
/// be installed); the message says which.
#[derive(Debug, thiserror::Error)]
#[error("serve: {0}")]
pub struct ServeError(pub String);

/// Log line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (for log collectors).
    Json,
}

const SERVE_HELP: &str = "\
Each BUNDLE file and each DIR (its `*.keel` files and MLeap Bundle.ML `*.zip` files) is watched: a new or changed file is loaded \
in the background, checked (read and planned) and swapped in atomically; a file that fails to \
load is reported (in the log and in GET /v1/models) while the previous version keeps serving; \
a removed file is unloaded.

A model is named by its bundle's manifest. Versions are integers given per name in load order, \
starting at 1 and never reused; `NAME@3` picks a version, `NAME` the newest.

With --sandbox, bundles are planned and scored inside a wasm sandbox (wasmtime), each model with \
its own instances, no files, network or clock; each request's scoring is bounded by \
--sandbox-timeout, --sandbox-memory and --sandbox-fuel. A request past its budget gets 503 with \
the code sandbox_timeout, sandbox_memory or sandbox_fuel (the request is valid, but costs more \
than one call may spend), its instance is discarded, and the next request runs in a fresh one.

The bound address is printed on standard output (`--addr 127.0.0.1:0` picks a free port). \
SIGTERM or SIGINT stops accepting connections and lets in-flight requests finish (up to \
--shutdown-grace).

Endpoints: GET / (a web page: the models, their pipelines, a form to score a row), GET \
/v1/models, GET /v1/models/{name}, POST /v1/models/{name}/predict, POST \
/v1/models/{name}/transform (MLeap LeapFrame), /v1/admin/... (with --admin-token), GET /healthz, \
GET /readyz, GET /metrics, GET /openapi.json, GET /playground/ (with --playground).

Security: --tokens FILE protects predict and transform with bearer tokens (`score` and `admin` \
roles; 401 without a valid token, 403 for a role that may not call the route); the admin routes \
take an `admin` token from the file or --admin-token. --tls-cert and --tls-key serve HTTPS \
(rustls). Every answer carries `x-request-id` (the client's, if sane, else a new one), which the \
log line and JSON error bodies repeat. Tokens and the Authorization header are never logged.";

/// `keel serve` options.
#[derive(Debug, Clone, Args)]
#[command(after_long_help = SERVE_HELP)]
pub struct ServeArgs {
    /// Bundle files and directories of bundles to serve (default: the built-in demo bundles).
    #[arg(value_name = "BUNDLE|DIR")]
    pub sources: Vec<PathBuf>,
    /// The address to listen on (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Threads of the scoring pool (default: the number of CPUs).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub threads: Option<u16>,
    /// Threads of the async reactor that accept connections, read bodies, and parse, score and
    /// answer small requests (default: the number of CPUs). Fewer than the CPUs leaves room for
    /// other processes on the same machine (a sidecar, a load generator): a reactor thread
    /// preempted by the kernel stalls every connection it owns, which shows as tail latency.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub io_threads: Option<u16>,
    /// Requests with at most this many rows (and a body of at most 16 KiB) are scored on the
    /// connection's own task instead of the scoring pool (0 = always use the pool).
    #[arg(long, default_value_t = state::DEFAULT_INLINE_ROWS)]
    pub inline_rows: usize,
    /// Longest time a request may take, from its first byte to its answer (e.g. 30s, 500ms):
    /// 408 if the body was still arriving, 503 otherwise.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Largest request body accepted (e.g. 64MiB, 512KiB, 1000000); larger ones get 413.
    #[arg(long, default_value = "64MiB", value_parser = parse_size)]
    pub max_body: u64,
    /// Bearer token that enables the admin routes (`/v1/admin/...`); without one (here or in
    /// --tokens) they answer 403 `admin_disabled`.
    #[arg(long, env = "KEEL_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Bearer tokens and their roles, one `ROLE TOKEN` per line (`#` comments and blank lines
    /// allowed; tokens of at least 16 characters): `score` may call predict and transform,
    /// `admin` every route. With this file the scoring routes need a token: 401 without a
    /// valid one, 403 for a token whose role does not allow the route.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// Serve HTTPS with this certificate chain (PEM; with --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Most connections open at once; at the cap, new connections wait (in the kernel's
    /// backlog) until others close.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Largest request head (request line and headers; at least 1KiB); larger ones get 431.
    #[arg(long, default_value = "64KiB", value_parser = parse_header_size)]
    pub max_header_size: usize,
    /// An origin allowed to call the API from a browser (repeatable; `*` = any).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Serve the playground at /playground/ from keel's npm package in DIR (built by
    /// `wasm/build.sh DIR`): a page that opens a bundle and scores rows in the browser.
    #[arg(long, value_name = "DIR")]
    pub playground: Option<PathBuf>,
    /// The log line format (the level comes from RUST_LOG, default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// How often watched files and directories are checked for changes.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub poll_interval: Duration,
    /// How long in-flight requests may run after SIGTERM before the server exits anyway.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,
    /// Scoring in a wasm sandbox.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// `--sandbox` and its budget, shared by `keel score` and `keel serve`.
#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Plan and score bundles inside a wasm sandbox (wasmtime), for bundles from people you do
    /// not trust: no files, network or clock, and every scoring call bounded by
    /// --sandbox-timeout, --sandbox-memory and (optionally) --sandbox-fuel. A call past its
    /// budget fails with `sandbox_timeout`, `sandbox_memory` or `sandbox_fuel` (in `keel serve`,
    /// 503) and the next call runs in a fresh instance.
    #[arg(long)]
    pub sandbox: bool,
    /// Fuel per scoring call (wasmtime fuel units, about one per wasm instruction): a budget that
    /// stops the same call on every machine. Default: no fuel metering, which costs speed; the
    /// deadline bounds each call instead.
    #[arg(long, value_name = "N", requires = "sandbox",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sandbox_fuel: Option<u64>,
    /// Wall-clock deadline of each scoring call (a batch in `keel score`, a request in `keel
    /// serve`), e.g. 50ms, 2s.
    #[arg(long, value_name = "DURATION", default_value = "10s", requires = "sandbox",
          value_parser = parse_duration)]
    pub sandbox_timeout: Duration,
    /// Linear memory each sandbox instance may use (the planned model, one batch and its
    /// outputs), e.g. 64MiB, 1GiB; at most 4GiB (wasm32).
    #[arg(long, value_name = "SIZE", default_value = "256MiB", requires = "sandbox",
          value_parser = parse_size)]
    pub sandbox_memory: u64,
}

impl SandboxArgs {
    /// The sandbox's limits, or `None` without `--sandbox`.
    pub fn limits(&self) -> Option<keel_sandbox::Limits> {
        self.sandbox.then(|| keel_sandbox::Limits {
            fuel: self.sandbox_fuel,
            timeout: Some(self.sandbox_timeout),
            memory: self.sandbox_memory,
            ..keel_sandbox::Limits::default()
        })
    }
}

/// Default of `--max-connections`: far above what one server's clients keep open, far below a
/// process' usual 65536 file descriptors.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10_000;

/// The smallest `--max-header-size`: below it, ordinary clients' heads (a user agent, cookies,
/// a bearer token) would be refused.
pub const MIN_HEADER_SIZE: usize = 1 << 10;

/// Parses `--max-header-size`: a size of at least [`MIN_HEADER_SIZE`].
pub fn parse_header_size(text: &str) -> Result<usize, String> {
    let n = parse_size(text)?;
    let n = usize::try_from(n).map_err(|_| format!("`{text}` is out of range"))?;
    if n < MIN_HEADER_SIZE {
        return Err(format!("must be at least 1KiB ({MIN_HEADER_SIZE} bytes)"));
    }
    Ok(n)
}

/// Parses a duration: `30s`, `500ms`, `2m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| format!("{e} (e.g. 30s, 500ms, 2m)"))?;
    if d.is_zero() {
        return Err("must be longer than zero".into());
    }
    Ok(d)
}

/// Parses a byte size: a number with an optional unit (B, KB, KiB, MB, MiB, GB, GiB; case does
/// not matter, `K`/`M`/`G` are binary).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. 64MiB, 512KiB, 1000000)"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1000,
        "k" | "kib" => 1 << 10,
        "mb" => 1_000_000,
        "m" | "mib" => 1 << 20,
        "gb" => 1_000_000_000,
        "g" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit `{other}` (B, KiB, MiB, GiB)")),
    };
    n.checked_mul(scale)
        .filter(|&v| v > 0)
        .ok_or_else(|| format!("`{text}` is out of range"))
}

/// Runs `keel serve` until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> Result<(), ServeError> {
    init_logging(args.log_format);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all().thread_name("keel-io");
    if let Some(n) = args.io_threads {
        builder.worker_threads(usize::from(n));
    }
    let runtime = builder
        .build()
        .map_err(|e| ServeError(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(server::serve(args))
}

fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // `try_init`: a second call (tests running the server in-process) keeps the first logger.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("2 KB"), Ok(2000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        // The flags' defaults are the library's.
        let defaults = keel_sandbox::Limits::default();
        assert_eq!(Some(parse_duration("10s").unwrap()), defaults.timeout);
        assert_eq!(parse_size("256MiB").unwrap(), defaults.memory);
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_header_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_header_size("1KiB"), Ok(MIN_HEADER_SIZE));
        assert!(parse_header_size("1023").is_err());
    }
}
