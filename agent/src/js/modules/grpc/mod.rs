//! `k6/net/grpc`: the gRPC clients and streams of a VU (`grpc.js`), as k6 v1.1.0 behaves
//! ([docs/k6-compatibility.md](../../../../../docs/k6-compatibility.md#k6netgrpc)).
//!
//! * Definitions (`protos.rs`): `.proto` files compiled in the process by protox, read through
//!   the sandboxed `open()` so that archives carry them; protosets; server reflection.
//! * Messages (`codec.rs`): protobuf's JSON mapping of prost-reflect's dynamic messages, with
//!   k6's choices (camelCase names, 64-bit integers as strings, unset fields shown).
//! * Connections and calls (`conn.rs`): tonic over a connection dialed like `k6/http`'s, on
//!   the IO runtime. `invoke` waits with `VuCtx::block_on`, which suspends the VU's coroutine
//!   so that the other VUs of its thread run meanwhile; `asyncInvoke` and streams are event
//!   sources of the VU's event loop (`events.rs`), so an iteration waits for them.
//!
//! Why these crates: protox and prost-reflect are pure Rust (no `protoc` to install on every
//! generator) and build on the `prost` that tonic already uses, so dynamic messages need no
//! second protobuf runtime.

mod codec;
mod conn;
mod events;
mod protos;
mod reflection;
mod tls;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use prost_reflect::MethodDescriptor;
use rquickjs::{Array, Ctx, Exception, Function, Object, Value};
use tonic::metadata::MetadataMap;

use super::convert::tags_from_js;
use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::{throw_interrupted, Phase, VuCtx};
use crate::metrics::builtin;
use conn::{Conn, ConnectParams, Outcome};
use protos::{Definitions, MethodInfo};

type R<T> = rquickjs::Result<T>;

/// `k6/net/grpc`.
pub const MODULE: K6Module = K6Module {
    name: "k6/net/grpc",
    js: include_str!("grpc.js"),
    install,
};

/// k6's default for `connect`'s and a call's `timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// One `grpc.Client` of the VU.
#[derive(Default)]
struct Client {
    defs: Definitions,
    conn: Option<Conn>,
}

/// The clients of one VU, by id (their index).
type Clients = Rc<RefCell<Vec<Client>>>;

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let clients: Clients = Rc::default();
    let events = events::install(ctx, v, vu, &clients)?;

    let c = clients.clone();
    v.set(
        "grpcNew",
        Function::new(ctx.clone(), move || -> f64 {
            let mut list = c.borrow_mut();
            list.push(Client::default());
            (list.len() - 1) as f64
        })?,
    )?;

    let (vu1, c1) = (vu.clone(), clients.clone());
    v.set(
        "grpcLoad",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: f64, paths: Value<'js>, files: Vec<String>| -> R<Array<'js>> {
                let paths = import_paths(&ctx, &paths)?;
                load_definitions(&ctx, &vu1, &c1, id, "load", |defs| {
                    defs.load_protos(&vu1.program, &paths, &files)
                        .map_err(|e| e.to_string())
                })
            },
        )?,
    )?;

    let (vu2, c2) = (vu.clone(), clients.clone());
    v.set(
        "grpcLoadProtoset",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: f64, path: String| -> R<Array<'js>> {
                load_definitions(&ctx, &vu2, &c2, id, "loadProtoset", |defs| {
                    let p = vu2
                        .program
                        .resolve_open_path(&path)
                        .map_err(|e| format!("loadProtoset() of {e}"))?;
                    let data = vu2
                        .program
                        .open_file(&p)
                        .map_err(|e| format!("open {}: {e}", p.display()))?;
                    defs.load_protoset(&path, &data).map_err(|e| e.to_string())
                })
            },
        )?,
    )?;

    let (vu3, c3) = (vu.clone(), clients.clone());
    v.set(
        "grpcConnect",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: f64, addr: String, params: Value<'js>| -> R<bool> {
                connect(&ctx, &vu3, &c3, id, addr, params)
            },
        )?,
    )?;

    let (vu4, c4) = (vu.clone(), clients.clone());
    v.set(
        "grpcInvoke",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  id: f64,
                  method: String,
                  request: Value<'js>,
                  params: Value<'js>|
                  -> R<Object<'js>> {
                let call = prepare(&ctx, &vu4, &c4, id, &method, request, params)?;
                let fut = conn::unary(
                    call.conn.clone(),
                    call.name.clone(),
                    call.body.clone(),
                    call.metadata.clone(),
                    call.timeout,
                );
                let outcome = vu4.block_on(fut).map_err(|_| throw_interrupted(&ctx))?;
                call.finish(&ctx, &vu4, outcome)
            },
        )?,
    )?;

    let (vu5, c5) = (vu.clone(), clients.clone());
    v.set(
        "grpcAsyncInvoke",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  id: f64,
                  method: String,
                  request: Value<'js>,
                  params: Value<'js>,
                  resolve: Function<'js>|
                  -> R<()> {
                let call = prepare(&ctx, &vu5, &c5, id, &method, request, params)?;
                events.invoke(&ctx, &vu5, call, resolve)
            },
        )?,
    )?;

    let c6 = clients;
    v.set(
        "grpcClose",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, id: f64| -> R<()> {
            let mut list = c6.borrow_mut();
            let client = client_mut(&ctx, &mut list, id)?;
            // Dropping the channel closes its connection (streams keep their own handle).
            client.conn = None;
            Ok(())
        })?,
    )?;
    v.set(
        "grpcWarn",
        Function::new(ctx.clone(), |msg: String| {
            crate::console::log("warning", &msg, &[]);
        })?,
    )?;
    Ok(())
}

