//! Properties made when a script first reads them (QuickJS patch 0009, lazy properties:
//! vendor/rquickjs-sys/VOLLEY.md).
//!
//! A `k6/http` response carries `headers`, `cookies` and `request` objects that most scripts
//! never look at; making them was most of the cost of a response. A lazy property is an
//! autoinit property (QuickJS's mechanism for its own built-ins) whose value a [`LazyValue`]
//! makes on first read. Until then it is an ordinary enumerable data property to
//! `Object.keys`, `for…in`, `in` and `delete`; reading its value or descriptor, assigning or
//! redefining it (and so `JSON.stringify`, spreading, `Object.assign`) makes it first.
//!
//! The lazy properties of one object share one source: its data and one JS value it keeps
//! alive (such as templates), which the garbage collector sees through each property.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;

use rquickjs::{qjs, Atom, Ctx, Exception, Value};

type R<T> = rquickjs::Result<T>;

/// `JSVolleyLazyClass` of patch 0009: how QuickJS uses a source.
#[repr(C)]
pub(crate) struct LazyClass {
    init: unsafe extern "C" fn(
        *mut qjs::JSContext,
        qjs::JSValue,
        qjs::JSAtom,
        *mut c_void,
    ) -> qjs::JSValue,
    dup: unsafe extern "C" fn(*mut qjs::JSRuntime, *mut c_void),
    release: unsafe extern "C" fn(*mut qjs::JSRuntime, *mut c_void),
    mark: unsafe extern "C" fn(*mut qjs::JSRuntime, *mut c_void, qjs::JS_MarkFunc),
}

extern "C" {
    fn JS_VolleyDefineLazyProperty(
        ctx: *mut qjs::JSContext,
        obj: qjs::JSValue,
        prop: qjs::JSAtom,
        source: *mut c_void,
        flags: c_int,
    ) -> c_int;
}

/// What the lazy properties of an object are made from.
pub trait LazyValue: Sized + 'static {
    /// The value of the property `name`. `held` is the JS value given to [`Lazy::new`]. It runs
    /// in the middle of a property access, so it must not run script code: define properties
    /// (as [`crate::js::shapes`] does), never set them through a prototype's setters.
    fn make<'js>(&self, ctx: &Ctx<'js>, held: &Value<'js>, name: &Atom<'js>) -> R<Value<'js>>;
}

/// The shared source of an object's lazy properties. `#[repr(C)]`: QuickJS reads `class` first.
#[repr(C)]
struct Source<T: LazyValue> {
    class: &'static LazyClass,
    /// References to the source: the [`Lazy`] handle's while it lives and one per property.
    refs: Cell<usize>,
    /// A JS value kept alive, referenced once per reference to the source, so that each
    /// property's mark accounts for exactly the reference it holds (the cycle collector
    /// subtracts one per mark).
    held: qjs::JSValue,
    data: T,
}

impl<T: LazyValue> Source<T> {
    const CLASS: LazyClass = LazyClass {
        init: init::<T>,
        dup: dup::<T>,
        release: release::<T>,
        mark: mark::<T>,
    };
}

/// A handle on a new source, given to [`crate::js::shapes::Raw::object_like_lazy`] (each
/// property made takes its own reference).
pub struct Lazy<T: LazyValue> {
    source: NonNull<Source<T>>,
    rt: *mut qjs::JSRuntime,
}

impl<T: LazyValue> Lazy<T> {
    pub fn new<'js>(ctx: &Ctx<'js>, held: &Value<'js>, data: T) -> Self {
        let raw_ctx = ctx.as_raw().as_ptr();
        // SAFETY: a live context; a new reference to a live value of its runtime.
        let (rt, held) = unsafe {
            (
                qjs::JS_GetRuntime(raw_ctx),
                qjs::JS_DupValue(raw_ctx, held.as_raw()),
            )
        };
        let source = Box::new(Source {
            class: &Source::<T>::CLASS,
            refs: Cell::new(1),
            held,
            data,
        });
        Lazy {
            source: NonNull::from(Box::leak(source)),
            rt,
        }
    }

    /// The pointer QuickJS takes as the source.
    pub(crate) fn as_source(&self) -> *mut c_void {
        self.source.as_ptr().cast()
    }

    /// Defines `name` on `obj` (a plain extensible object without it) as a lazy property.
    #[cfg(test)]
    pub fn define<'js>(&self, obj: &rquickjs::Object<'js>, name: &Atom<'js>) -> R<()> {
        define_raw(obj, name, self.as_source())
    }
}

