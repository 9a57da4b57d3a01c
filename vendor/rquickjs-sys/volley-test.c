/*
 * Tests of Volley's patches to QuickJS (patches/, described in VOLLEY.md), run by
 * run-quickjs-tests.sh next to upstream's own tests. Upstream's tests show the patches keep
 * QuickJS's behaviour; these check what the patches add or change: the functions Volley calls
 * and the behaviour upstream's tests do not look at (lazily created intrinsics reached from C,
 * deleted lazy globals, the cached names of function-list accessors in a second context).
 * Uses only quickjs.h; JS_FreeRuntime's own assertions catch leaked objects.
 */
#ifdef NDEBUG
#undef NDEBUG
#endif
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "quickjs.h"

/* The functions patches/0001-0003, 0008 and 0009 add (declared on the Rust side in the agent). */
void *JS_VolleyGetStackFrame(JSRuntime *rt);
void JS_VolleySetStackFrame(JSRuntime *rt, void *sf);
void JS_VolleySetStack(JSRuntime *rt, uintptr_t top, size_t size);
int JS_VolleyExecutePendingJobOf(JSContext *ctx);
size_t JS_VolleyMallocSize(JSRuntime *rt);
JSValue JS_VolleyNewObjectLike(JSContext *ctx, JSValueConst tmpl, JSValue *values, int count);
void JS_VolleyShareBytecode(JSRuntime *rt, int on);
uint32_t JS_VolleySharedBytecodeCount(JSRuntime *rt);
typedef struct JSVolleyLazyClass {
    JSValue (*init)(JSContext *ctx, JSValueConst obj, JSAtom prop, void *source);
    void (*dup)(JSRuntime *rt, void *source);
    void (*release)(JSRuntime *rt, void *source);
    void (*mark)(JSRuntime *rt, void *source, JS_MarkFunc *mark_func);
} JSVolleyLazyClass;
int JS_VolleyDefineLazyProperty(JSContext *ctx, JSValueConst obj, JSAtom prop, void *source,
                                int flags);
JSValue JS_VolleyNewObjectLikeLazy(JSContext *ctx, JSValueConst tmpl, JSValue *values, int count,
                                   void *source);

static int failures;

static JSValue eval(JSContext *ctx, const char *code)
{
    return JS_Eval(ctx, code, strlen(code), "<volley-test>", JS_EVAL_TYPE_GLOBAL);
}

/* Evaluates `code`, which must complete with `true`; reports the check and any exception. */
static void check(JSContext *ctx, const char *what, const char *code)
{
    JSValue v = eval(ctx, code);
    if (JS_IsException(v)) {
        JSValue exc = JS_GetException(ctx);
        const char *msg = JS_ToCString(ctx, exc);
        fprintf(stderr, "FAIL %s: threw %s\n", what, msg ? msg : "?");
        JS_FreeCString(ctx, msg);
        JS_FreeValue(ctx, exc);
        failures++;
    } else if (!JS_IsBool(v) || !JS_ToBool(ctx, v)) {
        fprintf(stderr, "FAIL %s: %s is not true\n", what, code);
        failures++;
    } else {
        printf("ok   %s\n", what);
    }
    JS_FreeValue(ctx, v);
}

static void expect(int cond, const char *what)
{
    if (cond) {
        printf("ok   %s\n", what);
    } else {
        fprintf(stderr, "FAIL %s\n", what);
        failures++;
    }
}

static void set_global(JSContext *ctx, const char *name, JSValue v)
{
    JSValue global = JS_GetGlobalObject(ctx);
    JS_SetPropertyStr(ctx, global, name, v);
    JS_FreeValue(ctx, global);
}