/// What `load` and `loadProtoset` (`name`) share: definitions are added only in the init context,
/// as in k6 (their files are read through the init context's sandboxed `open()`); the `load`
/// closure adds them to client `id`'s, and the new methods go back to `grpc.js`.
fn load_definitions<'js>(
    ctx: &Ctx<'js>,
    vu: &VuCtx,
    clients: &Clients,
    id: f64,
    name: &str,
    load: impl FnOnce(&mut Definitions) -> Result<Vec<MethodInfo>, String>,
) -> R<Array<'js>> {
    if vu.phase.get() != Phase::Init {
        return Err(Exception::throw_message(
            ctx,
            &format!("{name} must be called in the init context"),
        ));
    }
    let mut list = clients.borrow_mut();
    let client = client_mut(ctx, &mut list, id)?;
    let methods = load(&mut client.defs).map_err(|e| Exception::throw_message(ctx, &e))?;
    method_infos(ctx, &methods)
}

fn client_mut<'a>(ctx: &Ctx<'_>, list: &'a mut [Client], id: f64) -> R<&'a mut Client> {
    list.get_mut(id as usize)
        .ok_or_else(|| Exception::throw_type(ctx, "not a grpc.Client"))
}

/// `importPaths`: null or an array of strings (k6 refuses a lone string).
fn import_paths<'js>(ctx: &Ctx<'js>, v: &Value<'js>) -> R<Vec<String>> {
    if v.is_undefined() || v.is_null() {
        return Ok(Vec::new());
    }
    let refused = || {
        Exception::throw_type(
            ctx,
            "client.load(importPaths, ...protoFiles): importPaths must be null or an array of \
             folder names, such as ['protos']",
        )
    };
    let a = v.as_array().ok_or_else(refused)?;
    let mut out = Vec::with_capacity(a.len());
    for item in a.iter::<Value>() {
        out.push(item?.as_string().ok_or_else(refused)?.to_string()?);
    }
    Ok(out)
}

/// What `load` returns: one object per method of the files it was given, as k6 lists them.
fn method_infos<'js>(ctx: &Ctx<'js>, methods: &[MethodInfo]) -> R<Array<'js>> {
    let out = Array::new(ctx.clone())?;
    for (i, m) in methods.iter().enumerate() {
        let o = Object::new(ctx.clone())?;
        o.set("package", m.package.as_str())?;
        o.set("service", m.service.as_str())?;
        o.set("full_method", m.full_method.as_str())?;
        o.set("name", m.name.as_str())?;
        o.set("is_client_stream", m.client_streaming)?;
        o.set("is_server_stream", m.server_streaming)?;
        out.set(i, o)?;
    }
    Ok(out)
}

