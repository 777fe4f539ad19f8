//! A Spin component that reports what the host gives it, for spin-test-host's conformance tests.
//!
//! The same `.wasm` serves every component of the test manifest. It answers, as JSON, the
//! request it saw (method, absolute URI, every header value in order) unless the query holds an
//! `op`: `kv-set` / `kv-get` (fermyon:spin/key-value), `incr` (wasi:keyvalue atomics), `var`
//! (variables), `fetch` (outbound HTTP GET of `url`, also used for chaining), `fetch-timeout`
//! (the same GET with a `first_byte_ms` timeout in WASI's request options, as closeloop's
//! deliveries set one), `now` (wall clock, seconds since the epoch) or `late-write` (sets the
//! response, then writes a key afterwards).

use futures::SinkExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::http_component;

fn query(req_path: &str) -> Vec<(String, String)> {
    let Some((_, q)) = req_path.split_once('?') else {
        return Vec::new();
    };
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), decode(v)))
        .collect()
}

fn decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> &'a str {
    q.iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

async fn respond(out: ResponseOutparam, status: u16, body: String) {
    let resp = OutgoingResponse::new(Fields::new());
    let _ = resp.set_status_code(status);
    let mut sink = resp.take_body();
    out.set(resp);
    let _ = sink.send(body.into_bytes()).await;
}

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let path = req.path_with_query().unwrap_or_default();
    let q = query(&path);
    let (status, body) = match param(&q, "op") {
        "" => (200, echo(&req)),
        "kv-set" => kv_set(param(&q, "label"), param(&q, "key"), param(&q, "value")),
        "kv-get" => kv_get(param(&q, "label"), param(&q, "key")),
        "incr" => incr(param(&q, "key")),
        "rmw" => read_modify_write(param(&q, "key")),
        "cas-incr" => cas_increment(param(&q, "key")),
        "cas-create" => cas_create(param(&q, "key"), param(&q, "value")),
        "set-many" => set_many(param(&q, "keys"), param(&q, "value")),
        "get-many" => get_many(param(&q, "keys")),
        "var" => match spin_sdk::variables::get(param(&q, "name")) {
            Ok(v) => (200, v),
            Err(e) => (500, format!("{e:?}")),
        },
        "fetch" => fetch(param(&q, "url")).await,
        "fetch-timeout" => fetch_with_timeout(param(&q, "url"), param(&q, "first_byte_ms")),
        "now" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            (200, now.to_string())
        }
        "late-write" => {
            respond(out, 202, "accepted".into()).await;
            // Work after the response is sent, as closeloop's webhook does.
            let key = param(&q, "key");
            if let Ok(store) = spin_sdk::key_value::Store::open_default() {
                let _ = store.set(key, b"written after response");
            }
            eprintln!("late write of {key} done");
            return;
        }
        other => (400, format!("unknown op {other:?}")),
    };
    respond(out, status, body).await;
}

fn echo(req: &IncomingRequest) -> String {
    let headers: Vec<serde_json::Value> = req
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| serde_json::json!([k, String::from_utf8_lossy(&v)]))
        .collect();
    serde_json::json!({
        "method": format!("{:?}", req.method()),
        "uri": req.uri(),
        "headers": headers,
    })
    .to_string()
}

fn kv_set(label: &str, key: &str, value: &str) -> (u16, String) {
    match spin_sdk::key_value::Store::open(label).and_then(|s| s.set(key, value.as_bytes())) {
        Ok(()) => (200, "ok".into()),
        Err(e) => (500, format!("{e:?}")),
    }
}

fn kv_get(label: &str, key: &str) -> (u16, String) {
    match spin_sdk::key_value::Store::open(label).and_then(|s| s.get(key)) {
        Ok(Some(v)) => (200, String::from_utf8_lossy(&v).into_owned()),
        Ok(None) => (404, "none".into()),
        Err(e) => (500, format!("{e:?}")),
    }
}

fn incr(key: &str) -> (u16, String) {
    use spin_sdk::wit::wasi::keyvalue::{atomics, store};
    match store::open("default").and_then(|b| atomics::increment(&b, key, 1)) {
        Ok(n) => (200, n.to_string()),
        Err(e) => (500, format!("{e:?}")),
    }
}

async fn fetch(url: &str) -> (u16, String) {
    let req = spin_sdk::http::Request::get(url);
    match spin_sdk::http::send::<_, spin_sdk::http::Response>(req).await {
        Ok(resp) => (
            200,
            format!("{} {}", resp.status(), String::from_utf8_lossy(resp.body())),
        ),
        Err(e) => (502, format!("{e:?}")),
    }
}

