//! `k6/ws` and the natives that `k6/websockets` shares with it: WebSocket sessions on the IO
//! runtime (`session.rs`), whose events reach JS through the VU's event loop
//! (`js::io_events`, [docs/engine.md](../../../../../docs/engine.md#the-vus-event-loop-promises-and-timers)),
//! with k6's `ws_*` metrics.
//!
//! A socket is one event source of the VU: `wsOpen` spawns its session and registers the JS
//! function that receives its events (`__volley.wsHandlers[id]`, called as
//! `handler(kind, a, b)`); the loop then calls it for every event, in order, until `end`.
//! `k6/ws`'s `connect` blocks in a loop of its own (`wsStep`, with its socket's timers kept in
//! JS) that runs only its socket's events, as k6's does; `k6/websockets` leaves its sockets to
//! the VU's event loop, which does not end while one is open. Behaviour (event order, close
//! codes, metrics and their tags) follows k6 v1.1.0 as observed by running it:
//! [docs/k6-compatibility.md](../../../../../docs/k6-compatibility.md#websockets).

mod session;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, Value};
use tokio::sync::mpsc::UnboundedSender;
use volley_common::metrics::TagSet;

use super::convert::{bytes_of, tags_from_js, type_error};
use super::natives::Natives;
use super::K6Module;
use crate::js::io_events::IoEvent;
use crate::js::vu_ctx::{throw_interrupted, Dispatcher, Phase, VuCtx};
use crate::metrics::builtin;
use session::{close_error_text, Cmd, Event, MeterSlot};

type R<T> = rquickjs::Result<T>;

/// `k6/ws`.
pub const MODULE: K6Module = K6Module {
    name: "k6/ws",
    js: include_str!("ws.js"),
    install,
};

/// The `__volley` property holding each socket's event handler (`id -> function`): kept in
/// JS so that the garbage collector sees them.
const HANDLERS: &str = "wsHandlers";

/// One socket of a VU, on the JS side of its session.
struct Socket {
    cmds: UnboundedSender<Cmd>,
    /// `k6/websockets` (true) or `k6/ws`: they tag and count differently.
    websockets: bool,
    url: String,
    /// The script's `params.tags`.
    tags: Vec<(String, String)>,
    /// The tags of its samples, once the handshake's outcome is known.
    sample_tags: Option<TagSet>,
    /// Whether the handshake succeeded: `k6/websockets` times only such sessions.
    connected: bool,
    opened: Instant,
    /// Pings sent and not answered yet: payload and when.
    pings: VecDeque<(Vec<u8>, Instant)>,
    ping_seq: u64,
    /// The session's wire byte counter, once it has dialed.
    meter: MeterSlot,
}

impl Socket {
    /// Adds the bytes the session moved since the last call to the VU's iteration
    /// (`data_sent`, `data_received`).
    fn count_bytes(&self, vu: &VuCtx) {
        if let Some(m) = self.meter.get() {
            let (sent, received) = m.take_bytes();
            let mut st = vu.state.borrow_mut();
            st.bytes_sent += sent;
            st.bytes_received += received;
        }
    }
}

/// The sockets of one VU.
#[derive(Default)]
struct Sockets {
    open: RefCell<HashMap<u64, Socket>>,
    /// The dispatcher installed before this one (the other modules' sources: modules install
    /// when first imported, in any order).
    prev: Option<Rc<dyn Dispatcher>>,
}

impl Sockets {
    /// The tags of a socket's samples: the VU's, the script's, then k6's own.
    fn tags_for(vu: &VuCtx, s: &Socket, status: Option<u16>, subprotocol: &str) -> TagSet {
        let mut extra: Vec<(&str, &str)> = s
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let status = status.map(|c| c.to_string());
        if !extra.iter().any(|(k, _)| *k == "url") {
            extra.push(("url", s.url.as_str()));
        }
        if s.websockets && !extra.iter().any(|(k, _)| *k == "name") {
            extra.push(("name", s.url.as_str()));
        }
        if let Some(st) = &status {
            extra.push(("status", st.as_str()));
            extra.push(("subproto", subprotocol));
        }
        vu.tags_with(&extra)
    }

    fn emit(&self, vu: &VuCtx, id: u64, metric: crate::metrics::MetricId, value: f64) {
        let open = self.open.borrow();
        if let Some(tags) = open.get(&id).and_then(|s| s.sample_tags.as_ref()) {
            vu.emit(metric, tags, value, SystemTime::now());
        }
    }
}

