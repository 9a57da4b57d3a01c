//! `k6/http`: requests, batches, cookie jars and responses.
//!
//! Request building and the `Response` class live in `http.js`; the request itself runs
//! natively on the IO runtime while the VU is suspended ([`crate::http`] is the client), and
//! k6's HTTP metrics are emitted for every hop (redirects included).

mod async_request;
mod go_url;
mod jar;
mod json_error;
mod multipart;
mod request;
mod response;
mod state;

use std::rc::Rc;

use rquickjs::{Array, Ctx, Exception, Function, Object, Value};

use super::convert::{bytes_of, type_error};
use super::natives::Natives;
use super::K6Module;
use crate::http::{execute, HttpExchange, HttpRequest};
use crate::js::vu_ctx::{throw_interrupted, Phase, VuCtx};
use crate::metrics::builtin;
use request::{prepare, Prepared, Spec};
use response::{response_object, ResponseShapes};
use state::HttpVu;

type R<T> = rquickjs::Result<T>;

/// `k6/http`.
pub const MODULE: K6Module = K6Module {
    name: "k6/http",
    js: include_str!("http.js"),
    install,
};

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let h = Rc::new(HttpVu::new(vu.clone()));
    let vu1 = h.clone();
    v.set(
        "request",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, spec: Object<'js>, shapes: Array<'js>| -> R<Object<'js>> {
                ensure_can_request(&ctx, &vu1.vu)?;
                let shapes = ResponseShapes::from_js(&ctx, &shapes, &vu1.header_names)?;
                let p = prepare(&ctx, &vu1, Spec::from_object(&ctx, &spec)?)?;
                let mut out = run_all(&ctx, &vu1.vu, vec![p], &shapes)?;
                Ok(out.remove(0))
            },
        )?,
    )?;
    let vu_plain = h.clone();
    v.set(
        "requestPlain",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  method: String,
                  url: String,
                  body: Value<'js>,
                  expected: Value<'js>,
                  shapes: Array<'js>|
                  -> R<Object<'js>> {
                ensure_can_request(&ctx, &vu_plain.vu)?;
                let shapes = ResponseShapes::from_js(&ctx, &shapes, &vu_plain.header_names)?;
                let spec = Spec::plain(&ctx, method, url, body, expected);
                let p = prepare(&ctx, &vu_plain, spec)?;
                let mut out = run_all(&ctx, &vu_plain.vu, vec![p], &shapes)?;
                Ok(out.remove(0))
            },
        )?,
    )?;
    let vu_async = h.clone();
    // The VU's pending asyncRequests, made on its first one.
    let pending = std::cell::OnceCell::new();
    v.set(
        "requestAsync",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  spec: Object<'js>,
                  shapes: Array<'js>,
                  resolve: Function<'js>,
                  reject: Function<'js>|
                  -> R<()> {
                ensure_can_request(&ctx, &vu_async.vu)?;
                let p = prepare(&ctx, &vu_async, Spec::from_object(&ctx, &spec)?)?;
                async_request::start(&ctx, &vu_async, &pending, p, shapes, resolve, reject)
            },
        )?,
    )?;
    let vu2 = h.clone();
    v.set(
        "batch",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, specs: Array<'js>, shapes: Array<'js>| -> R<Vec<Object<'js>>> {
                ensure_can_request(&ctx, &vu2.vu)?;
                let shapes = ResponseShapes::from_js(&ctx, &shapes, &vu2.header_names)?;
                let mut prepared = Vec::with_capacity(specs.len());
                for s in specs.iter::<Object>() {
                    prepared.push(prepare(&ctx, &vu2, Spec::from_object(&ctx, &s?)?)?);
                }
                run_all(&ctx, &vu2.vu, prepared, &shapes)
            },
        )?,
    )?;
    v.set(
        "responseShapes",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, proto: Object<'js>| -> R<Array<'js>> {
                ResponseShapes::make(&ctx, &proto)
            },
        )?,
    )?;
    v.set(
        "utf8Decode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, b: Value<'js>| -> R<String> {
            let bytes = bytes_of(&b).ok_or_else(|| type_error(&ctx, "expected an ArrayBuffer"))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        })?,
    )?;
    v.set(
        "jsonError",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, b: Value<'js>| -> R<Option<String>> {
                let bytes = bytes_of(&b).ok_or_else(|| type_error(&ctx, "expected a body"))?;
                Ok(json_error::k6_json_error(&bytes))
            },
        )?,
    )?;

    v.set(
        "multipart",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, parts: Array<'js>, boundary: Option<String>| -> R<Array<'js>> {
                let mut ps = Vec::with_capacity(parts.len());
                for p in parts.iter::<Array>() {
                    let p = p?;
                    let data: Value = p.get(3)?;
                    let data = bytes_of(&data)
                        .ok_or_else(|| type_error(&ctx, "a multipart part is not text or bytes"))?;
                    let filename: Option<String> = p.get(1)?;
                    let content_type: Option<String> = p.get(2)?;
                    ps.push(multipart::Part {
                        name: p.get(0)?,
                        file: filename.map(|f| (f, content_type.unwrap_or_default())),
                        data,
                    });
                }
                let boundary = boundary.unwrap_or_else(multipart::random_boundary);
                let body = multipart::encode(&ps, &boundary);
                let out = Array::new(ctx.clone())?;
                out.set(0, boundary)?;
                out.set(1, rquickjs::ArrayBuffer::new(ctx.clone(), body)?)?;
                Ok(out)
            },
        )?,
    )?;

    // http.js sets these to its makers of a failed request's errors (the classes are JS's).
    v.set(FAILURE, Value::new_undefined(ctx.clone()))?;
    v.set(REJECTION, Value::new_undefined(ctx.clone()))?;
    jar::install(ctx, v, &h)
}