impl<T: LazyValue> Drop for Lazy<T> {
    fn drop(&mut self) {
        // SAFETY: the handle's own reference, given back once.
        unsafe { release::<T>(self.rt, self.as_source()) };
    }
}

/// Defines `name` on `obj` as a lazy property with no source (its value would be `undefined`):
/// a template's slot for a lazy property ([`crate::js::shapes::template_lazy`]).
pub(crate) fn define_slot<'js>(obj: &rquickjs::Object<'js>, name: &Atom<'js>) -> R<()> {
    define_raw(obj, name, std::ptr::null_mut())
}

fn define_raw<'js>(obj: &rquickjs::Object<'js>, name: &Atom<'js>, source: *mut c_void) -> R<()> {
    let ctx = obj.ctx();
    let raw_ctx = ctx.as_raw().as_ptr();
    let name = name.to_value()?;
    // SAFETY: live values of this context; `JS_ValueToAtom` returns an owned atom (freed
    // below); the source is borrowed (the property takes its own reference) or null.
    let r = unsafe {
        let atom = qjs::JS_ValueToAtom(raw_ctx, name.as_raw());
        if atom == qjs::JS_ATOM_NULL {
            return Err(rquickjs::Error::Exception);
        }
        let r = JS_VolleyDefineLazyProperty(
            raw_ctx,
            obj.as_raw(),
            atom,
            source,
            (qjs::JS_PROP_CONFIGURABLE | qjs::JS_PROP_WRITABLE | qjs::JS_PROP_ENUMERABLE) as c_int,
        );
        qjs::JS_FreeAtom(raw_ctx, atom);
        r
    };
    if r < 0 {
        return Err(rquickjs::Error::Exception);
    }
    Ok(())
}

/// # Safety
/// `source` is a live `Source<T>`.
unsafe fn source<'a, T: LazyValue>(source: *mut c_void) -> &'a Source<T> {
    // SAFETY: the caller's promise.
    unsafe { &*source.cast::<Source<T>>() }
}

unsafe extern "C" fn init<T: LazyValue>(
    ctx: *mut qjs::JSContext,
    _obj: qjs::JSValue,
    prop: qjs::JSAtom,
    src: *mut c_void,
) -> qjs::JSValue {
    let Some(raw) = NonNull::new(ctx) else {
        return qjs::JS_EXCEPTION;
    };
    let made = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: QuickJS calls this with a live context of the runtime the calling thread
        // holds, and the property's reference keeps the source alive during the call.
        let (ctx, s) = unsafe { (Ctx::from_raw(raw), source::<T>(src)) };
        // SAFETY: new references to live values of this runtime.
        let (held, name) = unsafe {
            (
                Value::from_raw(ctx.clone(), qjs::JS_DupValue(raw.as_ptr(), s.held)),
                Value::from_raw(ctx.clone(), qjs::JS_AtomToValue(raw.as_ptr(), prop)),
            )
        };
        let made =
            Atom::from_value(ctx.clone(), &name).and_then(|name| s.data.make(&ctx, &held, &name));
        match made {
            // SAFETY: a new reference for QuickJS, which takes it.
            Ok(v) => unsafe { qjs::JS_DupValue(raw.as_ptr(), v.as_raw()) },
            Err(rquickjs::Error::Exception) => qjs::JS_EXCEPTION,
            Err(e) => {
                let _ = Exception::throw_internal(&ctx, &format!("a lazy property: {e}"));
                qjs::JS_EXCEPTION
            }
        }
    }));
    made.unwrap_or_else(|_| {
        // SAFETY: as above.
        let ctx = unsafe { Ctx::from_raw(raw) };
        let _ = Exception::throw_internal(&ctx, "a lazy property could not be made");
        qjs::JS_EXCEPTION
    })
}

