//! `k6`: `check`, `group`, `sleep`, `fail` and `randomSeed`. Checks and groups are recorded
//! natively (`checks`, `group_duration` and the VU's `group` tag); `check` itself is native.

use std::rc::Rc;
use std::time::{Duration, SystemTime};

use rquickjs::function::Opt;
use rquickjs::{qjs, Ctx, Exception, Function, Object, Value};

use super::convert::tags_from_js;
use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::{throw_interrupted, Phase, VuCtx};
use crate::metrics::builtin;

type R<T> = rquickjs::Result<T>;

/// `k6`.
pub const MODULE: K6Module = K6Module {
    name: "k6",
    js: include_str!("k6.js"),
    install,
};

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let vu1 = vu.clone();
    let check_fn = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, val: Opt<Value<'js>>, sets: Opt<Value<'js>>, tags: Opt<Value<'js>>| {
            check(&ctx, &vu1, val.0, sets.0, tags.0)
        },
    )?
    .with_name("check")?;
    // k6's `check.length`, as a JS `function check(val, sets, tags)` has.
    check_fn.set_length(3)?;
    v.set("check", check_fn)?;
    // k6.js sets these to functions making k6's GoErrors for `check(v)` and for an `async`
    // check function (the class is JS's).
    v.set(NO_CHECKS_ERROR, Value::new_undefined(ctx.clone()))?;
    v.set(ASYNC_CHECK_ERROR, Value::new_undefined(ctx.clone()))?;
    if ASYNC_FUNCTION_CLASS.get().is_none() {
        let f: Value = ctx.eval("(async () => {})")?;
        // SAFETY: a live value of this context.
        let _ = ASYNC_FUNCTION_CLASS.set(unsafe { qjs::JS_GetClassID(f.as_raw()) });
    }
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

/// The `__volley` property holding k6.js's maker of the GoError that `check(v)` throws.
const NO_CHECKS_ERROR: &str = "checkNoChecksError";
/// ... and of the one a check function that is `async` throws.
const ASYNC_CHECK_ERROR: &str = "checkAsyncError";
/// QuickJS's class of `async` functions (arrows and methods too), read once from one.
static ASYNC_FUNCTION_CLASS: std::sync::OnceLock<qjs::JSClassID> = std::sync::OnceLock::new();

/// Throws k6.js's GoError made by its maker `maker` (a `__volley` property).
fn throw_made<'js>(ctx: &Ctx<'js>, maker: &str) -> rquickjs::Error {
    let made = ctx
        .globals()
        .get::<_, Object>("__volley")
        .and_then(|natives| natives.get::<_, Function>(maker))
        .and_then(|make| make.call::<_, Value>(()));
    match made {
        Ok(e) => ctx.throw(e),
        Err(e) => e,
    }
}