/// The `__volley` property holding http.js's maker of the GoError a failed request throws.
const FAILURE: &str = "httpFailure";
/// The `__volley` property holding http.js's maker of what a failed `asyncRequest` rejects
/// with, from that GoError.
const REJECTION: &str = "httpRejection";

/// Throws a failed request's error as k6 does: a GoError of `text` carrying Go's error (`op`,
/// `url`; `op` None for a param k6 refused), made by http.js.
fn throw_failure(
    ctx: &Ctx<'_>,
    text: &str,
    op: Option<&str>,
    url: &str,
    code: u32,
) -> rquickjs::Error {
    let made = ctx
        .globals()
        .get::<_, Object>("__volley")
        .and_then(|v| v.get::<_, Function>(FAILURE))
        .and_then(|f| f.call::<_, Value>((text, op, url, code)));
    match made {
        Ok(e) => ctx.throw(e),
        Err(e) => e,
    }
}

/// What an `asyncRequest` rejects with for the error `finish` threw: a failed request's Go
/// error as a plain object (k6 rejects with the error itself); anything else as it is.
pub(super) fn rejection<'js>(ctx: &Ctx<'js>, thrown: Value<'js>) -> R<Value<'js>> {
    let is_failure = thrown
        .as_object()
        .is_some_and(|o| o.contains_key("value").unwrap_or(false));
    if !is_failure {
        return Ok(thrown);
    }
    let v: Object = ctx.globals().get("__volley")?;
    v.get::<_, Function>(REJECTION)?.call((thrown,))
}

/// A method as Go's `url.Error` names it: the first letter as written, the rest lower case.
fn go_op(method: &str) -> String {
    let (first, rest) = method.split_at(method.len().min(1));
    format!("{first}{}", rest.to_ascii_lowercase())
}

fn ensure_can_request(ctx: &Ctx<'_>, vu: &VuCtx) -> R<()> {
    if vu.phase.get() == Phase::Init || vu.http.is_none() {
        return Err(Exception::throw_message(
            ctx,
            "Making http requests in the init context is not supported",
        ));
    }
    Ok(())
}

