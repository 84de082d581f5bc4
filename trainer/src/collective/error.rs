//! The collective's typed errors: every variant names the operation and the peer rank involved,
//! so a failed Spark barrier task says which worker (and which address) it was waiting for.

use std::fmt;
use std::io;
use std::time::Duration;

/// The operation a frame belongs to (its tag on the wire), or the handshake.
///
/// Every frame carries its operation's tag, so ranks that call different collectives in the
/// same position fail with [`Error::Protocol`] instead of reinterpreting each other's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Connecting, authenticating, and the ready pass that ends [`super::Group::connect`].
    Handshake,
    /// [`super::Group::allreduce_sum`].
    AllreduceSum,
    /// [`super::Group::allgather_bytes`].
    AllgatherBytes,
    /// [`super::Group::broadcast_bytes`].
    BroadcastBytes,
    /// [`super::Group::allreduce_f64_sum`].
    AllreduceF64Sum,
    /// [`super::Group::barrier`].
    Barrier,
}

impl Op {
    /// The byte that identifies this operation in a frame header; 0 is never sent.
    pub(crate) fn tag(self) -> u8 {
        match self {
            Op::Handshake => 6,
            Op::AllreduceSum => 1,
            Op::AllgatherBytes => 2,
            Op::BroadcastBytes => 3,
            Op::AllreduceF64Sum => 4,
            Op::Barrier => 5,
        }
    }

    /// The operation a frame header's tag names, if any.
    pub(crate) fn from_tag(tag: u8) -> Option<Op> {
        match tag {
            1 => Some(Op::AllreduceSum),
            2 => Some(Op::AllgatherBytes),
            3 => Some(Op::BroadcastBytes),
            4 => Some(Op::AllreduceF64Sum),
            5 => Some(Op::Barrier),
            6 => Some(Op::Handshake),
            _ => None,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Handshake => "handshake",
            Op::AllreduceSum => "allreduce_sum",
            Op::AllgatherBytes => "allgather_bytes",
            Op::BroadcastBytes => "broadcast_bytes",
            Op::AllreduceF64Sum => "allreduce_f64_sum",
            Op::Barrier => "barrier",
        })
    }
}

/// Why a peer failed authentication. None of these carries the secret or a proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// The peer's proof does not verify under our secret: the two ranks hold different secrets
    /// (or the peer is not part of this job).
    BadProof,
    /// The peer refused our handshake (it found our proof, job, rank or world wrong; its own
    /// error says which).
    Refused,
    /// The peer belongs to another job (job ids are not secret, so the peer's is shown).
    JobMismatch {
        /// The job id the peer announced.
        peer_job: String,
    },
    /// The peer announced a world size different from ours.
    WorldMismatch {
        /// Our world size.
        ours: usize,
        /// The peer's world size.
        peer: usize,
    },
    /// The peer announced itself as another rank than the one expected on this link, or
    /// addressed another rank than us: the ranks disagree about the address table.
    RankMismatch {
        /// What the peer should have said.
        expected: usize,
        /// What it said.
        claimed: usize,
    },
    /// The peer speaks another version of this protocol.
    Version {
        /// The peer's protocol version.
        peer: u16,
    },
    /// Whatever answered at the peer's address does not speak keel's collective protocol.
    NotAPeer,
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthFailure::BadProof => {
                f.write_str("its proof does not verify with our secret (different secrets?)")
            }
            AuthFailure::Refused => f.write_str("it refused our handshake (see its own error)"),
            AuthFailure::JobMismatch { peer_job } => {
                write!(f, "it belongs to another job ({peer_job:?})")
            }
            AuthFailure::WorldMismatch { ours, peer } => {
                write!(f, "it has world size {peer}, we have {ours}")
            }
            AuthFailure::RankMismatch { expected, claimed } => {
                write!(
                    f,
                    "expected rank {expected} on this link, it says {claimed}"
                )
            }
            AuthFailure::Version { peer } => write!(f, "it speaks protocol version {peer}"),
            AuthFailure::NotAPeer => f.write_str("it does not speak keel's collective protocol"),
        }
    }
}

/// A collective failure. After any error on an operation the [`super::Group`] is unusable
/// ([`Error::Broken`]): its connections may be out of step, and in a Spark barrier stage the
/// whole stage is retried anyway.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listening socket could not be bound.
    #[error("cannot bind a listening socket on {address}: {source}")]
    Bind {
        /// The `host:port` asked for.
        address: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The next rank did not accept a connection before the deadline.
    #[error(
        "rank {rank} at {address} did not accept a connection within {timeout:?} (last error: {last})"
    )]
    ConnectTimeout {
        /// The rank dialled.
        rank: usize,
        /// Its published address.
        address: String,
        /// The configured timeout.
        timeout: Duration,
        /// The last connection error seen (refused, unreachable, name resolution...).
        last: String,
    },
    /// The previous rank did not connect before the deadline.
    #[error("rank {rank} did not connect within {timeout:?}")]
    AcceptTimeout {
        /// The rank waited for.
        rank: usize,
        /// The configured timeout.
        timeout: Duration,
    },
    /// A peer failed authentication; the connection was dropped.
    #[error("authenticating rank {rank} failed: {reason}")]
    Auth {
        /// The peer's rank (the one expected on that link).
        rank: usize,
        /// Why.
        reason: AuthFailure,
    },
    /// A socket read or write waited longer than the configured timeout.
    #[error("{op} timed out waiting for rank {rank}")]
    Timeout {
        /// The operation under way.
        op: Op,
        /// The peer on that socket.
        rank: usize,
    },
    /// The peer closed (or reset) its connection.
    #[error("rank {rank} closed its connection during {op}")]
    PeerClosed {
        /// The operation under way.
        op: Op,
        /// The peer that went away.
        rank: usize,
    },
    /// A frame from the peer does not match what this rank expects: another operation, step or
    /// sequence number (the ranks called different collectives), another length (different
    /// buffer sizes), or a length over the group's maximum.
    #[error("protocol error from rank {rank} during {op}: {detail}")]
    Protocol {
        /// The operation under way.
        op: Op,
        /// The peer that sent the frame.
        rank: usize,
        /// What differed.
        detail: String,
    },
    /// Any other socket error.
    #[error("i/o error with rank {rank} during {op}: {source}")]
    Io {
        /// The operation under way.
        op: Op,
        /// The peer on that socket.
        rank: usize,
        /// The operating system's error.
        source: io::Error,
    },
    /// This rank's own message exceeds the group's maximum message size.
    #[error("{op}: a message of {bytes} bytes exceeds the group's maximum of {max} bytes")]
    TooLarge {
        /// The operation.
        op: Op,
        /// The message's size.
        bytes: usize,
        /// [`super::GroupConfig::max_message_bytes`].
        max: usize,
    },
    /// The configuration or an argument is invalid (nothing was sent).
    #[error("invalid collective configuration or argument: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// An earlier operation on this group failed; its connections were closed.
    #[error("an earlier collective operation on this group failed; the group is closed")]
    Broken,
}

/// Maps a socket error to the typed error that says what happened to whom.
pub(crate) fn io_error(op: Op, rank: usize, source: io::Error) -> Error {
    match source.kind() {
        // A socket timeout surfaces as WouldBlock on Unix and TimedOut on Windows.
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout { op, rank },
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::NotConnected => Error::PeerClosed { op, rank },
        _ => Error::Io { op, rank, source },
    }
}
