//! The globals k6 scripts expect besides the modules: `console`, `open()`, WebCrypto's
//! `crypto` ([`super::webcrypto`]) and `global`, which k6 defines as `globalThis` (browserify
//! and webpack bundles such as chai's find the global object through it).

use std::rc::Rc;

use rquickjs::function::{Opt, Rest};
use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, Value};

use super::modules::convert::type_error;
use super::vu_ctx::{Phase, VuCtx};

type R<T> = rquickjs::Result<T>;

/// Installs `console`, `open`, `crypto` and `global` into a fresh context.
pub fn install<'js>(ctx: &Ctx<'js>, vu: &Rc<VuCtx>) -> R<()> {
    ctx.globals().set("global", ctx.globals())?;
    install_console(ctx)?;
    super::webcrypto::install(ctx)?;
    install_open(ctx, vu)
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
            let p = vu1
                .program
                .resolve_open_path(&path)
                .map_err(|e| Exception::throw_message(&ctx, &format!("open() of {e}")))?;
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