/// Runs the prepared requests concurrently (one for `http.request`, several for `batch`) and
/// returns their response objects in order, made from `shapes` (instances of the `Response`
/// class of `k6/http`, so that no JS copies them into a second object).
fn run_all<'js>(
    ctx: &Ctx<'js>,
    vu: &VuCtx,
    prepared: Vec<Prepared>,
    shapes: &ResponseShapes<'js>,
) -> R<Vec<Object<'js>>> {
    let Some(client) = vu.http.clone() else {
        return Err(Exception::throw_message(ctx, "no HTTP client in this VU"));
    };
    let mut reqs: Vec<Box<HttpRequest>> = prepared
        .iter()
        .filter(|p| p.failure.is_none())
        .map(|p| Box::new(p.req.clone()))
        .collect();
    let results = if reqs.is_empty() {
        Ok(Vec::new())
    } else if reqs.len() == 1 {
        // One request (http.get & co.): run it in the VU's own IO task, no extra spawn; the
        // request's future is made there (`block_on_with`), not on the VU's thread.
        let r = reqs.remove(0);
        vu.block_on_with(move || async move { vec![execute(&client, r).await] })
    } else {
        // One task polls the requests in order, so the first one takes the VU's idle
        // keep-alive connection and the others dial, as in k6.
        vu.block_on_with(move || async move {
            let futs = reqs.into_iter().map(|r| {
                let c = client.clone();
                async move { execute(&c, r).await }
            });
            futures_util::future::join_all(futs).await
        })
    }
    .map_err(|_| throw_interrupted(ctx))?;
    let mut out = Vec::with_capacity(prepared.len());
    let mut results = results.into_iter();
    for p in prepared {
        let hops = if p.failure.is_some() {
            Vec::new()
        } else {
            results.next().unwrap_or_default()
        };
        out.push(finish(ctx, vu, &p, hops, shapes)?);
    }
    Ok(out)
}

/// The response object of one request from its hops: records each hop's metrics, logs its
/// failure (or throws it when the run sets `throw`). A request that was not sent (`failure`)
/// gets a response with only the error, as in k6, and records metrics only when k6 does.
/// Runs on the worker's shared stack ([`VuCtx::on_work_stack`]): it never suspends, and calls
/// JS only to make the error of a failure it throws, checked against that stack.
fn finish<'js>(
    ctx: &Ctx<'js>,
    vu: &VuCtx,
    p: &Prepared,
    hops: Vec<HttpExchange>,
    shapes: &ResponseShapes<'js>,
) -> R<Object<'js>> {
    vu.on_work_stack(|| finish_here(ctx, vu, p, hops, shapes))
        .unwrap_or_else(|| Err(Exception::throw_internal(ctx, "k6/http: no response made")))
}

fn finish_here<'js>(
    ctx: &Ctx<'js>,
    vu: &VuCtx,
    p: &Prepared,
    mut hops: Vec<HttpExchange>,
    shapes: &ResponseShapes<'js>,
) -> R<Object<'js>> {
    let run_throws = vu.run.as_ref().is_some_and(|r| r.settings.throw);
    let throw = p.throw.unwrap_or(run_throws);
    if let Some(f) = &p.failure {
        let mut unsent = HttpExchange::unsent(&p.req, f.error.clone());
        unsent.error_code = f.code;
        if f.recorded {
            emit_hop_metrics(vu, p, &unsent, false);
            let ua = vu
                .http
                .as_ref()
                .map(|c| c.shared().config().user_agent.as_str());
            unsent.request_headers =
                std::sync::Arc::new(request::refused_request_headers(&p.req, ua.unwrap_or("")));
        }
        let shown = f.detail.as_deref().unwrap_or(&f.error);
        if (f.recorded && throw) || (!f.recorded && run_throws) {
            let op = f.recorded.then(|| go_op(p.req.method.as_str()));
            let url = f.url.as_deref().unwrap_or_default();
            return Err(throw_failure(ctx, shown, op.as_deref(), url, f.code));
        }
        warn_failed(shown);
        return response_object(ctx, p, &mut unsent, None, shapes);
    }
    for (i, hop) in hops.iter().enumerate() {
        emit_hop_metrics(vu, p, hop, i == 0);
    }
    // k6's `res.request` is the first request, also after redirects.
    let first_url = (hops.len() > 1).then(|| hops[0].url.to_string());
    // The last hop is the response; its parts move into the response object.
    let Some(last) = hops.last_mut() else {
        return Err(Exception::throw_message(
            ctx,
            "the HTTP client returned no response",
        ));
    };
    if let Some(error) = &last.error {
        // Go's `url.Error`: the method, the URL of the request that failed (a redirect's
        // target after redirects) and Go's text of the error.
        let op = go_op(last.method.as_str());
        let url = match (&p.shown_url, first_url.is_none()) {
            (Some(shown), true) => shown.to_string(),
            _ => last.url.to_string(),
        };
        let why = last.error_detail.as_deref().unwrap_or(error);
        // A body k6 could not decompress is its own error, not the client's.
        let text = if last.error_code == crate::http::error::DECOMPRESSION {
            why.to_string()
        } else {
            format!("{op} \"{url}\": {why}")
        };
        if throw {
            return Err(throw_failure(ctx, &text, Some(&op), &url, last.error_code));
        }
        warn_failed(&text);
    }
    response_object(ctx, p, last, first_url, shapes)
}

