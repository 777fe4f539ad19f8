//! Per-request overhead of spin-test-host for a trivial component, and memory growth.
//!
//! Runs the conformance guest (tests/guests/conformance, `/exact?op=now`: no I/O beyond the
//! clock) over one keep-alive connection, 10,000 requests after a warm-up, and prints p50/p99
//! latency in microseconds, requests per second, and resident memory (VmRSS) before and after.
//! Growth above 10% is flagged and makes the exit status non-zero.
//!
//! Run: `cargo run --release -p closeloop-bench --bin host-overhead`

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

const REQUESTS: usize = 10_000;
const WARM_UP: usize = 500;
const MAX_GROWTH: f64 = 0.10;

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/host/tests/fixtures/conformance/spin.toml");
    spin_test_host::build_components(&manifest)?;
    let app = spin_test_host::start(
        spin_test_host::AppOptions::new(&manifest)
            .variable("api_host", "127.0.0.1:9")
            .key_value_in_memory()
            .log_dir(std::env::temp_dir().join("closeloop-bench-logs")),
    )
    .await?;

    let stream = tokio::net::TcpStream::connect(app.addr()).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let host = app.addr().to_string();
    let mut one = async || -> anyhow::Result<()> {
        let req = hyper::Request::get("/exact?op=now")
            .header("host", &host)
            .body(Empty::<Bytes>::new())?;
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        anyhow::ensure!(resp.status() == 200, "status {}", resp.status());
        resp.into_body().collect().await?;
        Ok(())
    };

    for _ in 0..WARM_UP {
        one().await?;
    }
    let rss_before = vm_rss_kib();
    let mut latencies = Vec::with_capacity(REQUESTS);
    let started = Instant::now();
    for _ in 0..REQUESTS {
        let t = Instant::now();
        one().await?;
        latencies.push(t.elapsed().as_micros() as u64);
    }
    let elapsed = started.elapsed();
    let rss_after = vm_rss_kib();
    latencies.sort_unstable();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let growth = (rss_after as f64 - rss_before as f64) / rss_before.max(1) as f64;

    println!("requests:        {REQUESTS} (after {WARM_UP} warm-up), one keep-alive connection");
    println!("p50:             {} µs", pct(0.50));
    println!("p99:             {} µs", pct(0.99));
    println!(
        "throughput:      {:.0} req/s",
        REQUESTS as f64 / elapsed.as_secs_f64()
    );
    println!("VmRSS before:    {rss_before} KiB");
    println!("VmRSS after:     {rss_after} KiB");
    println!("VmRSS growth:    {:+.1}%", growth * 100.0);
    app.shutdown().await;
    if growth > MAX_GROWTH {
        println!(
            "FLAG: resident memory grew more than {:.0}%",
            MAX_GROWTH * 100.0
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