/* patches/0004: the lazy groups behave as if made with the context. */
static void lazy_intrinsics(void)
{
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    uint8_t bytes[3] = { 1, 2, 3 };
    uint8_t *buf;
    size_t len;
    JSValue date, copy;
    JSContext *other;

    check(ctx, "a regular expression literal before RegExp is read",
          "/b+/.exec('abbc')[0] === 'bb' && 'abc'.match(/b/)[0] === 'b' && "
          "'a-b'.replace(/-/g, '+') === 'a+b'");
    check(ctx, "lazy globals are ordinary data properties",
          "['Date', 'Map', 'Set', 'WeakMap', 'WeakSet', 'ArrayBuffer', 'SharedArrayBuffer', "
          "'Uint8Array', 'Float64Array', 'DataView', 'WeakRef', 'FinalizationRegistry', "
          "'RegExp'].every(n => { const d = Object.getOwnPropertyDescriptor(globalThis, n); "
          "return d.writable && d.configurable && !d.enumerable && typeof d.value === 'function' "
          "&& d.value.name === n && globalThis[n] === d.value; })");
    check(ctx, "Date", "new Date(0).getTime() === 0 && typeof Date.now() === 'number'");
    check(ctx, "Map and Set",
          "new Map([[1, 2]]).get(1) === 2 && new Set([1]).has(1) && "
          "new WeakMap() instanceof WeakMap && new WeakSet() instanceof WeakSet && "
          "[...new Map([[3, 4]]).keys()][0] === 3");
    check(ctx, "typed arrays",
          "new Uint8Array([1, 2]).length === 2 && new DataView(new ArrayBuffer(4)).byteLength "
          "=== 4 && Object.getPrototypeOf(Int8Array.prototype).constructor.name === "
          "'TypedArray' && typeof Atomics.add === 'function' && "
          "Uint8Array.fromBase64('AQI=')[1] === 2 && new Uint8Array([1, 2]).toBase64() === 'AQI='");
    check(ctx, "WeakRef", "new WeakRef({}) instanceof WeakRef && "
          "typeof new FinalizationRegistry(() => {}).register === 'function'");
    check(ctx, "Object.prototype.toString of lazy classes",
          "Object.prototype.toString.call(new Date(0)) === '[object Date]' && "
          "Object.prototype.toString.call(new Map()) === '[object Map]'");

    /* A group made by the engine, not by reading a global. */
    other = JS_NewContext(rt);
    date = JS_NewDate(other, 0);
    assert(!JS_IsException(date));
    set_global(other, "d", date);
    set_global(other, "ab", JS_NewArrayBufferCopy(other, bytes, sizeof(bytes)));
    check(other, "Date and ArrayBuffer made from C first",
          "d instanceof Date && d.getTime() === 0 && ab instanceof ArrayBuffer && "
          "new Uint8Array(ab)[2] === 3");
    check(other, "a deleted lazy global stays deleted when its group is made",
          "delete globalThis.Set && new Map().size === 0 && !('Set' in globalThis) && "
          "typeof WeakSet === 'function'");
    JS_FreeContext(other);

    /* The bytecode reader makes a Date in a context that has none yet. */
    date = eval(ctx, "new Date(1234)");
    buf = JS_WriteObject(ctx, &len, date, 0);
    assert(buf);
    JS_FreeValue(ctx, date);
    other = JS_NewContext(rt);
    copy = JS_ReadObject(other, buf, len, 0);
    js_free(ctx, buf);
    expect(!JS_IsException(copy) && JS_IsDate(copy), "a Date read from bytes");
    set_global(other, "d", copy);
    check(other, "the Date read from bytes", "d instanceof Date && d.getTime() === 1234");
    JS_FreeContext(other);

    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
}

/* patches/0005-0007: function lists keep their names and shapes in every context. */
static const char function_list_checks[] =
    "Object.getOwnPropertyDescriptor(Map.prototype, 'size').get.name === 'get size' && "
    "Object.getOwnPropertyDescriptor(Object.prototype, '__proto__').set.name === "
    "'set __proto__' && "
    "Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength').get.name === "
    "'get byteLength' && "
    "Object.getOwnPropertyDescriptor(RegExp.prototype, 'flags').get.name === 'get flags' && "
    "Object.getOwnPropertyDescriptor(Map, Symbol.species).get.name === "
    "'get [Symbol.species]' && "
    "Array.prototype.map.name === 'map' && Math.max.name === 'max' && "
    "JSON.stringify.length === 3 && Array.prototype[Symbol.iterator].name === 'values' && "
    "Object.getOwnPropertyNames(Array.prototype).includes('flatMap') && "
    "(Array.prototype.volley = 1, [].volley === 1 && delete Array.prototype.volley)";

