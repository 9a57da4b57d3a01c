//! Native functions behind the k6 modules, installed per VU as `globalThis.__volley`, plus the
//! globals k6 scripts expect (`console`, `open`).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rquickjs::function::{Opt, Rest};
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, IntoJs, Object, TypedArray, Value};
use volley_common::exit::AbortReason;
use volley_common::metrics::{MetricType, ValueType};

use super::shapes;
use crate::metrics::builtin;
use crate::vu::{throw_interrupted, Phase, VuCtx};

type R<T> = rquickjs::Result<T>;

/// Installs `__volley`, `console` and `open` into a fresh context.
pub fn install<'js>(ctx: &Ctx<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let v = Natives::new(ctx);
    install_k6(ctx, &v, vu)?;
    install_metrics(ctx, &v, vu)?;
    install_execution(ctx, &v, vu)?;
    install_data(ctx, &v, vu)?;
    install_codecs(ctx, &v)?;
    super::http::install(ctx, &v, vu)?;
    ctx.globals().set("__volley", v.into_object()?)?;
    install_console(ctx)?;
    install_open(ctx, vu)?;
    Ok(())
}

/// The natives of `__volley`, gathered before the object is made.
///
/// Adding `__volley`'s ~70 properties one by one cost ~1,000 instructions each in every VU's
/// start-up (property lookup, shape lookup, reallocation). The object is made in one step
/// instead, from a template with the same names ([`shapes::new_like_raw`]) that the runtime's
/// first VU makes. Without a prototype, every VU's `__volley` has that one shape, and the
/// template (kept in the runtime's userdata) references no context, so it keeps no VU alive.
pub struct Natives<'js> {
    ctx: Ctx<'js>,
    entries: RefCell<Vec<(&'static str, Value<'js>)>>,
}

impl<'js> Natives<'js> {
    fn new(ctx: &Ctx<'js>) -> Self {
        Natives {
            ctx: ctx.clone(),
            entries: RefCell::new(Vec::with_capacity(80)),
        }
    }

    /// Adds a native (names are unique; a repeated one makes the slow path of
    /// [`Natives::into_object`] keep the last value).
    pub fn set<V: IntoJs<'js>>(&self, name: &'static str, value: V) -> R<()> {
        let value = value.into_js(&self.ctx)?;
        self.entries.borrow_mut().push((name, value));
        Ok(())
    }

    /// The `__volley` object.
    fn into_object(self) -> R<Object<'js>> {
        let ctx = self.ctx;
        let entries = self.entries.into_inner();
        if ctx.userdata::<NativesTemplate>().is_none() {
            NativesTemplate::make(&ctx, &entries)?;
        }
        if let Some(t) = ctx.userdata::<NativesTemplate>() {
            if t.names.len() == entries.len()
                && t.names.iter().zip(&entries).all(|(a, e)| *a == e.0)
            {
                let values: Vec<Value<'js>> = entries.into_iter().map(|(_, v)| v).collect();
                // SAFETY: the template lives in this runtime's userdata for the runtime's life.
                return unsafe { shapes::new_like_raw(&ctx, t.raw, &values) };
            }
        }
        let v = Object::new_proto(ctx.clone(), None)?;
        for (name, value) in entries {
            v.set(name, value)?;
        }
        Ok(v)
    }
}

/// The template of `__volley` of one runtime: a prototype-less object with the natives' names,
/// held as a raw value (an rquickjs `Object` would hold the context that made it).
struct NativesTemplate {
    names: Vec<&'static str>,
    raw: rquickjs::qjs::JSValue,
    rt: *mut rquickjs::qjs::JSRuntime,
}

impl NativesTemplate {
    /// Makes and stores the template, unless the names repeat (then there is none).
    fn make<'js>(ctx: &Ctx<'js>, entries: &[(&'static str, Value<'js>)]) -> R<()> {
        let mut seen = std::collections::HashSet::new();
        if !entries.iter().all(|e| seen.insert(e.0)) {
            return Ok(());
        }
        let tmpl = Object::new_proto(ctx.clone(), None)?;
        for (name, _) in entries {
            tmpl.set(*name, Value::new_undefined(ctx.clone()))?;
        }
        let raw_ctx = ctx.as_raw().as_ptr();
        // SAFETY: one more reference to a live object (released in Drop); the runtime of a
        // live context.
        let (raw, rt) = unsafe {
            (
                rquickjs::qjs::JS_DupValue(raw_ctx, tmpl.as_raw()),
                rquickjs::qjs::JS_GetRuntime(raw_ctx),
            )
        };
        let t = NativesTemplate {
            names: entries.iter().map(|e| e.0).collect(),
            raw,
            rt,
        };
        // Fails only while the userdata is borrowed, which it is not here; `t` is then dropped.
        let _ = ctx.store_userdata(t);
        Ok(())
    }
}

