//! Helpers shared by the server tests (and by the `keel serve` process tests in `cli/tests`): the checked-in fixtures and their scikit-learn reference
//! outputs, bundles derived from them (other metadata, other nullability, a vector input), an
//! in-process app for `oneshot` tests, and a spawned `keel serve` for the socket tests.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keel_bundle::{Binding, Bundle, DType, Encoding, Field};
use keel_runtime::tolerance::Tolerance;
use keel_server::registry::{Readiness, prepare};
use keel_server::{AppState, Config, Source};
use serde_json::{Map, Value as J};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const IRIS: &str = "iris_logreg";
pub const DIABETES: &str = "diabetes_ct_linreg";

pub fn fixture_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/sklearn")
        .join(name)
}

pub fn bundle_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture_dir(name).join("model.keel")).unwrap()
}

/// A fixture's inputs and scikit-learn's outputs, by column, with the named tolerances.
pub struct Case {
    pub inputs: Map<String, J>,
    pub outputs: Map<String, J>,
    pub tolerance: Map<String, J>,
    pub rows: usize,
}

pub fn case(name: &str) -> Case {
    let io: J =
        serde_json::from_slice(&std::fs::read(fixture_dir(name).join("io.json")).unwrap()).unwrap();
    let inputs = io["inputs"].as_object().unwrap().clone();
    let rows = inputs.values().next().unwrap().as_array().unwrap().len();
    Case {
        inputs,
        outputs: io["outputs"].as_object().unwrap().clone(),
        tolerance: io["tolerance"].as_object().unwrap().clone(),
        rows,
    }
}

impl Case {
    /// The inputs as a `{"rows": [...]}` document.
    pub fn rows_doc(&self) -> J {
        let rows: Vec<J> = (0..self.rows)
            .map(|i| {
                J::Object(
                    self.inputs
                        .iter()
                        .map(|(k, v)| (k.clone(), v[i].clone()))
                        .collect(),
                )
            })
            .collect();
        serde_json::json!({ "rows": rows })
    }

    /// The inputs as a `{"columns": {...}}` document.
    pub fn columns_doc(&self) -> J {
        serde_json::json!({ "columns": self.inputs })
    }

    pub fn tolerance(&self, column: &str) -> Tolerance {
        Tolerance::by_name(self.tolerance[column].as_str().unwrap()).unwrap()
    }

    /// Checks one output column (JSON values, scalars or arrays) against scikit-learn's.
    pub fn check_column(&self, column: &str, got: &[J]) {
        let want = self.outputs[column].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{column}: row count");
        let tol = self.tolerance(column);
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            check_value(g, w, tol, &format!("{column} row {i}"));
        }
    }
}

pub fn check_value(got: &J, want: &J, tol: Tolerance, ctx: &str) {
    match (got, want) {
        (J::Array(g), J::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{ctx}: width");
            for (j, (a, b)) in g.iter().zip(w).enumerate() {
                check_value(a, b, tol, &format!("{ctx}[{j}]"));
            }
        }
        (J::Number(_), J::Number(_)) => {
            let (a, b) = (got.as_f64().unwrap(), want.as_f64().unwrap());
            assert!(tol.accepts(a, b), "{ctx}: got {a}, scikit-learn {b}");
        }
        _ => assert_eq!(got, want, "{ctx}"),
    }
}

/// A fixture bundle rewritten by `edit` (the tensors are kept; the writer recomputes digests).
pub fn variant(name: &str, edit: impl FnOnce(&mut Bundle)) -> Vec<u8> {
    let mut b = Bundle::from_bytes(&bundle_bytes(name)).unwrap();
    edit(&mut b);
    b.to_bytes(Encoding::Json).unwrap()
}

/// The iris bundle with a `release` metadata entry (hot reload tests tell versions apart by it).
pub fn iris_release(release: usize) -> Vec<u8> {
    variant(IRIS, |b| {
        b.manifest
            .metadata
            .insert("release".into(), release.to_string());
    })
}

