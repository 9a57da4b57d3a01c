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

use crate::js::lazy::{self, Lazy, LazyValue};

type R<T> = rquickjs::Result<T>;

extern "C" {
    fn JS_VolleyNewObjectLike(
        ctx: *mut qjs::JSContext,
        tmpl: qjs::JSValue,
        values: *mut qjs::JSValue,
        count: std::ffi::c_int,
    ) -> qjs::JSValue;
    fn JS_VolleyNewObjectLikeLazy(
        ctx: *mut qjs::JSContext,
        tmpl: qjs::JSValue,
        values: *mut qjs::JSValue,
        count: std::ffi::c_int,
        source: *mut std::ffi::c_void,
    ) -> qjs::JSValue;
}

/// `v` as an [`Object`] if it is one, told by its tag alone. rquickjs's own conversions
/// (`Value::into_object`, `FromJs for Object`) first work out what kind of object it is (array,
/// function, constructor, promise, error, proxy): ~130 instructions, five times per `k6/http`
/// request (docs/benchmarks.md#what-each-change-bought), where every kind is an `Object` all
/// the same.
pub fn object_by_tag(v: Value<'_>) -> Option<Object<'_>> {
    if !v.is_object() {
        return None;
    }
    // SAFETY: `Object` is a `#[repr(transparent)]` wrapper of `Value`, and any value with the
    // object tag is one `Value::into_object` would accept (it accepts every kind of object).
    Some(unsafe { std::mem::transmute::<Value<'_>, Object<'_>>(v) })
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
    template_lazy(ctx, proto, names, |_| false)
}

/// A template whose properties `lazy(i)` are lazy ([`crate::js::lazy`]): objects made from it
/// with [`Raw::object_like_lazy`] get lazy properties there.
pub fn template_lazy<'js>(
    ctx: &Ctx<'js>,
    proto: Option<&Object<'js>>,
    names: &[Atom<'js>],
    lazy: impl Fn(usize) -> bool,
) -> R<Object<'js>> {
    let o = match proto {
        Some(p) => Object::new_proto(ctx.clone(), Some(p))?,
        None => Object::new(ctx.clone())?,
    };
    for (i, n) in names.iter().enumerate() {
        if lazy(i) {
            lazy::define_slot(&o, n)?;
        } else {
            define(&o, n, Value::new_undefined(ctx.clone()))?;
        }
    }
    Ok(o)
}

/// Defines `name` on `o` as an enumerable, writable, configurable data property. Unlike
/// `Object::set` no setter of the prototype chain runs (no script code, which a lazy property's
/// maker must not run), as k6 makes its objects.
pub fn define<'js>(o: &Object<'js>, name: &Atom<'js>, v: Value<'js>) -> R<()> {
    let raw_ctx = o.ctx().as_raw().as_ptr();
    let name = name.to_value()?;
    // SAFETY: a live value of this context; the atom returned is owned.
    let atom = unsafe { qjs::JS_ValueToAtom(raw_ctx, name.as_raw()) };
    define_owned_atom(o, atom, v)
}

/// [`define`] with the name as a string.
pub fn define_str<'js>(o: &Object<'js>, name: &str, v: Value<'js>) -> R<()> {
    let raw_ctx = o.ctx().as_raw().as_ptr();
    // SAFETY: `name` is `name.len()` bytes; the atom returned is owned.
    let atom = unsafe { qjs::JS_NewAtomLen(raw_ctx, name.as_ptr().cast(), name.len() as _) };
    define_owned_atom(o, atom, v)
}

/// Defines `name` on the template `o` as a constant: an enumerable data property neither
/// writable nor configurable. Defined after a template's other properties, every object made
/// from it gets `v` as its own property, for one reference count and no value passed
/// (vendor/rquickjs-sys/VOLLEY.md, patch 0012).
pub fn define_constant<'js>(o: &Object<'js>, name: &str, v: Value<'js>) -> R<()> {
    let raw_ctx = o.ctx().as_raw().as_ptr();
    // SAFETY: `name` is `name.len()` bytes; the atom returned is owned.
    let atom = unsafe { qjs::JS_NewAtomLen(raw_ctx, name.as_ptr().cast(), name.len() as _) };
    define_owned_atom_flags(o, atom, v, qjs::JS_PROP_ENUMERABLE as std::ffi::c_int)
}

/// Defines `atom` (owned, freed here; `JS_ATOM_NULL` for an exception) on `o` as `v`.
fn define_owned_atom<'js>(o: &Object<'js>, atom: qjs::JSAtom, v: Value<'js>) -> R<()> {
    define_owned_atom_flags(o, atom, v, qjs::JS_PROP_C_W_E as std::ffi::c_int)
}