/// k6's `check(val, sets, tags)`: runs each named check of `sets` (a function is called with
/// `val`, any other value counts by its truthiness), records a `checks` sample for each and
/// returns whether all passed.
///
/// Native because k6 tells `check(v)` (a GoError) from `check(v, undefined)` (a TypeError) by
/// the number of arguments, which a native is given and a JS function could only read from an
/// `arguments` object that QuickJS builds on every call of a function naming it: 924
/// instructions a call ([docs/benchmarks.md](../../../../docs/benchmarks.md#what-each-change-bought)).
/// Being native also spares a native call per check and a `try` per check function.
fn check<'js>(
    ctx: &Ctx<'js>,
    vu: &VuCtx,
    val: Option<Value<'js>>,
    sets: Option<Value<'js>>,
    tags: Option<Value<'js>>,
) -> R<bool> {
    let Some(sets) = sets else {
        return Err(throw_made(ctx, NO_CHECKS_ERROR));
    };
    if sets.is_null() || sets.is_undefined() {
        // k6's words (goja's ToObject).
        return Err(Exception::throw_type(
            ctx,
            "Cannot convert undefined or null to object",
        ));
    }
    let raw = ctx.as_raw().as_ptr();
    let sets = if sets.is_object() {
        sets
    } else {
        // Any other value is converted to an object, as k6 does: a string's characters become
        // checks, a number has none (so the check passes).
        // SAFETY: a live value of this context; the result is owned.
        let o = unsafe { qjs::JS_ToObject(raw, sets.as_raw()) };
        if unsafe { qjs::JS_IsException(o) } {
            return Err(rquickjs::Error::Exception);
        }
        // SAFETY: an owned value of this context.
        unsafe { Value::from_raw(ctx.clone(), o) }
    };
    let names = OwnKeys::of(ctx, &sets)?;
    // JS_Call takes its arguments as `*mut` but neither frees nor keeps them.
    let mut arg = val.as_ref().map_or(qjs::JS_UNDEFINED, Value::as_raw);
    let mut recorder = Recorder {
        vu,
        tags: tags.as_ref(),
        extra: None,
    };
    let mut all = true;
    for &atom in names.atoms() {
        // SAFETY: a live object and one of its keys' atoms (held by `names`); the result is
        // owned and freed below.
        let c = unsafe { qjs::JS_GetProperty(raw, sets.as_raw(), atom) };
        if unsafe { qjs::JS_IsException(c) } {
            return Err(rquickjs::Error::Exception);
        }
        // SAFETY (this block): `c` and the call's result are owned values, freed once.
        let ok = unsafe {
            if qjs::JS_IsFunction(raw, c) {
                if ASYNC_FUNCTION_CLASS.get() == Some(&qjs::JS_GetClassID(c)) {
                    // k6 v1.1.0 refuses an `async` check function with a GoError, the checks
                    // before it recorded, this one and those after it not
                    // (docs/k6-compatibility.md#scripts-from-the-wild-sixth-sweep).
                    qjs::JS_FreeValue(raw, c);
                    return Err(throw_made(ctx, ASYNC_CHECK_ERROR));
                }
                let r = qjs::JS_Call(raw, c, qjs::JS_UNDEFINED, 1, &mut arg);
                qjs::JS_FreeValue(raw, c);
                if qjs::JS_IsException(r) {
                    // k6 counts a check whose function throws as failed, then rethrows; the
                    // later checks of the set do not run. A stopping VU's uncatchable error
                    // is not a check's failure (a `catch` would not see it either).
                    let e = ctx.catch();
                    if !qjs::JS_IsUncatchableError(e.as_raw()) {
                        recorder.record(ctx, atom, false)?;
                    }
                    return Err(ctx.throw(e));
                }
                let b = qjs::JS_ToBool(raw, r) > 0;
                qjs::JS_FreeValue(raw, r);
                b
            } else {
                let b = qjs::JS_ToBool(raw, c) > 0;
                qjs::JS_FreeValue(raw, c);
                b
            }
        };
        recorder.record(ctx, atom, ok)?;
        all &= ok;
    }
    Ok(all)
}

/// Records the `checks` samples of one `check` call.
struct Recorder<'a, 'js> {
    vu: &'a VuCtx,
    tags: Option<&'a Value<'js>>,
    /// The call's own tags, read when the first check is recorded (as k6 reads them once).
    extra: Option<Vec<(String, String)>>,
}

impl<'js> Recorder<'_, 'js> {
    fn record(&mut self, ctx: &Ctx<'js>, name: qjs::JSAtom, ok: bool) -> R<()> {
        if self.vu.phase.get() == Phase::Init {
            return Err(Exception::throw_message(
                ctx,
                "check() is not supported in the init context",
            ));
        }
        let extra = match &mut self.extra {
            Some(e) => e,
            None => self.extra.insert(tags_from_js(self.tags)?),
        };
        let name = AtomStr::of(ctx, name)?;
        let name = name.as_str()?;
        let ts = if extra.is_empty() {
            self.vu.tags_with(&[("check", name)])
        } else {
            let mut refs: Vec<(&str, &str)> = Vec::with_capacity(extra.len() + 1);
            refs.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            refs.push(("check", name));
            self.vu.tags_with(&refs)
        };
        let v = if ok { 1.0 } else { 0.0 };
        self.vu.emit(builtin::CHECKS, &ts, v, SystemTime::now());
        Ok(())
    }
}

/// The own enumerable string keys of an object, in `Object.keys` order.
struct OwnKeys {
    ctx: *mut qjs::JSContext,
    tab: *mut qjs::JSPropertyEnum,
    len: u32,
}

