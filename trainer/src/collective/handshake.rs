//! The mutual challenge–response that authenticates both ends of every connection.
//!
//! Three exchanges (each message a few dozen bytes, well under any socket buffer, so writing
//! before reading cannot deadlock):
//!
//! 1. *hello*: protocol magic and version, world size, sender's rank, the rank it believes it
//!    is talking to, a fresh 32-byte nonce, and the job id. The dialer sends first; the
//!    acceptor answers only a well-formed hello. Each end checks the other's.
//!
//! Steps 2 and 3 run on both ends at the same time:
//!
//! 2. *proof*: a verdict byte (0 = the hello was acceptable) and
//!    `HMAC-SHA256(secret, label ‖ job ‖ world ‖ dialer rank ‖ acceptor rank ‖ dialer nonce ‖
//!    acceptor nonce)`, where the label differs by role, so a proof cannot be reflected back to
//!    its sender, and both nonces are fresh, so a recorded proof cannot be replayed. Each end
//!    verifies the other's in constant time (`hmac`'s `verify_slice`).
//! 3. *ack*: one byte saying whether the peer's proof verified, so both ends fail together
//!    rather than one believing it is connected.
//!
//! Each end reads every message the other sends before it closes: closing a socket with
//! unread data makes the kernel send a reset, which could destroy the verdict in flight.

use std::io::{Read, Write};
use std::net::TcpStream;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::{AuthFailure, Error, Op, io_error};

/// The first bytes on every connection.
const MAGIC: [u8; 8] = *b"KEELRING";
/// This protocol's version; a change to any message bumps it.
const VERSION: u16 = 1;
/// Bytes of each nonce.
const NONCE_LEN: usize = 32;
/// Bytes of an HMAC-SHA256 tag.
const PROOF_LEN: usize = 32;
/// The longest job id accepted (it travels with a 16-bit length).
pub(crate) const MAX_JOB_LEN: usize = 1024;
/// Fixed part of a hello: magic, version, world, sender, receiver, nonce, job length.
const HELLO_FIXED: usize = 8 + 2 + 4 + 4 + 4 + NONCE_LEN + 2;

/// Which end of the connection this rank is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Opened the connection (to its next rank).
    Dialer,
    /// Accepted it (from its previous rank).
    Acceptor,
}

impl Role {
    /// The HMAC domain label of the proof sent by this role.
    fn label(self) -> &'static [u8] {
        match self {
            Role::Dialer => b"keel collective v1 dialer proof",
            Role::Acceptor => b"keel collective v1 acceptor proof",
        }
    }

    fn other(self) -> Role {
        match self {
            Role::Dialer => Role::Acceptor,
            Role::Acceptor => Role::Dialer,
        }
    }
}

/// What both ends must agree on; borrowed from the [`super::GroupConfig`].
#[derive(Clone, Copy)]
pub(crate) struct Identity<'a> {
    /// The per-job secret.
    pub secret: &'a [u8],
    /// The job id.
    pub job: &'a str,
    /// World size.
    pub world: usize,
    /// This rank.
    pub rank: usize,
}

/// How a handshake failed.
#[derive(Debug)]
pub(crate) enum HandshakeError {
    /// The other end never sent a well-formed hello with our magic: a port scanner, a health
    /// check, a stray client. The acceptor drops it and keeps waiting for its real peer.
    NotAPeer,
    /// A keel peer failed, or the connection broke after its hello.
    Failed(Error),
}

