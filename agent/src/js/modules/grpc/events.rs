//! The event sources of `k6/net/grpc` (`asyncInvoke` calls and `grpc.Stream`s) on the VU's
//! event loop (`js::io_events`): their tasks run on the IO runtime and post [`GrpcEvent`]s; the
//! loop hands each to [`GrpcEvents`], which calls the JS function registered for its source
//! (`__volley.grpcHandlers[id]`) and records k6's metrics. An iteration waits for its pending
//! calls and open streams, as k6's does.
//!
//! A VU has one dispatcher; this one keeps the one installed before it (`k6/ws`'s sockets) and
//! passes on the events that are not gRPC's.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use prost_reflect::MethodDescriptor;
use rquickjs::{Ctx, Exception, Function, Object, Value};
use tokio::sync::mpsc::UnboundedSender;

use super::conn::{self, Conn, Outcome, StreamCmd, StreamEvent};
use super::Natives;
use super::{call_tags, client_mut, codec, count_bytes, duration_param, error_object, protos};
use super::{Call, Clients, R};
use crate::js::io_events::IoEvent;
use crate::js::vu_ctx::{throw_interrupted, Dispatcher, Phase, VuCtx};
use crate::metrics::builtin;

/// The `__volley` property holding each source's JS function (`id -> function`): kept in JS so
/// that the garbage collector sees them.
const HANDLERS: &str = "grpcHandlers";

/// What a gRPC task reports.
enum GrpcEvent {
    /// An `asyncInvoke` call ended.
    Invoked(Box<Outcome>),
    Stream(StreamEvent),
}

/// A stream, on the JS side.
struct Stream {
    conn: Conn,
    desc: MethodDescriptor,
    tags: Vec<(String, String)>,
    cmds: UnboundedSender<StreamCmd>,
    /// `end()` was called: later writes are dropped, as in k6.
    ended: bool,
    started: SystemTime,
}

enum Pending {
    Call(Box<Call>),
    Stream(Box<Stream>),
}

/// The pending calls and open streams of one VU.
pub(super) struct GrpcEvents {
    pending: RefCell<HashMap<u64, Pending>>,
    /// The dispatcher installed before this one (the other modules' sources).
    prev: Option<Rc<dyn Dispatcher>>,
}

/// Installs the dispatcher and the natives of streams.
pub(super) fn install<'js>(
    ctx: &Ctx<'js>,
    v: &Natives<'js>,
    vu: &Rc<VuCtx>,
    clients: &Clients,
) -> R<Rc<GrpcEvents>> {
    let prev = vu.io_dispatcher.borrow().clone();
    let events = Rc::new(GrpcEvents {
        pending: RefCell::default(),
        prev,
    });
    vu.set_dispatcher(events.clone());
    v.set(HANDLERS, Object::new(ctx.clone())?)?;

    let (vu1, e1, c1) = (vu.clone(), events.clone(), clients.clone());
    v.set(
        "grpcStreamOpen",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  client: f64,
                  method: String,
                  params: Value<'js>,
                  handler: Function<'js>|
                  -> R<f64> {
                e1.open_stream(&ctx, &vu1, &c1, client, &method, params, handler)
            },
        )?,
    )?;
    let (vu2, e2) = (vu.clone(), events.clone());
    v.set(
        "grpcStreamWrite",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: f64, message: Value<'js>| -> R<()> {
                e2.write(&ctx, &vu2, id as u64, message)
            },
        )?,
    )?;
    let e3 = events.clone();
    v.set(
        "grpcStreamEnd",
        Function::new(ctx.clone(), move |id: f64| {
            if let Some(Pending::Stream(s)) = e3.pending.borrow_mut().get_mut(&(id as u64)) {
                if !s.ended {
                    s.ended = true;
                    let _ = s.cmds.send(StreamCmd::End);
                }
            }
        })?,
    )?;
    Ok(events)
}