/// k6's warning for a request that failed and does not throw: its Go error in the `error`
/// field. Once the script read a secret, k6's logger no longer shows that error (a Go value,
/// not text, which it cannot redact) and says so in its place.
fn warn_failed(text: &str) {
    const HIDDEN: &str = "Had a logrus.fields value with type *url.Error, please report that \
                          this is unsupported and will be redacted in all logs in case it \
                          contains secrets";
    let shown = if crate::console::redacting() {
        HIDDEN
    } else {
        text
    };
    crate::console::log("warning", "Request Failed", &[("error", shown)]);
}

fn is_expected(ranges: &[(u16, u16)], status: u16) -> bool {
    ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&status))
}

/// Records one hop's metrics; the `first` hop is tagged with the URL as k6 shows it.
fn emit_hop_metrics(vu: &VuCtx, p: &Prepared, hop: &HttpExchange, first: bool) {
    let shown = match &p.shown_url {
        Some(s) if first => go_url::masked(s),
        _ => std::borrow::Cow::Borrowed(hop.url.as_str()),
    };
    let url: &str = &shown;
    // The status tag without formatting a number on every request.
    let status_code = http::StatusCode::from_u16(hop.status).ok();
    let status_text;
    let status = match &status_code {
        Some(code) => code.as_str(),
        None => {
            status_text = hop.status.to_string();
            status_text.as_str()
        }
    };
    let mut extra: Vec<(&str, &str)> = Vec::with_capacity(12);
    let name = p
        .tags
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.as_str());
    extra.push(("method", hop.method.as_str()));
    extra.push(("url", name.unwrap_or(url)));
    extra.push(("name", name.unwrap_or(url)));
    extra.push(("status", status));
    if !hop.proto.is_empty() {
        extra.push(("proto", hop.proto));
    }
    let expected = p
        .expected
        .as_ref()
        .map(|r| hop.auth_challenge || is_expected(r, hop.status));
    if let Some(e) = expected {
        extra.push(("expected_response", if e { "true" } else { "false" }));
    }
    let code;
    if hop.error_code != 0 {
        code = hop.error_code.to_string();
        extra.push(("error_code", code.as_str()));
    }
    if let Some(e) = &hop.error {
        extra.push(("error", e.as_str()));
    }
    if let Some(t) = &hop.tls_version {
        extra.push(("tls_version", t.as_str()));
    }
    for (k, v) in &p.tags {
        if k != "name" {
            extra.push((k.as_str(), v.as_str()));
        }
    }
    let tags = vu.tags_with(&extra);
    let tm = &hop.timings;
    let samples = [
        (builtin::HTTP_REQS, 1.0),
        (builtin::HTTP_REQ_DURATION, tm.duration),
        (builtin::HTTP_REQ_BLOCKED, tm.blocked),
        (builtin::HTTP_REQ_CONNECTING, tm.connecting),
        (builtin::HTTP_REQ_TLS_HANDSHAKING, tm.tls_handshaking),
        (builtin::HTTP_REQ_SENDING, tm.sending),
        (builtin::HTTP_REQ_WAITING, tm.waiting),
        (builtin::HTTP_REQ_RECEIVING, tm.receiving),
        (
            builtin::HTTP_REQ_FAILED,
            if expected == Some(false) { 1.0 } else { 0.0 },
        ),
    ];
    // `http_req_failed` only when the response's expectation is known.
    let n = if expected.is_some() { 9 } else { 8 };
    vu.emit_all(&tags, hop.started, &samples[..n]);
    let mut st = vu.state.borrow_mut();
    st.bytes_sent += hop.bytes_sent;
    st.bytes_received += hop.bytes_received;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_ranges() {
        let r = vec![(200, 399)];
        assert!(is_expected(&r, 200));
        assert!(is_expected(&r, 302));
        assert!(!is_expected(&r, 404));
        assert!(is_expected(&[(200, 200), (404, 404)], 404));
    }

    /// The runtime's heap in bytes (QuickJS's own accounting).
    fn heap(ctx: &Ctx<'_>) -> i64 {
        // SAFETY: the runtime of a live context; a plain walk of its heap.
        unsafe {
            let mut u = std::mem::zeroed::<rquickjs::qjs::JSMemoryUsage>();
            let rt = rquickjs::qjs::JS_GetRuntime(ctx.as_raw().as_ptr());
            rquickjs::qjs::JS_ComputeMemoryUsage(rt, &mut u);
            u.malloc_size
        }
    }

    /// What params, bodies, `batch`, `http.file()` and gjson selectors need is made on a VU's
    /// first such call: a VU whose script only calls `http.get(url)` never holds it.
    #[test]
    fn the_helpers_of_params_and_bodies_are_made_on_first_use() {
        let vu = crate::js::modulestest::TestVu::new();
        vu.set_phase(Phase::Init);
        vu.run("import http from 'k6/http'; globalThis.http = http;")
            .unwrap();
        let before = vu.with_ctx(|ctx| heap(&ctx));
        vu.run("const f = http.file('x', 'a.txt'); globalThis.r = [f.filename, f.content_type];")
            .unwrap();
        let made = vu.with_ctx(|ctx| heap(&ctx)) - before;
        assert_eq!(
            vu.json("r"),
            serde_json::json!(["a.txt", "application/octet-stream"])
        );
        eprintln!("the helpers took {made} B");
        assert!(
            made > 2048,
            "the helpers took only {made} B: made before first use?"
        );
    }
}

