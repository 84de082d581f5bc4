//! Frames: the fixed 32-byte header every message after the handshake carries, its checks, and
//! reading and writing one frame on a socket.
//!
//! The header is checked in full before a payload byte is read or a buffer allocated: a peer
//! that announces a length over the group's maximum, or other than the one this rank expects,
//! costs a [`Error::Protocol`], never an allocation of the announced size.

use std::io::{Read, Write};
use std::net::TcpStream;

use super::error::{Error, Op, io_error};

/// Bytes in a frame header.
pub(crate) const HEADER_LEN: usize = 32;

/// Payloads up to this size are copied behind the header and sent in one write (one TCP
/// segment with `TCP_NODELAY`); larger ones are written after the header, without a copy.
const COALESCE_LIMIT: usize = 64 * 1024;

/// A frame header (layout in the module docs of `collective`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The operation.
    pub op: Op,
    /// The group's operation counter: the same on every rank for the same call.
    pub seq: u32,
    /// The frame's index within the operation.
    pub step: u32,
    /// Operation-specific: the vector's element count (allreduce), the block's origin rank
    /// (allgather), the root (broadcast).
    pub arg: u64,
    /// Payload bytes that follow.
    pub len: u64,
}

impl Header {
    /// The header's bytes, little-endian.
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.op.tag();
        // b[1..4] reserved, zero.
        b[4..8].copy_from_slice(&self.seq.to_le_bytes());
        b[8..12].copy_from_slice(&self.step.to_le_bytes());
        // b[12..16] reserved, zero.
        b[16..24].copy_from_slice(&self.arg.to_le_bytes());
        b[24..32].copy_from_slice(&self.len.to_le_bytes());
        b
    }
}

/// What the receiving rank expects of the next frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect {
    /// The operation.
    pub op: Op,
    /// The operation counter.
    pub seq: u32,
    /// The frame's index within the operation.
    pub step: u32,
    /// The exact `arg`, where the receiver knows it.
    pub arg: Option<u64>,
    /// The exact payload length, where the receiver knows it.
    pub len: Option<u64>,
    /// The largest payload accepted ([`super::GroupConfig::max_message_bytes`]).
    pub max: u64,
}

/// Decodes and checks a header; the error is the detail of an [`Error::Protocol`].
pub(crate) fn decode(b: &[u8; HEADER_LEN], expect: &Expect) -> Result<Header, String> {
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let u64_at = |i: usize| {
        u64::from_le_bytes([
            b[i],
            b[i + 1],
            b[i + 2],
            b[i + 3],
            b[i + 4],
            b[i + 5],
            b[i + 6],
            b[i + 7],
        ])
    };
    let op = Op::from_tag(b[0]).ok_or_else(|| format!("unknown operation tag {}", b[0]))?;
    if b[1..4] != [0, 0, 0] || b[12..16] != [0, 0, 0, 0] {
        return Err("reserved header bytes are not zero".to_string());
    }
    let header = Header {
        op,
        seq: u32_at(4),
        step: u32_at(8),
        arg: u64_at(16),
        len: u64_at(24),
    };
    if header.op != expect.op {
        return Err(format!(
            "the peer is in {}, this rank in {}",
            header.op, expect.op
        ));
    }
    if header.seq != expect.seq {
        return Err(format!(
            "the peer is at operation #{}, this rank at #{} (ranks called collectives in different orders)",
            header.seq, expect.seq
        ));
    }
    if header.step != expect.step {
        return Err(format!(
            "frame step {} where {} was expected",
            header.step, expect.step
        ));
    }
    if let Some(arg) = expect.arg
        && header.arg != arg
    {
        return Err(match header.op {
            Op::AllreduceSum => {
                format!("the peer reduces {} elements, this rank {arg}", header.arg)
            }
            Op::AllgatherBytes | Op::AllreduceF64Sum | Op::Barrier | Op::Handshake => {
                format!(
                    "block from rank {} where rank {arg}'s was expected",
                    header.arg
                )
            }
            Op::BroadcastBytes => {
                format!(
                    "the peer broadcasts from root {}, this rank from {arg}",
                    header.arg
                )
            }
        });
    }
    if header.len > expect.max {
        return Err(format!(
            "announced payload of {} bytes exceeds the maximum of {} bytes",
            header.len, expect.max
        ));
    }
    if let Some(len) = expect.len
        && header.len != len
    {
        return Err(format!(
            "payload of {} bytes where {len} were expected",
            header.len
        ));
    }
    Ok(header)
}

/// A payload to send: bytes as they are, or `f32`s encoded little-endian on the way.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Payload<'a> {
    /// Raw bytes.
    Bytes(&'a [u8]),
    /// Floats, sent as 4 little-endian bytes each.
    F32(&'a [f32]),
}

impl Payload<'_> {
    /// Bytes on the wire.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::F32(f) => f.len() * 4,
        }
    }
}

