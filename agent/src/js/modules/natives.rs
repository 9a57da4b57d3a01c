//! `globalThis.__volley`: the native functions of every k6 module of a VU, in one object that
//! the modules' JS reads them from.

use std::cell::RefCell;

use rquickjs::{Ctx, IntoJs, Object, Value};

use crate::js::shapes;

type R<T> = rquickjs::Result<T>;

/// The natives of `__volley`, gathered before the object is made.
///
/// Adding `__volley`'s ~30 properties one by one cost ~1,000 instructions each in every VU's
/// start-up (property lookup, shape lookup, reallocation). The object is made in one step
/// instead, from a template with the same names ([`shapes::new_like_raw`]) that the runtime's
/// first VU makes. Without a prototype, every VU's `__volley` has that one shape, and the
/// template (kept in the runtime's userdata) references no context, so it keeps no VU alive.
pub struct Natives<'js> {
    ctx: Ctx<'js>,
    entries: RefCell<Vec<(&'static str, Value<'js>)>>,
}

impl<'js> Natives<'js> {
    pub fn new(ctx: &Ctx<'js>) -> Self {
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

    /// Adds the natives to an existing `__volley`, one property at a time.
    pub fn add_to(self, target: &Object<'js>) -> R<()> {
        for (name, value) in self.entries.into_inner() {
            target.set(name, value)?;
        }
        Ok(())
    }

    /// The `__volley` object.
    pub fn into_object(self) -> R<Object<'js>> {
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

#[cfg(test)]
mod tests {
    use super::{Natives, NativesTemplate};
    use crate::js::modulestest::TestVu;

    #[test]
    fn every_modules_natives_have_names_of_their_own() {
        // A repeated name would silently replace another module's native once both modules
        // are installed (they install one by one, when first imported).
        let vu = TestVu::new();
        let names = vu.with_ctx(|ctx| {
            let mut names = Vec::new();
            for m in crate::js::modules::MODULES {
                let n = Natives::new(&ctx);
                (m.install)(&ctx, &n, &vu.vu).unwrap();
                names.extend(n.entries.into_inner().into_iter().map(|e| e.0));
            }
            names
        });
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!(names.len() >= 60, "{}", names.len());
        // The `__volley` every VU starts with is made from the runtime's template.
        let (made, count) = vu.with_ctx(|ctx| {
            let made = ctx.userdata::<NativesTemplate>().map(|t| t.names.len());
            let count: usize = ctx.eval("Object.keys(__volley).length").unwrap();
            (made, count)
        });
        assert_eq!(made, Some(count));
    }
}
