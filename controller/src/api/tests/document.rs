//! Robustness and the OpenAPI document: bad input never gives a 5xx, every route is served and
//! described, every answer fits its schema; serving over TCP; the streamed-run routes.

use super::*;

#[tokio::test]
async fn bad_input_never_gives_5xx() {
    let a = app(&seeded());
    let uris = [
        "/loadtests/v2/runs/%",
        "/loadtests/v2/runs/%C3%28",
        "/loadtests/v2/runs/1?%",
        "/loadtests/v2/runs/1?$select=%C3%28",
        "/loadtests/v2/runs?ids[]=1&ids[]=%00",
        "/loadtests/v2/runs?ids[]=18446744073709551616",
        "/loadtests/v2/tests?project_id=%20",
        "/v1/agents/%FF",
        "/v1/runs/18446744073709551615/summary",
        "/loadtests/v2/tests/%2F",
    ];
    for u in uris {
        let r = get(&a, u).await;
        assert!(r.status.is_client_error(), "{u} → {} {}", r.status, r.body);
        assert!(r.body["error"]["code"].is_string(), "{u}: {}", r.body);
    }
    let bodies: [(&str, Option<&str>, &[u8]); 5] = [
        ("/loadtests/v2/tests", Some("application/json"), b"\xff\xfe"),
        ("/loadtests/v2/tests", Some("application/json"), b"[]"),
        (
            "/loadtests/v2/tests",
            Some("multipart/form-data; boundary="),
            b"",
        ),
        (
            "/loadtests/v2/tests/1/start-testrun",
            Some("application/json"),
            b"null",
        ),
        (
            "/loadtests/v2/runs/1/stop",
            Some("application/json"),
            b"[1]",
        ),
    ];
    for (u, ct, body) in bodies {
        let r = post(&a, u, ct, body.to_vec()).await;
        assert!(r.status.is_client_error(), "{u} → {} {}", r.status, r.body);
    }
}

#[tokio::test]
async fn every_route_is_served() {
    let a = app(&seeded());
    let routes = routes();
    assert!(routes.contains(&(Method::POST, "/loadtests/v2/runs/{id}/stop".to_string())));
    for (method, path) in routes {
        let uri = path.replace("{id}", "1").replace("{name}", "gen-2");
        let req = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .body(Body::empty())
            .unwrap();
        let r = send(&a, req).await;
        let code = r.body["error"]["code"].as_str().unwrap_or("");
        assert!(
            code != "route_not_found" && code != "method_not_allowed",
            "{method} {path}: {}",
            r.body
        );
    }
}

#[tokio::test]
async fn methods_the_document_does_not_list_are_405() {
    let a = app(&seeded());
    let doc = openapi_document();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let uri = path.replace("{id}", "1").replace("{name}", "gen-2");
        for m in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let documented = item.get(m.as_str().to_ascii_lowercase()).is_some();
            let req = Request::builder()
                .method(m.clone())
                .uri(&uri)
                .body(Body::empty())
                .unwrap();
            let r = send(&a, req).await;
            let refused = r.body["error"]["code"] == "method_not_allowed";
            assert_eq!(refused, !documented, "{m} {path}: {}", r.body);
        }
    }
}