impl Dispatcher for Sockets {
    fn dispatch<'js>(&self, ctx: &Ctx<'js>, vu: &VuCtx, id: u64, event: IoEvent) -> R<()> {
        let event = match event.downcast::<Event>() {
            Ok(e) => e,
            Err(other) => {
                return match &self.prev {
                    Some(p) => p.dispatch(ctx, vu, id, other),
                    None => Ok(()),
                }
            }
        };
        let handlers: Object = ctx.globals().get::<_, Object>("__volley")?.get(HANDLERS)?;
        let handler: Option<Function> = handlers.get(id as f64)?;
        let call = |kind: &str, a: Value<'js>, b: Value<'js>| -> R<()> {
            match &handler {
                Some(h) => h.call::<_, ()>((kind, a, b)),
                None => Ok(()),
            }
        };
        let undef = || Value::new_undefined(ctx.clone());
        let buffer =
            |b: Vec<u8>| -> R<Value<'js>> { Ok(ArrayBuffer::new(ctx.clone(), b)?.into_value()) };
        match *event {
            Event::Opened {
                status,
                headers,
                subprotocol,
                started,
                connecting,
            } => {
                let mut open = self.open.borrow_mut();
                if let Some(s) = open.get_mut(&id) {
                    let tags = Self::tags_for(vu, s, Some(status), &subprotocol);
                    vu.emit(builtin::WS_SESSIONS, &tags, 1.0, started);
                    vu.emit(builtin::WS_CONNECTING, &tags, connecting, started);
                    s.sample_tags = Some(tags);
                    s.connected = true;
                }
                drop(open);
                let h = Object::new(ctx.clone())?;
                for (k, v) in headers {
                    h.set(k, v)?;
                }
                let extra = Object::new(ctx.clone())?;
                extra.set("headers", h)?;
                extra.set("subprotocol", subprotocol)?;
                call(
                    "open",
                    Value::new_number(ctx.clone(), status.into()),
                    extra.into_value(),
                )
            }
            Event::Failed {
                error,
                status,
                headers,
                body,
                started,
                connecting,
            } => {
                let mut open = self.open.borrow_mut();
                if let Some(s) = open.get_mut(&id) {
                    // A server that answered without upgrading tags its status, as in k6.
                    let status = (status != 0).then_some(status);
                    let tags = Self::tags_for(vu, s, status, "");
                    vu.emit(builtin::WS_SESSIONS, &tags, 1.0, started);
                    vu.emit(builtin::WS_CONNECTING, &tags, connecting, started);
                    s.sample_tags = Some(tags);
                }
                drop(open);
                let e = rquickjs::String::from_str(ctx.clone(), &error)?.into_value();
                let h = Object::new(ctx.clone())?;
                for (k, v) in headers {
                    h.set(k, v)?;
                }
                let response = Object::new(ctx.clone())?;
                response.set("status", status)?;
                response.set("headers", h)?;
                response.set("body", body)?;
                call("fail", e, response.into_value())
            }
            Event::Text(t) => {
                self.emit(vu, id, builtin::WS_MSGS_RECEIVED, 1.0);
                let t = rquickjs::String::from_str(ctx.clone(), &t)?.into_value();
                call("message", t, undef())
            }
            Event::Binary(b) => {
                self.emit(vu, id, builtin::WS_MSGS_RECEIVED, 1.0);
                call("binary", buffer(b)?, undef())
            }
            Event::Ping(b) => call("ping", buffer(b)?, undef()),
            Event::Pong(b) => {
                let rtt = {
                    let mut open = self.open.borrow_mut();
                    open.get_mut(&id).and_then(|s| {
                        let i = s.pings.iter().position(|(p, _)| *p == b)?;
                        let (_, at) = s.pings.remove(i)?;
                        Some(at.elapsed().as_secs_f64() * 1000.0)
                    })
                };
                if let Some(ms) = rtt {
                    self.emit(vu, id, builtin::WS_PING, ms);
                }
                call("pong", buffer(b)?, undef())
            }
            Event::Closed { code, reason } => {
                // k6 reports a server's close as an error unless it is a normal one.
                let err = if code == 1000 || code == 1001 {
                    undef()
                } else {
                    rquickjs::String::from_str(ctx.clone(), &close_error_text(code, &reason))?
                        .into_value()
                };
                let info = Object::new(ctx.clone())?;
                info.set("code", code)?;
                info.set("reason", reason)?;
                info.set("error", err)?;
                call("close", info.into_value(), undef())
            }
            Event::Error(e, close) => {
                let e = rquickjs::String::from_str(ctx.clone(), &e)?.into_value();
                let info = match close {
                    Some((code, text)) => {
                        let o = Object::new(ctx.clone())?;
                        o.set("code", code)?;
                        o.set("text", text)?;
                        o.into_value()
                    }
                    None => undef(),
                };
                call("error", e, info)
            }
            Event::Ended => {
                if let Some(s) = self.open.borrow_mut().remove(&id) {
                    // k6/websockets times only sessions that connected; k6/ws times them all.
                    let timed = s.connected || !s.websockets;
                    if let Some(tags) = s.sample_tags.as_ref().filter(|_| timed) {
                        let ms = s.opened.elapsed().as_secs_f64() * 1000.0;
                        vu.emit(builtin::WS_SESSION_DURATION, tags, ms, SystemTime::now());
                    }
                    s.count_bytes(vu);
                }
                vu.io.end(id);
                let r = call("end", undef(), undef());
                handlers.remove(id as f64)?;
                r
            }
        }
    }

    fn drop_all(&self, vu: &VuCtx) {
        // Dropping the command senders makes each session say goodbye (1001) and end; the
        // bytes they moved so far count in this iteration, as in k6.
        let dropped: Vec<Socket> = self.open.borrow_mut().drain().map(|(_, s)| s).collect();
        for s in dropped {
            s.count_bytes(vu);
        }
        if let Some(p) = &self.prev {
            p.drop_all(vu);
        }
    }
}

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let sockets = Rc::new(Sockets {
        prev: vu.io_dispatcher.borrow().clone(),
        ..Sockets::default()
    });
    vu.set_dispatcher(sockets.clone());
    v.set(HANDLERS, Object::new(ctx.clone())?)?;

    let (vu1, s1) = (vu.clone(), sockets.clone());
    v.set(
        "wsOpen",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  url: String,
                  headers: Value<'js>,
                  tags: Value<'js>,
                  websockets: bool,
                  handler: Function<'js>|
                  -> R<f64> {
                open(&ctx, &vu1, &s1, url, headers, tags, websockets, handler)
            },
        )?,
    )?;

    let (vu2, s2) = (vu.clone(), sockets.clone());
    v.set(
        "wsSend",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: f64, data: Value<'js>, binary: bool| -> R<bool> {
                let id = id as u64;
                let cmd = if binary {
                    let b = bytes_of(&data).ok_or_else(|| {
                        type_error(
                            &ctx,
                            "the data to send must be an ArrayBuffer or a typed array",
                        )
                    })?;
                    Cmd::Binary(b)
                } else {
                    let s: String = data
                        .as_string()
                        .ok_or_else(|| type_error(&ctx, "the message to send must be a string"))?
                        .to_string()?;
                    Cmd::Text(s)
                };
                let sent = s2
                    .open
                    .borrow()
                    .get(&id)
                    .is_some_and(|s| s.cmds.send(cmd).is_ok());
                if sent {
                    s2.emit(&vu2, id, builtin::WS_MSGS_SENT, 1.0);
                }
                Ok(sent)
            },
        )?,
    )?;

    let (vu3, s3) = (vu.clone(), sockets.clone());
    v.set(
        "wsPing",
        Function::new(ctx.clone(), move |id: f64| -> bool {
            let id = id as u64;
            let counted = {
                let mut open = s3.open.borrow_mut();
                let Some(s) = open.get_mut(&id) else {
                    return false;
                };
                let payload = s.ping_seq.to_string().into_bytes();
                s.ping_seq += 1;
                if s.cmds.send(Cmd::Ping(payload.clone())).is_err() {
                    return false;
                }
                // A server that never answers must not grow the list without bound.
                if s.pings.len() >= 1024 {
                    s.pings.pop_front();
                }
                s.pings.push_back((payload, Instant::now()));
                s.websockets
            };
            // k6/websockets counts a ping as a message sent; k6/ws does not.
            if counted {
                s3.emit(&vu3, id, builtin::WS_MSGS_SENT, 1.0);
            }
            true
        })?,
    )?;

    let (vu4, s4) = (vu.clone(), sockets.clone());
    v.set(
        "wsClose",
        Function::new(
            ctx.clone(),
            move |id: f64, code: f64, reason: rquickjs::function::Opt<String>| -> bool {
                let id = id as u64;
                let code = if code.is_finite() && (0.0..=65535.0).contains(&code) {
                    code as u16
                } else {
                    1000
                };
                let (sent, counted) = match s4.open.borrow().get(&id) {
                    Some(s) => (
                        s.cmds
                            .send(Cmd::Close(code, reason.0.unwrap_or_default()))
                            .is_ok(),
                        s.websockets,
                    ),
                    None => (false, false),
                };
                // k6/websockets counts its close frame as a message sent; k6/ws does not.
                if sent && counted {
                    s4.emit(&vu4, id, builtin::WS_MSGS_SENT, 1.0);
                }
                sent
            },
        )?,
    )?;

    let vu5 = vu.clone();
    v.set(
        "wsStep",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: f64, wait_ms: f64| -> R<bool> {
                step(&ctx, &vu5, id as u64, wait_ms)
            },
        )?,
    )?;

    let vu6 = vu.clone();
    v.set(
        "wsThrows",
        Function::new(ctx.clone(), move || -> bool {
            vu6.run.as_ref().is_some_and(|r| r.settings.throw)
        })?,
    )?;
    v.set(
        "wsBytes",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, v: Value<'js>| -> R<ArrayBuffer<'js>> {
                let b = bytes_of(&v).ok_or_else(|| {
                    type_error(&ctx, "expected a string, an ArrayBuffer or a typed array")
                })?;
                ArrayBuffer::new(ctx.clone(), b)
            },
        )?,
    )?;
    Ok(())
}

