//! `k6/experimental/fs`: `open()` a file in the init context, then `read`, `seek` and `stat` it
//! in iterations ([docs/k6-compatibility.md](../../../../docs/k6-compatibility.md#k6experimentalfs)).
//!
//! Files are read through the same sandboxed access as the global `open()`
//! ([docs/agent-sandbox.md](../../../../docs/agent-sandbox.md)): resolved relative to the
//! script, captured in the program (so `volley submit` bundles them and agents read only the
//! bundled copy) and held once per process, shared by every VU. Each VU's file objects keep
//! their own position, in `fs.js`.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use rquickjs::{ArrayBuffer, Ctx, Exception, Function, Object, Value};

use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::{Phase, VuCtx};

type R<T> = rquickjs::Result<T>;

/// `k6/experimental/fs`.
pub const MODULE: K6Module = K6Module {
    name: "k6/experimental/fs",
    js: include_str!("fs.js"),
    install,
};

/// The files this VU opened, by id (their index); one entry per path.
type Opened = Rc<RefCell<Vec<(PathBuf, Arc<Vec<u8>>)>>>;

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
    let opened: Opened = Rc::default();
    let vu1 = vu.clone();
    let open1 = opened.clone();
    v.set(
        "fsOpen",
        Function::new(ctx.clone(), move |ctx: Ctx<'js>, spec: String| {
            open(&ctx, &vu1, &open1, &spec)
        })?,
    )?;
    v.set(
        "fsRead",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, id: usize, offset: usize, len: usize| -> R<Value<'js>> {
                let files = opened.borrow();
                let bytes = files
                    .get(id)
                    .and_then(|(_, data)| data.get(offset..offset.checked_add(len)?))
                    .ok_or_else(|| {
                        Exception::throw_range(&ctx, "fs: read outside the file (file id or range)")
                    })?;
                Ok(ArrayBuffer::new_copy(ctx.clone(), bytes)?.into_value())
            },
        )?,
    )?;
    Ok(())
}

/// `{id, path, name, size}`, or `{error, message}` with k6's error name and words.
fn open<'js>(ctx: &Ctx<'js>, vu: &VuCtx, opened: &Opened, spec: &str) -> R<Object<'js>> {
    let out = Object::new(ctx.clone())?;
    let fail = |name: &str, message: String| -> R<Object<'js>> {
        out.set("error", name)?;
        out.set("message", message)?;
        Ok(out.clone())
    };
    if vu.phase.get() != Phase::Init {
        return fail(
            "ForbiddenError",
            "open() failed; reason: opening a file is allowed only in the Init context".into(),
        );
    }
    let path = match vu.program.resolve_open_path(spec) {
        Ok(p) => p,
        Err(e) => return fail("ForbiddenError", format!("open() of {e}")),
    };
    let data = match vu.program.open_file(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(
                "NotFoundError",
                format!("no such file or directory {:?}", path.display().to_string()),
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => {
            return fail(
                "InvalidResourceError",
                format!(
                    "cannot open {:?}: opening a directory is not supported",
                    path.display().to_string()
                ),
            )
        }
        Err(e) => {
            return fail(
                "TypeError",
                format!("open() failed; reason: {}: {e}", path.display()),
            )
        }
    };
    let mut files = opened.borrow_mut();
    let id = match files.iter().position(|(p, _)| *p == path) {
        Some(i) => i,
        None => {
            files.push((path.clone(), data.clone()));
            files.len() - 1
        }
    };
    out.set("id", id)?;
    out.set("path", path.display().to_string())?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.set("name", name)?;
    out.set("size", data.len())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::js::modulestest::TestVu;
    use crate::js::vu_ctx::Phase;
    use serde_json::json;

    /// A file of `content` in a fresh folder; its absolute path.
    fn temp_file(name: &str, content: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("volley-fs-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn a_file_opened_in_init_is_read_at_its_own_position() {
        let path = temp_file("hello.txt", b"hello world");
        let vu = TestVu::new();
        vu.set_phase(Phase::Init);
        vu.run(&format!(
            "import {{ open, SeekMode }} from 'k6/experimental/fs';
             globalThis.f = await open({:?});
             globalThis.g = await open({:?});",
            path.display().to_string(),
            path.display().to_string()
        ))
        .unwrap();
        vu.set_phase(Phase::Iteration);
        vu.run(
            "import { SeekMode } from 'k6/experimental/fs';
             const s = (b, n) => String.fromCharCode(...b.subarray(0, n));
             const b = new Uint8Array(4);
             const out = [await f.stat(), f.path.endsWith('/hello.txt')];
             out.push(await f.read(b), s(b, 4), await g.read(b), s(b, 4));
             out.push(await f.seek(-3, SeekMode.End), await f.read(b), s(b, 3), await f.read(b));
             out.push(await f.seek(0, SeekMode.End), await f.seek(-11, SeekMode.End));
             // Only the view's bytes are written.
             const whole = new Uint8Array(6);
             out.push(await f.read(whole.subarray(2, 4)), Array.from(whole));
             out.push(await f.seek(3, SeekMode.Current), await f.read(new Uint8Array(0)));
             globalThis.out = out;",
        )
        .unwrap();
        assert_eq!(
            vu.json("out"),
            json!([
                {"name": "hello.txt", "size": 11}, true,
                4, "hell", 4, "hell",
                8, 3, "rld", null,
                11, 0,
                2, [0, 0, 104, 101, 0, 0],
                5, 0
            ])
        );
    }

    #[test]
    fn errors_name_k6s_kinds() {
        let path = temp_file("x.txt", b"abc");
        let dir = path.parent().unwrap().display().to_string();
        let vu = TestVu::new();
        vu.set_phase(Phase::Init);
        vu.run(&format!(
            "import {{ open }} from 'k6/experimental/fs';
             const why = async (p) => {{ try {{ await p; return 'resolved'; }} catch (e) {{ return String(e); }} }};
             globalThis.f = await open({path:?});
             globalThis.out = [
               await why(open({missing:?})),
               await why(open({dir:?})),
               await why(open('')),
               await why(open(null)),
             ];",
            path = path.display().to_string(),
            missing = format!("{dir}/missing.txt"),
        ))
        .unwrap();
        assert_eq!(
            vu.json("out"),
            json!([
                format!("NotFoundError: no such file or directory \"{dir}/missing.txt\""),
                format!("InvalidResourceError: cannot open \"{dir}\": opening a directory is not supported"),
                "TypeError: open() failed; reason: path cannot be empty",
                "TypeError: open() failed; reason: path cannot be null or undefined",
            ])
        );
        vu.set_phase(Phase::Iteration);
        vu.run(&format!(
            "import {{ open }} from 'k6/experimental/fs';
             const why = async (p) => {{ try {{ await p; return 'resolved'; }} catch (e) {{ return String(e); }} }};
             globalThis.out = [
               await why(open({path:?})),
               await why(f.seek(4, 0)),
               await why(f.seek(-1, 1)),
               await why(f.seek(1, 2)),
               await why(f.seek(0, 3)),
               await why(f.read(new Int8Array(1))),
             ];",
            path = path.display().to_string(),
        ))
        .unwrap();
        assert_eq!(
            vu.json("out"),
            json!([
                "ForbiddenError: open() failed; reason: opening a file is allowed only in the Init context",
                "TypeError: seeking beyond end of file",
                "TypeError: seeking before start of file",
                "TypeError: offset cannot be positive when using SeekModeEnd",
                "TypeError: seek() failed; reason: the whence argument must be a SeekMode",
                "TypeError: read() failed; reason: into argument must be a Uint8Array",
            ])
        );
    }
}
