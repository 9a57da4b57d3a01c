//! A parsed HTML document (html5ever through `scraper`) as a JS object, and the tree walks the
//! Selection API is made of. JS refers to a node by its handle: its index in document order,
//! so a set of handles sorts into document order and compares as numbers.

use std::collections::{HashMap, HashSet};

use ego_tree::{NodeId, NodeRef};
use rquickjs::class::{JsClass, Readable, Trace, Tracer};
use rquickjs::{Ctx, JsLifetime, Object};
use scraper::{ElementRef, Html, Node, Selector};

/// A document parsed for a VU; freed by the garbage collector with the last selection of it.
pub struct Doc {
    html: Html,
    /// Node ids in document order: a node's handle is its index here.
    ids: Vec<NodeId>,
    handles: HashMap<NodeId, u32>,
}

// SAFETY: `Doc` holds no JS value and no lifetime.
unsafe impl<'js> JsLifetime<'js> for Doc {
    type Changed<'to> = Doc;
}

impl<'js> Trace<'js> for Doc {
    fn trace<'a>(&self, _tracer: Tracer<'a, 'js>) {}
}

impl<'js> JsClass<'js> for Doc {
    const NAME: &'static str = "HTMLDocument";
    type Mutable = Readable;

    fn prototype(ctx: &Ctx<'js>) -> rquickjs::Result<Option<Object<'js>>> {
        Object::new(ctx.clone()).map(Some)
    }

    fn constructor(
        _ctx: &Ctx<'js>,
    ) -> rquickjs::Result<Option<rquickjs::function::Constructor<'js>>> {
        Ok(None)
    }
}

/// How a walk moves from each node of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Element children.
    Children,
    /// Every child node (text and comments too).
    Contents,
    /// The parent element.
    Parent,
    /// Every ancestor element, the closest first.
    Parents,
    /// The next element sibling; all of them after; the previous; all of them before (the
    /// closest first).
    Next,
    NextAll,
    Prev,
    PrevAll,
    /// The other element children of the parent, in document order.
    Siblings,
}

impl Walk {
    pub fn parse(s: &str) -> Option<Walk> {
        Some(match s {
            "children" => Walk::Children,
            "contents" => Walk::Contents,
            "parent" => Walk::Parent,
            "parents" => Walk::Parents,
            "next" => Walk::Next,
            "nextAll" => Walk::NextAll,
            "prev" => Walk::Prev,
            "prevAll" => Walk::PrevAll,
            "siblings" => Walk::Siblings,
            _ => return None,
        })
    }
}

fn is_element(n: &NodeRef<'_, Node>) -> bool {
    n.value().is_element()
}

/// Collects handles once each, in the order first met.
struct Gather<'a> {
    doc: &'a Doc,
    seen: HashSet<u32>,
    out: Vec<u32>,
}

impl<'a> Gather<'a> {
    fn new(doc: &'a Doc) -> Self {
        Gather {
            doc,
            seen: HashSet::new(),
            out: Vec::new(),
        }
    }

    fn push(&mut self, n: NodeRef<'_, Node>) {
        if let Some(&h) = self.doc.handles.get(&n.id()) {
            if self.seen.insert(h) {
                self.out.push(h);
            }
        }
    }
}

