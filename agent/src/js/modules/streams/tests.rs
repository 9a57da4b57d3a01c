use serde_json::json;

use crate::js::modulestest::TestVu;

/// Runs `body` (an async function's body that pushes to `log`) and returns `log`.
fn log_of(body: &str) -> serde_json::Value {
    let vu = TestVu::new();
    vu.run(&format!(
        "import {{ ReadableStream, ReadableStreamDefaultReader, CountQueuingStrategy }} \
           from 'k6/experimental/streams';
         globalThis.log = [];
         const err = (e) => e === undefined ? 'undefined' : e.name + ': ' + e.message;
         await (async () => {{ {body} }})();"
    ))
    .unwrap();
    vu.json("log")
}

#[test]
fn a_pull_source_is_pulled_while_under_its_high_water_mark_and_read_to_the_end() {
    // k6 v1.1.0 logs the same: each read waits before the source has started, so every chunk
    // goes straight to it and the queue stays empty (desired size 2); a source that has
    // started before the first read is pulled until its queue is full.
    let log = log_of(
        "let n = 0;
         const st = new ReadableStream({
           start(c) { log.push('start ' + c.desiredSize); },
           pull(c) { log.push('pull ' + c.desiredSize); n++; if (n > 3) c.close(); else c.enqueue(n); },
         }, new CountQueuingStrategy({ highWaterMark: 2 }));
         log.push(st.locked);
         const r = st.getReader();
         log.push(st.locked);
         for (;;) { const x = await r.read(); log.push(x.done ? 'done' : x.value); if (x.done) break; }
         await r.closed;
         log.push('closed');
         let m = 0;
         const s2 = new ReadableStream({
           pull(c) { log.push('pull ' + c.desiredSize); m++; if (m > 2) c.close(); else c.enqueue(m); },
         }, new CountQueuingStrategy({ highWaterMark: 2 }));
         await null; await null; await null;
         const r2 = s2.getReader();
         for (;;) { const x = await r2.read(); log.push(x.done ? 'done' : x.value); if (x.done) break; }",
    );
    assert_eq!(
        log,
        json!([
            "start 2", false, true, "pull 2", 1, "pull 2", 2, "pull 2", 3, "pull 2", "done",
            "closed", "pull 2", "pull 1", "pull 1", 1, 2, "done"
        ])
    );
}

#[test]
fn the_controller_counts_desired_size_and_refuses_to_enqueue_after_close() {
    let log = log_of(
        "let c;
         const st = new ReadableStream({ start(x) { c = x; } });
         log.push(c.desiredSize); c.enqueue('a'); log.push(c.desiredSize);
         c.enqueue('b'); log.push(c.desiredSize);
         const r = st.getReader();
         log.push(JSON.stringify(await r.read()));
         c.close();
         try { c.enqueue('c'); } catch (e) { log.push(err(e)); }
         try { c.close(); } catch (e) { log.push(err(e)); }
         log.push(JSON.stringify(await r.read()), JSON.stringify(await r.read()), c.desiredSize);
         let sized;
         new ReadableStream({ start(x) { sized = x; } }, { highWaterMark: 10, size: (ch) => ch.length });
         sized.enqueue('abcd');
         log.push(sized.desiredSize);",
    );
    assert_eq!(
        log,
        json!([
            1,
            0,
            -1,
            "{\"value\":\"a\",\"done\":false}",
            "TypeError: cannot close or enqueue",
            "TypeError: cannot close or enqueue",
            "{\"value\":\"b\",\"done\":false}",
            "{\"done\":true}",
            0,
            6
        ])
    );
}

