//! The accept loop, on hyper directly rather than `axum::serve`, for the settings the latter
//! does not expose: a deadline on reading request headers (a client that opens a connection
//! and stalls must not hold it forever), a cap on header size, TLS, and connection-level
//! graceful shutdown.
//!
//! Limits: at most `--max-connections` connections are open at once; at the cap the loop
//! stops accepting (new connections wait in the kernel's backlog, and are served as others
//! close) rather than accepting and dropping them, so a burst is queued, not failed. The soft
//! open-file limit is raised to the hard one at start, so the cap, not the common default of
//! 1024 descriptors, is what bounds connections. An idle keep-alive connection is closed once
//! it has waited `--timeout` for its next request head (hyper's header read timeout). Request
//! heads larger than `--max-header-size` get hyper's own 431 and the connection closes. A TLS handshake must finish within `--timeout`; one that fails (a
//! plain-HTTP client on the HTTPS port, a bad certificate on the client's side) closes that
//! connection only.
//!
//! Shutdown (SIGTERM or SIGINT): the listener is closed, so new connections are refused; every
//! open connection is told to finish: a request in flight is answered, then the connection
//! closes, and idle keep-alive connections close at once. The process exits 0 when all are
//! done, or when `--shutdown-grace` runs out.

use crate::ServeArgs;
use crate::ServeError;
use crate::auth::Tokens;
use crate::head_errors::JsonHeadErrors;
use crate::playground::Playground;
use crate::router;
use crate::state::{AppState, Config};
use crate::tls;
use crate::watch::Watcher;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher as Graceful};
use hyper_util::service::TowerToHyperService;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// Serves one connection (plain or TLS) until it closes or graceful shutdown ends it.
async fn serve_connection<I>(http: &http1::Builder, io: I, app: Router, graceful: Graceful)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = JsonHeadErrors::new(io);
    let conn = http.serve_connection(TokioIo::new(io), TowerToHyperService::new(app));
    if let Err(e) = graceful.watch(conn).await {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}

/// Completes on SIGTERM or SIGINT. The handlers are installed when this is called (not when it
/// is first polled), so a signal that arrives right after startup is not lost.
fn shutdown_signal() -> Result<impl Future<Output = &'static str>, ServeError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let install = |kind| {
            signal(kind).map_err(|e| ServeError(format!("cannot install a signal handler: {e}")))
        };
        let mut term = install(SignalKind::terminate())?;
        let mut int = install(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        })
    }
}

/// Descriptors the process holds besides its connections: the listener, standard streams,
/// model files being read, the watcher and the scoring pool's handles.
const SPARE_FILES: u64 = 256;

/// Raises the soft open-file limit to the hard one. Each connection holds a socket, and many
/// systems start processes with a soft limit of 1024: left there, accepting would fail with
/// "too many open files" far below `--max-connections` (the default allows 10,000). Warns
/// when even the hard limit is below the cap plus [`SPARE_FILES`], naming both fixes.
#[cfg(unix)]
fn raise_open_file_limit(max_connections: u32) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let want = u64::from(max_connections) + SPARE_FILES;
    // `None` is unlimited.
    let Some(soft) = limit.current else { return };
    let target = limit.maximum.unwrap_or(want.max(soft));
    if target > soft {
        match setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum: limit.maximum,
            },
        ) {
            Ok(()) => tracing::debug!(from = soft, to = target, "raised the open-file limit"),
            Err(e) => {
                tracing::warn!(soft, error = %e, "could not raise the open-file limit");
                return;
            }
        }
    }
    if target < want {
        tracing::warn!(
            open_files = target,
            max_connections,
            "the open-file limit is below --max-connections plus {SPARE_FILES}: connections \
             past about {} will fail to be accepted; raise the hard limit (ulimit -Hn, \
             LimitNOFILE= in a systemd unit) or lower --max-connections",
            target.saturating_sub(SPARE_FILES)
        );
    }
}

