//! Conformance tests: each pins one Spin behaviour the app relies on, against the conformance
//! guest (tests/guests/conformance) built for wasm32-wasip2 by the first test that runs. The
//! last ones run the same requests on the test host and on real `spin up`, the reference.

mod common;

use common::{conformance_manifest, fixture, scratch_dir};

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use spin_test_host::{
    AppOptions, KvHandle, RedisServer, RunningApp, SpinApp, SpinCli, SpinOptions, TestClock,
};

/// Options every test shares: logs in a scratch dir, `api_host` set.
fn options(api_host: &str) -> AppOptions {
    AppOptions::new(conformance_manifest())
        .log_dir(scratch_dir("logs"))
        .variable("api_host", api_host)
}

async fn start_in_memory() -> RunningApp {
    spin_test_host::start(options("127.0.0.1:9").key_value_in_memory())
        .await
        .unwrap()
}

/// A raw HTTP/1.1 request, so tests control every header (including `Host`).
async fn request(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::get(path);
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req = req.header("host", format!("{addr}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn get(app: &RunningApp, path: &str) -> (u16, String) {
    request(app.addr(), path, &[]).await
}

/// The headers the guest saw, in order, as `(name, value)`.
fn headers(echo: &str) -> Vec<(String, String)> {
    let v: Value = serde_json::from_str(echo).unwrap_or_else(|e| panic!("{e}: {echo}"));
    v["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h[0].as_str().unwrap().into(), h[1].as_str().unwrap().into()))
        .collect()
}

fn header(echo: &str, name: &str) -> Option<String> {
    headers(echo)
        .into_iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v)
        .next_back()
}

/// A loopback receiver answering every request with the `Host` header it got.
async fn host_echo_receiver() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|req: hyper::Request<_>| async move {
                    let host = req
                        .headers()
                        .get_all("host")
                        .iter()
                        .map(|v| v.to_str().unwrap().to_owned())
                        .collect::<Vec<_>>()
                        .join(",");
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                        host,
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_requests_carry_one_host_header_from_the_url() {
    let receiver = host_echo_receiver().await;
    let app = spin_test_host::start(options(&receiver.to_string()).key_value_in_memory())
        .await
        .unwrap();
    let (_, body) = get(
        &app,
        &format!("/caller/x?op=fetch&url=http://{receiver}/hook"),
    )
    .await;
    assert_eq!(body, format!("200 {receiver}"));
    app.shutdown().await;
}

/// A loopback receiver answering every request with `body`.
async fn mock_receiver(body: &'static str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| async move {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(body.as_bytes()),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn routing_precedence_and_health() {
    let app = start_in_memory().await;
    let component = |echo: &str| header(echo, "spin-component-route");
    assert_eq!(
        component(&get(&app, "/exact").await.1).as_deref(),
        Some("/exact")
    );
    assert_eq!(
        component(&get(&app, "/wild/a/b").await.1).as_deref(),
        Some("/wild")
    );
    assert_eq!(
        component(&get(&app, "/exactly").await.1).as_deref(),
        Some("")
    );
    assert_eq!(
        component(&get(&app, "/users/7/items/x").await.1).as_deref(),
        Some("/users/:user_id/items")
    );
    assert_eq!(
        get(&app, "/.well-known/spin/health").await,
        (200, "OK".into())
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn spin_headers_for_exact_wildcard_and_named_routes() {
    let app = start_in_memory().await;
    let addr = app.addr();
    let (_, exact) = get(&app, "/exact?x=1").await;
    let v: Value = serde_json::from_str(&exact).unwrap();
    assert_eq!(v["uri"], format!("http://{addr}/exact?x=1"));
    let h = |name: &str| header(&exact, name).unwrap();
    assert_eq!(h("spin-full-url"), format!("http://{addr}/exact?x=1"));
    assert_eq!(h("spin-path-info"), "");
    assert_eq!(h("spin-matched-route"), "/exact");
    assert_eq!(h("spin-raw-component-route"), "/exact");
    assert_eq!(h("spin-component-route"), "/exact");
    assert_eq!(h("spin-base-path"), "/");
    assert!(h("spin-client-addr").starts_with("127.0.0.1:"));

    let (_, wild) = get(&app, "/wild/a/b/").await;
    assert_eq!(header(&wild, "spin-path-info").unwrap(), "/a/b/");
    assert_eq!(header(&wild, "spin-matched-route").unwrap(), "/wild/...");
    assert_eq!(
        header(&wild, "spin-raw-component-route").unwrap(),
        "/wild/..."
    );
    assert_eq!(header(&wild, "spin-component-route").unwrap(), "/wild");

    let (_, named) = get(&app, "/users/42/items/box").await;
    assert_eq!(header(&named, "spin-path-match-user-id").unwrap(), "42");
    assert_eq!(header(&named, "spin-path-info").unwrap(), "/box");
    assert_eq!(
        header(&named, "spin-matched-route").unwrap(),
        "/users/:user_id/items/..."
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_spin_headers_come_first_and_spin_values_last() {
    let app = start_in_memory().await;
    let (_, echo) = request(app.addr(), "/wild/real", &[("spin-path-info", "/forged")]).await;
    let values: Vec<_> = headers(&echo)
        .into_iter()
        .filter(|(k, _)| k == "spin-path-info")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values, ["/forged", "/real"]);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chained_request_sees_the_synthetic_route_and_headers() {
    let app = start_in_memory().await;
    let url = "http://private.spin.internal/chained/path?q=1";
    let (status, body) = get(&app, &format!("/caller/go?op=fetch&url={url}")).await;
    assert_eq!(status, 200, "{body}");
    let echo = body.strip_prefix("200 ").expect(&body);
    assert_eq!(header(echo, "spin-path-info").unwrap(), "/chained/path");
    assert_eq!(header(echo, "spin-matched-route").unwrap(), "/...");
    assert_eq!(header(echo, "spin-raw-component-route").unwrap(), "/...");
    assert_eq!(header(echo, "spin-component-route").unwrap(), "");
    assert_eq!(header(echo, "spin-client-addr").unwrap(), "0.0.0.0:0");
    assert_eq!(
        header(echo, "spin-full-url").unwrap(),
        "http://localhost/chained/path?q=1"
    );
    assert!(header(echo, "spin-path-match-user-id").is_none());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn private_route_is_404_outside_and_reachable_by_chaining() {
    // The conformance app's "/..." catch-all would answer every path, so this app has none.
    conformance_manifest();
    let app = spin_test_host::start(
        AppOptions::new(fixture("private/spin.toml"))
            .log_dir(scratch_dir("logs"))
            .key_value_in_memory(),
    )
    .await
    .unwrap();
    assert!(app.routes().iter().all(|(c, _)| c != "private"));
    for path in ["/", "/private", "/chained/path", "/..."] {
        assert_eq!(get(&app, path).await.0, 404, "{path}");
    }
    // A client cannot pose as a chaining caller through the Host header either.
    let (status, _) = request(app.addr(), "/x", &[("host", "private.spin.internal")]).await;
    assert_eq!(status, 404);

    let url = "http://private.spin.internal/chained/path";
    let (status, body) = get(&app, &format!("/caller/go?op=fetch&url={url}")).await;
    assert_eq!(status, 200, "{body}");
    let echo = body.strip_prefix("200 ").expect(&body);
    assert_eq!(header(echo, "spin-path-info").unwrap(), "/chained/path");
    app.shutdown().await;
}

/// A loopback receiver that waits `delay` before it answers 200.
async fn slow_receiver(delay: Duration) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| async move {
                    tokio::time::sleep(delay).await;
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"late"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn first_byte_timeout_fails_in_the_guest() {
    // closeloop's deliveries rely on this: a provider slower than the request's timeout must
    // fail the attempt (to be retried by the outbox), not hold the instance.
    let delay = Duration::from_millis(1500);
    let receiver = slow_receiver(delay).await;
    let app = spin_test_host::start(options(&receiver.to_string()).key_value_in_memory())
        .await
        .unwrap();
    let url = format!("http://{receiver}/slow");
    let started = std::time::Instant::now();
    let (status, body) = get(
        &app,
        &format!("/caller/x?op=fetch-timeout&first_byte_ms=200&url={url}"),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(
        (status, body.as_str()),
        (502, "ErrorCode::ConnectionReadTimeout")
    );
    assert!(took < delay, "the timeout fired after {took:?}");

    // The same receiver within a longer timeout answers: the failure above was the timeout.
    let (status, body) = get(
        &app,
        &format!("/caller/x?op=fetch-timeout&first_byte_ms=10000&url={url}"),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "200"));
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn outbound_denied_and_allowed_hosts() {
    let receiver = mock_receiver("from receiver").await;
    let app = spin_test_host::start(options(&receiver.to_string()).key_value_in_memory())
        .await
        .unwrap();
    let (_, ok) = get(
        &app,
        &format!("/caller/x?op=fetch&url=http://{receiver}/hook"),
    )
    .await;
    assert_eq!(ok, "200 from receiver");
    let (status, denied) = get(&app, "/caller/x?op=fetch&url=http://127.0.0.1:1/nope").await;
    assert_eq!(status, 502);
    assert!(denied.contains("HttpRequestDenied"), "{denied}");
    // Chaining needs the target in allowed_outbound_hosts too.
    let (_, denied) = get(&app, "/caller/x?op=fetch&url=http://root.spin.internal/").await;
    assert!(denied.contains("HttpRequestDenied"), "{denied}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_labels_are_enforced() {
    let app = start_in_memory().await;
    let (status, body) = get(&app, "/caller/x?op=kv-set&label=default&key=k&value=v").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (_, denied) = get(&app, "/caller/x?op=kv-get&label=other&key=k").await;
    assert!(denied.contains("AccessDenied"), "{denied}");
    // "exact" lists no stores at all.
    let (_, denied) = get(&app, "/exact?op=kv-get&label=default&key=k").await;
    assert!(denied.contains("AccessDenied"), "{denied}");
    assert_eq!(app.kv("default").get("k").as_deref(), Some(&b"v"[..]));
    app.kv("default").set("seeded", b"s");
    assert_eq!(
        get(&app, "/caller/x?op=kv-get&label=default&key=seeded")
            .await
            .1,
        "s"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn key_value_survives_restart_in_spins_sqlite_layout() {
    let dir = scratch_dir("sqlite");
    let db = dir.join("sqlite_key_value.db");
    let app = spin_test_host::start(options("127.0.0.1:9").sqlite_path(&db))
        .await
        .unwrap();
    assert_eq!(
        get(&app, "/caller/x?op=kv-set&label=default&key=kept&value=yes")
            .await
            .0,
        200
    );
    app.shutdown().await;

    let conn = rusqlite::Connection::open(&db).unwrap();
    let value: Vec<u8> = conn
        .query_row(
            "SELECT value FROM spin_key_value WHERE store='default' AND key='kept'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(value, b"yes");
    drop(conn);

    let app = spin_test_host::start(options("127.0.0.1:9").sqlite_path(&db))
        .await
        .unwrap();
    assert_eq!(
        get(&app, "/caller/x?op=kv-get&label=default&key=kept")
            .await
            .1,
        "yes"
    );
    // Seeded in bulk (as the benchmarks seed a large store), read by a component.
    app.kv("default").set_many(&[
        ("bulk-1".to_owned(), b"one".to_vec()),
        ("bulk-2".to_owned(), b"two".to_vec()),
        ("kept".to_owned(), b"replaced".to_vec()),
    ]);
    for (key, value) in [("bulk-1", "one"), ("bulk-2", "two"), ("kept", "replaced")] {
        let path = format!("/caller/x?op=kv-get&label=default&key={key}");
        assert_eq!(get(&app, &path).await.1, value);
    }
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn increment_is_atomic_under_concurrency() {
    for in_memory in [true, false] {
        let dir = scratch_dir("incr");
        let mut opts = options("127.0.0.1:9").sqlite_path(dir.join("kv.db"));
        if in_memory {
            opts = opts.key_value_in_memory();
        }
        let app = spin_test_host::start(opts).await.unwrap();
        let addr = app.addr();
        let clients: Vec<_> = (0..8)
            .map(|_| {
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    for _ in 0..25 {
                        let (status, n) = request(addr, "/caller/x?op=incr&key=claim", &[]).await;
                        assert_eq!(status, 200, "{n}");
                        seen.push(n.parse::<i64>().unwrap());
                    }
                    seen
                })
            })
            .collect();
        let mut all = Vec::new();
        for c in clients {
            all.extend(c.await.unwrap());
        }
        all.sort();
        assert_eq!(
            all,
            (1..=200).collect::<Vec<i64>>(),
            "in_memory={in_memory}"
        );
        app.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn variable_precedence_and_templates() {
    let app = start_in_memory().await;
    assert_eq!(
        get(&app, "/caller/x?op=var&name=message").await.1,
        "hello world"
    );
    assert_eq!(
        get(&app, "/caller/x?op=var&name=host").await.1,
        "127.0.0.1:9"
    );
    let (status, undefined) = get(&app, "/caller/x?op=var&name=greeting").await;
    assert_eq!(status, 500);
    assert!(undefined.contains("Undefined"), "{undefined}");
    app.shutdown().await;

    // An app-level override beats the default (SPIN_VARIABLE_* sits just below it).
    let app = spin_test_host::start(
        options("127.0.0.1:9")
            .variable("greeting", "hi")
            .key_value_in_memory(),
    )
    .await
    .unwrap();
    assert_eq!(
        get(&app, "/caller/x?op=var&name=message").await.1,
        "hi world"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn required_variable_without_value_stops_startup() {
    let err = spin_test_host::start(AppOptions::new(conformance_manifest()).key_value_in_memory())
        .await
        .err()
        .expect("start must fail");
    let msg = format!("{err:#}");
    assert!(msg.contains("\"api_host\""), "{msg}");
    assert!(msg.contains("SPIN_VARIABLE_API_HOST"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn manifest_errors_name_the_file_and_problem() {
    for (file, problem) in [
        ("unknown-field.toml", "key_value_store"),
        ("malformed.toml", "TOML"),
    ] {
        let path = fixture("bad").join(file);
        let msg = format!(
            "{:#}",
            spin_test_host::start(AppOptions::new(&path))
                .await
                .err()
                .unwrap()
        );
        assert!(msg.contains(file), "{msg}");
        assert!(msg.contains(problem) || msg.contains("expected"), "{msg}");
    }
    let path = fixture("bad/missing-wasm.toml");
    let msg = format!(
        "{:#}",
        spin_test_host::start(AppOptions::new(&path))
            .await
            .err()
            .unwrap()
    );
    assert!(msg.contains("does-not-exist.wasm"), "{msg}");
    assert!(
        msg.contains("cargo build --target wasm32-wasip2 --release -p does-not-exist"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_wall_clock_follows_the_test_clock() {
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let clock = TestClock::at(start);
    let app = spin_test_host::start(
        options("127.0.0.1:9")
            .key_value_in_memory()
            .clock(clock.clone()),
    )
    .await
    .unwrap();
    assert_eq!(get(&app, "/exact?op=now").await.1, "1700000000");
    clock.advance(Duration::from_secs(600));
    assert_eq!(get(&app, "/exact?op=now").await.1, "1700000600");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_runs_on_after_the_response_and_logs_per_component() {
    let logs = scratch_dir("logs");
    let app = spin_test_host::start(options("127.0.0.1:9").key_value_in_memory().log_dir(&logs))
        .await
        .unwrap();
    assert_eq!(
        get(&app, "/caller/x?op=late-write&key=late").await,
        (202, "accepted".into())
    );
    let mut waited = 0;
    while app.kv("default").get("late").is_none() && waited < 100 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
    assert_eq!(
        app.kv("default").get("late").as_deref(),
        Some(&b"written after response"[..])
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        app.component_log("caller")
            .contains("late write of late done")
    );
    let file = std::fs::read_to_string(logs.join("caller_stderr.txt")).unwrap();
    assert!(file.contains("late write of late done"), "{file}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_store_is_shared_by_two_apps_as_by_two_spin_replicas() {
    let Some(redis) = spin_test_host::RedisServer::start() else {
        return;
    };
    let dir = scratch_dir("redis");
    let rc = dir.join("runtime-config.toml");
    // Two labels on one server: on Redis, as in Spin, labels do not namespace keys.
    std::fs::write(
        &rc,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{0}\"\n\
             [key_value_store.other]\ntype = \"redis\"\nurl = \"{0}\"\n",
            redis.url()
        ),
    )
    .unwrap();
    let start = || spin_test_host::start(options("127.0.0.1:9").runtime_config_file(&rc));
    let (a, b) = (start().await.unwrap(), start().await.unwrap());

    assert_eq!(
        get(
            &a,
            "/caller/x?op=kv-set&label=default&key=shared&value=from-a"
        )
        .await
        .0,
        200
    );
    assert_eq!(
        get(&b, "/caller/x?op=kv-get&label=default&key=shared")
            .await
            .1,
        "from-a"
    );
    assert_eq!(a.kv("other").get("shared").as_deref(), Some(&b"from-a"[..]));

    // Increments spread over both apps: INCRBY on the server, nothing lost or repeated.
    let addrs = [a.addr(), b.addr()];
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let addr = addrs[i % 2];
            tokio::spawn(async move {
                let mut seen = Vec::new();
                for _ in 0..25 {
                    let (status, n) = request(addr, "/caller/x?op=incr&key=claim", &[]).await;
                    assert_eq!(status, 200, "{n}");
                    seen.push(n.parse::<i64>().unwrap());
                }
                seen
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.unwrap());
    }
    all.sort();
    assert_eq!(all, (1..=200).collect::<Vec<i64>>());
    // Spin's Redis store keeps a counter as decimal text (SQLite: 8 little-endian bytes).
    assert_eq!(a.kv("default").get("claim").as_deref(), Some(&b"200"[..]));
    assert_eq!(a.kv("default").keys(), ["claim", "shared"]);
    a.shutdown().await;
    b.shutdown().await;

    // The data lives in Redis, not in the host: a restarted app reads it.
    let a = start().await.unwrap();
    assert_eq!(
        get(&a, "/caller/x?op=kv-get&label=default&key=shared")
            .await
            .1,
        "from-a"
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cloud_store_types_are_checked_but_not_served() {
    let dir = scratch_dir("cloud");
    let rc = dir.join("runtime-config.toml");
    std::fs::write(
        &rc,
        "[key_value_store.default]\ntype = \"aws_dynamo\"\nregion = \"eu-west-1\"\ntable = \"closeloop\"\n",
    )
    .unwrap();
    spin_test_host::check(&conformance_manifest(), Some(&rc)).unwrap();
    let err = spin_test_host::start(options("127.0.0.1:9").runtime_config_file(&rc))
        .await
        .err()
        .expect("start must fail");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("aws_dynamo") && msg.contains("cannot serve"),
        "{msg}"
    );
}

// ---- On the test host and on real `spin up`: what the app relies on, pinned on both ----
//
// Each test below runs the same requests on both runtimes and holds each to the same claim;
// where `spin` is missing the Spin half is skipped with a message (a failure under CI).

/// Racing clients, as many as the measurements in issue 14 used.
const CLIENTS: usize = 8;
/// Requests per client in the read-modify-write race.
const ROUNDS: usize = 50;
/// How many fresh keys the compare-and-swap race may try before concluding that a key is
/// never created twice.
const MAX_RACED_KEYS: usize = 1_000;
/// Below this share of lost updates a runtime is not said to race (8 clients lose about half).
const MIN_LOSS: f64 = 0.05;
/// How far apart the two runtimes' shares of lost updates may be (a factor) and still be
/// "alike". The share depends on load: on 2 busy cores Spin alone lost from 12% to 58% of them
/// on SQLite and about 70% on Redis from one run to the next, so the runtimes race at the same
/// time.
const LOSS_RATIO: f64 = 3.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Runtime {
    Host,
    Spin,
}

/// The runtimes this machine has: the host always, Spin when the CLI is installed.
fn runtimes() -> Vec<Runtime> {
    let mut all = vec![Runtime::Host];
    if SpinCli::find_or_skip().is_some() {
        all.push(Runtime::Spin);
    }
    all
}

/// Where the conformance app keeps its `default` store.
#[derive(Clone, Copy)]
enum Backing<'a> {
    /// Spin's default: a SQLite file (the run's own).
    Sqlite,
    /// A Redis server, named in a runtime config.
    Redis(&'a RedisServer),
}

/// The conformance app on one runtime.
enum Running {
    Host(RunningApp),
    Spin(Box<SpinApp>),
}

impl Running {
    async fn start(rt: Runtime, backing: Backing<'_>) -> Running {
        let dir = scratch_dir("both");
        let rc = match backing {
            Backing::Sqlite => None,
            Backing::Redis(redis) => Some(redis.runtime_config_file()),
        };
        match rt {
            Runtime::Host => {
                let opts = options("127.0.0.1:9");
                let opts = match &rc {
                    Some(rc) => opts.runtime_config_file(rc),
                    None => opts.sqlite_path(dir.join("sqlite_key_value.db")),
                };
                Running::Host(spin_test_host::start(opts).await.unwrap())
            }
            Runtime::Spin => {
                let mut opts =
                    SpinOptions::new(conformance_manifest()).variable("api_host", "127.0.0.1:9");
                if let Some(rc) = rc {
                    opts = opts.runtime_config_file(rc);
                }
                let cli = SpinCli::find().unwrap();
                let app = tokio::task::spawn_blocking(move || cli.up(opts))
                    .await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("{e}"));
                Running::Spin(Box::new(app))
            }
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Running::Host(app) => app.addr(),
            Running::Spin(app) => app.addr(),
        }
    }

    fn kv(&self) -> KvHandle {
        match self {
            Running::Host(app) => app.kv("default"),
            Running::Spin(app) => app.kv("default"),
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        request(self.addr(), path, &[]).await
    }
}

/// `CLIENTS` clients, each sending `ROUNDS` requests for `path` one after another; every
/// answer, in no particular order.
async fn race(addr: SocketAddr, path: &str) -> Vec<(u16, String)> {
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let path = path.to_owned();
            tokio::spawn(async move {
                let mut answers = Vec::with_capacity(ROUNDS);
                for _ in 0..ROUNDS {
                    answers.push(request(addr, &path, &[]).await);
                }
                answers
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.unwrap());
    }
    all
}

/// The share of `CLIENTS * ROUNDS` naive increments (get, add one, set) that racing clients
/// lose on `rt`, after checking that `incr` from the same clients loses none.
async fn lost_updates(rt: Runtime, backing: Backing<'_>, tag: &str) -> f64 {
    let app = Running::start(rt, backing).await;
    let total = CLIENTS * ROUNDS;
    // Keys of their own per runtime: on Redis both runs share the server.
    let naive = format!("rmw-{tag}-{rt:?}");
    // A first race warms the runtime up (instances, store connection, caches), so that the
    // measured one interleaves as in steady state: Spin's first requests are slow enough to
    // serialise the clients.
    race(app.addr(), &format!("/caller/x?op=rmw&key=warm-{naive}")).await;
    let answers = race(app.addr(), &format!("/caller/x?op=rmw&key={naive}")).await;
    assert!(
        answers.iter().all(|(s, _)| *s == 200),
        "{rt:?}: {answers:?}"
    );
    let (_, kept) = app
        .get(&format!("/caller/x?op=kv-get&label=default&key={naive}"))
        .await;
    let kept: usize = kept.parse().unwrap_or_else(|_| panic!("{rt:?}: {kept}"));
    assert!((1..=total).contains(&kept), "{rt:?}: {kept} of {total}");

    let atomic = format!("incr-{tag}-{rt:?}");
    let answers = race(app.addr(), &format!("/caller/x?op=incr&key={atomic}")).await;
    let mut counted: Vec<usize> = answers
        .iter()
        .map(|(s, n)| {
            assert_eq!(*s, 200, "{rt:?}: {n}");
            n.parse().unwrap()
        })
        .collect();
    counted.sort();
    assert_eq!(
        counted,
        (1..=total).collect::<Vec<_>>(),
        "{rt:?}: every increment counted once"
    );
    let lost = (total - kept) as f64 / total as f64;
    eprintln!("{rt:?}, {tag}: the naive counter kept {kept} of {total} increments");
    lost
}

/// Both runtimes lose naive read-modify-write updates, in shares within `LOSS_RATIO` of each
/// other; `incr` loses none on either.
async fn naive_updates_are_lost_alike(backing: Backing<'_>, tag: &str) {
    // Both at once: the share lost depends on how busy the machine is, so the two runtimes are
    // compared under the same load.
    let with_spin = runtimes().contains(&Runtime::Spin);
    let (host, spin) = tokio::join!(lost_updates(Runtime::Host, backing, tag), async {
        match with_spin {
            true => Some(lost_updates(Runtime::Spin, backing, tag).await),
            false => None,
        }
    });
    let mut losses = vec![(Runtime::Host, host)];
    losses.extend(spin.map(|lost| (Runtime::Spin, lost)));
    for (rt, lost) in &losses {
        assert!(
            *lost >= MIN_LOSS,
            "{rt:?} ({tag}) lost {lost:.2} of racing read-modify-writes, so it does not interleave requests (all: {losses:?})"
        );
    }
    if let [(_, host), (_, spin)] = losses[..] {
        assert!(
            host <= spin * LOSS_RATIO && spin <= host * LOSS_RATIO,
            "{tag}: the host lost {host:.2} of the updates, Spin {spin:.2}: not alike"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn naive_read_modify_write_loses_updates_alike_on_both_runtimes_and_incr_none_sqlite() {
    naive_updates_are_lost_alike(Backing::Sqlite, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn naive_read_modify_write_loses_updates_alike_on_both_runtimes_and_incr_none_redis() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    naive_updates_are_lost_alike(Backing::Redis(&redis), "redis").await;
}

/// On SQLite a compare-and-swap from an absent key is an upsert (`INSERT .. ON CONFLICT DO
/// UPDATE`), not a create-if-absent: of `CLIENTS` racing to create one fresh key, more than
/// one can be told "created". Fresh keys are raced until that shows, up to `MAX_RACED_KEYS`.
#[tokio::test(flavor = "multi_thread")]
async fn compare_and_swap_from_an_absent_key_is_an_upsert_on_sqlite() {
    for rt in runtimes() {
        let app = Running::start(rt, Backing::Sqlite).await;
        let addr = app.addr();
        let mut twice = None;
        for n in 0..MAX_RACED_KEYS {
            let key = format!("created-{n}");
            let racers: Vec<_> = (0..CLIENTS)
                .map(|c| {
                    let path = format!("/caller/x?op=cas-create&key={key}&value=client-{c}");
                    tokio::spawn(async move { request(addr, &path, &[]).await })
                })
                .collect();
            let mut created = 0;
            for r in racers {
                let (status, body) = r.await.unwrap();
                assert_eq!(status, 200, "{rt:?}: {body}");
                assert!(
                    ["created", "exists"].contains(&body.as_str()),
                    "{rt:?}: {body}"
                );
                created += usize::from(body == "created");
            }
            assert!(created >= 1, "{rt:?}: nobody created {key}");
            let value = app.kv().get(&key).expect("the key exists");
            assert!(value.starts_with(b"client-"), "{rt:?}");
            if created > 1 {
                twice = Some((n + 1, created));
                break;
            }
        }
        let (keys, created) = twice.unwrap_or_else(|| {
            panic!("{rt:?}: {MAX_RACED_KEYS} keys, each created by exactly one of {CLIENTS} racers: compare-and-swap from absent acted as create-if-absent")
        });
        eprintln!("{rt:?}: key #{keys} was \"created\" by {created} racers");
    }
}

/// On Redis, Spin's `swap` ends with an `UNWATCH` that fails, so it reports `cas-failed` even
/// when its `SET` landed: a caller cannot tell its write from another's without reading back.
#[tokio::test(flavor = "multi_thread")]
async fn compare_and_swap_on_redis_reports_failure_even_when_it_wrote() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    for rt in runtimes() {
        let app = Running::start(rt, Backing::Redis(&redis)).await;
        let key = format!("cas-{rt:?}");
        let (status, body) = app
            .get(&format!("/caller/x?op=cas-create&key={key}&value=mine"))
            .await;
        assert_eq!(
            (status, body.as_str()),
            (200, "refused-but-written"),
            "{rt:?}"
        );
        assert_eq!(app.kv().get(&key).as_deref(), Some(&b"mine"[..]), "{rt:?}");
    }
}

/// `set-many` writes every key, on SQLite (one transaction) and on Redis (`MSET`); `get-many`
/// reads them back on SQLite, and fails on Redis (Spin sends the keys to `KEYS`).
#[tokio::test(flavor = "multi_thread")]
async fn set_many_writes_all_keys_and_get_many_fails_on_redis() {
    let redis = RedisServer::start();
    let mut backings = vec![("sqlite", Backing::Sqlite)];
    if let Some(redis) = &redis {
        backings.push(("redis", Backing::Redis(redis)));
    }
    for rt in runtimes() {
        for (name, backing) in &backings {
            let app = Running::start(rt, *backing).await;
            let keys: Vec<String> = (0..5).map(|i| format!("many-{rt:?}-{i}")).collect();
            let (status, body) = app
                .get(&format!(
                    "/caller/x?op=set-many&keys={}&value=v",
                    keys.join(",")
                ))
                .await;
            assert_eq!((status, body.as_str()), (200, "ok"), "{rt:?} {name}");
            let kv = app.kv();
            for k in &keys {
                assert_eq!(kv.get(k).as_deref(), Some(&b"v"[..]), "{rt:?} {name}: {k}");
            }
            let (status, body) = app
                .get(&format!(
                    "/caller/x?op=get-many&keys={},absent",
                    keys.join(",")
                ))
                .await;
            if *name == "redis" {
                assert_eq!(status, 500, "{rt:?} {name}: get-many answered {body}");
            } else {
                assert_eq!(status, 200, "{rt:?} {name}: {body}");
                let mut found: Vec<&str> = body.split(',').collect();
                found.sort();
                let want: Vec<String> = keys.iter().map(|k| format!("{k}=v")).collect();
                assert_eq!(found, want, "{rt:?} {name}: only the keys that exist");
            }
        }
    }
}

/// The crash the differential tests need: `kill -9` of `spin up` while clients increment,
/// then a restart on the same state dir and port. Every increment that was answered survives
/// (Spin commits before it answers), none is counted twice, and the app serves on.
#[tokio::test(flavor = "multi_thread")]
async fn spin_killed_mid_load_restarts_on_its_state_with_every_answered_increment() {
    if !runtimes().contains(&Runtime::Spin) {
        return;
    }
    let Running::Spin(mut app) = Running::start(Runtime::Spin, Backing::Sqlite).await else {
        unreachable!()
    };
    let addr = app.addr();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(async move {
                let mut answered = 0usize;
                loop {
                    match try_request(addr, "/caller/x?op=incr&key=crash").await {
                        Some((200, _)) => answered += 1,
                        Some((status, body)) => panic!("incr answered {status}: {body}"),
                        None => return answered,
                    }
                }
            })
        })
        .collect();
    // Let the load run, then crash the runtime under it.
    while app.kv("default").get("crash").is_none() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.kill();
    let mut answered = 0;
    for c in clients {
        answered += c.await.unwrap();
    }
    assert!(answered > 0);
    let app = tokio::task::spawn_blocking(move || {
        app.restart().unwrap_or_else(|e| panic!("{e}"));
        app
    })
    .await
    .unwrap();
    assert_eq!(app.addr(), addr, "the same port");
    let stored = app.kv("default").get("crash").expect("the counter");
    let stored = i64::from_le_bytes(stored.try_into().unwrap()) as usize;
    // At most one increment per client may have been committed without its answer arriving.
    assert!(
        (answered..=answered + CLIENTS).contains(&stored),
        "{answered} increments answered, {stored} stored"
    );
    let (status, n) = request(addr, "/caller/x?op=incr&key=crash", &[]).await;
    assert_eq!((status, n), (200, (stored + 1).to_string()));
}

/// A run on a port another server holds fails, naming it, after `KEPT_PORT_WAIT`: the other
/// server answers Spin's health route too, but only Spin serving there counts as started.
#[tokio::test(flavor = "multi_thread")]
async fn spin_up_on_a_port_another_server_holds_fails_instead_of_answering_for_it() {
    let Some(cli) = SpinCli::find_or_skip() else {
        return;
    };
    let stranger = mock_receiver("not spin").await;
    let opts = SpinOptions::new(conformance_manifest())
        .variable("api_host", "127.0.0.1:9")
        .port(stranger.port());
    let started = std::time::Instant::now();
    let err = tokio::task::spawn_blocking(move || cli.up(opts))
        .await
        .unwrap()
        .err()
        .expect("spin up must not start on a taken port");
    assert!(
        started.elapsed() >= spin_test_host::spin_cli::KEPT_PORT_WAIT,
        "retried for {:?}",
        started.elapsed()
    );
    let msg = err.to_string();
    assert!(msg.contains("already in use"), "{msg}");
}

/// Like [`request`], but `None` when the server is gone (refused, reset or cut short).
async fn try_request(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", addr.to_string())
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(req).await.ok()?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}