static void function_lists(void)
{
    JSRuntime *rt = JS_NewRuntime();
    JSContext *first = JS_NewContext(rt);
    JSContext *second;

    check(first, "function-list names in the first context", function_list_checks);
    JS_FreeContext(first);
    /* The names now come from the runtime's cache, whose atoms outlived the first context. */
    second = JS_NewContext(rt);
    check(second, "function-list names from the cache", function_list_checks);
    JS_FreeContext(second);
    JS_FreeRuntime(rt);
}

/* patches/0003 */
static void new_object_like(void)
{
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    JSValue tmpl = eval(ctx, "({ a: 1, b: 'x' })");
    JSValue values[2], obj, exc;

    values[0] = JS_NewInt32(ctx, 7);
    values[1] = JS_NewString(ctx, "y");
    obj = JS_VolleyNewObjectLike(ctx, tmpl, values, 2);
    expect(!JS_IsException(obj), "JS_VolleyNewObjectLike with a template");
    set_global(ctx, "o", obj);
    check(ctx, "the object has the template's shape and the new values",
          "o.a === 7 && o.b === 'y' && Object.keys(o).join() === 'a,b' && "
          "Object.getPrototypeOf(o) === Object.prototype");

    values[0] = JS_NewInt32(ctx, 1);
    obj = JS_VolleyNewObjectLike(ctx, tmpl, values, 1);
    expect(JS_IsException(obj), "JS_VolleyNewObjectLike rejects a wrong count");
    exc = JS_GetException(ctx);
    JS_FreeValue(ctx, exc);
    JS_FreeValue(ctx, tmpl);

    /* patches/0012: the properties after the first `count` are constants the objects share */
    tmpl = eval(ctx, "const t = { a: 1 }; Object.defineProperty(t, 'f', "
                     "{ value: function f() { return this.a; }, enumerable: true }); t");
    values[0] = JS_NewInt32(ctx, 5);
    obj = JS_VolleyNewObjectLike(ctx, tmpl, values, 1);
    expect(!JS_IsException(obj), "JS_VolleyNewObjectLike with a constant after the values");
    set_global(ctx, "c", obj);
    check(ctx, "the object shares the template's constant",
          "c.f() === 5 && Object.keys(c).join() === 'a,f' && "
          "!Object.getOwnPropertyDescriptor(c, 'f').writable");
    JS_FreeValue(ctx, tmpl);
    tmpl = eval(ctx, "({ a: 1, b: 2 })");
    values[0] = JS_NewInt32(ctx, 1);
    obj = JS_VolleyNewObjectLike(ctx, tmpl, values, 1);
    expect(JS_IsException(obj), "JS_VolleyNewObjectLike rejects a writable property after the values");
    exc = JS_GetException(ctx);
    JS_FreeValue(ctx, exc);
    JS_FreeValue(ctx, tmpl);

    tmpl = eval(ctx, "[1]");
    values[0] = JS_NewString(ctx, "freed on failure");
    obj = JS_VolleyNewObjectLike(ctx, tmpl, values, 1);
    expect(JS_IsException(obj), "JS_VolleyNewObjectLike rejects an array");
    exc = JS_GetException(ctx);
    JS_FreeValue(ctx, exc);
    JS_FreeValue(ctx, tmpl);

    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
}

/* patches/0009: a lazy source that counts its references and its values made, and holds a JS
   value (one reference per reference to the source, as the GC's marks require). */
typedef struct {
    const JSVolleyLazyClass *class;
    int refs;
    int made;
    JSValue held;
} TestSource;

static JSValue test_lazy_init(JSContext *ctx, JSValueConst obj, JSAtom prop, void *source)
{
    TestSource *s = source;
    const char *name = JS_AtomToCString(ctx, prop);
    char buf[64];
    JSValue v;

    s->made++;
    snprintf(buf, sizeof(buf), "made %s", name ? name : "?");
    JS_FreeCString(ctx, name);
    v = JS_NewString(ctx, buf);
    return v;
}