unsafe extern "C" fn dup<T: LazyValue>(rt: *mut qjs::JSRuntime, src: *mut c_void) {
    // SAFETY: QuickJS passes a live source of a property (or the handle's).
    let s = unsafe { source::<T>(src) };
    s.refs.set(s.refs.get() + 1);
    // SAFETY: one more reference to the held value, of this runtime.
    unsafe { qjs::JS_DupValueRT(rt, s.held) };
}

unsafe extern "C" fn release<T: LazyValue>(rt: *mut qjs::JSRuntime, src: *mut c_void) {
    // SAFETY: a live source, whose one reference the caller gives back.
    let s = unsafe { source::<T>(src) };
    // SAFETY: the reference to the held value that went with it.
    unsafe { qjs::JS_FreeValueRT(rt, s.held) };
    let n = s.refs.get() - 1;
    s.refs.set(n);
    if n == 0 {
        // SAFETY: the last reference: the box made by `Lazy::new`.
        drop(unsafe { Box::from_raw(src.cast::<Source<T>>()) });
    }
}

unsafe extern "C" fn mark<T: LazyValue>(
    rt: *mut qjs::JSRuntime,
    src: *mut c_void,
    mark_func: qjs::JS_MarkFunc,
) {
    // SAFETY: a live source of a property being marked.
    let s = unsafe { source::<T>(src) };
    // SAFETY: marking a value of this runtime with the collector's function.
    unsafe { qjs::JS_MarkValue(rt, s.held, mark_func) };
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use rquickjs::{Context, Object, Runtime};

    use super::*;

    /// Makes `"<name> #<n>"` and counts what it made; `boom` panics; counts its drop.
    struct Counting {
        made: Rc<Cell<u32>>,
        dropped: Rc<Cell<u32>>,
    }

    impl LazyValue for Counting {
        fn make<'js>(&self, ctx: &Ctx<'js>, held: &Value<'js>, name: &Atom<'js>) -> R<Value<'js>> {
            let name = name.to_string()?;
            assert!(name != "boom", "a maker that fails");
            self.made.set(self.made.get() + 1);
            let tag: String = held.as_object().unwrap().get("tag")?;
            let s = format!("{name} {tag} #{}", self.made.get());
            Ok(rquickjs::String::from_str(ctx.clone(), &s)?.into_value())
        }
    }

    impl Drop for Counting {
        fn drop(&mut self) {
            self.dropped.set(self.dropped.get() + 1);
        }
    }

    #[test]
    fn lazy_properties_are_made_once_on_read_and_their_source_freed_with_them() {
        let rt = Runtime::new().unwrap();
        let cx = Context::full(&rt).unwrap();
        let (made, dropped) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        cx.with(|ctx| {
            let held: Object = ctx.eval("({ tag: 't' })").unwrap();
            let lazy = Lazy::new(
                &ctx,
                held.as_value(),
                Counting {
                    made: made.clone(),
                    dropped: dropped.clone(),
                },
            );
            let o = Object::new(ctx.clone()).unwrap();
            for n in ["a", "b", "boom"] {
                lazy.define(&o, &Atom::from_str(ctx.clone(), n).unwrap())
                    .unwrap();
            }
            assert!(lazy
                .define(&o, &Atom::from_str(ctx.clone(), "a").unwrap())
                .is_err());
            let _ = ctx.catch();
            drop(lazy);
            // A cycle through the held value, which the collector sees through `b`'s mark.
            held.set("back", o.clone()).unwrap();
            ctx.globals().set("o", o).unwrap();
            let keys: String = ctx.eval("Object.keys(o).join()").unwrap();
            assert_eq!(keys, "a,b,boom");
            assert_eq!(made.get(), 0);
            let s: String = ctx.eval("o.a + ' ' + o.a").unwrap();
            assert_eq!(s, "a t #1 a t #1");
            let e = ctx.eval::<String, _>("o.boom").unwrap_err();
            assert!(matches!(e, rquickjs::Error::Exception));
            let msg: String = ctx.catch().get::<Object>().unwrap().get("message").unwrap();
            assert_eq!(msg, "a lazy property could not be made");
            let _: bool = ctx.eval("delete globalThis.o").unwrap();
        });
        assert_eq!(dropped.get(), 0, "b still holds the source");
        rt.run_gc();
        assert_eq!(made.get(), 1);
        assert_eq!(dropped.get(), 1, "the source went with its last property");
    }
}