impl Drop for NativesTemplate {
    fn drop(&mut self) {
        // SAFETY: rquickjs drops a runtime's userdata before it frees the runtime.
        unsafe { rquickjs::qjs::JS_FreeValueRT(self.rt, self.raw) };
    }
}

// SAFETY: the template has no 'js lifetime; it is only used on its runtime's thread.
unsafe impl<'js> rquickjs::JsLifetime<'js> for NativesTemplate {
    type Changed<'to> = NativesTemplate;
}

/// Bytes from a JS string (UTF-8), ArrayBuffer or typed array.
pub fn bytes_of(v: &Value<'_>) -> Option<Vec<u8>> {
    if let Some(s) = v.as_string() {
        return s.to_string().ok().map(String::into_bytes);
    }
    let obj = v.as_object()?;
    if let Some(ab) = ArrayBuffer::from_object(obj.clone()) {
        // SAFETY: the buffer is alive for this call and we copy its bytes at once.
        return unsafe { ab.as_bytes() }.map(<[u8]>::to_vec);
    }
    if let Ok(ta) = TypedArray::<u8>::from_object(obj.clone()) {
        // SAFETY: the typed array is alive for this call and we copy its bytes at once.
        return ta.as_raw().map(|p| unsafe { p.as_ref() }.to_vec());
    }
    // Other typed arrays / DataView: go through their buffer.
    let buf: Option<Object> = obj.get("buffer").ok();
    let off: usize = obj.get("byteOffset").unwrap_or(0);
    let len: Option<usize> = obj.get("byteLength").ok();
    match (buf.and_then(ArrayBuffer::from_object), len) {
        // SAFETY: as above.
        (Some(ab), Some(len)) => unsafe { ab.as_bytes() }
            .and_then(|b| b.get(off..off + len))
            .map(<[u8]>::to_vec),
        _ => None,
    }
}

fn type_error(ctx: &Ctx<'_>, msg: &str) -> rquickjs::Error {
    Exception::throw_type(ctx, msg)
}

fn install_k6<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let vu1 = vu.clone();
    v.set(
        "recordCheck",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, ok: bool, tags: Opt<Value<'js>>| -> R<()> {
                if vu1.phase.get() == Phase::Init {
                    return Err(Exception::throw_message(
                        &ctx,
                        "check() is not supported in the init context",
                    ));
                }
                let mut extra = tags_from_js(tags.0.as_ref())?;
                extra.push(("check".into(), name));
                let refs: Vec<(&str, &str)> = extra
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let ts = vu1.tags_with(&refs);
                vu1.emit(
                    builtin::CHECKS,
                    &ts,
                    if ok { 1.0 } else { 0.0 },
                    SystemTime::now(),
                );
                Ok(())
            },
        )?,
    )?;
    let vu2 = vu.clone();
    v.set(
        "groupEnter",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, name: String| -> R<()> {
            if vu2.phase.get() == Phase::Init {
                return Err(Exception::throw_message(
                    &ctx,
                    "group() is not supported in the init context",
                ));
            }
            if name.contains("::") {
                return Err(Exception::throw_message(
                    &ctx,
                    "group and check names may not contain '::'",
                ));
            }
            let mut st = vu2.state.borrow_mut();
            let prev = st.group.clone();
            st.group = format!("{prev}::{name}");
            st.base_tags = None;
            st.group_starts.push(std::time::Instant::now());
            Ok(())
        })?,
    )?;
    let vu3 = vu.clone();
    v.set(
        "groupExit",
        Function::new(ctx.clone(), move || {
            let start = vu3.state.borrow_mut().group_starts.pop();
            if let Some(start) = start {
                let tags = vu3.tags_with(&[]);
                let ms = start.elapsed().as_secs_f64() * 1000.0;
                vu3.emit(builtin::GROUP_DURATION, &tags, ms, SystemTime::now());
            }
            let mut st = vu3.state.borrow_mut();
            if let Some(i) = st.group.rfind("::") {
                st.group.truncate(i);
            }
            st.base_tags = None;
        })?,
    )?;
    let vu4 = vu.clone();
    v.set(
        "sleep",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, secs: f64| -> R<()> {
            if !secs.is_finite() || secs <= 0.0 {
                return Ok(());
            }
            let d = Duration::from_secs_f64(secs.min(1e9));
            vu4.sleep(d).map_err(|_| throw_interrupted(&ctx))
        })?,
    )?;
    v.set(
        "randomSeed",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, seed: f64| -> R<()> {
            // Replace Math.random with a seeded xorshift generator, as k6's randomSeed does.
            let src = format!(
                "(() => {{ let s = BigInt.asUintN(64, BigInt({seed}) ^ 0x9E3779B97F4A7C15n) || 1n; \
                 Math.random = function() {{ s ^= BigInt.asUintN(64, s << 13n); s ^= s >> 7n; \
                 s ^= BigInt.asUintN(64, s << 17n); return Number(s >> 11n) / 9007199254740992; }}; }})()",
                seed = seed.trunc() as i64
            );
            ctx.eval::<(), _>(src)
        })?,
    )?;
    Ok(())
}