static void test_lazy_dup(JSRuntime *rt, void *source)
{
    TestSource *s = source;
    s->refs++;
    JS_DupValueRT(rt, s->held);
}

static void test_lazy_free(JSRuntime *rt, void *source)
{
    TestSource *s = source;
    s->refs--;
    JS_FreeValueRT(rt, s->held);
}

static void test_lazy_mark(JSRuntime *rt, void *source, JS_MarkFunc *mark_func)
{
    JS_MarkValue(rt, ((TestSource *)source)->held, mark_func);
}

static const JSVolleyLazyClass test_lazy_class = {
    test_lazy_init, test_lazy_dup, test_lazy_free, test_lazy_mark,
};

static void lazy_properties(void)
{
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    TestSource src = { &test_lazy_class, 0, 0, JS_UNDEFINED };
    JSValue tmpl, obj, values[3], exc;
    JSAtom a = JS_NewAtom(ctx, "a"), b = JS_NewAtom(ctx, "b"), c = JS_NewAtom(ctx, "c");
    int i, made;

    src.held = JS_NewObject(ctx);
    src.refs = 1; /* this function's */
    /* a template { a: data, b: lazy, c: lazy } */
    tmpl = JS_NewObject(ctx);
    JS_DefinePropertyValue(ctx, tmpl, a, JS_UNDEFINED, JS_PROP_C_W_E);
    expect(JS_VolleyDefineLazyProperty(ctx, tmpl, b, NULL, JS_PROP_C_W_E) == 0 &&
           JS_VolleyDefineLazyProperty(ctx, tmpl, c, NULL, JS_PROP_C_W_E) == 0,
           "JS_VolleyDefineLazyProperty makes a template's lazy slots");
    expect(JS_VolleyDefineLazyProperty(ctx, tmpl, b, NULL, JS_PROP_C_W_E) < 0,
           "JS_VolleyDefineLazyProperty refuses a property that exists");
    exc = JS_GetException(ctx);
    JS_FreeValue(ctx, exc);

    for (i = 0; i < 5; i++) {
        char name[8];
        values[0] = JS_NewInt32(ctx, i);
        values[1] = JS_UNDEFINED;
        values[2] = JS_UNDEFINED;
        obj = JS_VolleyNewObjectLikeLazy(ctx, tmpl, values, 3, &src);
        expect(!JS_IsException(obj), "JS_VolleyNewObjectLikeLazy with a template");
        snprintf(name, sizeof(name), "o%d", i);
        set_global(ctx, name, obj);
    }
    expect(src.refs == 1 + 5 * 2 && src.made == 0, "each lazy property holds a reference");
    check(ctx, "unread lazy properties are enumerable data properties to keys, in and for-in",
          "Object.keys(o0).join() === 'a,b,c' && 'b' in o0 && o0.hasOwnProperty('c') && "
          "(() => { let k = []; for (const x in o0) k.push(x); return k.join(); })() === 'a,b,c'");
    expect(src.made == 0, "... without being made");
    check(ctx, "a read makes the value once",
          "o0.b === 'made b' && o0.b === 'made b' && o0.a === 0");
    expect(src.made == 1 && src.refs == 1 + 5 * 2 - 1, "... and gives back its reference");
    check(ctx, "JSON.stringify and spreading make them",
          "JSON.stringify(o1) === '{\"a\":1,\"b\":\"made b\",\"c\":\"made c\"}' && "
          "JSON.stringify({ ...o2 }) === '{\"a\":2,\"b\":\"made b\",\"c\":\"made c\"}'");
    made = src.made;
    check(ctx, "delete and assignment",
          "delete o3.b && !('b' in o3) && (o3.c = 5) === 5 && o3.c === 5 && "
          "JSON.stringify(o3) === '{\"a\":3,\"c\":5}'");
    check(ctx, "descriptors", "(() => { const d = Object.getOwnPropertyDescriptor(o4, 'b'); "
          "return d.value === 'made b' && d.writable && d.enumerable && d.configurable; })()");
    expect(src.made == made + 2, "assignment makes the value first (as for QuickJS's own)");
    check(ctx, "a read object keeps the template's other properties",
          "Object.keys(o4).join() === 'a,b,c' && o4.c === 'made c'");
    /* a cycle through a source's held value: obj -> source -> held -> obj */
    {
        JSValue o5;
        values[0] = JS_NewInt32(ctx, 5);
        values[1] = JS_UNDEFINED;
        values[2] = JS_UNDEFINED;
        o5 = JS_VolleyNewObjectLikeLazy(ctx, tmpl, values, 3, &src);
        JS_SetPropertyStr(ctx, src.held, "back", o5);
    }
    check(ctx, "drop the globals", "delete globalThis.o0 && delete globalThis.o1 && "
          "delete globalThis.o2 && delete globalThis.o3 && delete globalThis.o4");
    JS_RunGC(rt);
    expect(src.refs == 1 + 2, "freed objects give back their references");
    /* this function's reference: the cycle through `held` is then garbage */
    JS_FreeValue(ctx, src.held);
    src.refs--;
    JS_RunGC(rt);
    expect(src.refs == 0, "the GC frees a cycle through a source's held value (marks)");

    values[0] = JS_UNDEFINED;
    values[1] = JS_UNDEFINED;
    values[2] = JS_UNDEFINED;
    obj = JS_VolleyNewObjectLikeLazy(ctx, tmpl, values, 3, NULL);
    expect(JS_IsException(obj), "JS_VolleyNewObjectLikeLazy needs a source for lazy slots");
    exc = JS_GetException(ctx);
    JS_FreeValue(ctx, exc);
    obj = JS_VolleyNewObjectLike(ctx, tmpl, values, 3);
    expect(JS_IsException(obj), "... and JS_VolleyNewObjectLike refuses such a template");
    exc = JS_GetException(ctx);
    JS_FreeValue(ctx, exc);

    JS_FreeAtom(ctx, a);
    JS_FreeAtom(ctx, b);
    JS_FreeAtom(ctx, c);
    JS_FreeValue(ctx, tmpl);
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
}

