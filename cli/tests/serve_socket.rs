//! `keel serve` over real sockets: the spawned binary on a loopback port, with the things only
//! a socket shows: a 1 GiB body refused without being buffered, slow and stalled clients timed
//! out without slowing anyone else, SIGTERM under load answering every accepted request, hot
//! reload of 100 versions under load without a failed request, and 10,000 idle keep-alive
//! connections held in bounded memory. Every load loop is bounded in count and time and stops
//! by itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../server/tests/common/mod.rs"]
mod common;

use bytes::Bytes;
use common::*;
use serde_json::{Value as J, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const GIB: u64 = 1 << 30;

/// A health check on its own connection, closed after the answer.
const HEALTH_CLOSE: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

fn one_row() -> Bytes {
    Bytes::from(
        json!({"rows": [{"sepal length (cm)": 5.1, "sepal width (cm)": 3.5, "petal length (cm)": 1.4, "petal width (cm)": 0.2}]})
            .to_string(),
    )
}

/// Streams up to 1 GiB of body after `head` on one connection from a writer thread, while this
/// thread reads the answer; samples the server's RSS meanwhile. Returns (answer, peak RSS KiB).
fn send_huge(server: &Server, head: String, chunked: bool) -> (String, u64) {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let sent_w = sent.clone();
    let t = std::thread::spawn(move || {
        let chunk = vec![b' '; 1 << 16];
        let frame = format!("{:x}\r\n", chunk.len());
        if writer.write_all(head.as_bytes()).is_err() {
            return;
        }
        while sent_w.load(Ordering::Relaxed) < GIB {
            let r = if chunked {
                writer
                    .write_all(frame.as_bytes())
                    .and_then(|()| writer.write_all(&chunk))
                    .and_then(|()| writer.write_all(b"\r\n"))
            } else {
                writer.write_all(&chunk)
            };
            if r.is_err() {
                return; // The server closed the connection: expected once it has answered.
            }
            sent_w.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    });
    let peak = Arc::new(AtomicU64::new(server.rss_kib()));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), server.pid());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    && let Some(kib) = s
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // Read until the server closes (it announces `Connection: close`), or a reset after it.
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    t.join().unwrap();
    let sent = sent.load(Ordering::Relaxed);
    assert!(sent < GIB, "the whole GiB was accepted");
    (
        String::from_utf8_lossy(&answer).into_owned(),
        peak.load(Ordering::Relaxed),
    )
}