/// [`define_owned_atom`] with the property's flags.
fn define_owned_atom_flags<'js>(
    o: &Object<'js>,
    atom: qjs::JSAtom,
    v: Value<'js>,
    flags: std::ffi::c_int,
) -> R<()> {
    if atom == qjs::JS_ATOM_NULL {
        return Err(rquickjs::Error::Exception);
    }
    let raw_ctx = o.ctx().as_raw().as_ptr();
    // SAFETY: live values of this context; `JS_DefinePropertyValue` takes the new reference to
    // the value; the atom is ours to free.
    let r = unsafe {
        let r = qjs::JS_DefinePropertyValue(
            raw_ctx,
            o.as_raw(),
            atom,
            qjs::JS_DupValue(raw_ctx, v.as_raw()),
            flags,
        );
        qjs::JS_FreeAtom(raw_ctx, atom);
        r
    };
    if r < 0 {
        return Err(rquickjs::Error::Exception);
    }
    Ok(())
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
    object_by_tag(v).ok_or_else(|| rquickjs::Error::new_from_js("value", "object"))
}

/// Values made directly as QuickJS values on their way into one new object ([`Raw::object_like`])
/// or array ([`Raw::array`]), which takes them over: unlike a [`Value`], such a value holds no
/// reference to its context, and it is not copied once more into the object (a response is
/// ~35 values, each of which cost a context and a value reference-count round trip).
/// Values that never reach an object are freed on drop. Used by reference (`&mut`): handing
/// the values over empties it, so its 16-value array is never copied (it was ~1.1k
/// instructions of `memcpy` per `k6/http` response when a `Raw` was passed by value).
pub struct Raw<'a, 'js> {
    ctx: &'a Ctx<'js>,
    first: [qjs::JSValue; STACK_VALUES],
    len: usize,
    /// Values past the first [`STACK_VALUES`].
    more: Vec<qjs::JSValue>,
}

impl<'a, 'js> Raw<'a, 'js> {
    pub fn new(ctx: &'a Ctx<'js>) -> Self {
        Self {
            ctx,
            first: [qjs::JS_UNDEFINED; STACK_VALUES],
            len: 0,
            more: Vec::new(),
        }
    }

    fn raw_ctx(&self) -> *mut qjs::JSContext {
        self.ctx.as_raw().as_ptr()
    }

    /// Takes `v`, an owned value of this context (or the exception marker).
    fn push(&mut self, v: qjs::JSValue) -> R<()> {
        // SAFETY: inspecting a value's tag.
        if unsafe { qjs::JS_IsException(v) } {
            return Err(rquickjs::Error::Exception);
        }
        if self.len < STACK_VALUES {
            self.first[self.len] = v;
            self.len += 1;
        } else {
            self.more.push(v);
        }
        Ok(())
    }

    pub fn string(&mut self, s: &str) -> R<()> {
        // SAFETY: `s` is valid UTF-8 of `s.len()` bytes; the result is owned.
        let v = unsafe { qjs::JS_NewStringLen(self.raw_ctx(), s.as_ptr().cast(), s.len() as _) };
        self.push(v)
    }

    /// A number, as an integer when it is one (as [`Value::new_number`] makes it).
    pub fn number(&mut self, n: f64) -> R<()> {
        let int = n as i32;
        #[allow(clippy::float_cmp)]
        let v = if n == f64::from(int) {
            qjs::JS_MKVAL(qjs::JS_TAG_INT, int)
        } else {
            qjs::JS_NewFloat64(n)
        };
        self.push(v)
    }

    pub fn int(&mut self, n: i32) -> R<()> {
        self.push(qjs::JS_MKVAL(qjs::JS_TAG_INT, n))
    }

    /// The slot of a lazy property ([`Raw::object_like_lazy`]).
    pub fn undefined(&mut self) -> R<()> {
        self.push(qjs::JS_UNDEFINED)
    }

    pub fn value(&mut self, v: Value<'js>) -> R<()> {
        // SAFETY: a new reference to a live value of this context.
        let raw = unsafe { qjs::JS_DupValue(self.raw_ctx(), v.as_raw()) };
        self.push(raw)
    }

    /// All the values, in order, given up by `self` (the caller now owns them).
    fn take(&mut self) -> Vec<qjs::JSValue> {
        let mut all = Vec::with_capacity(self.len + self.more.len());
        all.extend_from_slice(&self.first[..self.len]);
        all.append(&mut self.more);
        self.len = 0;
        all
    }

    /// Calls `f` with the values in one slice; `f` takes them over (`self` is left empty).
    fn hand_over<T>(&mut self, f: impl FnOnce(&mut [qjs::JSValue]) -> T) -> T {
        if self.more.is_empty() {
            let n = self.len;
            self.len = 0;
            f(&mut self.first[..n])
        } else {
            f(&mut self.take())
        }
    }