fn resolve<'a>(doc: &'a Value, r: &str) -> Option<&'a Value> {
    doc.pointer(r.strip_prefix('#')?)
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    if let Some(s) = x.as_str() {
                        out.push(s.to_string());
                    }
                } else {
                    collect_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

#[test]
fn every_operation_is_described() {
    let doc = openapi_document();
    assert_eq!(doc["openapi"], "3.1.0");
    for (m, p) in routes() {
        let op = &doc["paths"][&p][m.as_str().to_ascii_lowercase()];
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{m} {p} has no success answer"
        );
        assert!(op["operationId"].is_string(), "{m} {p}");
        assert!(op["summary"].is_string(), "{m} {p}");
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{m} {p}"
        );
        // Every path parameter is declared.
        for name in p.split('{').skip(1).filter_map(|x| x.split('}').next()) {
            let declared = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|x| x["name"] == name && x["in"] == "path"));
            assert!(declared, "{m} {p}: path parameter {name}");
        }
        // Every error answer has the one error shape; the routes k6 itself calls have k6's.
        let shape = if op["tags"][0] == "k6-cloud" {
            "#/components/schemas/K6CloudError"
        } else {
            "#/components/schemas/Error"
        };
        for (status, r) in responses.iter().filter(|(s, _)| !s.starts_with('2')) {
            let schema = &r["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(schema, shape, "{m} {p} {status}");
        }
    }
}

#[test]
fn openapi_refs_resolve_and_ids_are_unique() {
    let doc = openapi_document();
    let mut refs = Vec::new();
    collect_refs(doc, &mut refs);
    assert!(refs.len() > 20);
    for r in refs {
        assert!(resolve(doc, &r).is_some(), "unresolved {r}");
    }
    let mut ids = BTreeSet::new();
    for item in doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        for op in item.as_object().into_iter().flat_map(|m| m.values()) {
            let id = op["operationId"].as_str().unwrap_or("").to_string();
            assert!(ids.insert(id.clone()), "duplicate operationId {id}");
        }
    }
}