#[cfg(test)]
mod vu_tests {
    use std::io::{Read, Write};

    use crate::js::modulestest::TestVu;
    use crate::js::vu_ctx::Phase;

    /// A request's head as the test server reads it (up to its blank line).
    fn read_head(s: &mut std::net::TcpStream) -> Vec<u8> {
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            let k = s.read(&mut buf).unwrap();
            if k == 0 {
                break;
            }
            req.extend_from_slice(&buf[..k]);
        }
        req
    }

    /// A server on loopback that answers `n` requests (one per connection) with `response` and
    /// returns the requests it got.
    fn serve(n: usize, response: &'static str) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let t = std::thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..n {
                let (mut s, _) = listener.accept().unwrap();
                let req = read_head(&mut s);
                got.push(String::from_utf8_lossy(&req).into_owned());
                s.write_all(response.as_bytes()).unwrap();
            }
            got
        });
        (url, t)
    }

    #[test]
    fn a_get_returns_the_response_and_emits_the_http_metrics_with_k6s_tags() {
        let (url, server) = serve(
            1,
            "HTTP/1.1 201 Created\r\nContent-Length: 8\r\nSet-Cookie: sid=abc; Path=/\r\n\
             X-Twice: a\r\nx-twice: b\r\nConnection: close\r\n\r\n{\"a\":41}",
        );
        let vu = TestVu::new();
        vu.run(&format!(
            "import http from 'k6/http';
             const res = http.get('{url}/p?q=1', {{ headers: {{ 'X-Id': '7' }}, tags: {{ name: 'P' }} }});
             globalThis.out = [res.status, res.status_text, res.body, res.json('a'),
                               res.headers['X-Twice'], res.cookies.sid[0].value,
                               res.request.method, res.timings.duration >= 0];"
        ))
        .unwrap();
        assert_eq!(
            vu.json("out"),
            serde_json::json!([
                201,
                "201 Created",
                "{\"a\":41}",
                41,
                "a, b",
                "abc",
                "GET",
                true
            ])
        );
        let req = server.join().unwrap().remove(0);
        assert!(req.starts_with("GET /p?q=1 HTTP/1.1\r\n"), "{req}");
        assert!(
            req.contains("X-Id: 7\r\n") || req.contains("x-id: 7\r\n"),
            "{req}"
        );
        let samples = vu.take_samples();
        let reqs: Vec<_> = samples.iter().filter(|s| s.metric == "http_reqs").collect();
        assert_eq!(reqs.len(), 1);
        let t = &reqs[0].tags;
        assert_eq!(t["method"], "GET");
        assert_eq!(t["status"], "201");
        assert_eq!(t["name"], "P");
        assert_eq!(t["url"], "P");
        assert_eq!(t["expected_response"], "true");
        let failed: Vec<f64> = samples
            .iter()
            .filter(|s| s.metric == "http_req_failed")
            .map(|s| s.value)
            .collect();
        assert_eq!(failed, [0.0]);
        assert!(vu.vu.state.borrow().bytes_received > 0);
    }

    #[test]
    fn lazy_headers_cookies_and_request_look_like_data_properties_every_way_they_are_read() {
        // Every response is the same; each is read a different way before or without its
        // `headers`, `cookies` and `request` being made.
        let (url, server) = serve(
            4,
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: sid=abc; Path=/\r\n\
             X-A: 1\r\nConnection: close\r\n\r\nok",
        );
        let vu = TestVu::new();
        vu.run(&format!(
            "import http from 'k6/http';
             const p = () => ({{ headers: {{ 'X-Id': '7' }}, jar: new http.CookieJar() }});
             const [a, b, c, d] = [1, 2, 3, 4].map(() => http.get('{url}/', p()));
             const noTimings = (r) => JSON.stringify(r, (k, v) => k === 'timings' ? undefined : v);
             const untouched = noTimings(a);
             b.headers; b.cookies; b.request;
             const forIn = []; for (const k in c) forIn.push(k);
             const spread = {{ ...c }};
             const assigned = Object.assign({{}}, d);
             const desc = Object.getOwnPropertyDescriptor(d, 'headers');
             c.headers['X-New'] = 'n';
             delete c.cookies;
             c.request = 'replaced';
             globalThis.out = [[untouched, noTimings(b)], Object.keys(a), forIn,
               JSON.parse(untouched).headers, JSON.parse(untouched).cookies,
               JSON.parse(untouched).request, spread.headers['X-A'], spread.cookies.sid[0].path,
               assigned.request.headers['X-Id'], desc.value['X-A'], desc.writable && desc.enumerable
               && desc.configurable, JSON.parse(JSON.stringify(c)).headers['X-New'],
               'cookies' in c, Object.keys(c).includes('cookies'), c.request,
               Object.getPrototypeOf(b) === http.Response.prototype, d.json === b.json];"
        ))
        .unwrap();
        server.join().unwrap();
        let out = vu.json("out");
        assert_eq!(
            out[0][0], out[0][1],
            "reading the lazy properties first changes nothing"
        );
        // k6 v1.1.0's order.
        let keys = serde_json::json!([
            "remote_ip",
            "remote_port",
            "url",
            "status",
            "status_text",
            "proto",
            "headers",
            "cookies",
            "body",
            "timings",
            "tls_version",
            "tls_cipher_suite",
            "ocsp",
            "error",
            "error_code",
            "request",
            "clickLink",
            "html",
            "json",
            "submitForm"
        ]);
        assert_eq!(out[1], keys);
        assert_eq!(out[2], keys);
        assert_eq!(
            out[3],
            serde_json::json!({"Content-Length": "2", "Set-Cookie": "sid=abc; Path=/",
                               "X-A": "1", "Connection": "close"})
        );
        assert_eq!(
            out[4],
            serde_json::json!({"sid": [{"name": "sid", "value": "abc", "domain": "", "path": "/",
                "http_only": false, "secure": false, "max_age": 0, "expires": -6_795_364_578_871_i64}]})
        );
        let request = &out[5];
        assert_eq!(request["method"], "GET");
        assert_eq!(request["url"], format!("{url}/"));
        assert_eq!(request["headers"]["X-Id"], serde_json::json!(["7"]));
        assert_eq!(request["body"], "");
        assert_eq!(request["cookies"], serde_json::json!({}));
        assert_eq!(out[6], "1");
        assert_eq!(out[7], "/");
        assert_eq!(out[8], serde_json::json!(["7"]));
        assert_eq!(out[9], "1");
        assert_eq!(out[10], true);
        assert_eq!(out[11], "n");
        assert_eq!(out[12], false);
        assert_eq!(out[13], false);
        assert_eq!(out[14], "replaced");
        assert_eq!(out[15], true);
        assert_eq!(out[16], true);
    }

    #[test]
    fn headers_objects_stay_right_when_made_from_templates_and_when_the_names_change() {
        // Responses 1-3 repeat their header names (the second and third are made from a
        // template), the fourth changes them; each is served on its own connection.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let responses = [
            "HTTP/1.1 200 OK\r\nX-A: 1\r\nx-b: one\r\nX-B: two\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-A: 2\r\nX-B: three\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-A: 3\r\nX-B: four\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-C: 5\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ];
        let server = std::thread::spawn(move || {
            for r in responses {
                let (mut s, _) = listener.accept().unwrap();
                read_head(&mut s);
                s.write_all(r.as_bytes()).unwrap();
            }
        });
        let vu = TestVu::new();
        vu.run(&format!(
            "import http from 'k6/http';
             const p = {{ headers: {{ 'X-Id': 'i' }} }};
             const rs = [http.get('{url}/', p), http.get('{url}/', p), http.get('{url}/', p),
                         http.get('{url}/')];
             rs[2].headers.Extra = 'e';
             delete rs[2].headers['X-A'];
             globalThis.out = rs.map((r) => [JSON.stringify(r.headers),
                                             JSON.stringify(r.request.headers),
                                             Object.getPrototypeOf(r.headers) === Object.prototype]);"
        ))
        .unwrap();
        server.join().unwrap();
        let out = vu.json("out");
        let ua = out[0][1].as_str().unwrap().to_owned();
        assert!(ua.contains("\"X-Id\":[\"i\"]"), "{ua}");
        assert_eq!(out[1][1], out[0][1]);
        assert_eq!(out[2][1], out[0][1]);
        assert!(
            !out[3][1].as_str().unwrap().contains("X-Id"),
            "{}",
            out[3][1]
        );
        let headers: Vec<_> = out
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_str().unwrap().to_owned(), r[2].clone()))
            .collect();
        let t = serde_json::Value::Bool(true);
        assert_eq!(
            headers,
            [
                (
                    r#"{"X-A":"1","X-B":"one, two","Content-Length":"0","Connection":"close"}"#
                        .to_owned(),
                    t.clone()
                ),
                (
                    r#"{"X-A":"2","X-B":"three","Content-Length":"0","Connection":"close"}"#
                        .to_owned(),
                    t.clone()
                ),
                (
                    r#"{"X-B":"four","Content-Length":"0","Connection":"close","Extra":"e"}"#
                        .to_owned(),
                    t.clone()
                ),
                (
                    r#"{"X-C":"5","Content-Length":"0","Connection":"close"}"#.to_owned(),
                    t
                ),
            ]
        );
    }

    #[test]
    fn an_unknown_compression_sends_nothing_and_records_no_metrics() {
        let vu = TestVu::new();
        vu.run(
            "import http from 'k6/http';
             const r = http.post('http://127.0.0.1:1/', 'x', { compression: 'snappy' });
             globalThis.out = [r.status, r.error, r.error_code, r.body];",
        )
        .unwrap();
        assert_eq!(
            vu.json("out"),
            serde_json::json!([
                0,
                "unknown compression algorithm snappy, supported algorithms are [gzip deflate zstd br]",
                0,
                []
            ])
        );
        assert!(vu.take_samples().is_empty());
    }

    #[test]
    fn cookie_jar_set_ignores_what_it_cannot_store_and_returns_true() {
        let vu = TestVu::new();
        vu.run(
            "import http from 'k6/http';
             const j = new http.CookieJar();
             globalThis.out = [
               j.set('http://a.test/', 'x', '1', { domain: 'b.test' }),
               j.set('notaurl', 'y', '2'),
               j.set('http://a.test/', 'z', '3'),
               JSON.stringify(j.cookiesForURL('http://a.test/')),
             ];",
        )
        .unwrap();
        assert_eq!(
            vu.json("out"),
            serde_json::json!([true, true, true, "{\"z\":[\"3\"]}"])
        );
    }

    #[test]
    fn the_request_shows_the_cookies_sent_and_not_the_wire_only_headers() {
        let (url, server) = serve(
            1,
            "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\n<p>hi</p>",
        );
        let vu = TestVu::new();
        vu.run(&format!(
            "import http from 'k6/http';
             const r = http.post('{url}/', 'body', {{ cookies: {{ a: '1', b: {{ value: '2', replace: true }} }} }});
             globalThis.out = [r.request.cookies, Object.keys(r.request.headers).sort(),
                               r.json('a.b'), (() => {{ try {{ r.json(); return 'parsed'; }} catch (e) {{ return 'threw'; }} }})(),
                               r.ocsp, r.timings.looking_up];"
        ))
        .unwrap();
        server.join().unwrap();
        assert_eq!(
            vu.json("out"),
            serde_json::json!([
                {"a": [{"name": "a", "value": "1", "replace": false}],
                 "b": [{"name": "b", "value": "2", "replace": false}]},
                ["Cookie", "User-Agent"],
                null,
                "threw",
                {"produced_at": 0, "this_update": 0, "next_update": 0, "revoked_at": 0,
                 "revocation_reason": "", "status": ""},
                0
            ])
        );
    }

    #[test]
    fn async_request_settles_on_the_event_loop_after_the_synchronous_code() {
        let (url, server) = serve(
            1,
            "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        );
        let vu = TestVu::new();
        vu.run(&format!(
            "import http from 'k6/http';
             globalThis.order = [];
             const p = http.asyncRequest('POST', '{url}/a', 'x', {{ tags: {{ name: 'A' }} }})
               .then((r) => order.push(r.status, r.body, r.request.method));
             order.push('sync');
             await p;"
        ))
        .unwrap();
        assert_eq!(
            vu.json("order"),
            serde_json::json!(["sync", 201, "ok", "POST"])
        );
        assert!(server.join().unwrap()[0].starts_with("POST /a HTTP/1.1"));
        let reqs: Vec<_> = vu
            .take_samples()
            .into_iter()
            .filter(|s| s.metric == "http_reqs")
            .map(|s| s.tags["name"].clone())
            .collect();
        assert_eq!(reqs, ["A"]);

        vu.set_phase(Phase::Init);
        vu.run(
            "import http from 'k6/http';
             globalThis.refused = '';
             await http.asyncRequest('GET', 'http://127.0.0.1:1/').catch((e) => { refused = e.message; });",
        )
        .unwrap();
        assert_eq!(
            vu.json("refused"),
            "Making http requests in the init context is not supported"
        );
    }

    #[test]
    fn requests_are_refused_in_the_init_context_and_bad_urls_are_failed_responses() {
        let vu = TestVu::new();
        vu.set_phase(Phase::Init);
        let e = vu
            .run("import http from 'k6/http'; http.get('http://127.0.0.1:1/');")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Making http requests in the init context is not supported"
        );
        vu.set_phase(Phase::Iteration);
        // k6 v1.1.0: a URL Go's client refuses is a failed response with its metrics; one Go
        // cannot parse is a failed response without; bad params too. No throw.
        vu.run(
            "import http from 'k6/http';
             globalThis.out = ['ftp://x/', 'undefined/api', 'http://', 'http://[::1'].map((u) => {
               const r = http.get(u, { tags: { t: 'x' } });
               return [r.status, r.error, r.error_code, r.url];
             });
             const r = http.get('http://127.0.0.1:1/', { timeout: 'soon', responseType: 'x' });
             out.push([r.status, r.error, r.error_code]);",
        )
        .unwrap();
        assert_eq!(
            vu.json("out"),
            serde_json::json!([
                [0, "unsupported protocol scheme \"ftp\"", 1000, "ftp://x/"],
                [0, "unsupported protocol scheme \"\"", 1000, "undefined/api"],
                [0, "http: no Host in request URL", 1000, "http://"],
                [
                    0,
                    "invalid URL: parse \"http://[::1\": missing ']' in host",
                    1020,
                    ""
                ],
                [
                    0,
                    "invalid timeout value: time: invalid duration \"soon\"",
                    0
                ],
            ])
        );
        let reqs: Vec<_> = vu
            .take_samples()
            .into_iter()
            .filter(|s| s.metric == "http_reqs")
            .map(|s| {
                (
                    s.tags["url"].clone(),
                    s.tags["status"].clone(),
                    s.tags["error_code"].clone(),
                )
            })
            .collect();
        let recorded = |u: &str| (u.to_string(), "0".to_string(), "1000".to_string());
        assert_eq!(
            reqs,
            [
                recorded("ftp://x/"),
                recorded("undefined/api"),
                recorded("http://")
            ]
        );

        let throwing = TestVu::with_settings(crate::run::VuSettings {
            throw: true,
            ..Default::default()
        });
        let e = throwing
            .run("import http from 'k6/http'; http.get('ftp://x/');")
            .unwrap_err();
        // k6 throws Go's error as a GoError.
        assert_eq!(
            e.to_string(),
            "GoError: Get \"ftp://x/\": unsupported protocol scheme \"ftp\""
        );
    }
}