/// A duration param: a number of milliseconds or a Go duration string. `Err` is k6's text.
/// A negative number is a deadline already passed, as in k6; 0 means the default.
fn duration_param(v: &Value<'_>) -> Result<Option<Duration>, String> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    if let Some(ms) = v.as_number() {
        if !ms.is_finite() {
            return Err(format!(
                "invalid timeout value: {ms} is not a number of milliseconds"
            ));
        }
        if ms == 0.0 {
            return Ok(None);
        }
        return Ok(Some(Duration::from_secs_f64(ms.max(0.0) / 1000.0)));
    }
    if let Some(s) = v.as_string() {
        let s = s.to_string().map_err(|e| e.to_string())?;
        return match volley_common::duration::parse_go_duration(&s) {
            Ok(d) if d.is_zero() => Ok(None),
            Ok(d) => Ok(Some(d)),
            // Negative durations parse in Go: an immediate deadline.
            Err(_) if s.starts_with('-') => Ok(Some(Duration::ZERO)),
            Err(_) => Err(format!(
                "invalid timeout value: time: invalid duration {s:?}"
            )),
        };
    }
    Err("invalid timeout value: use a duration such as \"30s\" or a number of milliseconds".into())
}

/// A size param (`maxReceiveSize`, `maxSendSize`): 0 or absent means the default.
fn size_param(v: &Value<'_>, key: &str, default: usize) -> Result<usize, String> {
    if v.is_undefined() || v.is_null() {
        return Ok(default);
    }
    match v.as_number() {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(if n == 0.0 { default } else { n as usize }),
        _ => Err(format!(
            "invalid {key} value: use a number of bytes (0 keeps the default)"
        )),
    }
}

/// `connect`'s parameters k6 v1.1.0 knows.
const CONNECT_PARAMS: &[&str] = &[
    "plaintext",
    "timeout",
    "reflect",
    "reflectMetadata",
    "maxReceiveSize",
    "maxSendSize",
    "tls",
    "authority",
];

fn connect<'js>(
    ctx: &Ctx<'js>,
    vu: &VuCtx,
    clients: &Clients,
    id: f64,
    addr: String,
    params: Value<'js>,
) -> R<bool> {
    if vu.phase.get() == Phase::Init || vu.host.is_none() {
        return Err(Exception::throw_message(
            ctx,
            "connecting to a gRPC server in the init context is not supported",
        ));
    }
    let Some(http) = vu.http.clone() else {
        return Err(Exception::throw_message(
            ctx,
            "no network client in this VU",
        ));
    };
    let invalid = |e: String| {
        Exception::throw_message(ctx, &format!("invalid grpc.connect() parameters: {e}"))
    };
    let p = match params.as_object() {
        Some(o) => o.clone(),
        None => Object::new(ctx.clone())?,
    };
    for key in p.keys::<String>() {
        let key = key?;
        if !CONNECT_PARAMS.contains(&key.as_str()) {
            return Err(invalid(format!("unknown connect param: {key:?}")));
        }
    }
    let plaintext = p.get::<_, Option<bool>>("plaintext")?.unwrap_or(false);
    let own_tls = tls::own_tls(&p.get("tls")?).map_err(invalid)?;
    let timeout = duration_param(&p.get("timeout")?)
        .map_err(invalid)?
        .unwrap_or(DEFAULT_TIMEOUT);
    let authority: Option<String> = p.get("authority")?;
    let reflect: Option<bool> = p.get("reflect")?;
    let reflect_metadata = codec::metadata_from_js(&p.get("reflectMetadata")?).map_err(invalid)?;
    let cp = ConnectParams {
        timeout,
        max_receive: size_param(
            &p.get("maxReceiveSize")?,
            "maxReceiveSize",
            conn::DEFAULT_MAX_RECEIVE,
        )
        .map_err(invalid)?,
        max_send: size_param(
            &p.get("maxSendSize")?,
            "maxSendSize",
            conn::DEFAULT_MAX_SEND,
        )
        .map_err(invalid)?,
        authority,
        user_agent: http.shared().config().user_agent.clone(),
        tls: if plaintext {
            None
        } else {
            Some(
                tls::config(http.shared(), own_tls.as_ref())
                    .map_err(|e| Exception::throw_message(ctx, &e))?,
            )
        },
    };
    let shared = http.shared().clone();
    let reflect = reflect == Some(true);
    let fut = async move {
        let conn = conn::connect(shared, addr, cp).await?;
        let reflected = if reflect {
            Some(reflection::descriptors(&conn, reflect_metadata, timeout).await?)
        } else {
            None
        };
        Ok::<_, String>((conn, reflected))
    };
    let (conn, reflected) = vu
        .block_on(fut)
        .map_err(|_| throw_interrupted(ctx))?
        .map_err(|e| Exception::throw_message(ctx, &e))?;
    let mut list = clients.borrow_mut();
    let client = client_mut(ctx, &mut list, id)?;
    if let Some(set) = reflected {
        client
            .defs
            .add_reflected(set)
            .map_err(|e| Exception::throw_message(ctx, &e.to_string()))?;
    }
    client.conn = Some(conn);
    Ok(true)
}

