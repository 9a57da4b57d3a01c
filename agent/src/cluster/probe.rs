//! `volley agent --listen ADDR`: the agent's own small HTTP listener, for orchestrators and
//! Prometheus (docs/cluster-runs.md#agent-probes-and-metrics). `GET /healthz` answers while the
//! process runs; `GET /readyz` only while the agent is registered with the controller and not
//! draining; `GET /metrics` serves the agent's metrics in Prometheus' text format. It serves
//! nothing else and needs no token: none of it names a target, a script or a secret.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::prometheus_text::{encode, CONTENT_TYPE};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use tokio::net::TcpListener;
use tower::ServiceExt;

use super::status::{AgentStatus, Snapshot};
use super::telemetry::ProcessTotals;

/// Connections served at once; beyond, the oldest is closed to make room (probes and scrapes
/// are one request of a millisecond or so: the oldest connection is the one that sends
/// nothing). Closing the new one instead let 16 idle connections, reopened every 10 s, fail
/// every liveness probe: an orchestrator would restart the agent, mid-run.
const MAX_CONNECTIONS: usize = 16;
/// The longest one connection may take, request and answer together.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds `addr`, so a wrong `--listen` fails the start instead of a probe later.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--listen {addr}: cannot listen there: {e}"))
}

/// The listener's routes.
pub fn router(status: Arc<AgentStatus>) -> Router {
    let ready = status.clone();
    Router::new()
        .route("/healthz", get(|| async { text(StatusCode::OK, "ok\n") }))
        .route(
            "/readyz",
            get(move || {
                let status = ready.clone();
                async move { readyz(&status) }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let status = status.clone();
                async move {
                    let body = render(&status.snapshot(), super::telemetry::process_totals());
                    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
                }
            }),
        )
        .fallback(|| async {
            text(
                StatusCode::NOT_FOUND,
                "not found: this agent serves GET /healthz, /readyz and /metrics\n",
            )
        })
}

/// Serves `router` on `listener` until the process ends: at most 16 connections at once (the
/// oldest closed to make room), each closed after one answer or 10 s.
pub async fn serve(listener: TcpListener, router: Router) {
    // The open connections' tasks, oldest first.
    let mut open: VecDeque<tokio::task::AbortHandle> = VecDeque::with_capacity(MAX_CONNECTIONS);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!("agent listener: cannot accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        open.retain(|task| !task.is_finished());
        if open.len() >= MAX_CONNECTIONS {
            if let Some(oldest) = open.pop_front() {
                // Dropping its task closes its connection.
                oldest.abort();
            }
        }
        let router = router.clone();
        let task = tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let router = router.clone();
                async move {
                    Ok::<_, Infallible>(
                        router
                            .oneshot(req.map(axum::body::Body::new))
                            .await
                            .unwrap_or_else(|e| match e {}),
                    )
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_TIMEOUT, conn).await;
        });
        open.push_back(task.abort_handle());
    }
}

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn readyz(status: &AgentStatus) -> Response {
    if status.ready() {
        text(StatusCode::OK, "ok\n")
    } else if status.draining() {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: draining (SIGTERM); no new run is taken\n",
        )
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: not registered with the controller\n",
        )
    }
}

fn gauge(reg: &mut Registry, name: &str, help: &str, v: i64) {
    let g = Gauge::<i64>::default();
    g.set(v);
    reg.register(name, help, g);
}

fn counter(reg: &mut Registry, name: &str, help: &str, v: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(v);
    reg.register(name, help, c);
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The text exposition of one snapshot and the process's own figures.
pub fn render(s: &Snapshot, p: ProcessTotals) -> String {
    let mut reg = Registry::default();
    gauge(
        &mut reg,
        "volley_agent_registered",
        "1 while the agent is registered with the controller",
        i64::from(s.registered),
    );
    gauge(
        &mut reg,
        "volley_agent_draining",
        "1 once the agent got SIGTERM: it finishes its run and takes no new one",
        i64::from(s.draining),
    );
    gauge(
        &mut reg,
        "volley_agent_run_id",
        "The run this agent serves now, 0 when idle",
        as_i64(s.run_id),
    );
    gauge(
        &mut reg,
        "volley_agent_vus",
        "Active VUs of the run this agent serves",
        s.vus,
    );
    gauge(
        &mut reg,
        "volley_agent_max_vus",
        "The most VUs this agent takes (--max-vus), 0 for no limit",
        as_i64(s.max_vus),
    );
    counter(
        &mut reg,
        "volley_agent_iterations",
        "Iterations this agent completed, over all its runs",
        s.iterations,
    );
    counter(
        &mut reg,
        "volley_agent_metric_batches_sent",
        "Metric batches sent to the controller",
        s.batches_sent,
    );
    gauge(
        &mut reg,
        "volley_agent_metric_batches_unacked",
        "Metric batches the controller has not acknowledged yet, kept for replay",
        as_i64(s.batches_unacked),
    );
    counter(
        &mut reg,
        "volley_agent_reconnects",
        "Registrations with the controller after the first one",
        s.reconnects,
    );
    let cpu = Counter::<f64, AtomicU64>::default();
    cpu.inc_by(p.cpu_seconds);
    reg.register_with_unit(
        "process_cpu",
        "User and system CPU time the agent process used",
        Unit::Seconds,
        cpu,
    );
    gauge_bytes(&mut reg, p.rss_bytes);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &reg);
    out
}