    /// A new object with `tmpl`'s prototype and property names holding the values (see
    /// [`new_like`]).
    pub fn object_like(&mut self, tmpl: &Object<'js>) -> R<Object<'js>> {
        // SAFETY: `tmpl` is a live object of this context.
        unsafe { self.object_like_raw(tmpl.as_raw()) }
    }

    /// [`Raw::object_like`] for a template with lazy properties ([`template_lazy`]), which
    /// are made from `source`; their values here must be `undefined` ([`Raw::undefined`]).
    pub fn object_like_lazy<T: LazyValue>(
        &mut self,
        tmpl: &Object<'js>,
        source: &Lazy<T>,
    ) -> R<Object<'js>> {
        // SAFETY: `tmpl` is a live object of this context.
        unsafe { self.object_like_with(tmpl.as_raw(), source.as_source()) }
    }

    /// [`Raw::object_like`] with a template held as a raw value.
    ///
    /// # Safety
    /// `tmpl` must be a live value of this context's runtime for the duration of the call.
    pub unsafe fn object_like_raw(&mut self, tmpl: qjs::JSValue) -> R<Object<'js>> {
        // SAFETY: the caller's promise; no source.
        unsafe { self.object_like_with(tmpl, std::ptr::null_mut()) }
    }

    /// # Safety
    /// `tmpl` must be a live value of this context's runtime for the duration of the call, and
    /// `source` null or a live source ([`Lazy::as_source`]).
    unsafe fn object_like_with(
        &mut self,
        tmpl: qjs::JSValue,
        source: *mut std::ffi::c_void,
    ) -> R<Object<'js>> {
        let ctx = self.ctx.clone();
        let raw_ctx = self.raw_ctx();
        let out = self.hand_over(|vals| {
            let count = std::ffi::c_int::try_from(vals.len());
            match count {
                // SAFETY: the values are owned values of this context; QuickJS takes them
                // (and frees them also on failure). `tmpl` and `source` are the caller's promise.
                Ok(count) => unsafe {
                    JS_VolleyNewObjectLikeLazy(raw_ctx, tmpl, vals.as_mut_ptr(), count, source)
                },
                Err(_) => {
                    for v in vals.iter() {
                        // SAFETY: freeing values we own.
                        unsafe { qjs::JS_FreeValue(raw_ctx, *v) };
                    }
                    qjs::JS_EXCEPTION
                }
            }
        });
        // SAFETY: the result is an owned value of this context (or the exception marker).
        let v = unsafe { Value::from_raw(ctx, out) };
        if v.is_exception() {
            return Err(rquickjs::Error::Exception);
        }
        object_by_tag(v).ok_or_else(|| rquickjs::Error::new_from_js("value", "object"))
    }

    /// An array of the values, as an owned raw value (for another [`Raw`]: [`Raw::push_raw`]).
    pub fn array(&mut self) -> R<qjs::JSValue> {
        let raw_ctx = self.raw_ctx();
        let out = self.hand_over(|vals| {
            match std::ffi::c_int::try_from(vals.len()) {
                // SAFETY: owned values of this context; `JS_NewArrayFrom` takes them (and
                // frees them on failure).
                Ok(count) => unsafe { qjs::JS_NewArrayFrom(raw_ctx, count, vals.as_ptr()) },
                Err(_) => {
                    for v in vals.iter() {
                        // SAFETY: freeing values we own.
                        unsafe { qjs::JS_FreeValue(raw_ctx, *v) };
                    }
                    qjs::JS_EXCEPTION
                }
            }
        });
        // SAFETY: inspecting a value's tag.
        if unsafe { qjs::JS_IsException(out) } {
            return Err(rquickjs::Error::Exception);
        }
        Ok(out)
    }

    /// Takes an owned raw value made by [`Raw::array`].
    pub fn push_raw(&mut self, v: qjs::JSValue) -> R<()> {
        self.push(v)
    }

    /// The values as ordinary [`Value`]s (`self` is left empty).
    pub fn take_values(&mut self) -> Vec<Value<'js>> {
        let ctx = self.ctx.clone();
        self.take()
            .into_iter()
            // SAFETY: each is an owned value of this context, given to its `Value`.
            .map(|v| unsafe { Value::from_raw(ctx.clone(), v) })
            .collect()
    }
}

impl Drop for Raw<'_, '_> {
    fn drop(&mut self) {
        let raw_ctx = self.raw_ctx();
        for v in self.first[..self.len].iter().chain(&self.more) {
            // SAFETY: freeing values we still own.
            unsafe { qjs::JS_FreeValue(raw_ctx, *v) };
        }
    }
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