/// A call checked and encoded on the VU's thread, ready to go.
pub(crate) struct Call {
    conn: Conn,
    desc: MethodDescriptor,
    /// `/pkg.Service/Method`.
    name: String,
    body: bytes::Bytes,
    metadata: MetadataMap,
    timeout: Duration,
    /// The script's tags.
    tags: Vec<(String, String)>,
    discard: bool,
    started: SystemTime,
}

/// The params of `invoke` and `asyncInvoke` k6 v1.1.0 knows.
const INVOKE_PARAMS: &[&str] = &["metadata", "tags", "timeout", "discardResponseMessage"];

/// Checks an `invoke`/`asyncInvoke` and encodes its request (k6's errors, in k6's order).
#[allow(clippy::too_many_arguments)]
fn prepare<'js>(
    ctx: &Ctx<'js>,
    vu: &VuCtx,
    clients: &Clients,
    id: f64,
    method: &str,
    request: Value<'js>,
    params: Value<'js>,
) -> R<Call> {
    if vu.phase.get() == Phase::Init || vu.host.is_none() {
        return Err(Exception::throw_message(
            ctx,
            "invoking RPC methods in the init context is not supported",
        ));
    }
    let (conn, desc) = {
        let mut list = clients.borrow_mut();
        let client = client_mut(ctx, &mut list, id)?;
        let Some(conn) = client.conn.clone() else {
            return Err(Exception::throw_message(
                ctx,
                "no gRPC connection, you must call connect first",
            ));
        };
        if method.is_empty() {
            return Err(Exception::throw_message(
                ctx,
                "method to invoke cannot be empty",
            ));
        }
        let Some(desc) = client.defs.method(method).cloned() else {
            return Err(Exception::throw_message(
                ctx,
                &format!(
                    "method {:?} not found in file descriptors",
                    protos::with_slash(method)
                ),
            ));
        };
        (conn, desc)
    };
    let name = protos::full_name(&desc);
    let invalid = |e: String| {
        Exception::throw_message(
            ctx,
            &format!("invalid GRPC's client.invoke() parameters: {e}"),
        )
    };
    let p = match params.as_object() {
        Some(o) => o.clone(),
        None => Object::new(ctx.clone())?,
    };
    for key in p.keys::<String>() {
        let key = key?;
        if !INVOKE_PARAMS.contains(&key.as_str()) {
            return Err(invalid(format!("unknown param: {key:?}")));
        }
    }
    let metadata = codec::metadata_from_js(&p.get("metadata")?).map_err(invalid)?;
    let tags = tags_from_js(Some(&p.get("tags")?))?;
    let timeout = duration_param(&p.get("timeout")?)
        .map_err(invalid)?
        .unwrap_or(DEFAULT_TIMEOUT);
    let discard = p
        .get::<_, Option<bool>>("discardResponseMessage")?
        .unwrap_or(false);
    if request.is_null() {
        return Err(Exception::throw_type(
            ctx,
            "Cannot convert undefined or null to object",
        ));
    }
    let body = codec::encode_request(ctx, &desc.input(), request).map_err(|e| match e {
        codec::EncodeError::Missing => Exception::throw_message(ctx, "request cannot be nil"),
        codec::EncodeError::Invalid(e) => Exception::throw_message(
            ctx,
            &format!("unable to serialise request object to protocol buffer: {e}"),
        ),
    })?;
    Ok(Call {
        conn,
        desc,
        name,
        body,
        metadata,
        timeout,
        tags,
        discard,
        started: SystemTime::now(),
    })
}