impl OwnKeys {
    fn of<'js>(ctx: &Ctx<'js>, o: &Value<'js>) -> R<OwnKeys> {
        let raw = ctx.as_raw().as_ptr();
        let mut keys = OwnKeys {
            ctx: raw,
            tab: std::ptr::null_mut(),
            len: 0,
        };
        let flags = (qjs::JS_GPN_STRING_MASK | qjs::JS_GPN_ENUM_ONLY) as std::ffi::c_int;
        // SAFETY: a live object of this context; on success the table is ours to free (Drop).
        let r = unsafe {
            qjs::JS_GetOwnPropertyNames(raw, &mut keys.tab, &mut keys.len, o.as_raw(), flags)
        };
        if r < 0 {
            keys.tab = std::ptr::null_mut();
            keys.len = 0;
            return Err(rquickjs::Error::Exception);
        }
        Ok(keys)
    }

    fn atoms(&self) -> impl Iterator<Item = &qjs::JSAtom> {
        let entries: &[qjs::JSPropertyEnum] = if self.tab.is_null() {
            &[]
        } else {
            // SAFETY: QuickJS made `len` entries at `tab`, alive until Drop.
            unsafe { std::slice::from_raw_parts(self.tab, self.len as usize) }
        };
        entries.iter().map(|e| &e.atom)
    }
}

impl Drop for OwnKeys {
    fn drop(&mut self) {
        if !self.tab.is_null() {
            // SAFETY: the table JS_GetOwnPropertyNames made, freed once.
            unsafe { qjs::JS_FreePropertyEnum(self.ctx, self.tab, self.len) };
        }
    }
}

/// An atom's name as UTF-8, borrowed from QuickJS until dropped.
struct AtomStr {
    ctx: *mut qjs::JSContext,
    ptr: *const std::ffi::c_char,
    len: usize,
}

impl AtomStr {
    fn of(ctx: &Ctx<'_>, atom: qjs::JSAtom) -> R<AtomStr> {
        let raw = ctx.as_raw().as_ptr();
        let mut len: qjs::size_t = 0;
        // SAFETY: a live atom of this context; the string is freed in Drop.
        let ptr = unsafe { qjs::JS_AtomToCStringLen(raw, &mut len, atom) };
        if ptr.is_null() {
            return Err(rquickjs::Error::Exception);
        }
        Ok(AtomStr {
            ctx: raw,
            ptr,
            len: len as usize,
        })
    }

    fn as_str(&self) -> R<&str> {
        // SAFETY: QuickJS's `len` bytes at `ptr`, alive until Drop.
        let bytes = unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) };
        Ok(std::str::from_utf8(bytes)?)
    }
}

impl Drop for AtomStr {
    fn drop(&mut self) {
        // SAFETY: the string JS_AtomToCStringLen made, freed once.
        unsafe { qjs::JS_FreeCString(self.ctx, self.ptr) };
    }
}

#[cfg(test)]
mod tests {
    use crate::js::modulestest::TestVu;
    use crate::js::vu_ctx::Phase;

    /// The names of the checks the VU recorded, in order (its samples are taken).
    fn check_names(vu: &TestVu) -> Vec<String> {
        vu.take_samples()
            .into_iter()
            .filter(|s| s.metric == "checks")
            .map(|s| s.tags["check"].clone())
            .collect()
    }

    #[test]
    fn check_records_one_sample_per_named_check_with_the_group_and_returns_all_passed() {
        let vu = TestVu::new();
        vu.run(
            "import { check, group } from 'k6';
             globalThis.r = group('g', () => [
               check(200, { 'is 200': (s) => s === 200, 'is 404': (s) => s === 404 }, { t: 1 }),
               check(1, { ok: true }),
             ]);",
        )
        .unwrap();
        assert_eq!(vu.json("r"), serde_json::json!([false, true]));
        let checks: Vec<_> = vu
            .take_samples()
            .into_iter()
            .filter(|s| s.metric == "checks")
            .map(|s| (s.tags["check"].clone(), s.tags["group"].clone(), s.value))
            .collect();
        assert_eq!(
            checks,
            [
                ("is 200".to_string(), "::g".to_string(), 1.0),
                ("is 404".to_string(), "::g".to_string(), 0.0),
                ("ok".to_string(), "::g".to_string(), 1.0),
            ]
        );
    }

    #[test]
    fn a_check_that_throws_counts_as_failed_and_stops_its_set() {
        // k6 v1.1.0: {before, throws, after} records before=1 and throws=0, never after.
        let vu = TestVu::new();
        let e = vu
            .run(
                "import { check } from 'k6';
                 check(1, { before: () => true, throws: () => { throw new Error('x'); },
                            after: () => true });",
            )
            .unwrap_err();
        assert_eq!(e.to_string(), "x");
        let checks: Vec<_> = vu
            .take_samples()
            .into_iter()
            .filter(|s| s.metric == "checks")
            .map(|s| (s.tags["check"].clone(), s.value))
            .collect();
        assert_eq!(
            checks,
            [("before".to_string(), 1.0), ("throws".to_string(), 0.0)]
        );
    }

