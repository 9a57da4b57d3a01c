//! `k6/timers`: `setTimeout`, `clearTimeout`, `setInterval` and `clearInterval`, also installed
//! as globals (the module exports the very same functions, as k6's does). The timers wait in
//! the VU's queue (`js::timer_queue`), and its event loop (`js::event_loop`) fires them once the
//! iteration's function has returned; their callbacks (and extra arguments) wait in
//! `__volley.timerCallbacks`.

use std::rc::Rc;

use rquickjs::function::Rest;
use rquickjs::{Array, Coerced, Ctx, Function, Object, Value};

use super::convert::type_error;
use super::natives::Natives;
use super::K6Module;
use crate::js::timer_queue::{self, TimerKind, CALLBACKS};
use crate::js::vu_ctx::VuCtx;

type R<T> = rquickjs::Result<T>;

/// `k6/timers`.
pub const MODULE: K6Module = K6Module {
    name: "k6/timers",
    js: include_str!("timers.js"),
    install,
};

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    v.set(CALLBACKS, Object::new(ctx.clone())?)?;
    let globals = ctx.globals();
    for kind in [TimerKind::Timeout, TimerKind::Interval] {
        let vu1 = vu.clone();
        let set = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<Value<'js>>| -> R<u64> {
                let mut args = args.0.into_iter();
                let f = args.next().and_then(|f| f.into_function());
                let Some(f) = f else {
                    return Err(type_error(
                        &ctx,
                        &format!("{}'s callback isn't a callable function", kind.name()),
                    ));
                };
                let delay = match args.next() {
                    Some(d) => d.get::<Coerced<f64>>()?.0,
                    None => 0.0,
                };
                let entry = Array::new(ctx.clone())?;
                entry.set(0, f)?;
                for (i, a) in args.enumerate() {
                    entry.set(i + 1, a)?;
                }
                let id = vu1.timers.add(kind, delay);
                timer_queue::callbacks(&ctx)?.set(id as f64, entry)?;
                Ok(id)
            },
        )?;
        let vu2 = vu.clone();
        let clear = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: rquickjs::function::Opt<Value<'js>>| -> R<()> {
                // Anything that is not a pending timer's id is ignored, as in k6.
                let Some(id) = id.0.and_then(|v| v.as_number()) else {
                    return Ok(());
                };
                if id.fract() == 0.0 && id >= 1.0 && vu2.timers.clear(id as u64) {
                    timer_queue::callbacks(&ctx)?.remove(id)?;
                }
                Ok(())
            },
        )?;
        let (set_name, clear_name) = match kind {
            TimerKind::Timeout => ("setTimeout", "clearTimeout"),
            TimerKind::Interval => ("setInterval", "clearInterval"),
        };
        globals.set(set_name, set.clone())?;
        globals.set(clear_name, clear.clone())?;
        v.set(set_name, set)?;
        v.set(clear_name, clear)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