/* patches/0001: promise jobs by context. */
static void pending_jobs_of_a_context(void)
{
    JSRuntime *rt = JS_NewRuntime();
    JSContext *a = JS_NewContext(rt);
    JSContext *b = JS_NewContext(rt);

    JS_FreeValue(a, eval(a, "globalThis.r = 0; Promise.resolve().then(() => { r = 1 })"));
    JS_FreeValue(b, eval(b, "globalThis.r = 0; Promise.resolve().then(() => { r = 2 })"));
    expect(JS_VolleyExecutePendingJobOf(b) == 1, "the second context's job runs first");
    check(b, "its job ran", "r === 2");
    check(a, "the first context's job waits", "r === 0");
    expect(JS_VolleyExecutePendingJobOf(b) == 0, "no job left for the second context");
    expect(JS_IsJobPending(rt), "the first context's job is still queued");
    expect(JS_VolleyExecutePendingJobOf(a) == 1, "the first context's job runs");
    check(a, "its job ran", "r === 1");
    expect(!JS_IsJobPending(rt), "no job left");

    JS_FreeContext(a);
    JS_FreeContext(b);
    JS_FreeRuntime(rt);
}

static void *seen_frame;

static JSValue frame_probe(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    JSRuntime *rt = JS_GetRuntime(ctx);
    void *sf = JS_VolleyGetStackFrame(rt);

    seen_frame = sf;
    /* what a VU does around a switch: clear, then restore its saved chain */
    JS_VolleySetStackFrame(rt, NULL);
    JS_VolleySetStackFrame(rt, sf);
    return JS_NewInt32(ctx, 5);
}