    #[test]
    fn an_async_check_function_is_refused_with_k6s_go_error() {
        // k6 v1.1.0: {before, async, after} records before only, then throws a GoError; a
        // plain function returning a promise passes (a promise is truthy).
        let vu = TestVu::new();
        vu.run(
            "import { check } from 'k6';
             let caught;
             try {
               check(1, { before: () => true, later: async () => true, after: () => true });
             } catch (e) { caught = String(e); }
             globalThis.r = [caught, check(1, { promised: () => Promise.resolve(false) })];",
        )
        .unwrap();
        assert_eq!(
            vu.json("r"),
            serde_json::json!([
                "GoError: the built-in check() does not support async functions as arguments. \
                 Use the JavaScript utils library as a replacement. Refer to \
                 https://grafana.com/docs/k6/latest/javascript-api/jslib/utils/check/ for more info",
                true
            ])
        );
        assert_eq!(check_names(&vu), ["before", "promised"]);
    }

    #[test]
    fn check_takes_any_value_as_its_checks_as_k6_does() {
        // k6 v1.1.0: no second argument is a GoError, null a TypeError, and anything else is
        // converted to an object (a string's characters are checks; a number has none).
        let vu = TestVu::new();
        vu.run(
            "import { check } from 'k6';
             const threw = (f) => { try { f(); return null; } catch (e) { return String(e); } };
             globalThis.out = [threw(() => check(1)), threw(() => check(1, null)),
                               check(1, 5), check(1, 'x')];",
        )
        .unwrap();
        assert_eq!(
            vu.json("out"),
            serde_json::json!([
                "GoError: no checks provided to `check`",
                "TypeError: Cannot convert undefined or null to object",
                true,
                true
            ])
        );
        let names = check_names(&vu);
        assert_eq!(names, ["0"]);
    }

    #[test]
    fn check_counts_its_arguments_as_k6_does() {
        // k6 v1.1.0: `check()` and `check(v)` are the GoError (a GoError instance with a
        // `value`), `check(v, undefined)` the TypeError, arguments after the tags are ignored;
        // `check` has length 3. A check may call check.
        let vu = TestVu::new();
        vu.run(
            "import { check } from 'k6';
             const err = (f) => { try { f(); return null; }
               catch (e) { return [String(e), e.constructor.name, Object.keys(e)]; } };
             globalThis.out = [err(() => check()), err(() => check(1)),
               err(() => check(1, undefined)), check(1, { a: 1 }, undefined, 5, 6),
               check.length, check.name,
               check(2, { outer: (v) => check(v, { inner: (w) => w === 2 }) })];",
        )
        .unwrap();
        let no_checks = serde_json::json!([
            "GoError: no checks provided to `check`",
            "GoError",
            ["value"]
        ]);
        assert_eq!(
            vu.json("out"),
            serde_json::json!([
                no_checks,
                no_checks,
                [
                    "TypeError: Cannot convert undefined or null to object",
                    "TypeError",
                    []
                ],
                true,
                3,
                "check",
                true
            ])
        );
        let names = check_names(&vu);
        assert_eq!(names, ["a", "inner", "outer"]);
    }

    #[test]
    fn groups_nest_and_record_their_duration_once_left() {
        let vu = TestVu::new();
        vu.run("import { group } from 'k6'; group('a', () => group('b', () => 1));")
            .unwrap();
        let groups: Vec<String> = vu
            .take_samples()
            .into_iter()
            .filter(|s| s.metric == "group_duration")
            .map(|s| s.tags["group"].clone())
            .collect();
        assert_eq!(groups, ["::a::b", "::a"]);
        assert_eq!(vu.vu.state.borrow().group, "");
        let e = vu
            .run("import { group } from 'k6'; group('x::y', () => 1);")
            .unwrap_err();
        assert_eq!(e.to_string(), "group and check names may not contain '::'");
    }

    #[test]
    fn check_and_group_are_refused_in_the_init_context_and_sleep_yields() {
        let vu = TestVu::new();
        vu.set_phase(Phase::Init);
        let e = vu
            .run("import { check } from 'k6'; check(1, { a: true });")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "check() is not supported in the init context"
        );
        vu.set_phase(Phase::Iteration);
        vu.run("import { sleep } from 'k6'; sleep(0.25); sleep(0); sleep(-1);")
            .unwrap();
        assert_eq!(vu.slept(), [std::time::Duration::from_millis(250)]);
    }
}
