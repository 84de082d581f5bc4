//! keel's JSON error shape for the answers hyper writes itself. A request head hyper cannot
//! parse (a malformed request line or header, a `Content-Length` that is not a number or is
//! given twice with different values, a head over `--max-header-size`, a URI too long) never
//! reaches the router: hyper answers 400, 431 or 414 with an empty body and closes the
//! connection, and offers no hook to change that answer. Every other error of the server has
//! the body `{"error": {"code", "message", "column", "row", "request_id"}}`, and clients (and
//! the contract) expect it on every 4xx.
//!
//! [`JsonHeadErrors`] wraps the connection's byte stream below hyper and rewrites exactly
//! those answers as they are written: a response head with one of those statuses and
//! `content-length: 0`. The router never writes such a head (its every 4xx has a JSON body),
//! so nothing else is touched; every other write passes through unchanged and unbuffered,
//! vectored writes included.

use crate::request_id;
use serde_json::json;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The byte stream of one connection, with hyper's own error answers given JSON bodies.
pub struct JsonHeadErrors<T> {
    inner: T,
    /// A rewritten answer being written: its bytes, how many are written, and how many bytes
    /// of hyper's own answer it stands for (reported to hyper once all are written).
    pending: Option<(Vec<u8>, usize, usize)>,
}

impl<T> JsonHeadErrors<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        JsonHeadErrors {
            inner,
            pending: None,
        }
    }
}

/// The statuses hyper answers unparsable heads with, and keel's code and message for each.
const ANSWERS: [(&[u8], &str, &str); 3] = [
    (
        b"HTTP/1.1 400 ",
        "bad_request",
        "the request head is not valid HTTP/1.1 (a malformed request line or header, or a \
         Content-Length that is not one number)",
    ),
    (
        b"HTTP/1.1 431 ",
        "headers_too_large",
        "the request head (request line and headers) is larger than the server's \
         --max-header-size",
    ),
    (
        b"HTTP/1.1 414 ",
        "uri_too_long",
        "the request URI is longer than the server accepts",
    ),
];

/// If `head` is one of hyper's automatic error answers (a whole response head with an
/// empty body), the same answer with keel's JSON error body.
pub fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let (_, code, message) = ANSWERS.iter().find(|(start, ..)| head.starts_with(start))?;
    if !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let empty = "\r\ncontent-length: 0\r\n";
    let at = text.to_ascii_lowercase().find(empty)?;
    let id = request_id::generate();
    let id = id.to_str().unwrap_or_default();
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "column": null,
            "row": null,
            "request_id": id,
        }
    })
    .to_string();
    tracing::info!(
        request_id = id,
        status = &text[9..12],
        code,
        "request head refused before routing"
    );
    let mut out = Vec::with_capacity(head.len() + body.len() + 96);
    out.extend_from_slice(&head[..at]);
    out.extend_from_slice(
        format!(
            "\r\ncontent-type: application/json\r\nx-request-id: {id}\r\ncontent-length: {}\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&head[at + empty.len()..]);
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

impl<T: AsyncWrite + Unpin> JsonHeadErrors<T> {
    /// Writes the pending rewritten answer to the end; then reports `stands_for` bytes.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        while let Some((bytes, written, stands_for)) = &mut self.pending {
            if *written == bytes.len() {
                let n = *stands_for;
                self.pending = None;
                return Poll::Ready(Ok(n));
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(0))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for JsonHeadErrors<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for JsonHeadErrors<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        // hyper writes the same bytes again after a Pending; the rewrite already stands for them.
        if self.pending.is_none() {
            match rewrite(buf) {
                Some(bytes) => self.pending = Some((bytes, 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        self.poll_pending(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.pending.is_none() {
            // hyper's automatic answers are a head alone, in one slice.
            let mut parts = bufs.iter().filter(|b| !b.is_empty());
            let head = match (parts.next(), parts.next()) {
                (Some(only), None) => rewrite(only).map(|bytes| (bytes, only.len())),
                _ => None,
            };
            match head {
                Some((bytes, n)) => self.pending = Some((bytes, 0, n)),
                None => return Pin::new(&mut self.inner).poll_write_vectored(cx, bufs),
            }
        }
        self.poll_pending(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.pending.is_some() {
            ready!(self.poll_pending(cx))?;
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.pending.is_some() {
            ready!(self.poll_pending(cx))?;
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn hypers_431_gets_the_json_error_shape() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Sat, 05 Dec 2026 00:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(rewrite(head).unwrap()).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(head.contains("\r\ncontent-type: application/json\r\n"));
        assert!(head.contains(&format!("\r\ncontent-length: {}\r\n", body.len())));
        assert!(head.ends_with("\r\ndate: Sat, 05 Dec 2026 00:00:00 GMT"));
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(j["error"]["code"], "headers_too_large");
        assert!(j["error"]["request_id"].is_string());
        let id = head
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .unwrap();
        assert_eq!(j["error"]["request_id"], id);
    }

    #[test]
    fn answers_with_a_body_and_other_statuses_pass_through() {
        // The router's own 400 has a JSON body: its length is not 0.
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 57\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(rewrite(b"HTTP/1.1 204 No Content\r\n\r\n").is_none());
        // Not a whole head: a body chunk that happens to start like one.
        assert!(rewrite(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n").is_none());
        assert!(rewrite(b"{\"rows\": []}").is_none());
    }

    #[tokio::test]
    async fn a_rewritten_answer_is_written_whole_and_reported_as_hypers_length() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A pipe narrow enough that the rewritten answer takes many writes.
        let (a, mut b) = tokio::io::duplex(16);
        let mut io = JsonHeadErrors::new(a);
        let head = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            got
        });
        let n = io.write(head).await.unwrap();
        assert_eq!(n, head.len());
        io.shutdown().await.unwrap();
        drop(io);
        let got = String::from_utf8(reader.await.unwrap()).unwrap();
        let (_, body) = got.split_once("\r\n\r\n").unwrap();
        let j: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(j["error"]["code"], "bad_request");
    }
}