/// The iris bundle with every input declared non-nullable.
pub fn iris_not_null() -> Vec<u8> {
    variant(IRIS, |b| {
        b.manifest.name = "iris_not_null".into();
        for f in &mut b.manifest.inputs {
            f.nullable = false;
        }
    })
}

/// The iris bundle reading its four features from one vector input `features` (f64[4]).
pub fn iris_vector() -> Vec<u8> {
    variant(IRIS, |b| {
        b.manifest.name = "iris_vector".into();
        let names: Vec<String> = b.manifest.inputs.iter().map(|f| f.name.clone()).collect();
        b.manifest.inputs = vec![Field {
            names,
            nullable: true,
            ..Field::vector("features", DType::F64, 4)
        }];
        fn rebind(n: &mut keel_bundle::Node) {
            for binding in &mut n.inputs {
                if binding.columns.iter().any(|c| c.contains("(cm)")) {
                    *binding = Binding::new(&binding.port.clone(), ["features"]);
                }
            }
            for c in &mut n.children {
                rebind(c);
            }
        }
        rebind(&mut b.graph);
    })
}

/// A state with the iris and diabetes fixtures loaded (version 1 each) and marked ready.
pub fn state(config: Config) -> AppState {
    let state = AppState::new(config).unwrap();
    for name in [IRIS, DIABETES] {
        state
            .registry
            .install(prepare(&bundle_bytes(name)).unwrap(), Source::Upload, None);
    }
    state.registry.set_readiness(Readiness {
        ready: true,
        waiting: Vec::new(),
    });
    state
}

pub fn install(state: &AppState, bytes: &[u8]) {
    state
        .registry
        .install(prepare(bytes).unwrap(), Source::Upload, None);
}

// ---------------------------------------------------------------------------------------------
// A spawned server

/// A `keel serve` child process on a free loopback port, killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `BIN serve ARGS --addr 127.0.0.1:0` and waits for its address and readiness.
    /// `bin` is the `keel` binary, which is keel-cli's: only its tests (cli/tests) know the
    /// path, as `env!("CARGO_BIN_EXE_keel")`.
    pub fn start(bin: &str, args: &[&str]) -> Server {
        Server::start_with(bin, args, &[], true)
    }

    /// [`Server::start`] with extra environment variables (after `RUST_LOG=info`, so they may
    /// replace it); with `wait_ready` false it returns once the address is printed (an HTTPS
    /// server, which the plain readiness probe cannot ask).
    pub fn start_with(bin: &str, args: &[&str], env: &[(&str, &str)], wait_ready: bool) -> Server {
        let mut child = Command::new(bin)
            .arg("serve")
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("keel serve: listening on http://")
            .or_else(|| {
                line.trim()
                    .strip_prefix("keel serve: listening on https://")
            })
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        // Drain stdout and stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(l);
            }
        });
        let server = Server { child, addr, log };
        if wait_ready {
            server.wait_ready();
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = raw_request(
                &self.addr,
                "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            ) && r.starts_with("HTTP/1.1 200")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the server never became ready; log:\n{}", self.log_text());
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory (KiB), from /proc.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit (at most `limit`); returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one answer (head and a `Content-Length` body) from a keep-alive connection; returns
/// what arrived if the connection closes first.
pub fn read_answer(s: &mut std::net::TcpStream) -> std::io::Result<String> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if body.len() >= len {
                return Ok(text);
            }
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(text);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// One request over a fresh connection, written as given; returns the whole answer as text.
pub fn raw_request(addr: &str, request: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request.as_bytes())?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

// ---------------------------------------------------------------------------------------------
// An HTTP client for load

pub type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
>;

pub fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build_http()
}

/// POSTs JSON; returns the status and body.
pub async fn post_json(
    client: &Client,
    url: &str,
    body: bytes::Bytes,
) -> Result<(u16, bytes::Bytes), hyper_util::client::legacy::Error> {
    use http_body_util::BodyExt;
    let req = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(body))
        .unwrap();
    let resp = client.request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.map(|b| b.to_bytes());
    Ok((status, body.unwrap_or_default()))
}