impl GrpcEvents {
    /// Registers `handler` for a new source of the VU; returns its id and poster.
    fn open_source<'js>(
        &self,
        ctx: &Ctx<'js>,
        vu: &VuCtx,
        handler: Function<'js>,
    ) -> R<(u64, crate::js::io_events::EventPoster)> {
        let handlers: Object = ctx.globals().get::<_, Object>("__volley")?.get(HANDLERS)?;
        if self.pending.borrow().is_empty() {
            // Handlers of sources dropped with a failed iteration never got their end.
            let stale: Vec<String> = handlers.keys::<String>().collect::<R<_>>()?;
            for k in stale {
                handlers.remove(k)?;
            }
        }
        let (id, poster) = vu.io.open();
        handlers.set(id as f64, handler)?;
        Ok((id, poster))
    }

    /// Starts an `asyncInvoke` call; `resolve` gets its response.
    pub(super) fn invoke<'js>(
        &self,
        ctx: &Ctx<'js>,
        vu: &VuCtx,
        call: Call,
        resolve: Function<'js>,
    ) -> R<()> {
        let (id, poster) = self.open_source(ctx, vu, resolve)?;
        let task = conn::unary(
            call.conn.clone(),
            call.name.clone(),
            call.body.clone(),
            call.metadata.clone(),
            call.timeout,
        );
        self.pending
            .borrow_mut()
            .insert(id, Pending::Call(Box::new(call)));
        let spawn = async move {
            tokio::spawn(async move {
                let outcome = task.await;
                poster.post(Box::new(GrpcEvent::Invoked(Box::new(outcome))));
            });
        };
        // Spawned from the IO runtime (the VU's thread has none).
        vu.block_on(spawn).map_err(|_| throw_interrupted(ctx))
    }

    /// `new grpc.Stream(client, method, params)`: opens the stream at once.
    #[allow(clippy::too_many_arguments)]
    fn open_stream<'js>(
        &self,
        ctx: &Ctx<'js>,
        vu: &VuCtx,
        clients: &Clients,
        client: f64,
        method: &str,
        params: Value<'js>,
        handler: Function<'js>,
    ) -> R<f64> {
        if vu.phase.get() == Phase::Init || vu.host.is_none() {
            return Err(Exception::throw_message(
                ctx,
                "creating a gRPC stream in the init context is not supported",
            ));
        }
        let (conn, desc) = {
            let mut list = clients.borrow_mut();
            let c = client_mut(ctx, &mut list, client)?;
            let Some(desc) = c.defs.method(method).cloned() else {
                return Err(Exception::throw_message(
                    ctx,
                    &format!(
                        "invalid GRPC Stream's method: method {:?} not found in file descriptors",
                        protos::with_slash(method)
                    ),
                ));
            };
            let Some(conn) = c.conn.clone() else {
                return Err(Exception::throw_message(
                    ctx,
                    "no gRPC connection, you must call connect first",
                ));
            };
            (conn, desc)
        };
        let invalid = |e: String| {
            Exception::throw_message(ctx, &format!("invalid GRPC Stream's parameters: {e}"))
        };
        let p = match params.as_object() {
            Some(o) => o.clone(),
            None => Object::new(ctx.clone())?,
        };
        for key in p.keys::<String>() {
            let key = key?;
            if !["metadata", "tags", "timeout"].contains(&key.as_str()) {
                return Err(invalid(format!("unknown param: {key:?}")));
            }
        }
        let metadata = codec::metadata_from_js(&p.get("metadata")?).map_err(invalid)?;
        let tags = super::tags_from_js(Some(&p.get("tags")?))?;
        let timeout: Option<Duration> = duration_param(&p.get("timeout")?).map_err(invalid)?;
        let (id, poster) = self.open_source(ctx, vu, handler)?;
        let started = SystemTime::now();
        vu.emit(
            builtin::GRPC_STREAMS,
            &call_tags(vu, &conn, &desc, &tags, None),
            1.0,
            started,
        );
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = conn::stream(
            conn.clone(),
            protos::full_name(&desc),
            metadata,
            timeout,
            rx,
            move |ev| poster.post(Box::new(GrpcEvent::Stream(ev))),
        );
        self.pending.borrow_mut().insert(
            id,
            Pending::Stream(Box::new(Stream {
                conn,
                desc,
                tags,
                cmds: tx,
                ended: false,
                started,
            })),
        );
        let spawn = async move {
            tokio::spawn(task);
        };
        vu.block_on(spawn).map_err(|_| throw_interrupted(ctx))?;
        Ok(id as f64)
    }

    /// `stream.write(message)`: a message that cannot be encoded ends the stream with an
    /// error event, as in k6.
    fn write<'js>(&self, ctx: &Ctx<'js>, vu: &VuCtx, id: u64, message: Value<'js>) -> R<()> {
        let mut pending = self.pending.borrow_mut();
        let Some(Pending::Stream(s)) = pending.get_mut(&id) else {
            return Ok(());
        };
        if s.ended {
            return Ok(());
        }
        let encoded = if message.is_null() {
            Err(codec::EncodeError::Invalid(
                "Cannot convert undefined or null to object".into(),
            ))
        } else {
            codec::encode_request(ctx, &s.desc.input(), message)
        };
        match encoded {
            Ok(b) => {
                if s.cmds.send(StreamCmd::Write(b)).is_ok() {
                    let tags = call_tags(vu, &s.conn, &s.desc, &s.tags, None);
                    vu.emit(
                        builtin::GRPC_STREAMS_MSGS_SENT,
                        &tags,
                        1.0,
                        SystemTime::now(),
                    );
                }
            }
            Err(e) => {
                let text = match e {
                    codec::EncodeError::Missing => "request cannot be nil".to_owned(),
                    codec::EncodeError::Invalid(e) => {
                        format!("can't serialise request object to protocol buffer: {e}")
                    }
                };
                s.ended = true;
                let _ = s.cmds.send(StreamCmd::Fail(text));
            }
        }
        Ok(())
    }
}

