//! `k6/data`: `SharedArray`, built once (by the first VU that makes it) and shared read-only by
//! every VU of the run.

use std::rc::Rc;
use std::sync::Arc;

use rquickjs::{Ctx, Exception, Function};

use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::{Phase, VuCtx};

type R<T> = rquickjs::Result<T>;

/// `k6/data`.
pub const MODULE: K6Module = K6Module {
    name: "k6/data",
    js: include_str!("data.js"),
    install,
};

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, vu: &Rc<VuCtx>) -> R<()> {
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

#[cfg(test)]
mod tests {
    use crate::js::modulestest::TestVu;
    use crate::js::vu_ctx::Phase;

    #[test]
    fn a_shared_array_is_built_once_in_init_and_read_only_after() {
        let vu = TestVu::new();
        vu.set_phase(Phase::Init);
        vu.run(
            "import { SharedArray } from 'k6/data';
             globalThis.built = 0;
             globalThis.a = new SharedArray('users', () => { built++; return [{ n: 1 }, 'two']; });
             globalThis.b = new SharedArray('users', () => { built++; return []; });",
        )
        .unwrap();
        vu.set_phase(Phase::Iteration);
        vu.run("globalThis.out = [built, a.length, b.length, a[0].n, b[1], a[2] === undefined];")
            .unwrap();
        assert_eq!(vu.json("out"), serde_json::json!([1, 2, 2, 1, "two", true]));
        // k6's words, for every change.
        for change in ["a[0] = 1;", "a.push(3);", "a.sort();", "delete a[0];"] {
            let e = vu.run(change).unwrap_err();
            assert_eq!(
                e.to_string(),
                "TypeError: SharedArray is immutable",
                "{change}"
            );
        }
        vu.run("globalThis.kept = [a.length, a.map((x) => typeof x).join()];")
            .unwrap();
        assert_eq!(vu.json("kept"), serde_json::json!([2, "object,string"]));
        let e = vu
            .run("import { SharedArray } from 'k6/data'; new SharedArray('late', () => []);")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "new SharedArray must be called in the init context"
        );
    }
}