/// Turns a JS tags object into pairs (values stringified). `null`/`undefined` gives none.
pub fn tags_from_js(v: Option<&Value<'_>>) -> R<Vec<(String, String)>> {
    let mut out = Vec::new();
    let Some(v) = v else { return Ok(out) };
    let Some(o) = v.as_object() else {
        return Ok(out);
    };
    for item in o.props::<String, Value>() {
        let (k, val) = item?;
        let s = if let Some(s) = val.as_string() {
            s.to_string()?
        } else if let Some(b) = val.as_bool() {
            b.to_string()
        } else if let Some(n) = val.as_number() {
            js_number(n)
        } else {
            // null, undefined and objects are not tag values.
            continue;
        };
        out.push((k, s));
    }
    Ok(out)
}

/// Formats a number as JS does for integers and plain floats.
pub fn js_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn install_metrics<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let vu1 = vu.clone();
    v.set(
        "metricRegister",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, kind: String, is_time: bool| -> R<usize> {
                if vu1.phase.get() != Phase::Init {
                    return Err(Exception::throw_message(
                        &ctx,
                        "metrics must be declared in the init context",
                    ));
                }
                let mtype = match kind.as_str() {
                    "counter" => MetricType::Counter,
                    "gauge" => MetricType::Gauge,
                    "rate" => MetricType::Rate,
                    _ => MetricType::Trend,
                };
                let contains = if is_time && mtype == MetricType::Trend {
                    ValueType::Time
                } else {
                    ValueType::Default
                };
                vu1.registry
                    .register(&name, mtype, contains)
                    .map_err(|e| Exception::throw_message(&ctx, &e.to_string()))
            },
        )?,
    )?;
    let vu2 = vu.clone();
    v.set(
        "metricAdd",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: usize, value: f64, tags: Opt<Value<'js>>| -> R<bool> {
                if vu2.phase.get() == Phase::Init {
                    return Err(Exception::throw_message(
                        &ctx,
                        "adding to metrics in the init context is not supported",
                    ));
                }
                if !value.is_finite() {
                    let name = vu2.registry.get(id).map(|d| d.name).unwrap_or_default();
                    let msg = format!(
                        "cannot add {value} to metric '{name}': the value must be a finite number"
                    );
                    if vu2.run.as_ref().is_some_and(|r| r.settings.throw) {
                        return Err(Exception::throw_type(&ctx, &msg));
                    }
                    crate::console::log("warning", &msg, &[]);
                    return Ok(false);
                }
                let extra = tags_from_js(tags.0.as_ref())?;
                let refs: Vec<(&str, &str)> = extra
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let ts = vu2.tags_with(&refs);
                vu2.emit(id, &ts, value, SystemTime::now());
                Ok(true)
            },
        )?,
    )?;
    Ok(())
}

