//! The state every handler shares ([`AppState`], cheap to clone: one `Arc`) and the server's
//! configuration ([`Config`], what the command line sets).

use crate::auth::Tokens;
use crate::metrics::Metrics;
use crate::pool::ScoringPool;
use crate::registry::Registry;
use std::sync::Arc;
use std::time::Duration;

/// Default of `--inline-rows`: requests with at most this many rows are scored without a pool
/// hop (see [`crate::pool`]).
pub const DEFAULT_INLINE_ROWS: usize = 16;

/// What the server is configured to do. `Debug` leaves the admin token out.
#[derive(Clone)]
pub struct Config {
    /// Largest request body (bytes).
    pub max_body: u64,
    /// Longest time a request may take.
    pub timeout: Duration,
    /// The admin bearer token (`--admin-token`, `KEEL_ADMIN_TOKEN`); without it and without
    /// an admin token in `tokens`, the admin routes are off.
    pub admin_token: Option<String>,
    /// The `--tokens` file's tokens and roles; `Some` protects the scoring routes.
    pub tokens: Option<crate::auth::Tokens>,
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
            tokens: None,
            cors_origins: Vec::new(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            inline_rows: DEFAULT_INLINE_ROWS,
            playground: None,
            sandbox: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself: a config printed in a log must not leak it.
        f.debug_struct("Config")
            .field("max_body", &self.max_body)
            .field("timeout", &self.timeout)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("tokens", &self.tokens)
            .field("cors_origins", &self.cors_origins)
            .field("threads", &self.threads)
            .field("inline_rows", &self.inline_rows)
            .field("playground", &self.playground)
            .field("sandbox", &self.sandbox)
            .finish()
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
    /// Every known token and its role: the tokens file's and the admin token.
    pub tokens: Tokens,
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
        let mut tokens = config.tokens.clone().unwrap_or_default();
        if let Some(admin) = config.admin_token.as_deref().filter(|t| !t.is_empty()) {
            tokens = tokens.with_admin_token(admin);
        }
        Ok(AppState(Arc::new(Inner {
            config,
            registry,
            metrics,
            pool,
            tokens,
        })))
    }
}