/// Serves until SIGTERM or SIGINT.
pub async fn serve(args: ServeArgs) -> Result<(), ServeError> {
    #[cfg(unix)]
    raise_open_file_limit(args.max_connections);
    for s in &args.sources {
        if !s.exists() {
            return Err(ServeError(format!(
                "`{}` does not exist (give bundle files or directories)",
                s.display()
            )));
        }
    }
    // Files given on the command line are checked before anything listens: a bad tokens file
    // or certificate is a startup error naming the file, not a server that refuses everyone.
    let tokens = match &args.tokens {
        Some(path) => Some(Tokens::load(path).map_err(|e| ServeError(e.to_string()))?),
        None => None,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsAcceptor::from(
            tls::server_config(cert, key).map_err(|e| ServeError(e.to_string()))?,
        )),
        (None, None) => None,
        _ => {
            return Err(ServeError(
                "--tls-cert and --tls-key go together (a certificate and its key)".into(),
            ));
        }
    };
    let defaults = Config::default();
    let config = Config {
        max_body: args.max_body,
        timeout: args.timeout,
        admin_token: args.admin_token.clone().filter(|t| !t.is_empty()),
        tokens,
        cors_origins: args.cors_origins.clone(),
        threads: args.threads.map_or(defaults.threads, usize::from),
        inline_rows: args.inline_rows,
        playground: match &args.playground {
            Some(dir) => Some(Arc::new(Playground::load(dir).map_err(ServeError)?)),
            None => None,
        },
        sandbox: args.sandbox.limits(),
    };
    let state = AppState::new(config).map_err(ServeError)?;
    let shutdown = shutdown_signal()?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| ServeError(format!("cannot listen on {}: {e}", args.addr)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError(format!("cannot read the bound address: {e}")))?;
    // The first line on stdout is the address, for scripts and tests that ask for port 0.
    let mut out = std::io::stdout().lock();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let _ = writeln!(out, "keel serve: listening on {scheme}://{addr}").and_then(|()| out.flush());
    drop(out);
    let (score_tokens, admin_tokens) = state.tokens.counts();
    tracing::info!(
        %addr,
        scheme,
        threads = state.pool.threads(),
        admin = state.tokens.has_admin(),
        scoring_needs_token = state.tokens.protects_scoring(),
        score_tokens,
        admin_tokens,
        max_connections = args.max_connections,
        "listening"
    );

    let (stop_watch, stop_rx) = std::sync::mpsc::channel::<()>();
    let watcher = Watcher::new(state.registry.clone(), args.sources.clone());
    let interval = args.poll_interval;
    let watch_thread = std::thread::Builder::new()
        .name("keel-watch".into())
        .spawn(move || watcher.run(interval, &stop_rx))
        .map_err(|e| ServeError(format!("cannot start the watcher: {e}")))?;

    let app = router::app(state.clone());
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(args.timeout)
        .max_header_size(args.max_header_size)
        .keep_alive(true);
    let http = Arc::new(http);
    let connections = Arc::new(Semaphore::new(args.max_connections as usize));
    let mut at_cap = false;
    tokio::pin!(shutdown);
    let signal = 'accept: loop {
        // A permit per connection, taken before accepting: at the cap, nothing is accepted.
        if connections.available_permits() == 0 && !at_cap {
            tracing::warn!(
                max_connections = args.max_connections,
                "connection limit reached: new connections wait until others close"
            );
        }
        at_cap = connections.available_permits() == 0;
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                // The semaphore is never closed; were it, stopping is the only way out.
                Err(_) => break 'accept "the connection limiter closed",
            },
            signal = &mut shutdown => break 'accept signal,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            signal = &mut shutdown => break 'accept signal,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (http, app, watcher) = (http.clone(), app.clone(), graceful.watcher());
        let tls = tls.clone();
        let handshake_timeout = args.timeout;
        tokio::spawn(async move {
            // Held for the connection's life: its drop frees the slot.
            let _permit = permit;
            let Some(acceptor) = tls else {
                return serve_connection(&http, stream, app, watcher).await;
            };
            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => serve_connection(&http, stream, app, watcher).await,
                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!("TLS handshake timed out"),
            }
        });
    };
    drop(listener);
    tracing::info!(
        signal,
        connections = graceful.count(),
        "shutting down: finishing in-flight requests"
    );
    match tokio::time::timeout(args.shutdown_grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!("all connections closed"),
        Err(_) => tracing::warn!(
            grace = %humantime::format_duration(args.shutdown_grace),
            "shutdown grace expired with requests in flight"
        ),
    }
    drop(stop_watch);
    let _ = watch_thread.join();
    Ok(())
}