fn install_execution<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let vu1 = vu.clone();
    v.set(
        "info",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, key: String| -> R<Value<'js>> { info(&ctx, &vu1, &key) },
        )?,
    )?;
    let vu2 = vu.clone();
    v.set(
        "testAbort",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  msg: Opt<Option<String>>,
                  code: Opt<Option<f64>>,
                  context: Opt<Option<String>>|
                  -> R<()> {
                let message = msg.0.flatten();
                let exit_code = code.0.flatten().map(|c| c as i32);
                if let Some(c) = exit_code {
                    if !(0..=255).contains(&c) {
                        return Err(Exception::throw_range(
                            &ctx,
                            "test.abort(): exitCode must be an integer from 0 to 255",
                        ));
                    }
                }
                let context = context
                    .0
                    .flatten()
                    .and_then(|s| serde_json::from_str(&s).ok());
                vu2.abort_test(AbortReason::ScriptAbort {
                    message,
                    exit_code,
                    context,
                });
                Err(throw_interrupted(&ctx))
            },
        )?,
    )?;
    let vu3 = vu.clone();
    v.set(
        "testFail",
        Function::new(ctx.clone(), move |msg: Opt<Option<String>>| {
            let m = msg.0.flatten();
            crate::console::log_error(
                &format!(
                    "test marked as failed{}",
                    m.as_deref().map(|x| format!(": {x}")).unwrap_or_default()
                ),
                &[],
            );
            if let Some(control) = &vu3.control {
                control.mark_failed(m);
            }
        })?,
    )?;
    let vu4 = vu.clone();
    v.set(
        "options",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>| -> R<Value<'js>> {
            let json = vu4
                .run
                .as_ref()
                .map(|r| r.settings.options_json.to_string())
                .unwrap_or_else(|| "{}".into());
            let v = ctx.json_parse(json)?;
            // k6 hands out a frozen copy.
            let freeze: Function = ctx.eval("(o) => { const f = (x) => { if (x && typeof x === 'object') { Object.freeze(x); Object.values(x).forEach(f); } return x; }; return f(o); }")?;
            freeze.call((v,))
        })?,
    )?;
    let vu5 = vu.clone();
    v.set(
        "vuTagGet",
        Function::new(ctx.clone(), move |k: String| -> Option<String> {
            let base = vu5.base_tags();
            base.into_iter().find(|(bk, _)| *bk == k).map(|(_, v)| v)
        })?,
    )?;
    let vu6 = vu.clone();
    v.set(
        "vuTagSet",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, k: String, val: String| -> R<()> {
                if k == "scenario" || k == "group" {
                    return Err(Exception::throw_type(
                        &ctx,
                        &format!("the '{k}' tag is set by Volley and cannot be changed"),
                    ));
                }
                vu6.state.borrow_mut().vu_tags.insert(k, val);
                vu6.invalidate_tags();
                Ok(())
            },
        )?,
    )?;
    let vu7 = vu.clone();
    v.set(
        "vuTagDelete",
        Function::new(ctx.clone(), move |k: String| {
            vu7.state.borrow_mut().vu_tags.remove(&k);
            vu7.invalidate_tags();
        })?,
    )?;
    let vu8 = vu.clone();
    v.set(
        "vuTagKeys",
        Function::new(ctx.clone(), move || -> Vec<String> {
            vu8.base_tags().into_iter().map(|(k, _)| k).collect()
        })?,
    )?;
    Ok(())
}