/* The recursion depth at which JS runs out of a `size`-byte stack starting here. */
static int depth_with_stack(JSContext *ctx, size_t size)
{
    char here;
    int32_t depth = -1;
    JSValue v;

    JS_VolleySetStack(JS_GetRuntime(ctx), (uintptr_t)&here, size);
    v = eval(ctx, "(() => { let d = 0; function f() { d++; f(); } "
                  "try { f(); } catch (e) { if (!(e instanceof RangeError)) throw e; } "
                  "return d; })()");
    if (!JS_IsException(v))
        JS_ToInt32(ctx, &depth, v);
    JS_FreeValue(ctx, v);
    JS_UpdateStackTop(JS_GetRuntime(ctx));
    return depth;
}

/* patches/0001 and 0002: the runtime state a VU saves and sets at each switch. */
static void runtime_state(void)
{
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    size_t before;
    int small, large;

    expect(JS_VolleyGetStackFrame(rt) == NULL, "no JS frame outside JS");
    set_global(ctx, "probe", JS_NewCFunction(ctx, frame_probe, "probe", 0));
    check(ctx, "a native call sees and restores the frame chain",
          "(function () { return probe() + 1; })() === 6");
    expect(seen_frame != NULL, "a JS frame inside a native call");
    expect(JS_VolleyGetStackFrame(rt) == NULL, "no JS frame after the call");

    small = depth_with_stack(ctx, 64 * 1024);
    large = depth_with_stack(ctx, 512 * 1024);
    printf("     recursion depth: %d with 64 KiB, %d with 512 KiB\n", small, large);
    expect(small > 0 && large > 4 * small, "JS_VolleySetStack sets the stack JS may use");

    before = JS_VolleyMallocSize(rt);
    JS_FreeValue(ctx, eval(ctx, "globalThis.big = new Array(100000).fill(0.5)"));
    expect(JS_VolleyMallocSize(rt) >= before + 100000 * sizeof(double),
           "JS_VolleyMallocSize counts the runtime's allocations");

    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
}

/* Reads the bytecode in `buf` into `ctx` and runs it; returns the bytes the runtime grew by. */
static size_t read_and_run(JSContext *ctx, const uint8_t *buf, size_t len)
{
    size_t before = JS_VolleyMallocSize(JS_GetRuntime(ctx));
    JSValue fn = JS_ReadObject(ctx, buf, len, JS_READ_OBJ_BYTECODE);
    JSValue r = JS_IsException(fn) ? fn : JS_EvalFunction(ctx, fn);
    expect(!JS_IsException(r), "shared bytecode reads and runs");
    JS_FreeValue(ctx, r);
    return JS_VolleyMallocSize(JS_GetRuntime(ctx)) - before;
}

/* patches/0008: contexts of a runtime that read the same buffer share its functions' bytecode,
   which runs in the realm of the context that calls it; a function whose constants hold an
   object (a tagged template's strings) is read per context, with that context's prototypes. */