/// One step of `k6/ws`'s `connect`, which runs its own socket's events and timers only (the
/// VU's other timers, sockets and promise jobs wait until it returns, as in k6): delivers the
/// socket's next event, waiting up to `wait_ms` (negative: without limit) for one when none
/// is queued. Returns whether the socket is still open.
fn step<'js>(ctx: &Ctx<'js>, vu: &VuCtx, id: u64, wait_ms: f64) -> R<bool> {
    let io = &vu.io;
    if vu.interrupt.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(throw_interrupted(ctx));
    }
    if let Some(event) = io.pop_source(id) {
        vu.dispatch_io(ctx, id, event)?;
        return Ok(io.is_open(id));
    }
    if !io.is_open(id) {
        return Ok(false);
    }
    if wait_ms == 0.0 {
        return Ok(true);
    }
    // At most a day per wait: the script's loop asks again.
    let limit =
        (wait_ms > 0.0).then(|| Duration::from_secs_f64(wait_ms.min(86_400_000.0) / 1000.0));
    // Any socket's event (or a stale wake-up) ends the wait; the loop then looks again.
    vu.block_on(io.wait(limit))
        .map_err(|_| throw_interrupted(ctx))?;
    if let Some(event) = io.pop_source(id) {
        vu.dispatch_io(ctx, id, event)?;
    }
    Ok(io.is_open(id))
}