fn info<'js>(ctx: &Ctx<'js>, vu: &VuCtx, key: &str) -> R<Value<'js>> {
    let st = vu.state.borrow();
    let num = |n: f64| Value::new_number(ctx.clone(), n);
    let in_iteration = vu.phase.get() == Phase::Iteration;
    let need_iteration = || {
        Exception::throw_message(
            ctx,
            &format!("exec.{key} is only available in the VU code (default function or scenario exec function)"),
        )
    };
    let control = vu.run.as_ref().map(|r| r.control.clone());
    Ok(match key {
        "vu.idInInstance" => num(vu.id as f64),
        "vu.idInTest" => num(vu.id_in_test as f64),
        "vu.iterationInInstance" => num(st.iteration_in_instance as f64),
        "vu.iterationInScenario" => num(st.iteration_in_scenario as f64),
        "scenario.name"
        | "scenario.executor"
        | "scenario.startTime"
        | "scenario.progress"
        | "scenario.iterationInInstance"
        | "scenario.iterationInTest" => {
            if !in_iteration {
                return Err(need_iteration());
            }
            let Some(job) = st.job.as_ref() else {
                return Err(need_iteration());
            };
            let s = &job.scenario;
            match key {
                "scenario.name" => rquickjs::String::from_str(ctx.clone(), &s.name)?.into_value(),
                "scenario.executor" => {
                    rquickjs::String::from_str(ctx.clone(), s.executor)?.into_value()
                }
                "scenario.startTime" => num(s.start_unix_ms()),
                "scenario.progress" => num(s.progress()),
                "scenario.iterationInInstance" => num(st.scenario_iteration_local as f64),
                _ => num(st.scenario_iteration_global as f64),
            }
        }
        "instance.iterationsInterrupted" => num(control
            .map(|c| c.interrupted_iterations.load(Ordering::Relaxed) as f64)
            .unwrap_or(0.0)),
        "instance.iterationsCompleted" => num(control
            .map(|c| c.complete_iterations.load(Ordering::Relaxed) as f64)
            .unwrap_or(0.0)),
        "instance.vusActive" => num(control
            .map(|c| c.active_vus.load(Ordering::Relaxed) as f64)
            .unwrap_or(0.0)),
        "instance.vusInitialized" => num(control
            .map(|c| c.initialized_vus.load(Ordering::Relaxed) as f64)
            .unwrap_or(0.0)),
        "instance.currentTestRunDuration" => num(control
            .map(|c| c.started.elapsed().as_secs_f64() * 1000.0)
            .unwrap_or(0.0)),
        _ => Value::new_undefined(ctx.clone()),
    })
}

fn install_data<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let vu1 = vu.clone();
    v.set(
        "sharedArrayInit",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, build: Function<'js>| -> R<usize> {
                if vu1.phase.get() != Phase::Init {
                    return Err(Exception::throw_message(
                        &ctx,
                        "new SharedArray must be called in the init context",
                    ));
                }
                let arrays = shared_arrays(&vu1);
                if let Some(a) = arrays.lock().unwrap_or_else(|e| e.into_inner()).get(&name) {
                    return Ok(a.len());
                }
                let elems: Vec<String> = build.call(())?;
                let len = elems.len();
                arrays
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(name)
                    .or_insert_with(|| Arc::new(elems));
                Ok(len)
            },
        )?,
    )?;
    let vu2 = vu.clone();
    v.set(
        "sharedArrayGet",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, name: String, i: usize| -> R<String> {
                let arrays = shared_arrays(&vu2);
                let a = arrays.lock().unwrap_or_else(|e| e.into_inner());
                a.get(&name)
                    .and_then(|arr| arr.get(i).cloned())
                    .ok_or_else(|| Exception::throw_range(&ctx, "SharedArray index out of range"))
            },
        )?,
    )?;
    Ok(())
}

/// SharedArrays live in the run (shared by all VUs); during the first init, in a process-wide
/// map that the run then adopts.
fn shared_arrays(
    vu: &VuCtx,
) -> Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<Vec<String>>>>> {
    match &vu.run {
        Some(run) => run.shared_arrays.clone(),
        None => FIRST_INIT_ARRAYS.with(|a| a.clone()),
    }
}

thread_local! {
    static FIRST_INIT_ARRAYS: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<Vec<String>>>>> = Arc::default();
}

/// The SharedArrays built by the first init on this thread (the engine passes them to the run).
pub fn take_first_init_arrays() -> std::collections::HashMap<String, Arc<Vec<String>>> {
    FIRST_INIT_ARRAYS.with(|a| std::mem::take(&mut *a.lock().unwrap_or_else(|e| e.into_inner())))
}

fn b64_engine(enc: &str) -> Option<base64::engine::GeneralPurpose> {
    use base64::engine::general_purpose as gp;
    Some(match enc {
        "" | "std" => gp::STANDARD,
        "rawstd" => gp::STANDARD_NO_PAD,
        "url" => gp::URL_SAFE,
        "rawurl" => gp::URL_SAFE_NO_PAD,
        _ => return None,
    })
}