/// Runs the handshake on `stream` with `peer` in `role`; the stream's timeouts are set.
pub(crate) fn handshake(
    stream: &mut TcpStream,
    me: Identity<'_>,
    role: Role,
    peer: usize,
) -> Result<(), HandshakeError> {
    let fail = |e: Error| HandshakeError::Failed(e);
    let io = |e| fail(io_error(Op::Handshake, peer, e));
    let auth = |reason| fail(Error::Auth { rank: peer, reason });

    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| {
        fail(Error::Io {
            op: Op::Handshake,
            rank: peer,
            source: std::io::Error::other(format!("no random nonce from the OS: {e}")),
        })
    })?;
    // The dialer speaks first; the acceptor answers only a well-formed hello, so a stray
    // client learns nothing about the job.
    if role == Role::Dialer {
        stream.write_all(&hello(me, peer, &nonce)).map_err(io)?;
    }
    // The peer's hello. Until its magic has arrived, anything wrong means "not a keel peer".
    let mut fixed = [0u8; HELLO_FIXED];
    let read = stream.read_exact(&mut fixed);
    match (role, read) {
        (Role::Acceptor, Err(_)) => return Err(HandshakeError::NotAPeer),
        (Role::Dialer, Err(e)) => return Err(io(e)),
        (Role::Acceptor, Ok(())) if fixed[..8] != MAGIC => return Err(HandshakeError::NotAPeer),
        (Role::Dialer, Ok(())) if fixed[..8] != MAGIC => return Err(auth(AuthFailure::NotAPeer)),
        (_, Ok(())) => {}
    }
    let u16_at = |i: usize| u16::from_le_bytes([fixed[i], fixed[i + 1]]);
    let u32_at =
        |i: usize| u32::from_le_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]);
    let version = u16_at(8);
    let (peer_world, peer_rank, peer_target) = (u32_at(10), u32_at(14), u32_at(18));
    let mut peer_nonce = [0u8; NONCE_LEN];
    peer_nonce.copy_from_slice(&fixed[22..22 + NONCE_LEN]);
    let job_len = usize::from(u16_at(22 + NONCE_LEN));
    if job_len > MAX_JOB_LEN {
        return Err(match role {
            Role::Acceptor => HandshakeError::NotAPeer,
            Role::Dialer => auth(AuthFailure::NotAPeer),
        });
    }
    let mut peer_job = vec![0u8; job_len];
    stream.read_exact(&mut peer_job).map_err(io)?;
    if role == Role::Acceptor {
        stream.write_all(&hello(me, peer, &nonce)).map_err(io)?;
    }

    // Our verdict on the peer's hello; the first mismatch is the one reported.
    let as_usize = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
    let local_failure = if version != VERSION {
        Some(AuthFailure::Version { peer: version })
    } else if as_usize(peer_world) != me.world {
        Some(AuthFailure::WorldMismatch {
            ours: me.world,
            peer: as_usize(peer_world),
        })
    } else if peer_job != me.job.as_bytes() {
        Some(AuthFailure::JobMismatch {
            peer_job: String::from_utf8_lossy(&peer_job).into_owned(),
        })
    } else if as_usize(peer_rank) != peer {
        Some(AuthFailure::RankMismatch {
            expected: peer,
            claimed: as_usize(peer_rank),
        })
    } else if as_usize(peer_target) != me.rank {
        Some(AuthFailure::RankMismatch {
            expected: me.rank,
            claimed: as_usize(peer_target),
        })
    } else {
        None
    };

    let (dialer, acceptor, dialer_nonce, acceptor_nonce) = match role {
        Role::Dialer => (me.rank, peer, &nonce, &peer_nonce),
        Role::Acceptor => (peer, me.rank, &peer_nonce, &nonce),
    };
    let transcript = |label: &[u8]| -> Result<Hmac<Sha256>, HandshakeError> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(me.secret).map_err(|e| {
            fail(Error::Invalid {
                reason: format!("secret: {e}"),
            })
        })?;
        mac.update(label);
        mac.update(&(me.job.len() as u64).to_le_bytes());
        mac.update(me.job.as_bytes());
        for v in [me.world, dialer, acceptor] {
            mac.update(&(v as u64).to_le_bytes());
        }
        mac.update(dialer_nonce);
        mac.update(acceptor_nonce);
        Ok(mac)
    };

    let mut proof = [0u8; 1 + PROOF_LEN];
    if local_failure.is_none() {
        proof[1..].copy_from_slice(&transcript(role.label())?.finalize().into_bytes());
    } else {
        proof[0] = 1;
    }
    stream.write_all(&proof).map_err(io)?;
    let mut peer_proof = [0u8; 1 + PROOF_LEN];
    stream.read_exact(&mut peer_proof).map_err(io)?;
    if let Some(reason) = local_failure {
        return Err(auth(reason));
    }
    if peer_proof[0] != 0 {
        return Err(auth(AuthFailure::Refused));
    }
    let verified = transcript(role.other().label())?
        .verify_slice(&peer_proof[1..])
        .is_ok();

    stream.write_all(&[u8::from(!verified)]).map_err(io)?;
    let mut peer_ack = [0u8; 1];
    stream.read_exact(&mut peer_ack).map_err(io)?;
    if !verified {
        return Err(auth(AuthFailure::BadProof));
    }
    if peer_ack[0] != 0 {
        return Err(auth(AuthFailure::Refused));
    }
    Ok(())
}

/// This end's hello to `peer`.
fn hello(me: Identity<'_>, peer: usize, nonce: &[u8; NONCE_LEN]) -> Vec<u8> {
    // Ranks, world and job length were bounded when the group was configured.
    let u32_of = |v: usize| u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes();
    let job = me.job.as_bytes();
    let mut m = Vec::with_capacity(HELLO_FIXED + job.len());
    m.extend_from_slice(&MAGIC);
    m.extend_from_slice(&VERSION.to_le_bytes());
    m.extend_from_slice(&u32_of(me.world));
    m.extend_from_slice(&u32_of(me.rank));
    m.extend_from_slice(&u32_of(peer));
    m.extend_from_slice(nonce);
    m.extend_from_slice(&u16::try_from(job.len()).unwrap_or(u16::MAX).to_le_bytes());
    m.extend_from_slice(job);
    m
}