impl Dispatcher for GrpcEvents {
    fn dispatch<'js>(&self, ctx: &Ctx<'js>, vu: &VuCtx, id: u64, event: IoEvent) -> R<()> {
        let event = match event.downcast::<GrpcEvent>() {
            Ok(e) => e,
            Err(other) => {
                return match &self.prev {
                    Some(p) => p.dispatch(ctx, vu, id, other),
                    None => {
                        vu.io.end(id);
                        Ok(())
                    }
                }
            }
        };
        let handlers: Object = ctx.globals().get::<_, Object>("__volley")?.get(HANDLERS)?;
        let handler: Option<Function> = handlers.get(id as f64)?;
        match *event {
            GrpcEvent::Invoked(outcome) => {
                let call = match self.pending.borrow_mut().remove(&id) {
                    Some(Pending::Call(c)) => c,
                    _ => return Ok(()),
                };
                vu.io.end(id);
                handlers.remove(id as f64)?;
                let res = call.finish(ctx, vu, *outcome)?;
                match handler {
                    Some(resolve) => resolve.call::<_, ()>((res,)),
                    None => Ok(()),
                }
            }
            GrpcEvent::Stream(ev) => {
                let call = |kind: &str, a: Value<'js>, b: Value<'js>| -> R<()> {
                    match &handler {
                        Some(h) => h.call::<_, ()>((kind, a, b)),
                        None => Ok(()),
                    }
                };
                match ev {
                    StreamEvent::Data(bytes) => {
                        let (desc, tags) = match self.pending.borrow().get(&id) {
                            Some(Pending::Stream(s)) => (
                                s.desc.clone(),
                                call_tags(vu, &s.conn, &s.desc, &s.tags, None),
                            ),
                            _ => return Ok(()),
                        };
                        vu.emit(
                            builtin::GRPC_STREAMS_MSGS_RECEIVED,
                            &tags,
                            1.0,
                            SystemTime::now(),
                        );
                        let json = codec::reply_json(&desc.output(), bytes, false)
                            .map_err(|e| Exception::throw_message(ctx, &e))?;
                        let msg = ctx.json_parse(json)?;
                        call("data", msg, stream_metadata(ctx)?.into_value())
                    }
                    StreamEvent::Error { code, message } => {
                        let err = error_object(ctx, code as i32, &message)?;
                        call("error", err.into_value(), Value::new_undefined(ctx.clone()))
                    }
                    StreamEvent::End(outcome) => {
                        let s = match self.pending.borrow_mut().remove(&id) {
                            Some(Pending::Stream(s)) => s,
                            _ => return Ok(()),
                        };
                        count_bytes(vu, &s.conn);
                        if !outcome.unrecorded {
                            let tags =
                                call_tags(vu, &s.conn, &s.desc, &s.tags, Some(outcome.code as i32));
                            vu.emit(
                                builtin::GRPC_REQ_DURATION,
                                &tags,
                                outcome.duration.as_secs_f64() * 1000.0,
                                s.started,
                            );
                        }
                        vu.io.end(id);
                        handlers.remove(id as f64)?;
                        let r = call(
                            "end",
                            Object::new(ctx.clone())?.into_value(),
                            stream_metadata(ctx)?.into_value(),
                        );
                        r
                    }
                }
            }
        }
    }

    fn drop_all(&self, vu: &VuCtx) {
        // Dropping the streams' command senders cancels their calls; what they moved so far
        // counts in this iteration.
        let dropped: Vec<Pending> = self.pending.borrow_mut().drain().map(|(_, p)| p).collect();
        for p in dropped {
            match p {
                Pending::Call(c) => count_bytes(vu, &c.conn),
                Pending::Stream(s) => count_bytes(vu, &s.conn),
            }
        }
        if let Some(p) = &self.prev {
            p.drop_all(vu);
        }
    }
}

/// The metadata k6 passes with a stream's events: `{ts}`, the time in Unix seconds.
fn stream_metadata<'js>(ctx: &Ctx<'js>) -> R<Object<'js>> {
    let o = Object::new(ctx.clone())?;
    let ts = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    o.set("ts", ts as f64)?;
    Ok(o)
}