fn encode_output<'js>(ctx: &Ctx<'js>, bytes: Vec<u8>, enc: &str) -> R<Value<'js>> {
    match enc {
        "hex" => Ok(rquickjs::String::from_str(ctx.clone(), &hex(&bytes))?.into_value()),
        "base64" => Ok(rquickjs::String::from_str(
            ctx.clone(),
            &base64::engine::general_purpose::STANDARD.encode(&bytes),
        )?
        .into_value()),
        "base64url" => Ok(rquickjs::String::from_str(
            ctx.clone(),
            &base64::engine::general_purpose::URL_SAFE.encode(&bytes),
        )?
        .into_value()),
        "base64rawurl" => Ok(rquickjs::String::from_str(
            ctx.clone(),
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes),
        )?
        .into_value()),
        "binary" => Ok(ArrayBuffer::new(ctx.clone(), bytes)?.into_value()),
        other => Err(type_error(
            ctx,
            &format!("unsupported output encoding '{other}'; use hex, base64, base64url, base64rawurl or binary"),
        )),
    }
}

fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

fn digest(algo: &str, data: &[u8]) -> Option<Vec<u8>> {
    use md5::Digest as _;
    Some(match algo {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        "sha224" => sha2::Sha224::digest(data).to_vec(),
        "sha512_256" => sha2::Sha512_256::digest(data).to_vec(),
        "sha512_224" => sha2::Sha512_224::digest(data).to_vec(),
        _ => return None,
    })
}

fn hmac_of(algo: &str, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    use hmac::{Hmac, Mac};
    macro_rules! mac {
        ($t:ty) => {{
            let mut m = <Hmac<$t>>::new_from_slice(key).ok()?;
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }};
    }
    Some(match algo {
        "md5" => mac!(md5::Md5),
        "sha1" => mac!(sha1::Sha1),
        "sha256" => mac!(sha2::Sha256),
        "sha384" => mac!(sha2::Sha384),
        "sha512" => mac!(sha2::Sha512),
        "sha224" => mac!(sha2::Sha224),
        "sha512_256" => mac!(sha2::Sha512_256),
        "sha512_224" => mac!(sha2::Sha512_224),
        _ => return None,
    })
}

const HASHES: &str = "md5, sha1, sha224, sha256, sha384, sha512, sha512_224, sha512_256";

fn install_codecs<'js>(ctx: &Ctx<'js>, v: &Natives<'js>) -> R<()> {
    v.set(
        "b64encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: Value<'js>, enc: String| -> R<String> {
                let bytes = bytes_of(&input).ok_or_else(|| {
                    type_error(&ctx, "b64encode() takes a string or an ArrayBuffer")
                })?;
                let e = b64_engine(&enc).ok_or_else(|| {
                    type_error(
                        &ctx,
                        &format!("unknown base64 encoding '{enc}'; use std, rawstd, url or rawurl"),
                    )
                })?;
                Ok(e.encode(bytes))
            },
        )?,
    )?;
    v.set(
        "b64decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: String, enc: String, format: String| -> R<Value<'js>> {
                let e = b64_engine(&enc).ok_or_else(|| {
                    type_error(
                        &ctx,
                        &format!("unknown base64 encoding '{enc}'; use std, rawstd, url or rawurl"),
                    )
                })?;
                let bytes = e.decode(input.trim()).map_err(|err| {
                    Exception::throw_message(
                        &ctx,
                        &format!("b64decode: invalid base64 input: {err}"),
                    )
                })?;
                if format == "s" {
                    Ok(
                        rquickjs::String::from_str(ctx.clone(), &String::from_utf8_lossy(&bytes))?
                            .into_value(),
                    )
                } else {
                    Ok(ArrayBuffer::new(ctx.clone(), bytes)?.into_value())
                }
            },
        )?,
    )?;
    v.set(
        "hash",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, algo: String, input: Value<'js>, enc: String| -> R<Value<'js>> {
                let data = bytes_of(&input).ok_or_else(|| {
                    type_error(&ctx, "hash input must be a string or an ArrayBuffer")
                })?;
                let d = digest(&algo, &data).ok_or_else(|| {
                    type_error(
                        &ctx,
                        &format!("unknown hash algorithm '{algo}'; supported: {HASHES}"),
                    )
                })?;
                encode_output(&ctx, d, &enc)
            },
        )?,
    )?;
    v.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             algo: String,
             key: Value<'js>,
             input: Value<'js>,
             enc: String|
             -> R<Value<'js>> {
                let k = bytes_of(&key).ok_or_else(|| {
                    type_error(&ctx, "hmac secret must be a string or an ArrayBuffer")
                })?;
                let data = bytes_of(&input).ok_or_else(|| {
                    type_error(&ctx, "hmac data must be a string or an ArrayBuffer")
                })?;
                let d = hmac_of(&algo, &k, &data).ok_or_else(|| {
                    type_error(
                        &ctx,
                        &format!("unknown hmac algorithm '{algo}'; supported: {HASHES}"),
                    )
                })?;
                encode_output(&ctx, d, &enc)
            },
        )?,
    )?;
    v.set(
        "randomBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, n: f64| -> R<Value<'js>> {
            if !(0.0..=1e8).contains(&n) {
                return Err(Exception::throw_range(
                    &ctx,
                    "randomBytes: size must be between 0 and 100000000",
                ));
            }
            let mut b = vec![0u8; n as usize];
            rand::Rng::fill(&mut rand::rng(), b.as_mut_slice());
            Ok(ArrayBuffer::new(ctx.clone(), b)?.into_value())
        })?,
    )?;
    v.set(
        "utf8",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: String| -> R<Value<'js>> {
            Ok(TypedArray::<u8>::new(ctx.clone(), s.into_bytes())?.into_value())
        })?,
    )?;
    v.set(
        "utf8Decode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, b: Value<'js>| -> R<String> {
            let bytes = bytes_of(&b).ok_or_else(|| type_error(&ctx, "expected an ArrayBuffer"))?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        })?,
    )?;
    Ok(())
}

