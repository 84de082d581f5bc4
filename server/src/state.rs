//! The state every handler shares ([`AppState`], cheap to clone: one `Arc`) and the server's
//! configuration ([`Config`], what the command line sets).

use crate::metrics::Metrics;
use crate::pool::ScoringPool;
use crate::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// Default of `--inline-rows`: requests with at most this many rows are scored without a pool
/// hop (see [`crate::pool`]).
pub const DEFAULT_INLINE_ROWS: usize = 16;

/// What the server is configured to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest request body (bytes).
    pub max_body: u64,
    /// Longest time a request may take.
    pub timeout: Duration,
    /// The admin bearer token; `None` turns the admin routes off.
    pub admin_token: Option<String>,
    /// Origins allowed by CORS (`*` = any); empty = no CORS headers.
    pub cors_origins: Vec<String>,
    /// Threads of the scoring pool.
    pub threads: usize,
    /// Requests with at most this many rows are scored inline.
    pub inline_rows: usize,
    /// keel's npm package, served at `/playground/` (`--playground DIR`).
    pub playground: Option<Arc<crate::playground::Playground>>,
    /// Load and score models in the sandbox, with these limits (`--sandbox`); `None` = in
    /// process.
    pub sandbox: Option<keel_sandbox::Limits>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_body: 64 << 20,
            timeout: Duration::from_secs(30),
            admin_token: None,
            cors_origins: Vec::new(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            inline_rows: DEFAULT_INLINE_ROWS,
            playground: None,
            sandbox: None,
        }
    }
}

/// The shared state.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

/// What [`AppState`] shares.
#[derive(Debug)]
pub struct Inner {
    /// The configuration.
    pub config: Config,
    /// The loaded models.
    pub registry: Arc<Registry>,
    /// The metrics.
    pub metrics: Arc<Metrics>,
    /// The scoring pool.
    pub pool: ScoringPool,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// A state with an empty registry (not ready until told so) and a started scoring pool.
    pub fn new(config: Config) -> Result<Self, String> {
        let metrics = Arc::new(Metrics::new());
        let sandbox = match &config.sandbox {
            Some(limits) => Some(
                keel_sandbox::Sandbox::new(limits.clone())
                    .map_err(|e| format!("--sandbox: {e}"))?,
            ),
            None => None,
        };
        let registry = Arc::new(Registry::with_sandbox(metrics.clone(), sandbox));
        let pool = ScoringPool::new(config.threads)?;
        Ok(AppState(Arc::new(Inner {
            config,
            registry,
            metrics,
            pool,
        })))
    }
}
