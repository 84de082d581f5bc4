//! Forming the ring: binding the listener, dialling the next rank (retrying, since Spark starts
//! the barrier tasks at slightly different times) and accepting the previous one, each
//! authenticated before it is used.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use super::error::{Error, Op, io_error};
use super::handshake::{HandshakeError, Identity, Role, handshake};

/// Pause between connection attempts to a rank that is not listening yet.
const DIAL_RETRY: Duration = Duration::from_millis(20);
/// Pause between polls of the non-blocking listener (std has no accept timeout).
const ACCEPT_POLL: Duration = Duration::from_millis(5);
/// How long an accepted connection may take to send its hello. A real peer sends it as soon
/// as it connects; the bound keeps a silent stray connection from holding the listener until
/// the deadline while the real peer waits behind it.
const HELLO_WAIT: Duration = Duration::from_secs(2);

/// Binds a listener on `host`, port 0 (any free port), and returns it with the `host:port` to
/// publish to the other ranks.
pub fn bind(host: &str) -> Result<(TcpListener, String), Error> {
    bind_port(host, 0)
}

/// Binds a listener on `host:port` (port 0: any free port), and returns it with the
/// `host:port` to publish. The published host is `host` as given (bracketed if it is an IPv6
/// literal), so pass the name or address the other ranks reach this one by, not `0.0.0.0`.
pub fn bind_port(host: &str, port: u16) -> Result<(TcpListener, String), Error> {
    let host_part = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let bind_error = |source| Error::Bind {
        address: format!("{host_part}:{port}"),
        source,
    };
    let host_only = host.trim_start_matches('[').trim_end_matches(']');
    let listener = TcpListener::bind((host_only, port)).map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok((listener, format!("{host_part}:{}", local.port())))
}

/// A connection to a neighbour, authenticated.
#[derive(Debug)]
pub(crate) struct Link {
    /// The socket (blocking, with read and write timeouts, `TCP_NODELAY`).
    pub stream: TcpStream,
    /// The neighbour's rank.
    pub peer: usize,
}

/// Blocking mode, timeouts and `TCP_NODELAY` (collectives send small frames whose latency
/// matters more than packing) on a new connection.
fn configure(stream: &TcpStream, peer: usize, timeout: Duration) -> Result<(), Error> {
    let io = |e| io_error(Op::Handshake, peer, e);
    stream.set_nonblocking(false).map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)
}

/// Connects to `peer` at `address`, retrying until `deadline`, then authenticates as the
/// dialer.
pub(crate) fn dial(
    me: Identity<'_>,
    peer: usize,
    address: &str,
    timeout: Duration,
    deadline: Instant,
) -> Result<Link, Error> {
    let mut last = String::from("no attempt made");
    loop {
        if Instant::now() >= deadline {
            return Err(Error::ConnectTimeout {
                rank: peer,
                address: address.to_string(),
                timeout,
                last,
            });
        }
        // Resolved on every attempt: a name may not resolve until the peer's host is up.
        let targets: Vec<SocketAddr> = match address.to_socket_addrs() {
            Ok(addrs) => addrs.collect(),
            Err(e) => {
                last = format!("resolving {address}: {e}");
                Vec::new()
            }
        };
        for target in targets {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(&target, remaining.min(timeout)) {
                Ok(mut stream) => {
                    configure(&stream, peer, timeout)?;
                    return match handshake(&mut stream, me, Role::Dialer, peer) {
                        Ok(()) => Ok(Link { stream, peer }),
                        // The acceptor answers every dialler it reads a hello from, so a
                        // dialler never sees this; treated as the peer not being one.
                        Err(HandshakeError::NotAPeer) => Err(Error::Auth {
                            rank: peer,
                            reason: super::AuthFailure::NotAPeer,
                        }),
                        Err(HandshakeError::Failed(e)) => Err(e),
                    };
                }
                Err(e) => last = format!("{target}: {e}"),
            }
        }
        thread::sleep(DIAL_RETRY.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// Accepts `peer`'s connection on `listener` until `deadline` and authenticates it as the
/// acceptor. Connections that are not keel peers (no hello) are dropped and waiting goes on;
/// a keel peer that fails authentication fails the setup at once: it is a misconfigured job,
/// and waiting would only turn the real error into a timeout.
pub(crate) fn accept(
    me: Identity<'_>,
    peer: usize,
    listener: &TcpListener,
    timeout: Duration,
    deadline: Instant,
) -> Result<Link, Error> {
    listener
        .set_nonblocking(true)
        .map_err(|e| io_error(Op::Handshake, peer, e))?;
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let remaining = deadline.saturating_duration_since(Instant::now());
                let wait = remaining
                    .min(timeout)
                    .min(HELLO_WAIT)
                    .max(Duration::from_millis(100));
                configure(&stream, peer, wait)?;
                match handshake(&mut stream, me, Role::Acceptor, peer) {
                    Ok(()) => {
                        configure(&stream, peer, timeout)?;
                        return Ok(Link { stream, peer });
                    }
                    Err(HandshakeError::NotAPeer) => {}
                    Err(HandshakeError::Failed(e)) => return Err(e),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(Error::AcceptTimeout {
                        rank: peer,
                        timeout,
                    });
                }
                thread::sleep(ACCEPT_POLL);
            }
            // A client that reset before it was accepted, or a signal: keep waiting.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(io_error(Op::Handshake, peer, e)),
        }
    }
}