/// `console.log` and friends: k6 prints them as log lines on stderr with `source=console`.
fn install_console<'js>(ctx: &Ctx<'js>) -> R<()> {
    let console = Object::new(ctx.clone())?;
    for (name, level) in [
        ("log", "info"),
        ("info", "info"),
        ("warn", "warning"),
        ("error", "error"),
        ("debug", "debug"),
        ("trace", "debug"),
    ] {
        let f = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> R<()> {
                if level == "debug" && !crate::console::verbose() {
                    return Ok(());
                }
                let mut parts = Vec::with_capacity(args.0.len());
                for a in args.0 {
                    parts.push(console_string(&ctx, a)?);
                }
                crate::console::log(level, &parts.join(" "), &[("source", "console")]);
                Ok(())
            },
        )?;
        console.set(name, f)?;
    }
    ctx.globals().set("console", console)?;
    Ok(())
}

/// How console arguments print: strings as-is, errors with their message, objects as JSON.
fn console_string<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> R<String> {
    if let Some(s) = v.as_string() {
        return s.to_string();
    }
    if v.is_undefined() {
        return Ok("undefined".into());
    }
    if let Some(obj) = v.as_object() {
        if let Some(e) = Exception::from_object(obj.clone()) {
            let name: String = obj.get("name").unwrap_or_else(|_| "Error".into());
            return Ok(format!("{name}: {}", e.message().unwrap_or_default()));
        }
        if v.as_function().is_some() {
            return Ok("[function]".into());
        }
        if let Ok(Some(s)) = ctx.json_stringify(v.clone()) {
            return s.to_string();
        }
    }
    let s: rquickjs::Coerced<String> = v.get()?;
    Ok(s.0)
}

/// `open(path, mode)`: reads a file relative to the script (init context only).
fn install_open<'js>(ctx: &Ctx<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let vu1 = vu.clone();
    let f = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, path: String, mode: Opt<String>| -> R<Value<'js>> {
            if vu1.phase.get() != Phase::Init {
                return Err(Exception::throw_message(
                    &ctx,
                    "The \"open()\" function is only available in the init stage (i.e. the global scope), see https://grafana.com/docs/k6/latest/using-k6/test-lifecycle/ for more information",
                ));
            }
            if path.is_empty() {
                return Err(type_error(&ctx, "open() needs a file path"));
            }
            let p = vu1.program.resolve_open_path(&path);
            let data = vu1.program.open_file(&p).map_err(|e| {
                Exception::throw_message(&ctx, &format!("open {}: {e}", p.display()))
            })?;
            match mode.0.as_deref() {
                Some("b") => Ok(ArrayBuffer::new_copy(ctx.clone(), data.as_slice())?.into_value()),
                None | Some("") => Ok(rquickjs::String::from_str(
                    ctx.clone(),
                    &String::from_utf8_lossy(&data),
                )?
                .into_value()),
                Some(m) => Err(type_error(
                    &ctx,
                    &format!(
                        "open(): unknown mode '{m}'; use 'b' for binary or leave it out for text"
                    ),
                )),
            }
        },
    )?;
    ctx.globals().set("open", f)?;
    Ok(())
}