/// Writes one frame to `peer`'s socket; `scratch` is reused between calls.
pub(crate) fn write_frame(
    stream: &mut TcpStream,
    peer: usize,
    header: &Header,
    payload: Payload<'_>,
    scratch: &mut Vec<u8>,
) -> Result<(), Error> {
    let op = header.op;
    let io = |e| io_error(op, peer, e);
    scratch.clear();
    scratch.extend_from_slice(&header.encode());
    match payload {
        Payload::Bytes(bytes) if bytes.len() > COALESCE_LIMIT => {
            stream.write_all(scratch).map_err(io)?;
            stream.write_all(bytes).map_err(io)
        }
        Payload::Bytes(bytes) => {
            scratch.extend_from_slice(bytes);
            stream.write_all(scratch).map_err(io)
        }
        Payload::F32(values) => {
            scratch.resize(HEADER_LEN + values.len() * 4, 0);
            // chunks_exact_mut + copy_from_slice compiles to a plain vectorised copy on
            // little-endian targets.
            for (dst, x) in scratch[HEADER_LEN..].chunks_exact_mut(4).zip(values) {
                dst.copy_from_slice(&x.to_le_bytes());
            }
            stream.write_all(scratch).map_err(io)
        }
    }
}

/// Reads one frame from `peer`'s socket into `buf` (replacing its contents) after checking its
/// header against `expect`.
pub(crate) fn read_frame(
    stream: &mut TcpStream,
    peer: usize,
    expect: &Expect,
    buf: &mut Vec<u8>,
) -> Result<Header, Error> {
    let op = expect.op;
    let mut raw = [0u8; HEADER_LEN];
    stream
        .read_exact(&mut raw)
        .map_err(|e| io_error(op, peer, e))?;
    let header = decode(&raw, expect).map_err(|detail| Error::Protocol {
        op,
        rank: peer,
        detail,
    })?;
    // `decode` bounded the length by `expect.max`, which is a usize.
    let len = usize::try_from(header.len).map_err(|_| Error::Protocol {
        op,
        rank: peer,
        detail: format!("payload of {} bytes does not fit in memory", header.len),
    })?;
    buf.clear();
    buf.reserve_exact(len);
    // `take` + `read_to_end` reads into the reserved capacity without zero-filling it first
    // (a resize would touch every byte once more before the socket does).
    let got = stream
        .take(header.len)
        .read_to_end(buf)
        .map_err(|e| io_error(op, peer, e))?;
    if got != len {
        return Err(Error::PeerClosed { op, rank: peer });
    }
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Expect {
        Expect {
            op: Op::AllgatherBytes,
            seq: 7,
            step: 2,
            arg: Some(3),
            len: None,
            max: 1024,
        }
    }

    fn header() -> Header {
        Header {
            op: Op::AllgatherBytes,
            seq: 7,
            step: 2,
            arg: 3,
            len: 100,
        }
    }

    #[test]
    fn a_matching_header_round_trips() {
        assert_eq!(decode(&header().encode(), &expect()), Ok(header()));
    }

    #[test]
    fn an_oversized_length_is_refused_before_any_allocation() {
        let h = Header {
            len: u64::MAX,
            ..header()
        };
        let err = decode(&h.encode(), &expect()).err().unwrap_or_default();
        assert!(err.contains("exceeds the maximum"), "{err}");
        let h = Header {
            len: 1025,
            ..header()
        };
        assert!(decode(&h.encode(), &expect()).is_err());
        let h = Header {
            len: 1024,
            ..header()
        };
        assert!(decode(&h.encode(), &expect()).is_ok());
    }

    #[test]
    fn an_unexpected_length_is_refused() {
        let e = Expect {
            len: Some(100),
            ..expect()
        };
        assert!(decode(&header().encode(), &e).is_ok());
        let h = Header {
            len: 99,
            ..header()
        };
        let err = decode(&h.encode(), &e).err().unwrap_or_default();
        assert!(err.contains("where 100 were expected"), "{err}");
    }

    #[test]
    fn other_ops_steps_sequences_and_args_are_refused() {
        let cases = [
            Header {
                op: Op::BroadcastBytes,
                ..header()
            },
            Header { seq: 8, ..header() },
            Header {
                step: 1,
                ..header()
            },
            Header { arg: 0, ..header() },
        ];
        for h in cases {
            assert!(decode(&h.encode(), &expect()).is_err(), "{h:?}");
        }
    }

    #[test]
    fn unknown_tags_and_reserved_bytes_are_refused() {
        let mut b = header().encode();
        b[0] = 0;
        assert!(decode(&b, &expect()).is_err());
        b[0] = 200;
        assert!(decode(&b, &expect()).is_err());
        let mut b = header().encode();
        b[13] = 1;
        assert!(decode(&b, &expect()).is_err());
    }
}
