//! `keel serve` security over real sockets: bearer tokens and roles (`--tokens`,
//! `KEEL_ADMIN_TOKEN`), bad tokens files refused at startup by line number, no token in the
//! log, request IDs in answers and log lines, HTTPS with a certificate made at test time, the
//! connection and header-size limits, and requests whose `Content-Length` lies, each followed
//! by a request that must still be served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../server/tests/common/mod.rs"]
mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEEL: &str = env!("CARGO_BIN_EXE_keel");
const SCORE: &str = "score-tok-5f2a9c0e7b1d";
const ADMIN: &str = "admin-tok-8e4b6d2f0a3c";
const ENV_ADMIN: &str = "env-admin-tok-1c7e9a";

const ONE_ROW: &str = r#"{"rows": [{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}]}"#;

fn predict(auth: Option<&str>, extra: &str) -> String {
    let auth = auth.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!(
        "POST /v1/models/iris_logreg/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         {auth}{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{ONE_ROW}",
        ONE_ROW.len()
    )
}

fn status(answer: &str) -> u16 {
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The first answer's body as JSON (a connection may carry a second answer after it).
fn body_json(answer: &str) -> serde_json::Value {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let len = header(answer, "content-length").and_then(|v| v.parse::<usize>().ok());
    let body = len.and_then(|n| body.get(..n)).unwrap_or(body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {answer}"))
}

/// Asserts the JSON error shape with `code`, whose `request_id` is the `x-request-id` header.
fn assert_error(answer: &str, want: u16, code: &str) {
    assert_eq!(status(answer), want, "{answer}");
    let j = body_json(answer);
    assert_eq!(j["error"]["code"], code, "{answer}");
    assert_eq!(
        j["error"]["request_id"].as_str(),
        header(answer, "x-request-id"),
        "{answer}"
    );
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn healthy(addr: &str) -> bool {
    raw_request(
        addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .is_ok_and(|a| a.starts_with("HTTP/1.1 200"))
}

// ---------------------------------------------------------------------------------------------
// Tokens and roles

#[test]
fn tokens_and_roles_over_http_and_no_token_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = write_file(
        dir.path(),
        "tokens.txt",
        &format!("# who may call\nscore {SCORE}\n\nadmin {ADMIN}\n"),
    );
    let server = Server::start_with(
        KEEL,
        &["--tokens", tokens.to_str().unwrap()],
        &[("KEEL_ADMIN_TOKEN", ENV_ADMIN), ("RUST_LOG", "debug")],
        true,
    );
    let addr = server.addr.as_str();
    let send = |r: &str| raw_request(addr, r).unwrap();
    let a = send(&predict(None, "x-request-id: no-token-1\r\n"));
    assert_error(&a, 401, "unauthorized");
    assert_eq!(header(&a, "www-authenticate"), Some("Bearer"));
    assert_eq!(header(&a, "x-request-id"), Some("no-token-1"));
    assert_error(
        &send(&predict(Some("not-a-known-token"), "")),
        401,
        "unauthorized",
    );
    let a = send(&predict(Some(SCORE), "x-request-id: scored-1\r\n"));
    assert_eq!(status(&a), 200, "{a}");
    assert_eq!(header(&a, "x-request-id"), Some("scored-1"));
    assert_eq!(status(&send(&predict(Some(ADMIN), ""))), 200);
    assert_eq!(status(&send(&predict(Some(ENV_ADMIN), ""))), 200);

    let delete = |token: &str| {
        format!(
            "DELETE /v1/admin/models/no_such_model HTTP/1.1\r\nHost: x\r\n\
             Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        )
    };
    assert_error(&send(&delete(SCORE)), 403, "forbidden");
    assert_error(
        &send(&delete("wrong-token-0000000000")),
        401,
        "unauthorized",
    );
    // Past the token check, the admin route answers for the model: 404, not 401 or 403.
    for token in [ADMIN, ENV_ADMIN] {
        assert_error(&send(&delete(token)), 404, "unknown_model");
    }
    // A generated request ID when none is sent.
    let a = send(&predict(Some(SCORE), ""));
    assert!(
        header(&a, "x-request-id").is_some_and(|id| id.len() > 8),
        "{a}"
    );

    // The log names requests by ID, and never holds a token or the Authorization header.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log_text().contains("scored-1") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = server.log_text();
    assert!(
        log.contains("no-token-1") && log.contains("scored-1"),
        "{log}"
    );
    for secret in [SCORE, ADMIN, ENV_ADMIN, "not-a-known-token", "wrong-token"] {
        assert!(!log.contains(secret), "the log shows a token:\n{log}");
    }
    assert!(!log.to_ascii_lowercase().contains("bearer"), "{log}");
}

#[test]
fn bad_tokens_files_stop_startup_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            format!("score {SCORE}\nscore\n"),
            "line 2",
            "expected `ROLE TOKEN`",
        ),
        (
            format!("# c\nreader {SCORE}\n"),
            "line 2",
            "unknown role `reader`",
        ),
        ("score tooshort\n".to_string(), "line 1", "too short"),
        (
            format!("score {SCORE}\nadmin {SCORE}\n"),
            "line 2",
            "same token as line 1",
        ),
        ("# only comments\n\n".to_string(), "tokens.txt", "no tokens"),
    ];
    for (text, line, what) in cases {
        let path = write_file(dir.path(), "tokens.txt", &text);
        let out = Command::new(KEEL)
            .args(["serve", "--addr", "127.0.0.1:0", "--tokens"])
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text}: {err}");
        assert!(err.contains("tokens.txt") && err.contains(line), "{err}");
        assert!(err.contains(what), "{err}");
        assert!(!err.contains(SCORE) && !err.contains("tooshort"), "{err}");
        assert!(out.stdout.is_empty(), "it listened: {err}");
    }
    let out = Command::new(KEEL)
        .args(["serve", "--addr", "127.0.0.1:0", "--tokens"])
        .arg(dir.path().join("absent.txt"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("absent.txt"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// TLS

struct Cert {
    cert: PathBuf,
    key: PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
}

fn self_signed(dir: &Path, name: &str) -> Cert {
    let made =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    Cert {
        cert: write_file(dir, &format!("{name}.crt"), &made.cert.pem()),
        key: write_file(dir, &format!("{name}.key"), &made.key_pair.serialize_pem()),
        der: made.cert.der().clone(),
    }
}

/// One request over TLS (trusting only `cert`); the whole answer as text.
fn tls_request(
    addr: &str,
    cert: &rustls::pki_types::CertificateDer<'static>,
    request: &str,
) -> std::io::Result<String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    // The server's provider (ring; deprecated in rustls 0.23.48 for lacking post-quantum key
    // exchange, see server/src/tls.rs).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(request.as_bytes())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // A peer that closes without close_notify: the answer is complete (Connection:
            // close), only the TLS goodbye is missing.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => break,
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[test]
fn https_round_trip_and_plain_http_on_the_tls_port_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let c = self_signed(dir.path(), "server");
    let server = Server::start_with(
        KEEL,
        &[
            "--tls-cert",
            c.cert.to_str().unwrap(),
            "--tls-key",
            c.key.to_str().unwrap(),
        ],
        &[],
        false,
    );
    let addr = server.addr.as_str();
    let ready = "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let deadline = Instant::now() + Duration::from_secs(20);
    while !tls_request(addr, &c.der, ready).is_ok_and(|a| a.starts_with("HTTP/1.1 200")) {
        assert!(
            Instant::now() < deadline,
            "never ready: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let a = tls_request(addr, &c.der, &predict(None, "x-request-id: over-tls\r\n")).unwrap();
    assert_eq!(status(&a), 200, "{a}");
    assert_eq!(header(&a, "x-request-id"), Some("over-tls"));
    assert_eq!(body_json(&a)["rows"][0]["label"], "setosa", "{a}");

    // Plain HTTP to the HTTPS port: no HTTP answer (the handshake fails), and the server goes
    // on serving HTTPS.
    for _ in 0..3 {
        let plain = raw_request(addr, ready).unwrap_or_default();
        assert!(!plain.starts_with("HTTP/1.1 200"), "{plain}");
    }
    // A client that does not trust the certificate fails its handshake; the server goes on.
    let other = self_signed(dir.path(), "other");
    assert!(tls_request(addr, &other.der, ready).is_err());
    let a = tls_request(addr, &c.der, ready).unwrap();
    assert_eq!(status(&a), 200, "{a}");
}

#[test]
fn bad_certificate_files_stop_startup_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = self_signed(dir.path(), "a");
    let b = self_signed(dir.path(), "b");
    let junk = write_file(dir.path(), "junk.pem", "not a certificate\n");
    let run = |cert: &Path, key: &Path| {
        let out = Command::new(KEEL)
            .args(["serve", "--addr", "127.0.0.1:0", "--tls-cert"])
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(out.stdout.is_empty(), "it listened");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&a.cert, &b.key);
    assert!(e.contains("b.key") && e.contains("a.crt"), "{e}");
    let e = run(&junk, &a.key);
    assert!(e.contains("--tls-cert") && e.contains("junk.pem"), "{e}");
    let e = run(&a.cert, &junk);
    assert!(e.contains("--tls-key") && e.contains("junk.pem"), "{e}");
    let e = run(&a.cert, &dir.path().join("absent.key"));
    assert!(e.contains("absent.key"), "{e}");
    // One without the other is a usage error.
    let out = Command::new(KEEL)
        .args(["serve", "--addr", "127.0.0.1:0", "--tls-cert"])
        .arg(&a.cert)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
}

// ---------------------------------------------------------------------------------------------
// Limits and lying requests

const HEALTH_KEEP_ALIVE: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn connections_over_the_cap_wait_until_one_closes() {
    let server = Server::start(KEEL, &["--max-connections", "2"]);
    let addr = server.addr.as_str();
    // wait_ready's probes have closed; let the server see them go.
    std::thread::sleep(Duration::from_millis(200));
    let open = || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(800)))
            .unwrap();
        s.write_all(HEALTH_KEEP_ALIVE.as_bytes()).unwrap();
        s
    };
    let mut first = open();
    let mut second = open();
    assert!(read_answer(&mut first).unwrap().starts_with("HTTP/1.1 200"));
    assert!(
        read_answer(&mut second)
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    // The third connects (the kernel's backlog) but is not served while two are open.
    let mut third = open();
    let waited = read_answer(&mut third);
    assert!(
        waited.as_ref().is_err_and(|e| matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )),
        "served over the cap: {waited:?}"
    );
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let a = read_answer(&mut third).unwrap();
    assert!(a.starts_with("HTTP/1.1 200"), "{a}");
    drop((second, third));
    assert!(server.log_text().contains("connection limit reached"));
}

#[test]
fn oversized_headers_get_431_and_the_next_request_is_served() {
    let server = Server::start(KEEL, &["--max-header-size", "8KiB"]);
    let addr = server.addr.as_str();
    // Exactly 8 KiB of an unfinished head: the server reads all of it, finds no end within its
    // limit and answers 431. (Sending more than it reads would make the close a reset, which
    // may discard the answer before the client reads it.)
    let mut head = "GET /healthz HTTP/1.1\r\nHost: x\r\nx-filler: ".to_string();
    head.push_str(&"a".repeat((8 << 10) - head.len()));
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut a = String::new();
    let _ = s.read_to_string(&mut a);
    assert_error(&a, 431, "headers_too_large");
    // A head well within the limit is served, and so is the next request.
    let fits = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nx-filler: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(6 << 10)
    );
    assert!(
        raw_request(addr, &fits)
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );
    assert!(healthy(addr));
    // A limit too small for ordinary clients is a usage error.
    let out = Command::new(KEEL)
        .args(["serve", "--max-header-size", "512"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("1KiB"));
}

#[test]
fn requests_whose_content_length_lies_get_a_4xx_and_the_server_goes_on() {
    let server = Server::start(KEEL, &[]);
    let addr = server.addr.as_str();
    let head = |len: usize| {
        format!(
            "POST /v1/models/iris_logreg/predict HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    // Longer than the body sent, then the client stops sending: a JSON 4xx or a clean close.
    for _ in 0..3 {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(format!("{}{}", head(ONE_ROW.len() + 500), ONE_ROW).as_bytes())
            .unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        if !out.is_empty() {
            let code = status(&out);
            assert!((400..500).contains(&code), "{out}");
            assert!(body_json(&out)["error"]["code"].is_string(), "{out}");
        }
        assert!(healthy(addr));
    }
    // Shorter than the body sent: the declared bytes are the body (a JSON 400), and the rest
    // is not a request (hyper's 400, then the connection closes).
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("{}{}", head(10), ONE_ROW).as_bytes())
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert_error(&out, 400, "malformed_json");
    assert!(healthy(addr));
    // A Content-Length that is not a number, and two that disagree: hyper refuses the head
    // before routing, and the answer still has keel's JSON error shape.
    for lengths in [
        "Content-Length: ten",
        "Content-Length: 2\r\nContent-Length: 3",
    ] {
        let a = raw_request(
            addr,
            &format!(
                "POST /v1/models/iris_logreg/predict HTTP/1.1\r\nHost: x\r\n{lengths}\r\n\r\n{{}}"
            ),
        )
        .unwrap();
        assert_error(&a, 400, "bad_request");
        assert!(healthy(addr));
    }
    // The server still scores.
    assert_eq!(status(&raw_request(addr, &predict(None, "")).unwrap()), 200);
}
