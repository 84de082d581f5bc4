//! The accept loop, on hyper directly rather than `axum::serve`, for the two settings the
//! latter does not expose: a deadline on reading request headers (a client that opens a
//! connection and stalls must not hold it forever) and connection-level graceful shutdown.
//!
//! Shutdown (SIGTERM or SIGINT): the listener is closed, so new connections are refused; every
//! open connection is told to finish: a request in flight is answered, then the connection
//! closes, and idle keep-alive connections close at once. The process exits 0 when all are
//! done, or when `--shutdown-grace` runs out.

use crate::ServeArgs;
use crate::ServeError;
use crate::playground::Playground;
use crate::router;
use crate::state::{AppState, Config};
use crate::watch::Watcher;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

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

/// Serves until SIGTERM or SIGINT.
pub async fn serve(args: ServeArgs) -> Result<(), ServeError> {
    for s in &args.sources {
        if !s.exists() {
            return Err(ServeError(format!(
                "`{}` does not exist (give bundle files or directories)",
                s.display()
            )));
        }
    }
    let defaults = Config::default();
    let config = Config {
        max_body: args.max_body,
        timeout: args.timeout,
        admin_token: args.admin_token.clone().filter(|t| !t.is_empty()),
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
    let _ = writeln!(out, "keel serve: listening on http://{addr}").and_then(|()| out.flush());
    drop(out);
    tracing::info!(
        %addr,
        threads = state.pool.threads(),
        admin = state.config.admin_token.is_some(),
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
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(args.timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    let signal = loop {
        tokio::select! {
            accepted = listener.accept() => {
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
                let conn = http.serve_connection(
                    TokioIo::new(stream),
                    TowerToHyperService::new(app.clone()),
                );
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            signal = &mut shutdown => break signal,
        }
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
