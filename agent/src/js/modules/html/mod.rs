//! `k6/html`: `parseHTML()` and `res.html()` with k6's jQuery-like Selection API and its
//! Element objects.
//!
//! The document is parsed by html5ever (`scraper`), which builds the same tree as a browser
//! (and as k6's Go parser); CSS selectors are `scraper`'s (Servo's `selectors`). The document
//! lives in a JS object of its own class ([`doc::Doc`]), so the garbage collector frees it;
//! selections and elements are JS objects holding it and node handles (`api.js`). That JS is
//! made once per VU, when the VU first uses HTML (`__volley.htmlApi()`), so VUs that never
//! parse HTML pay nothing for it, not even those importing `k6/http` (whose `res.html()`,
//! `clickLink()` and `submitForm()` use it).

pub mod doc;
pub mod render;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use rquickjs::class::Class;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, Function, Object, Value};
use scraper::Selector;

use super::natives::Natives;
use super::K6Module;
use crate::js::vu_ctx::VuCtx;
use doc::{Doc, Walk};

type R<T> = rquickjs::Result<T>;

/// `k6/html`.
pub const MODULE: K6Module = K6Module {
    name: "k6/html",
    js: include_str!("html.js"),
    install,
};

/// The JS of selections and elements: a function of `__volley` that returns the API.
pub(super) const API_JS: &str = include_str!("api.js");

/// Where a VU keeps its API object once made.
const API_GLOBAL: &str = "__volleyHtml";

/// Parsed selectors a VU keeps (scripts use a few, over and over).
const SELECTOR_CACHE: usize = 256;

/// The selectors of one VU, parsed once each. An invalid selector matches nothing, as in k6.
#[derive(Default)]
struct Selectors(RefCell<HashMap<String, Option<Rc<Selector>>>>);

impl Selectors {
    fn get(&self, s: &str) -> Option<Rc<Selector>> {
        if let Some(hit) = self.0.borrow().get(s) {
            return hit.clone();
        }
        let parsed = Selector::parse(s).ok().map(Rc::new);
        let mut cache = self.0.borrow_mut();
        if cache.len() >= SELECTOR_CACHE {
            cache.clear();
        }
        cache.insert(s.to_string(), parsed.clone());
        parsed
    }
}

fn install<'js>(ctx: &Ctx<'js>, v: &Natives<'js>, _vu: &Rc<VuCtx>) -> R<()> {
    v.set(
        "htmlApi",
        Function::new(ctx.clone(), |ctx: Ctx<'js>| -> R<Value<'js>> {
            let g = ctx.globals();
            let cached: Value = g.get(API_GLOBAL)?;
            if !cached.is_undefined() {
                return Ok(cached);
            }
            let make: Function = ctx.eval(API_JS)?;
            let natives: Value = g.get("__volley")?;
            let api: Value = make.call((natives,))?;
            let object: Object = g.get("Object")?;
            let define: Function = object.get("defineProperty")?;
            let desc = Object::new(ctx.clone())?;
            desc.set("value", api.clone())?;
            define.call::<_, Value>((g, API_GLOBAL, desc))?;
            Ok(api)
        })?,
    )?;
    v.set(
        "htmlParse",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, src: String| {
            Class::instance(ctx, Doc::parse(&src))
        })?,
    )?;
    let sels = Rc::new(Selectors::default());
    let s1 = sels.clone();
    v.set(
        "htmlFind",
        Function::new(
            ctx.clone(),
            move |doc: Class<'js, Doc>, hs: Vec<u32>, sel: String| -> Vec<u32> {
                match s1.get(&sel) {
                    Some(sel) => doc.borrow().find(&hs, &sel),
                    None => Vec::new(),
                }
            },
        )?,
    )?;
    let s2 = sels.clone();
    v.set(
        "htmlFilter",
        Function::new(
            ctx.clone(),
            move |doc: Class<'js, Doc>, hs: Vec<u32>, sel: String| -> Vec<u32> {
                let Some(sel) = s2.get(&sel) else {
                    return Vec::new();
                };
                let d = doc.borrow();
                hs.into_iter().filter(|h| d.matches(*h, &sel)).collect()
            },
        )?,
    )?;
    let s3 = sels.clone();
    v.set(
        "htmlClosest",
        Function::new(
            ctx.clone(),
            move |doc: Class<'js, Doc>, hs: Vec<u32>, sel: String| -> Vec<u32> {
                match s3.get(&sel) {
                    Some(sel) => doc.borrow().closest(&hs, &sel),
                    None => Vec::new(),
                }
            },
        )?,
    )?;
    let s4 = sels;
    v.set(
        "htmlWalk",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>,
                  doc: Class<'js, Doc>,
                  hs: Vec<u32>,
                  walk: String,
                  until: Opt<String>|
                  -> R<Vec<u32>> {
                let Some(w) = Walk::parse(&walk) else {
                    return Err(Exception::throw_type(&ctx, &format!("unknown walk {walk}")));
                };
                // An invalid "until" selector matches nothing: the walk goes on.
                let until = until.0.and_then(|u| s4.get(&u));
                Ok(doc.borrow().walk(&hs, w, until.as_deref()))
            },
        )?,
    )?;
    v.set(
        "htmlText",
        Function::new(ctx.clone(), |doc: Class<'js, Doc>, hs: Vec<u32>| {
            doc.borrow().text(&hs)
        })?,
    )?;
    v.set(
        "htmlInner",
        Function::new(ctx.clone(), |doc: Class<'js, Doc>, h: u32| {
            doc.borrow().inner_html(h)
        })?,
    )?;
    v.set(
        "htmlOuter",
        Function::new(ctx.clone(), |doc: Class<'js, Doc>, h: u32| {
            doc.borrow().outer_html(h)
        })?,
    )?;
    v.set(
        "htmlAttr",
        Function::new(ctx.clone(), |doc: Class<'js, Doc>, h: u32, name: String| {
            doc.borrow().attr(h, &name)
        })?,
    )?;
    v.set(
        "htmlAttrs",
        Function::new(ctx.clone(), |doc: Class<'js, Doc>, h: u32| {
            doc.borrow().attrs(h)
        })?,
    )?;
    v.set(
        "htmlDescribe",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, doc: Class<'js, Doc>, h: u32| -> R<Value<'js>> {
                let Some((ty, name, value)) = doc.borrow().describe(h) else {
                    return Ok(Value::new_undefined(ctx.clone()));
                };
                let a = rquickjs::Array::new(ctx.clone())?;
                a.set(0, ty)?;
                a.set(1, name)?;
                a.set(2, value)?;
                Ok(a.into_value())
            },
        )?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