/// A GET through `wasi:http/outgoing-handler` with a first-byte timeout; answers the status or
/// the error code the host gave.
fn fetch_with_timeout(url: &str, first_byte_ms: &str) -> (u16, String) {
    use spin_sdk::http::{Fields, OutgoingRequest, Scheme};
    use spin_sdk::wit::wasi::http0_2_0::{outgoing_handler, types::RequestOptions};

    let Ok(ms) = first_byte_ms.parse::<u64>() else {
        return (400, "first_byte_ms must be a number".into());
    };
    let Some((authority, path)) = url
        .strip_prefix("http://")
        .map(|rest| rest.split_at(rest.find('/').unwrap_or(rest.len())))
    else {
        return (400, "url must be http://".into());
    };
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
    let options = RequestOptions::new();
    let _ = options.set_first_byte_timeout(Some(ms * 1_000_000));
    let future = match outgoing_handler::handle(request, Some(options)) {
        Ok(f) => f,
        Err(code) => return (502, format!("{code:?}")),
    };
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(resp))) => (200, resp.status().to_string()),
        Some(Ok(Err(code))) => (502, format!("{code:?}")),
        other => (500, format!("no response: {other:?}")),
    }
}

/// A naive read-modify-write of a decimal counter: get, add one, set. Racing clients lose
/// updates on every runtime that interleaves instances, which is what the test shows.
fn read_modify_write(key: &str) -> (u16, String) {
    let Ok(store) = spin_sdk::key_value::Store::open_default() else {
        return (500, "open".into());
    };
    let n: u64 = match store.get(key) {
        Ok(v) => v
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        Err(e) => return (500, format!("{e:?}")),
    };
    match store.set(key, (n + 1).to_string().as_bytes()) {
        Ok(()) => (200, (n + 1).to_string()),
        Err(e) => (500, format!("{e:?}")),
    }
}

/// Adds one to a decimal counter by compare-and-swap, retrying on conflict: answers the
/// value written and how many conflicts it took.
fn cas_increment(key: &str) -> (u16, String) {
    use spin_sdk::wit::wasi::keyvalue::{atomics, store};
    let Ok(bucket) = store::open("default") else {
        return (500, "open".into());
    };
    let mut conflicts = 0;
    let Ok(mut cas) = atomics::Cas::new(&bucket, key) else {
        return (500, "cas".into());
    };
    loop {
        let n: u64 = match cas.current() {
            Ok(v) => v
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            Err(e) => return (500, format!("{e:?}")),
        };
        match atomics::swap(cas, (n + 1).to_string().as_bytes()) {
            Ok(()) => return (200, format!("{} {conflicts}", n + 1)),
            Err(atomics::CasError::CasFailed(fresh)) => {
                conflicts += 1;
                cas = fresh;
            }
            Err(atomics::CasError::StoreError(e)) => return (500, format!("{e:?}")),
        }
    }
}

/// Creates `key` by compare-and-swap from "absent": `created` or `exists`.
fn cas_create(key: &str, value: &str) -> (u16, String) {
    use spin_sdk::wit::wasi::keyvalue::{atomics, store};
    let Ok(bucket) = store::open("default") else {
        return (500, "open".into());
    };
    let Ok(cas) = atomics::Cas::new(&bucket, key) else {
        return (500, "cas".into());
    };
    match cas.current() {
        Ok(Some(_)) => return (200, "exists".into()),
        Ok(None) => {}
        Err(e) => return (500, format!("{e:?}")),
    }
    match atomics::swap(cas, value.as_bytes()) {
        Ok(()) => (200, "created".into()),
        // Refused: did the value land anyway (read back through the fresh handle)?
        Err(atomics::CasError::CasFailed(fresh)) => match fresh.current() {
            Ok(Some(v)) if v == value.as_bytes() => (200, "refused-but-written".into()),
            Ok(_) => (200, "refused".into()),
            Err(e) => (500, format!("{e:?}")),
        },
        Err(atomics::CasError::StoreError(e)) => (500, format!("{e:?}")),
    }
}

fn set_many(keys: &str, value: &str) -> (u16, String) {
    use spin_sdk::wit::wasi::keyvalue::{batch, store};
    let entries: Vec<(String, Vec<u8>)> = keys
        .split(',')
        .map(|k| (k.to_owned(), value.as_bytes().to_vec()))
        .collect();
    match store::open("default").and_then(|b| batch::set_many(&b, &entries)) {
        Ok(()) => (200, "ok".into()),
        Err(e) => (500, format!("{e:?}")),
    }
}

/// Answers `key=value` per key found, in the order the host returned them.
fn get_many(keys: &str) -> (u16, String) {
    use spin_sdk::wit::wasi::keyvalue::{batch, store};
    let keys: Vec<String> = keys.split(',').map(str::to_owned).collect();
    match store::open("default").and_then(|b| batch::get_many(&b, &keys)) {
        Ok(found) => (
            200,
            found
                .into_iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={}", String::from_utf8_lossy(&v)),
                    None => format!("{k}=<none>"),
                })
                .collect::<Vec<_>>()
                .join(","),
        ),
        Err(e) => (500, format!("{e:?}")),
    }
}