impl Call {
    /// Records the call (`grpc_req_duration`, the bytes it moved) and makes k6's response
    /// object: `message`, `error`, `headers`, `trailers`, `status`.
    fn finish<'js>(&self, ctx: &Ctx<'js>, vu: &VuCtx, outcome: Outcome) -> R<Object<'js>> {
        count_bytes(vu, &self.conn);
        let status = outcome.code as i32;
        if !outcome.unrecorded {
            let tags = call_tags(vu, &self.conn, &self.desc, &self.tags, Some(status));
            vu.emit(
                builtin::GRPC_REQ_DURATION,
                &tags,
                outcome.duration.as_secs_f64() * 1000.0,
                self.started,
            );
        }
        let res = Object::new(ctx.clone())?;
        if self.discard {
            res.set("message", Value::new_null(ctx.clone()))?;
        } else {
            // A failed call shows the reply's empty message, as k6 does.
            let bytes = outcome.reply.clone().unwrap_or_default();
            let json = codec::reply_json(&self.desc.output(), bytes, true)
                .map_err(|e| Exception::throw_message(ctx, &format!("{}: {e}", self.name)))?;
            res.set("message", ctx.json_parse(json)?)?;
        }
        if outcome.code == tonic::Code::Ok {
            res.set("error", Value::new_null(ctx.clone()))?;
        } else {
            res.set("error", error_object(ctx, status, &outcome.message)?)?;
        }
        res.set("headers", codec::metadata_to_js(ctx, &outcome.headers)?)?;
        res.set("trailers", codec::metadata_to_js(ctx, &outcome.trailers)?)?;
        res.set("status", status)?;
        Ok(res)
    }
}

/// k6's error object of a failed call: `{code, message, details}`.
fn error_object<'js>(ctx: &Ctx<'js>, code: i32, message: &str) -> R<Object<'js>> {
    let err = Object::new(ctx.clone())?;
    err.set("code", code)?;
    err.set("message", message)?;
    err.set("details", Array::new(ctx.clone())?)?;
    Ok(err)
}

/// Adds the bytes a connection moved since the last call to the VU's iteration.
fn count_bytes(vu: &VuCtx, conn: &Conn) {
    let (sent, received) = conn.take_bytes();
    let mut st = vu.state.borrow_mut();
    st.bytes_sent += sent;
    st.bytes_received += received;
}

/// The tags of a call's samples, as k6's: the VU's, the script's, then `name`
/// (`/pkg.Service/Method`), `method`, `service`, `url` (`addr/pkg.Service/Method`) and, once
/// known, `status`.
fn call_tags(
    vu: &VuCtx,
    conn: &Conn,
    desc: &MethodDescriptor,
    tags: &[(String, String)],
    status: Option<i32>,
) -> volley_common::metrics::TagSet {
    let service = desc.parent_service();
    let name = format!("/{}/{}", service.full_name(), desc.name());
    let url = format!("{}{name}", conn.addr);
    let status = status.map(|s| s.to_string());
    let mut extra: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let own = [
        ("name", name.as_str()),
        ("method", desc.name()),
        ("service", service.full_name()),
        ("url", url.as_str()),
    ];
    for (k, v) in own {
        if !extra.iter().any(|(e, _)| *e == k) {
            extra.push((k, v));
        }
    }
    if let Some(s) = &status {
        extra.push(("status", s.as_str()));
    }
    vu.tags_with(&extra)
}

#[cfg(test)]
mod tests;