/// The JSON kind of `v` as a JSON Schema type name.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Checks that `v` fits `schema` of `doc`: types, and every key of an object with declared
/// properties is one of them (and every required one is there), recursively.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let s = resolve(doc, r).ok_or_else(|| format!("{at}: unresolved {r}"))?;
        return conforms(doc, s, v, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let errors: Vec<String> = alts
                .iter()
                .filter_map(|a| conforms(doc, a, v, at).err())
                .collect();
            if errors.len() == alts.len() {
                return Err(format!("{at}: fits none of {key}: {}", errors.join("; ")));
            }
            return Ok(());
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for a in all {
            conforms(doc, a, v, at)?;
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let k = kind(v);
    let fits = types.contains(&k) || (k == "integer" && types.contains(&"number"));
    if !types.is_empty() && !fits {
        return Err(format!("{at}: {k} {v} where the schema says {types:?}"));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(v) {
            return Err(format!("{at}: {v} is not one of {allowed:?}"));
        }
    }
    match v {
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (key, x) in m {
                    let p = props
                        .get(key)
                        .ok_or_else(|| format!("{at}: `{key}` is sent but not in the schema"))?;
                    conforms(doc, p, x, &format!("{at}.{key}"))?;
                }
                for r in schema["required"].as_array().into_iter().flatten() {
                    let r = r.as_str().unwrap_or("");
                    if !m.contains_key(r) {
                        return Err(format!("{at}: required `{r}` is not sent"));
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, x) in items.iter().enumerate() {
                    conforms(doc, s, x, &format!("{at}[{i}]"))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[tokio::test]
async fn every_answer_fits_its_documented_schema() {
    let fake = seeded();
    fake.with(|s| {
        // Exercise the optional parts of a run too.
        let r = s.runs.get_mut(&3).expect("run 3");
        r.exit_code = Some(0);
        r.ended = Some("2026-01-01T00:01:00Z".into());
        r.abort_reason = Some(crate::model::AbortReason::ApiStop);
        r.events.push(crate::model::RunEvent {
            threshold: None,
            at: "2026-01-01T00:00:30Z".into(),
            level: "warning".into(),
            message: "agent gen-2 is busy".into(),
        });
        s.agents[0].run_id = Some(1);
    });
    let a = app(&fake);
    let doc = openapi_document();
    let mut checked = 0;
    for (method, path) in routes().into_iter().filter(|(m, _)| m == Method::GET) {
        for id in ["1", "3"] {
            let uri = path.replace("{id}", id).replace("{name}", "gen-2");
            let r = get(&a, &uri).await;
            let answer = &doc["paths"][&path]["get"]["responses"][r.status.as_str()];
            let json = &answer["content"]["application/json"]["schema"];
            let schema = if json.is_object() {
                json
            } else {
                &answer["content"]["text/plain"]["schema"]
            };
            assert!(
                schema.is_object(),
                "{method} {uri}: {} is not documented",
                r.status
            );
            if let Err(e) = conforms(doc, schema, &r.body, &uri) {
                panic!("{e}\n{}", r.body);
            }
            checked += 1;
        }
    }
    assert!(checked >= 26, "{checked}");
    // The run and test objects: every field is documented, in the order sent.
    let run = get(&a, "/loadtests/v2/runs/3").await.body;
    let props = |name: &str| -> Vec<String> {
        doc["components"]["schemas"][name]["properties"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&run["k6-run"]), props("K6Run"));
    let test = get(&a, "/loadtests/v2/tests/1").await.body;
    assert_eq!(keys(&test["k6-test"]), props("K6Test"));
    // `$select` accepts exactly the documented fields.
    let all = props("K6Run").join(",");
    let r = get(&a, &format!("/loadtests/v2/runs/3?$select={all}")).await;
    assert_eq!(r.body, run);
}

#[tokio::test]
async fn serves_over_tcp_and_shuts_down() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let fake: Arc<dyn ControllerService> = seeded();
    let limits = crate::rest_listener::ListenerLimits::default();
    let api = ApiLimits::default();
    let server = tokio::spawn(serve_with_shutdown(
        listener,
        fake,
        api,
        limits,
        None,
        async {
            let _ = rx.await;
        },
    ));
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /loadtests/v2/runs/1?$select=id,run_status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.contains(r#"{"k6-run":{"id":1,"run_status":2}}"#),
        "{out}"
    );
    let _ = tx.send(());
    let res = tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("server stops")
        .expect("join");
    assert!(res.is_ok());
}

#[tokio::test]
async fn streamed_run_routes_check_their_input() {
    let fake = seeded();
    let app = app(&fake);
    // Wrong media types → 415 naming the expected one.
    let r = post(
        &app,
        "/v1/streamed-runs",
        Some("text/plain"),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(assert_error(&r, 415), "unsupported_media_type");
    let r = post(
        &app,
        "/v1/streamed-runs/1/metrics",
        Some("application/json"),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(assert_error(&r, 415), "unsupported_media_type");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("application/x-protobuf"));
    // Missing or unknown fields → 400 naming them.
    let r = post_json(&app, "/v1/streamed-runs", json!({"entry": "t.js"})).await;
    assert_eq!(assert_error(&r, 400), "invalid_json");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("script"));
    let r = post_json(
        &app,
        "/v1/streamed-runs/1/finish",
        json!({"last_batch_seq": 3, "bogus": 1}),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_json");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("bogus"));
    // Names follow the upload rules: bounded, no control characters.
    let r = post_json(
        &app,
        "/v1/streamed-runs",
        json!({"name": "x".repeat(300), "entry": "t.js", "script": "", "options": {}}),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_field");
    let r = post_json(
        &app,
        "/v1/streamed-runs",
        json!({"entry": "a\u{7}b.js", "script": "", "options": {}}),
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_field");
    // Each names its field.
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("`entry`"));
    // Bad ids → 400; a service without streamed runs → 501.
    let r = post(
        &app,
        "/v1/streamed-runs/x/metrics",
        Some("application/x-protobuf"),
        vec![],
    )
    .await;
    assert_eq!(assert_error(&r, 400), "invalid_id");
    let r = post_json(
        &app,
        "/v1/streamed-runs",
        json!({"entry": "t.js", "script": "export default function () {}", "options": {}}),
    )
    .await;
    assert_eq!(assert_error(&r, 501), "not_supported");
}
