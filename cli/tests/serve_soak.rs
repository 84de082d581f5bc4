//! Soak: `keel serve` under the highest request rate this machine sustains with 32 requests in
//! flight, for 60 s (`KEEL_SOAK_SECS` changes it): no request may fail, and the server's
//! resident memory, sampled from /proc every second, must stay flat: the last sample and the
//! peak at most 1.5 times the RSS after warm-up plus 10 MiB. Most requests are one row (scored
//! inline); every tenth has 200 rows (parsed and scored on the pool), so both paths soak.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../server/tests/common/mod.rs"]
mod common;

use bytes::Bytes;
use common::*;
use serde_json::{Value as J, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const IN_FLIGHT: usize = 32;
const WARM_UP: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_at_full_rate_without_errors_or_memory_growth() {
    let secs: u64 = std::env::var("KEEL_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let run = Duration::from_secs(secs);
    let server = Server::start(env!("CARGO_BIN_EXE_keel"), &[]);
    let url = server.url("/v1/models/iris_logreg/predict");
    let c = case(IRIS);
    let rows = c.rows_doc()["rows"].as_array().unwrap().clone();
    let one = Bytes::from(json!({"rows": [rows[0]]}).to_string());
    let many: Vec<J> = (0..200).map(|i| rows[i % rows.len()].clone()).collect();
    let many = Bytes::from(json!({"rows": many}).to_string());

    let client = client();
    let start = Instant::now();
    let deadline = start + WARM_UP + run;
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..IN_FLIGHT {
        let (client, url, one, many, done) = (
            client.clone(),
            url.clone(),
            one.clone(),
            many.clone(),
            done.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            let mut i = t;
            // Bounded in time and in count, whatever the machine's speed.
            while Instant::now() < deadline && i < 50_000_000 {
                let (body, n) = if i % 10 == 0 {
                    (many.clone(), 200)
                } else {
                    (one.clone(), 1)
                };
                match post_json(&client, &url, body).await {
                    Ok((200, b)) => {
                        // Spot-check answers without parsing every one.
                        if i % 997 == 0 {
                            let j: J = serde_json::from_slice(&b).unwrap();
                            assert_eq!(j["rows"].as_array().unwrap().len(), n);
                        }
                    }
                    Ok((s, b)) => failures.push(format!("{s}: {}", String::from_utf8_lossy(&b))),
                    Err(e) => failures.push(format!("{e:?}")),
                }
                done.fetch_add(1, Ordering::Relaxed);
                i += IN_FLIGHT;
                if failures.len() > 10 {
                    break;
                }
            }
            failures
        }));
    }

    // Sample RSS once a second; the baseline is taken after the warm-up.
    let mut samples = Vec::new();
    let mut baseline = None;
    let mut at_baseline = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let rss = server.rss_kib();
        samples.push(rss);
        if baseline.is_none() && start.elapsed() >= WARM_UP {
            baseline = Some(rss);
            at_baseline = done.load(Ordering::Relaxed);
        }
    }
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await.unwrap());
    }
    let total = done.load(Ordering::Relaxed);
    let measured = total - at_baseline;
    let baseline = baseline.unwrap();
    let last = *samples.last().unwrap();
    let peak = *samples
        .iter()
        .skip(WARM_UP.as_secs() as usize)
        .max()
        .unwrap();
    let bound = baseline * 3 / 2 + 10 * 1024;
    eprintln!(
        "soak: {measured} requests in {secs} s after warm-up = {:.0} req/s ({IN_FLIGHT} in flight), \
         {} failed; RSS after warm-up {baseline} KiB, peak {peak} KiB, last {last} KiB (bound {bound} KiB)",
        measured as f64 / run.as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "failed requests: {:?}",
        &failures[..failures.len().min(5)]
    );
    assert!(last <= bound && peak <= bound, "RSS grew: {samples:?}");
}