#[test]
fn errors_reject_reads_and_closed_as_k6s_do() {
    let log = log_of(
        "let c;
         const st = new ReadableStream({ start(x) { c = x; x.enqueue(1); } });
         const r = st.getReader();
         try { st.getReader(); } catch (e) { log.push(err(e)); }
         try { await st.cancel(); } catch (e) { log.push(err(e)); }
         c.error(new Error('boom'));
         log.push(c.desiredSize);
         try { await r.read(); } catch (e) { log.push(err(e)); }
         try { await r.closed; } catch (e) { log.push('closed ' + err(e)); }
         try { await new ReadableStream({ pull() { throw new Error('in pull'); } }).getReader().read(); }
         catch (e) { log.push(err(e)); }
         try { new ReadableStream({ start() { throw new Error('in start'); } }); } catch (e) { log.push(err(e)); }
         try { new ReadableStream({}, { highWaterMark: -1 }); } catch (e) { log.push(err(e)); }
         try { new ReadableStream(null); } catch (e) { log.push(err(e)); }
         try { new ReadableStream({ pull: 3 }); } catch (e) { log.push(err(e)); }
         try { new ReadableStreamDefaultReader({}); } catch (e) { log.push(err(e)); }
         try { new ReadableStream().getReader({ mode: 'byob' }); } catch (e) { log.push(err(e)); }
         let bad;
         const sb = new ReadableStream({ start(x) { bad = x; } }, { size: () => -1 });
         try { bad.enqueue(1); } catch (e) { log.push(err(e)); }
         try { await sb.getReader().read(); } catch (e) { log.push(err(e)); }",
    );
    assert_eq!(
        log,
        json!([
            "TypeError: stream is locked",
            "TypeError: cannot cancel a locked stream",
            null,
            "Error: boom",
            "closed Error: boom",
            "Error: in pull",
            "Error: in start",
            "RangeError: highWaterMark must be a non-negative number",
            "TypeError: underlyingSource must be an object",
            "TypeError: underlyingSource.[[pull]] must be a function",
            "TypeError: ReadableStreamDefaultReader argument must be a ReadableStream",
            "GoError: NotSupportedError:'byob' mode is not supported yet",
            "RangeError: size must be a finite, non-NaN number",
            "RangeError: size must be a finite, non-NaN number"
        ])
    );
}

#[test]
fn cancel_and_release_end_a_readers_hold() {
    let log = log_of(
        "const st = new ReadableStream({ start(c) { c.enqueue(1); }, cancel(why) { log.push('cancel ' + why); return 'x'; } });
         log.push(await st.cancel('why'), JSON.stringify(await st.getReader().read()));
         const s2 = new ReadableStream({ pull(c) { c.enqueue(2); }, cancel(why) { log.push('cancel ' + why); } });
         const r2 = s2.getReader();
         log.push((await r2.read()).value, await r2.cancel('r'), (await r2.read()).done);
         const r3 = new ReadableStream().getReader();
         const pending = r3.read();
         r3.releaseLock();
         r3.releaseLock();
         try { await pending; } catch (e) { log.push(err(e)); }
         try { await r3.read(); } catch (e) { log.push(err(e)); }
         try { await r3.cancel(); } catch (e) { log.push(err(e)); }
         try { await r3.closed; } catch (e) { log.push(err(e)); }",
    );
    assert_eq!(
        log,
        json!([
            "cancel why",
            null,
            "{\"done\":true}",
            "cancel r",
            2,
            null,
            true,
            "TypeError: reader released",
            "TypeError: stream is undefined",
            "TypeError: stream is undefined",
            "TypeError: stream is readable"
        ])
    );
}

#[test]
fn an_iteration_waits_for_a_source_that_pulls_on_timers() {
    let vu = TestVu::new();
    vu.run(
        "import { ReadableStream } from 'k6/experimental/streams';
         globalThis.got = [];
         let n = 0;
         const st = new ReadableStream({
           pull(c) { return new Promise((done) => setTimeout(() => { n++; if (n > 3) c.close(); else c.enqueue(n); done(); }, 5)); },
         }, { highWaterMark: 0 });
         (async () => { const r = st.getReader(); for (;;) { const x = await r.read(); if (x.done) break; got.push(x.value); } })();",
    )
    .unwrap();
    assert_eq!(vu.json("got"), json!([1, 2, 3]));
}