impl Doc {
    pub fn parse(src: &str) -> Doc {
        let html = Html::parse_document(src);
        let ids: Vec<NodeId> = html.tree.root().descendants().map(|n| n.id()).collect();
        let handles = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i as u32))
            .collect();
        Doc { html, ids, handles }
    }

    /// The node of a handle (none for a handle of another document).
    pub fn node(&self, h: u32) -> Option<NodeRef<'_, Node>> {
        self.ids
            .get(h as usize)
            .and_then(|id| self.html.tree.get(*id))
    }

    pub fn handle(&self, n: NodeRef<'_, Node>) -> Option<u32> {
        self.handles.get(&n.id()).copied()
    }

    fn nodes<'a>(&'a self, hs: &'a [u32]) -> impl Iterator<Item = NodeRef<'a, Node>> + 'a {
        hs.iter().filter_map(|h| self.node(*h))
    }

    /// The descendants of the nodes that match `sel`.
    pub fn find(&self, hs: &[u32], sel: &Selector) -> Vec<u32> {
        let mut g = Gather::new(self);
        for n in self.nodes(hs) {
            for d in n.descendants().skip(1) {
                if let Some(e) = ElementRef::wrap(d) {
                    if sel.matches(&e) {
                        g.push(d);
                    }
                }
            }
        }
        g.out
    }

    /// Whether node `h` is an element matching `sel`.
    pub fn matches(&self, h: u32, sel: &Selector) -> bool {
        self.node(h)
            .and_then(ElementRef::wrap)
            .is_some_and(|e| sel.matches(&e))
    }

    /// For each node, itself or its closest ancestor that matches `sel`.
    pub fn closest(&self, hs: &[u32], sel: &Selector) -> Vec<u32> {
        let mut g = Gather::new(self);
        for n in self.nodes(hs) {
            let hit = std::iter::once(n)
                .chain(n.ancestors())
                .find(|a| ElementRef::wrap(*a).is_some_and(|e| sel.matches(&e)));
            if let Some(a) = hit {
                g.push(a);
            }
        }
        g.out
    }

    /// Walks from each node; a walk over several nodes (parents, nextAll, prevAll) stops before
    /// the first node matching `until`.
    pub fn walk(&self, hs: &[u32], walk: Walk, until: Option<&Selector>) -> Vec<u32> {
        let stop = |n: &NodeRef<'_, Node>| {
            until.is_some_and(|s| ElementRef::wrap(*n).is_some_and(|e| s.matches(&e)))
        };
        let mut g = Gather::new(self);
        for n in self.nodes(hs) {
            match walk {
                Walk::Children => n.children().filter(is_element).for_each(|c| g.push(c)),
                Walk::Contents => n.children().for_each(|c| g.push(c)),
                Walk::Parent => {
                    if let Some(p) = n.parent().filter(is_element) {
                        g.push(p);
                    }
                }
                Walk::Parents => n
                    .ancestors()
                    .filter(is_element)
                    .take_while(|a| !stop(a))
                    .for_each(|a| g.push(a)),
                Walk::Next => {
                    if let Some(s) = n.next_siblings().find(is_element) {
                        g.push(s);
                    }
                }
                Walk::Prev => {
                    if let Some(s) = n.prev_siblings().find(is_element) {
                        g.push(s);
                    }
                }
                Walk::NextAll => n
                    .next_siblings()
                    .filter(is_element)
                    .take_while(|a| !stop(a))
                    .for_each(|s| g.push(s)),
                Walk::PrevAll => n
                    .prev_siblings()
                    .filter(is_element)
                    .take_while(|a| !stop(a))
                    .for_each(|s| g.push(s)),
                Walk::Siblings => {
                    if let Some(p) = n.parent() {
                        p.children()
                            .filter(|c| is_element(c) && c.id() != n.id())
                            .for_each(|c| g.push(c));
                    }
                }
            }
        }
        g.out
    }

    /// The text of the nodes and their descendants, concatenated (script and style text
    /// included, comments not).
    pub fn text(&self, hs: &[u32]) -> String {
        let mut out = String::new();
        for n in self.nodes(hs) {
            for d in n.descendants() {
                if let Node::Text(t) = d.value() {
                    out.push_str(t);
                }
            }
        }
        out
    }

    /// The node's children serialized (`innerHTML`).
    pub fn inner_html(&self, h: u32) -> Option<String> {
        let n = self.node(h)?;
        let mut out = String::new();
        super::render::inner(&mut out, n);
        Some(out)
    }

    /// The node serialized with its children.
    pub fn outer_html(&self, h: u32) -> Option<String> {
        let n = self.node(h)?;
        let mut out = String::new();
        super::render::outer(&mut out, n);
        Some(out)
    }

    /// An attribute of an element.
    pub fn attr(&self, h: u32, name: &str) -> Option<String> {
        match self.node(h)?.value() {
            Node::Element(e) => e.attr(name).map(str::to_string),
            _ => None,
        }
    }

    /// An element's attributes, as name, value, name, value, … in source order.
    pub fn attrs(&self, h: u32) -> Vec<String> {
        match self.node(h).map(|n| n.value()) {
            Some(Node::Element(e)) => e
                .attrs()
                .flat_map(|(k, v)| [k.to_string(), v.to_string()])
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A node's DOM type, name and value (`nodeType`, `nodeName`, `nodeValue`).
    pub fn describe(&self, h: u32) -> Option<(u32, String, Option<String>)> {
        Some(match self.node(h)?.value() {
            Node::Element(e) => (1, e.name().to_string(), None),
            Node::Text(t) => (3, "#text".into(), Some(t.to_string())),
            Node::Comment(c) => (8, "#comment".into(), Some(c.to_string())),
            Node::Document | Node::Fragment => (9, "#document".into(), None),
            Node::Doctype(d) => (10, d.name().to_string(), None),
            Node::ProcessingInstruction(p) => (7, p.target.to_string(), Some(p.data.to_string())),
        })
    }

    /// The document node's handle.
    pub fn root(&self) -> u32 {
        0
    }
}