#[test]
fn a_1gib_body_is_refused_with_413_without_being_buffered() {
    let server = Server::start(env!("CARGO_BIN_EXE_keel"), &["--max-body", "64MiB"]);
    let base = server.rss_kib();
    // Declared with Content-Length: refused before a byte of the body is read.
    let head = format!(
        "POST /v1/models/iris_logreg/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {GIB}\r\n\r\n"
    );
    let (answer, peak) = send_huge(&server, head, false);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );
    assert!(
        peak < base + 16 * 1024,
        "RSS grew from {base} KiB to {peak} KiB"
    );

    // Chunked, with no length to go by: refused once 64 MiB have arrived, so the server holds
    // at most the limit, never the GiB.
    let head = "POST /v1/models/iris_logreg/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_string();
    let (answer, peak) = send_huge(&server, head, true);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"payload_too_large\""),
        "{answer}"
    );
    assert!(
        peak < base + 200 * 1024,
        "RSS grew from {base} KiB to {peak} KiB for a 64 MiB limit"
    );
    eprintln!("1 GiB bodies: RSS {base} KiB at rest, peak {peak} KiB (64 MiB limit)");

    // The server is fine afterwards.
    let r = raw_request(&server.addr, HEALTH_CLOSE).unwrap();
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_stalled_clients_time_out_without_affecting_others() {
    let server = Server::start(env!("CARGO_BIN_EXE_keel"), &["--timeout", "1s"]);
    let addr = server.addr.clone();

    // A client that sends its headers and then trickles its body, a byte every 300 ms.
    let trickle = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let start = Instant::now();
            s.write_all(b"POST /v1/models/iris_logreg/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"rows\"").unwrap();
            let mut answer = Vec::new();
            let mut buf = [0u8; 1024];
            while start.elapsed() < Duration::from_secs(10) {
                match s.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock
                            || e.kind() == std::io::ErrorKind::TimedOut =>
                    {
                        std::thread::sleep(Duration::from_millis(250));
                        if s.write_all(b" ").is_err() {
                            // Closed by the server; read what it said.
                            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                            while let Ok(n) = s.read(&mut buf) {
                                if n == 0 {
                                    break;
                                }
                                answer.extend_from_slice(&buf[..n]);
                            }
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            (
                String::from_utf8_lossy(&answer).into_owned(),
                start.elapsed(),
            )
        })
    };
    // A client that stalls halfway through its headers.
    let stall = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let start = Instant::now();
            s.write_all(b"POST /v1/models/iris_logreg/predict HTTP/1.1\r\nHost: x\r\nContent-Ty")
                .unwrap();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            (String::from_utf8_lossy(&buf).into_owned(), start.elapsed())
        })
    };

    // Meanwhile, others are served promptly: a bounded loop of 4 clients for 2.5 s.
    let client = client();
    let url = server.url("/v1/models/iris_logreg/predict");
    let deadline = Instant::now() + Duration::from_millis(2500);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let (client, url) = (client.clone(), url.clone());
        tasks.push(tokio::spawn(async move {
            let (mut n, mut worst) = (0u32, Duration::ZERO);
            while Instant::now() < deadline && n < 100_000 {
                let t = Instant::now();
                let (status, body) = post_json(&client, &url, one_row()).await.unwrap();
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
                worst = worst.max(t.elapsed());
                n += 1;
            }
            (n, worst)
        }));
    }
    let mut total = 0;
    let mut worst = Duration::ZERO;
    for t in tasks {
        let (n, w) = t.await.unwrap();
        total += n;
        worst = worst.max(w);
    }
    assert!(total > 100, "only {total} requests in 2.5 s");
    assert!(
        worst < Duration::from_millis(500),
        "a request took {worst:?} while slow clients were connected"
    );

    let (answer, took) = trickle.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let (answer, took) = stall.join().unwrap();
    assert!(
        took < Duration::from_secs(4),
        "a stalled header read held the connection {took:?}"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
    eprintln!("slow clients: {total} other requests in 2.5 s, slowest {worst:?}");
}