static void shared_bytecode(void)
{
    static const char head[] =
        "function f() { return [marker, new Error('e') instanceof Error, []]; }\n"
        "function C() { this.m = marker; }\n"
        "function tag(s) { return s; }\n"
        "function t() { return tag`a${1}b`; }\n"
        "function* gen() { yield marker; }\n"
        "async function later() { await null; return marker; }\n"
        "later().then((m) => { globalThis.awaited = m; });\n"
        "function big(x) {\n";
    char src[16384];
    int i;
    strcpy(src, head);
    for (i = 0; i < 300; i++)
        strcat(src, "  x = (x * 3 + 1) % 1000;\n");
    strcat(src, "  return x;\n}\n");
    JSRuntime *rt = JS_NewRuntime();
    JSContext *maker = JS_NewContext(rt), *a, *b;
    JSValue fn = JS_Eval(maker, src, strlen(src), "<shared>",
                         JS_EVAL_TYPE_GLOBAL | JS_EVAL_FLAG_COMPILE_ONLY);
    size_t len, grew_a, grew_b;
    uint8_t *buf = JS_WriteObject(maker, &len, fn, JS_WRITE_OBJ_BYTECODE);
    uint32_t shared;
    JS_FreeValue(maker, fn);
    JS_FreeContext(maker);

    JS_VolleyShareBytecode(rt, 1);
    a = JS_NewContext(rt);
    b = JS_NewContext(rt);
    set_global(a, "marker", JS_NewString(a, "a"));
    set_global(b, "marker", JS_NewString(b, "b"));
    grew_a = read_and_run(a, buf, len);
    shared = JS_VolleySharedBytecodeCount(rt);
    grew_b = read_and_run(b, buf, len);
    printf("     reading the script: +%zu B in the first context, +%zu B in the second\n",
           grew_a, grew_b);
    /* f, C, tag, gen, later, the arrow and big; not t (a template object) nor the script */
    expect(shared == 7, "the functions without objects in their constants are shared");
    expect(JS_VolleySharedBytecodeCount(rt) == shared, "a second read shares, adds nothing");
    expect(grew_b + 2000 < grew_a, "a second read does not copy the shared functions");
    while (JS_VolleyExecutePendingJobOf(a) > 0 || JS_VolleyExecutePendingJobOf(b) > 0)
        ;
    check(b, "shared bytecode runs in its caller's realm",
          "const r = f(); r[0] === 'b' && r[1] && Object.getPrototypeOf(r[2]) === Array.prototype");
    check(a, "the same function in the first context", "f()[0] === 'a'");
    check(b, "a generator and an async function resume in their realm",
          "gen().next().value === 'b' && awaited === 'b'");
    check(a, "... in each context", "gen().next().value === 'a' && awaited === 'a'");
    check(b, "a template object is the context's own",
          "Object.getPrototypeOf(t()) === Array.prototype && t().raw[0] === 'a'");
    check(b, "a shared constructor's instances use the caller's prototypes",
          "const c = new C(); Object.getPrototypeOf(c) === C.prototype && c.m === 'b' "
          "&& c instanceof Object && big(1) === big(1)");
    js_free_rt(rt, buf);
    JS_FreeContext(a);
    JS_FreeContext(b);
    JS_FreeRuntime(rt);
}

/* patches/0010: a size class keeps one empty arena instead of freeing it and making a new one
   for its next block. The backing allocator counts the arenas made and freed. */
static int backing_allocs, backing_frees;
static void *counting_calloc(void *opaque, size_t count, size_t size)
{
    backing_allocs++;
    return calloc(count, size);
}
static void *counting_malloc(void *opaque, size_t size)
{
    backing_allocs++;
    return malloc(size);
}
static void counting_free(void *opaque, void *ptr)
{
    if (ptr)
        backing_frees++;
    free(ptr);
}
static void *counting_realloc(void *opaque, void *ptr, size_t size)
{
    return realloc(ptr, size);
}
static size_t unknown_usable_size(const void *ptr)
{
    return 0;
}

static void spare_arenas(void)
{
    static const JSMallocFunctions mf = {
        counting_calloc, counting_malloc, counting_free, counting_realloc, unknown_usable_size,
    };
    JSRuntime *rt = JS_NewRuntime2(&mf, NULL);
    /* 21 blocks of the 512-byte class: at least two arenas that hold only these blocks. */
    void *blocks[21];
    int i, allocs, frees;
    for (i = 0; i < 21; i++)
        blocks[i] = js_malloc_rt(rt, 500);
    frees = backing_frees;
    for (i = 0; i < 21; i++)
        js_free_rt(rt, blocks[i]);
    expect(backing_frees - frees >= 1, "emptied arenas past the spare go back");
    allocs = backing_allocs;
    frees = backing_frees;
    for (i = 0; i < 1000; i++) {
        void *p = js_malloc_rt(rt, 500);
        memset(p, i, 500);
        js_free_rt(rt, p);
    }
    expect(backing_allocs == allocs && backing_frees == frees,
           "a block made and freed over and over reuses the class's spare arena");
    JS_FreeRuntime(rt);
}

int main(void)
{
    lazy_intrinsics();
    function_lists();
    new_object_like();
    lazy_properties();
    pending_jobs_of_a_context();
    runtime_state();
    shared_bytecode();
    spare_arenas();
    if (failures) {
        fprintf(stderr, "volley-test: %d failed\n", failures);
        return 1;
    }
    printf("volley-test: all passed\n");
    return 0;
}