fn gauge_bytes(reg: &mut Registry, rss: u64) {
    let g = Gauge::<i64>::default();
    g.set(as_i64(rss));
    reg.register_with_unit(
        "process_resident_memory",
        "Resident memory of the agent process",
        Unit::Bytes,
        g,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;

    async fn get(router: &Router, path: &str) -> (StatusCode, String) {
        let res = router
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn readyz_follows_registration_and_draining() {
        let status = Arc::new(AgentStatus::new(100));
        let r = router(status.clone());
        assert_eq!(get(&r, "/healthz").await.0, StatusCode::OK);
        let (code, body) = get(&r, "/readyz").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("not registered"), "{body}");
        status.set_registered(true);
        assert_eq!(get(&r, "/readyz").await.0, StatusCode::OK);
        status.start_draining();
        let (code, body) = get(&r, "/readyz").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("draining"), "{body}");
        assert_eq!(get(&r, "/healthz").await.0, StatusCode::OK, "still live");
        assert_eq!(get(&r, "/nope").await.0, StatusCode::NOT_FOUND);
    }

    #[test]
    fn metrics_carry_the_snapshot() {
        let s = Snapshot {
            registered: true,
            draining: false,
            reconnects: 2,
            batches_sent: 40,
            batches_unacked: 3,
            run_id: 9,
            vus: 25,
            max_vus: 100,
            iterations: 1234,
        };
        let text = render(
            &s,
            ProcessTotals {
                cpu_seconds: 1.5,
                rss_bytes: 4096,
            },
        );
        for line in [
            "volley_agent_registered 1",
            "volley_agent_draining 0",
            "volley_agent_run_id 9",
            "volley_agent_vus 25",
            "volley_agent_max_vus 100",
            "volley_agent_iterations_total 1234",
            "volley_agent_metric_batches_sent_total 40",
            "volley_agent_metric_batches_unacked 3",
            "volley_agent_reconnects_total 2",
            "process_cpu_seconds_total 1.5",
            "process_resident_memory_bytes 4096",
            "# TYPE volley_agent_iterations_total counter",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }

    #[tokio::test]
    async fn the_listener_serves_over_tcp() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AgentStatus::new(1));
        status.set_registered(true);
        tokio::spawn(serve(listener, router(status)));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
            .await
            .expect("the answer within 5 s")
            .unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.contains("volley_agent_registered 1"), "{out}");
        assert!(out.contains("process_cpu_seconds_total"), "{out}");
        let taken = bind(addr).await.unwrap_err();
        assert!(taken.contains("--listen"), "{taken}");
    }

    #[tokio::test]
    async fn idle_connections_at_the_cap_do_not_keep_probes_out() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, router(Arc::new(AgentStatus::new(1)))));
        // Twice the cap of connections that send nothing.
        let mut idle = Vec::new();
        for _ in 0..2 * MAX_CONNECTIONS {
            idle.push(tokio::net::TcpStream::connect(addr).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(2), s.read_to_string(&mut out))
            .await
            .expect("the answer within 2 s, not after the idle ones' 10 s")
            .unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        // The oldest idle ones were closed to make room, the newest are still open.
        let mut buf = [0u8; 1];
        let first = tokio::time::timeout(Duration::from_secs(1), idle[0].read(&mut buf)).await;
        assert!(matches!(first, Ok(Ok(0)) | Ok(Err(_))), "{first:?}");
        let last = tokio::time::timeout(
            Duration::from_millis(200),
            idle.last_mut().unwrap().read(&mut buf),
        )
        .await;
        assert!(
            last.is_err(),
            "the newest idle connection was closed: {last:?}"
        );
    }
}