/// A batch of `rows` iris rows (slow enough to score that several are in flight at once).
fn big_batch(rows: usize) -> Bytes {
    let c = case(IRIS);
    let doc = c.rows_doc();
    let base = doc["rows"].as_array().unwrap();
    let rows: Vec<J> = (0..rows).map(|i| base[i % base.len()].clone()).collect();
    Bytes::from(json!({"rows": rows}).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_every_accepted_request_and_exits_0() {
    // One reactor thread: the flag works, and a single reactor still answers every request.
    let mut server = Server::start(
        env!("CARGO_BIN_EXE_keel"),
        &["--threads", "2", "--io-threads", "1"],
    );
    let url = server.url("/v1/models/iris_logreg/predict");
    // Warm up: a bounded loop of light requests, all answered.
    let client = client();
    for _ in 0..200 {
        let (status, _) = post_json(&client, &url, one_row()).await.unwrap();
        assert_eq!(status, 200);
    }
    // Heavy requests, each on its own connection, queue up on the 2-thread pool.
    let heavy = big_batch(10_000);
    let fresh = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http::<http_body_util::Full<Bytes>>();
    let mut inflight = Vec::new();
    for _ in 0..12 {
        let (c, u, b) = (fresh.clone(), url.clone(), heavy.clone());
        inflight.push(tokio::spawn(async move { post_json(&c, &u, b).await }));
    }
    // Light load continues across the signal, on its own connections.
    let stop = Arc::new(AtomicBool::new(false));
    let mut light = Vec::new();
    for _ in 0..4 {
        let (c, u, stop) = (client.clone(), url.clone(), stop.clone());
        light.push(tokio::spawn(async move {
            let (mut ok, mut refused, mut other) = (0u32, 0u32, Vec::new());
            let deadline = Instant::now() + Duration::from_secs(20);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                match post_json(&c, &u, one_row()).await {
                    Ok((200, _)) => ok += 1,
                    Ok((s, b)) => other.push(format!("{s}: {}", String::from_utf8_lossy(&b))),
                    Err(e) if e.is_connect() => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    // A request that met a connection the server was closing, before the
                    // server read it (not accepted), is an error without a status.
                    Err(_) => refused += 1,
                }
            }
            (ok, refused, other)
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.terminate();
    let sigterm = Instant::now();
    let mut answered = 0;
    for t in inflight {
        let (status, body) = t
            .await
            .unwrap()
            .expect("an accepted request was not answered");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let j: J = serde_json::from_slice(&body).unwrap();
        assert_eq!(j["rows"].as_array().unwrap().len(), 10_000);
        answered += 1;
    }
    let code = tokio::task::spawn_blocking(move || {
        let code = server.wait_exit(Duration::from_secs(30));
        (code, server)
    })
    .await
    .unwrap();
    let exited = sigterm.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (code, server) = code;
    assert_eq!(code, Some(0), "log:\n{}", server.log_text());
    for t in light {
        let (ok, refused, other) = t.await.unwrap();
        assert!(
            other.is_empty(),
            "non-200 answers during shutdown: {other:?}"
        );
        assert!(ok > 0);
        let _ = refused;
    }
    assert!(server.log_text().contains("shutting down"));
    // Nothing listens any more.
    assert!(TcpStream::connect(&server.addr).is_err());
    eprintln!("SIGTERM: {answered} heavy requests in flight all answered; exit 0 after {exited:?}");
}

fn write_atomic(path: &std::path::Path, bytes: &[u8]) {
    let tmp = path.with_file_name(".incoming.keel.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

async fn get_json(client: &Client, url: &str) -> (u16, J) {
    use http_body_util::BodyExt;
    let req = hyper::Request::get(url)
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(J::Null))
}

/// Polls `GET /v1/models/iris_logreg` until `check` accepts it (at most 10 s).
async fn wait_for(client: &Client, server: &Server, what: &str, check: impl Fn(u16, &J) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, j) = get_json(client, &server.url("/v1/models/iris_logreg")).await;
        if check(s, &j) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last {s} {j}\nlog:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many versions the hot reload test serves in turn.
const RELEASES: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_under_load_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("iris.keel");
    std::fs::write(&path, iris_release(1)).unwrap();
    let server = Server::start(
        env!("CARGO_BIN_EXE_keel"),
        &[dir.path().to_str().unwrap(), "--poll-interval", "50ms"],
    );
    let client = client();
    let url = server.url("/v1/models/iris_logreg/predict");

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (c, u, stop) = (client.clone(), url.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let (mut n, mut last, mut failures) = (0u64, 0u64, Vec::new());
            let deadline = Instant::now() + Duration::from_secs(180);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline && n < 1_000_000 {
                match post_json(&c, &u, one_row()).await {
                    Ok((200, body)) => {
                        let j: J = serde_json::from_slice(&body).unwrap();
                        let v = j["version"].as_u64().unwrap();
                        assert!(v >= last, "version went back from {last} to {v}");
                        assert_eq!(j["rows"][0]["label"], "setosa");
                        last = v;
                    }
                    Ok((s, body)) => {
                        failures.push(format!("{s}: {}", String::from_utf8_lossy(&body)))
                    }
                    Err(e) => failures.push(format!("{e:?}")),
                }
                n += 1;
            }
            (n, last, failures)
        }));
    }

    // 100 versions in all, each a replacement with a new release: answers move to it. Halfway,
    // a broken file is dropped in: it is reported, the last good version keeps serving and
    // the server stays ready, and the next good file is taken.
    let mut reload_times = Vec::new();
    for release in 2..=RELEASES {
        if release == RELEASES / 2 + 1 {
            broken_file_keeps_the_last_version(&client, &server, &path, release - 1).await;
        }
        let t = Instant::now();
        write_atomic(&path, &iris_release(release as usize));
        wait_for(&client, &server, &format!("release {release}"), |s, j| {
            s == 200
                && j["metadata"]["release"]
                    .as_str()
                    .and_then(|r| r.parse().ok())
                    == Some(release)
                && j["version"] == release
        })
        .await;
        reload_times.push(t.elapsed());
        if release == RELEASES / 2 + 1 {
            let (_, j) = get_json(&client, &server.url("/v1/models")).await;
            assert_eq!(j["errors"], json!([]), "the fixed file still reported");
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in tasks {
        let (n, last, failures) = t.await.unwrap();
        assert!(
            failures.is_empty(),
            "failed requests during reloads: {failures:?}"
        );
        assert_eq!(last, RELEASES, "a load task did not see the last version");
        total += n;
    }
    // A removed file is unloaded.
    std::fs::remove_file(&path).unwrap();
    wait_for(&client, &server, "the unload", |s, _| s == 404).await;
    let (s, _) = get_json(&client, &server.url("/readyz")).await;
    assert_eq!(s, 200);
    reload_times.sort();
    eprintln!(
        "hot reload: {RELEASES} versions and a broken file under {total} requests, 0 failed; \
         file written to new version served: median {:?}, slowest {:?}",
        reload_times[reload_times.len() / 2],
        reload_times[reload_times.len() - 1]
    );
}

/// Drops a broken file in place of the bundle: it is reported under its path, `version`
/// keeps serving, and the server stays ready.
async fn broken_file_keeps_the_last_version(
    client: &Client,
    server: &Server,
    path: &std::path::Path,
    version: u64,
) {
    write_atomic(path, b"PK\x03\x04 this is not a bundle");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, j) = get_json(client, &server.url("/v1/models")).await;
        if j["errors"].as_array().is_some_and(|e| !e.is_empty()) {
            assert_eq!(j["errors"][0]["source"], path.display().to_string());
            assert_eq!(j["models"][0]["version"], version);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broken file was never reported: {j}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, _) = get_json(client, &server.url("/readyz")).await;
    assert_eq!(
        s, 200,
        "a broken replacement must not make the server unready"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// How many idle keep-alive connections the connection test holds open at once.
const IDLE: usize = 10_000;

/// Sets this process' soft open-file limit (children inherit it); `None` sets it to the hard
/// limit. Fails naming the limits when the hard one is too low for the test.
fn set_open_files(soft: Option<u64>, needed: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    assert!(
        limit.maximum.is_none_or(|h| h >= needed),
        "this test holds {IDLE} connections on each side and needs an open-file hard limit of \
         at least {needed}; the hard limit is {:?} (raise it with ulimit -Hn)",
        limit.maximum
    );
    let current = soft.or(limit.maximum);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current,
            maximum: limit.maximum,
        },
    )
    .unwrap();
}

/// Open descriptors of a process.
fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

/// What one round of [`IDLE`] idle connections measured.
struct IdleRound {
    opening: Duration,
    rss_held: u64,
    files_held: usize,
    rss_after: u64,
    slowest_other: Duration,
}

/// Opens [`IDLE`] connections, each answered once and then left open; checks the server's
/// memory and descriptors while they are held, that others are served meanwhile and a held
/// one is still usable, and that the server closes every one once `timeout` passes without a
/// request head.
fn idle_round(
    server: &Server,
    timeout: Duration,
    rss_before: u64,
    files_before: usize,
) -> IdleRound {
    let health = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let opened = Instant::now();
    let mut idle = Vec::with_capacity(IDLE);
    for i in 0..IDLE {
        let mut s =
            TcpStream::connect(&server.addr).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(health.as_bytes()).unwrap();
        let answer = read_answer(&mut s).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "connection {i}: {answer}"
        );
        idle.push(s);
    }
    let opening = opened.elapsed();
    assert!(
        opening + Duration::from_secs(3) < timeout,
        "opening {IDLE} connections took {opening:?}, too close to the idle timeout to measure"
    );
    let (rss_held, files_held) = (server.rss_kib(), open_files(server.pid()));
    assert!(
        // The baseline may count a closing connection or two.
        files_held + 16 >= files_before + IDLE,
        "the server holds {files_held} descriptors, {files_before} before {IDLE} connections"
    );
    let per_connection = rss_held.saturating_sub(rss_before) as f64 / IDLE as f64;
    // hyper keeps a read and a write buffer per connection (8 KiB each to start) beside its
    // state and the task's; 48 KiB each is a bound that a per-connection thread or a buffer
    // grown to a request's size breaks.
    assert!(
        per_connection <= 48.0,
        "{per_connection:.1} KiB per idle connection (RSS {rss_before} KiB before, \
         {rss_held} KiB with {IDLE} idle)"
    );

    // Meanwhile others are served at once, each on a new connection.
    let mut slowest_other = Duration::ZERO;
    for _ in 0..50 {
        let t = Instant::now();
        let answer = raw_request(&server.addr, HEALTH_CLOSE).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        slowest_other = slowest_other.max(t.elapsed());
    }
    assert!(
        slowest_other < Duration::from_millis(500),
        "a request took {slowest_other:?} beside {IDLE} idle connections"
    );
    // A held connection is still usable (its idle time starts again).
    idle[IDLE - 1].write_all(health.as_bytes()).unwrap();
    assert!(
        read_answer(&mut idle[IDLE - 1])
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );

    // After `timeout` without a request head, the server closes each of them.
    std::thread::sleep(timeout + Duration::from_secs(1));
    let mut open = 0;
    let mut buf = [0u8; 1024];
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        loop {
            match s.read(&mut buf) {
                // A 408 may come first; the end of the stream is what counts.
                Ok(n) if n > 0 => continue,
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                Err(_) => {
                    open += 1;
                    break;
                }
            }
        }
    }
    assert_eq!(
        open, 0,
        "idle connections still open {timeout:?} after their last answer"
    );
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_files(server.pid()) > files_before + 16 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let files_after = open_files(server.pid());
    assert!(
        files_after <= files_before + 16,
        "{files_after} descriptors open after every idle connection closed ({files_before} before)"
    );
    IdleRound {
        opening,
        rss_held,
        files_held,
        rss_after: server.rss_kib(),
        slowest_other,
    }
}

#[test]
fn ten_thousand_idle_keep_alive_connections_take_bounded_memory_and_close_after_the_timeout() {
    // The server starts under the soft limit many systems default to; it must raise its own
    // to hold the connections. This process takes the hard limit for its side.
    let needed = IDLE as u64 + 512;
    set_open_files(Some(1024), needed);
    // Long enough that opening 10,000 connections (3-5 s here, slower beside the other
    // socket tests and with many sockets still in TIME_WAIT) ends well before any times out.
    let timeout = Duration::from_secs(15);
    let server = Server::start(
        env!("CARGO_BIN_EXE_keel"),
        // Room for the idle connections and the clients that are served meanwhile.
        &["--timeout", "15s", "--max-connections", "10100"],
    );
    set_open_files(None, needed);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let soft: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    assert!(
        soft >= needed,
        "the server kept a soft open-file limit of {soft}"
    );

    for _ in 0..20 {
        raw_request(&server.addr, HEALTH_CLOSE).unwrap();
    }
    let (rss_before, files_before) = (server.rss_kib(), open_files(server.pid()));
    // Two rounds: the second must reuse what the first freed, not add to it.
    let first = idle_round(&server, timeout, rss_before, files_before);
    let second = idle_round(&server, timeout, rss_before, files_before);
    assert!(
        second.rss_held <= first.rss_held + first.rss_held / 10 + 8 * 1024,
        "memory grew from round to round: {} KiB held in the first, {} KiB in the second",
        first.rss_held,
        second.rss_held
    );
    let answer = raw_request(&server.addr, HEALTH_CLOSE).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    for (n, r) in [(1, &first), (2, &second)] {
        eprintln!(
            "idle connections, round {n}: {IDLE} opened in {:?}; server RSS {rss_before} KiB \
             before, {} KiB with them open ({:.1} KiB each), {} KiB after they timed out; \
             descriptors {files_before} / {}; other requests meanwhile: slowest {:?}",
            r.opening,
            r.rss_held,
            r.rss_held.saturating_sub(rss_before) as f64 / IDLE as f64,
            r.rss_after,
            r.files_held,
            r.slowest_other
        );
    }
}
