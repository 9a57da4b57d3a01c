//! Objects made from a template's shape, for the objects the k6 modules build on every call.
//!
//! A fresh QuickJS object gets its properties one at a time, and each addition looks the next
//! shape up in the runtime's shape table (profiled: adding the ~30 properties of a `k6/http`
//! response and its `timings` and `request` objects was a tenth of a JS worker's time). Objects
//! with the same prototype and the same property names in the same order share one shape, so a
//! template object made once per VU context lets every later object start with that shape and
//! only fill in the values (`JS_VolleyNewObjectLike`, vendor/rquickjs-sys/VOLLEY.md). The result
//! is an ordinary object: adding, deleting or redefining its properties later works as usual.
//!
//! Templates are plain JS objects that the k6 module keeps (and passes back to each native call),
//! so the garbage collector sees them: a template held by a Rust closure would keep its
//! prototype, and through the prototype's methods the whole VU context, alive forever.

use rquickjs::{qjs, Atom, Ctx, Object, Value};

type R<T> = rquickjs::Result<T>;

extern "C" {
    fn JS_VolleyNewObjectLike(
        ctx: *mut qjs::JSContext,
        tmpl: qjs::JSValue,
        values: *mut qjs::JSValue,
        count: std::ffi::c_int,
    ) -> qjs::JSValue;
}

/// Objects of at most this many properties are made without a heap allocation.
const STACK_VALUES: usize = 16;

/// A template: an object with prototype `proto` (or `Object.prototype`) and the properties
/// `names`, in that order, all `undefined`. Keep it unmodified and out of scripts' reach.
pub fn template<'js>(
    ctx: &Ctx<'js>,
    proto: Option<&Object<'js>>,
    names: &[Atom<'js>],
) -> R<Object<'js>> {
    let o = match proto {
        Some(p) => Object::new_proto(ctx.clone(), Some(p))?,
        None => Object::new(ctx.clone())?,
    };
    for n in names {
        o.set(n.clone(), Value::new_undefined(ctx.clone()))?;
    }
    Ok(o)
}

/// A new object with `tmpl`'s prototype and property names whose values are `values`, in the
/// template's order. Fails (with a pending JS exception) if `tmpl` is not a template of
/// `N` properties.
pub fn new_like<'js, const N: usize>(
    ctx: &Ctx<'js>,
    tmpl: &Object<'js>,
    values: [Value<'js>; N],
) -> R<Object<'js>> {
    // SAFETY: `tmpl` is a live object of this context.
    unsafe { new_like_raw(ctx, tmpl.as_raw(), &values) }
}

/// [`new_like`] for a template held as a raw value (see `modules::natives::NativesTemplate`) and any
/// number of values.
///
/// # Safety
/// `tmpl` must be a live value of `ctx`'s runtime for the duration of the call.
pub unsafe fn new_like_raw<'js>(
    ctx: &Ctx<'js>,
    tmpl: qjs::JSValue,
    values: &[Value<'js>],
) -> R<Object<'js>> {
    let count = std::ffi::c_int::try_from(values.len())
        .map_err(|_| rquickjs::Error::new_from_js("values", "template values"))?;
    // A reference to each value passes to QuickJS (which frees it also on failure). Not
    // `mem::forget`: a `Value` also holds a reference to its context, which would leak.
    let raw_ctx = ctx.as_raw().as_ptr();
    // SAFETY: duplicating live values of this context's runtime.
    let dup = |v: &Value<'js>| unsafe { qjs::JS_DupValue(raw_ctx, v.as_raw()) };
    // The values' handles on the stack when they are few (every response's objects), not in
    // a vector allocated per object.
    let mut on_stack = [qjs::JS_UNDEFINED; STACK_VALUES];
    let mut on_heap: Vec<qjs::JSValue>;
    let raw: &mut [qjs::JSValue] = if values.len() <= STACK_VALUES {
        for (slot, v) in on_stack.iter_mut().zip(values) {
            *slot = dup(v);
        }
        &mut on_stack[..values.len()]
    } else {
        on_heap = values.iter().map(dup).collect();
        &mut on_heap
    };
    // SAFETY: `tmpl` and the values belong to `ctx`'s runtime (the caller's promise for
    // `tmpl`); the C side checks the template and takes one reference of each value.
    let out = unsafe { JS_VolleyNewObjectLike(raw_ctx, tmpl, raw.as_mut_ptr(), count) };
    // SAFETY: the result is an owned value of this context (or the exception marker).
    let v = unsafe { Value::from_raw(ctx.clone(), out) };
    if v.is_exception() {
        return Err(rquickjs::Error::Exception);
    }
    v.into_object()
        .ok_or_else(|| rquickjs::Error::new_from_js("value", "object"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rquickjs::{Context, Runtime};

    fn atoms<'js>(ctx: &Ctx<'js>, names: &[&str]) -> Vec<Atom<'js>> {
        names
            .iter()
            .map(|n| Atom::from_str(ctx.clone(), n).unwrap())
            .collect()
    }

    #[test]
    fn objects_like_a_template_are_ordinary_objects() {
        let rt = Runtime::new().unwrap();
        let cx = Context::full(&rt).unwrap();
        cx.with(|ctx| {
            let proto: Object = ctx
                .eval("({ hello() { return 'hi ' + this.b; } })")
                .unwrap();
            let t = template(&ctx, Some(&proto), &atoms(&ctx, &["a", "b"])).unwrap();
            let o = new_like(
                &ctx,
                &t,
                [
                    Value::new_int(ctx.clone(), 1),
                    rquickjs::String::from_str(ctx.clone(), "two")
                        .unwrap()
                        .into_value(),
                ],
            )
            .unwrap();
            ctx.globals().set("o", o).unwrap();
            ctx.globals().set("t", t).unwrap();
            let s: String = ctx
                .eval(
                    "o.c = 3; delete o.a; o.b += '!'; \
                     JSON.stringify(o) + ' ' + o.hello() + ' ' + JSON.stringify(Object.keys(t)) \
                     + ' ' + t.b",
                )
                .unwrap();
            assert_eq!(s, r#"{"b":"two!","c":3} hi two! ["a","b"] undefined"#);
        });
    }

    #[test]
    fn a_mismatched_template_is_a_js_error_not_a_crash() {
        let rt = Runtime::new().unwrap();
        let cx = Context::full(&rt).unwrap();
        cx.with(|ctx| {
            let t = template(&ctx, None, &atoms(&ctx, &["a", "b"])).unwrap();
            let wrong = new_like(&ctx, &t, [Value::new_int(ctx.clone(), 1)]);
            assert!(matches!(wrong, Err(rquickjs::Error::Exception)));
            let msg: String = ctx.catch().get::<Object>().unwrap().get("message").unwrap();
            assert!(msg.contains("not a template"), "{msg}");
            let getter: Object = ctx.eval("({ get a() { return 1; } })").unwrap();
            assert!(new_like(&ctx, &getter, [Value::new_int(ctx.clone(), 1)]).is_err());
            let _ = ctx.catch();
        });
    }
}
