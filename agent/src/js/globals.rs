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

/// How console arguments print: strings as-is, errors with their message, objects as JSON,
/// as k6 v1.1.0 prints them: a function as `null` (its JSON), a symbol as its description.
fn console_string<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> R<String> {
    if let Some(s) = v.as_string() {
        return s.to_string();
    }
    if v.is_undefined() {
        return Ok("undefined".into());
    }
    if let Some(sym) = v.as_symbol() {
        let d: Value = sym.description()?;
        return Ok(d
            .as_string()
            .map(|s| s.to_string())
            .transpose()?
            .unwrap_or_default());
    }
    if let Some(obj) = v.as_object() {
        if let Some(e) = Exception::from_object(obj.clone()) {
            let name: String = obj.get("name").unwrap_or_else(|_| "Error".into());
            return Ok(format!("{name}: {}", e.message().unwrap_or_default()));
        }
        if v.as_function().is_some() {
            return Ok("null".into());
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

#[cfg(test)]
mod tests {
    use super::console_string;

    /// What k6 v1.1.0 printed for each argument of `console.log`.
    #[test]
    fn console_arguments_print_as_k6_prints_them() {
        let rt = rquickjs::Runtime::new().unwrap();
        let ctx = rquickjs::Context::full(&rt).unwrap();
        ctx.with(|ctx| {
            for (js, want) in [
                ("'text'", "text"),
                ("undefined", "undefined"),
                (
                    "({ a: 1, b: [1, 'x'], u: undefined })",
                    "{\"a\":1,\"b\":[1,\"x\"]}",
                ),
                ("() => 1", "null"),
                ("(function named() {})", "null"),
                ("Symbol('s')", "s"),
                ("Symbol()", ""),
                ("new Date(0)", "\"1970-01-01T00:00:00.000Z\""),
                ("new TypeError('bad')", "TypeError: bad"),
            ] {
                let v: rquickjs::Value = ctx.eval(js).unwrap();
                assert_eq!(console_string(&ctx, v).unwrap(), want, "{js}");
            }
        });
    }
}