/// Starts a session for `url` and registers `handler` for its events; returns its id.
#[allow(clippy::too_many_arguments)]
fn open<'js>(
    ctx: &Ctx<'js>,
    vu: &Rc<VuCtx>,
    sockets: &Rc<Sockets>,
    url: String,
    headers: Value<'js>,
    tags: Value<'js>,
    websockets: bool,
    handler: Function<'js>,
) -> R<f64> {
    if vu.phase.get() == Phase::Init || vu.host.is_none() {
        return Err(Exception::throw_message(
            ctx,
            "using websockets in the init context is not supported",
        ));
    }
    let Some(client) = vu.http.clone() else {
        return Err(Exception::throw_message(
            ctx,
            "no network client in this VU",
        ));
    };
    let shared = client.shared().clone();
    let mut header_pairs = Vec::new();
    if let Some(o) = headers.as_object() {
        for item in o.props::<String, rquickjs::Coerced<String>>() {
            let (k, v) = item?;
            header_pairs.push((k, v.0));
        }
    }
    let tags = tags_from_js(Some(&tags))?;
    // A URL that does not parse fails the session like an unreachable one (k6 does the same).
    let parsed = url::Url::parse(&url).ok();
    let handlers: Object = ctx.globals().get::<_, Object>("__volley")?.get(HANDLERS)?;
    if sockets.open.borrow().is_empty() {
        // Handlers of sockets dropped with a failed iteration never got their `end`.
        let stale: Vec<String> = handlers.keys::<String>().collect::<R<_>>()?;
        for k in stale {
            handlers.remove(k)?;
        }
    }
    let (id, poster) = vu.io.open();
    handlers.set(id as f64, handler)?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let meter = MeterSlot::default();
    sockets.open.borrow_mut().insert(
        id,
        Socket {
            cmds: tx,
            websockets,
            url: url.clone(),
            tags,
            sample_tags: None,
            connected: false,
            opened: Instant::now(),
            pings: VecDeque::new(),
            ping_seq: 0,
            meter: meter.clone(),
        },
    );
    let fut = async move {
        match parsed {
            Some(url) => {
                let req = session::Request {
                    url,
                    headers: header_pairs,
                    user_agent: shared.config().user_agent.clone(),
                    meter,
                };
                tokio::spawn(session::run(shared, req, poster, rx));
            }
            None => {
                let now = SystemTime::now();
                poster.post(Box::new(Event::Failed {
                    error: "malformed ws or wss URL".into(),
                    status: 0,
                    headers: Vec::new(),
                    body: String::new(),
                    started: now,
                    connecting: 0.0,
                }));
                poster.post(Box::new(Event::Ended));
            }
        }
    };
    // The session is spawned from the IO runtime (the VU's thread has none).
    vu.block_on(fut).map_err(|_| throw_interrupted(ctx))?;
    Ok(id as f64)
}

#[cfg(test)]
pub(crate) mod tests;
