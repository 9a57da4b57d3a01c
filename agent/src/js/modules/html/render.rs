//! HTML serialization as k6 prints it (`Selection.html()`, `Element.innerHTML()`): the rules of
//! Go's `html.Render`, which differ from html5ever's serializer in small ways scripts can see
//! (void elements end in `/>`; `"` and `'` in text are escaped as `&#34;` and `&#39;`).

use ego_tree::NodeRef;
use scraper::Node;

/// Elements without an end tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
    "source", "track", "wbr",
];

/// Elements whose text is written as it is.
const RAW_TEXT: &[&str] = &[
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "plaintext",
    "script",
    "style",
    "xmp",
];

/// Appends `s` escaped as Go's `html.EscapeString` does.
fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// Appends the children of `node`.
pub fn inner(out: &mut String, node: NodeRef<'_, Node>) {
    let raw = match node.value() {
        Node::Element(e) => RAW_TEXT.contains(&e.name()),
        _ => false,
    };
    for child in node.children() {
        match child.value() {
            Node::Text(t) if raw => out.push_str(t),
            _ => outer(out, child),
        }
    }
}

/// Appends `node` itself.
pub fn outer(out: &mut String, node: NodeRef<'_, Node>) {
    match node.value() {
        Node::Document | Node::Fragment => inner(out, node),
        Node::Doctype(d) => {
            out.push_str("<!DOCTYPE ");
            out.push_str(d.name());
            if !d.public_id().is_empty() {
                out.push_str(" PUBLIC \"");
                escape(out, d.public_id());
                out.push('"');
                if !d.system_id().is_empty() {
                    out.push_str(" \"");
                    escape(out, d.system_id());
                    out.push('"');
                }
            } else if !d.system_id().is_empty() {
                out.push_str(" SYSTEM \"");
                escape(out, d.system_id());
                out.push('"');
            }
            out.push('>');
        }
        Node::Comment(c) => {
            out.push_str("<!--");
            out.push_str(c);
            out.push_str("-->");
        }
        Node::Text(t) => escape(out, t),
        Node::Element(e) => {
            let name = e.name();
            out.push('<');
            out.push_str(name);
            for (k, v) in e.attrs() {
                out.push(' ');
                out.push_str(k);
                out.push_str("=\"");
                escape(out, v);
                out.push('"');
            }
            if VOID.contains(&name) {
                out.push_str("/>");
                return;
            }
            out.push('>');
            if matches!(name, "pre" | "listing" | "textarea") {
                if let Some(Node::Text(t)) = node.first_child().map(|c| c.value()) {
                    if t.starts_with('\n') {
                        out.push('\n');
                    }
                }
            }
            inner(out, node);
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        Node::ProcessingInstruction(p) => {
            out.push_str("<?");
            out.push_str(&p.target);
            out.push(' ');
            out.push_str(&p.data);
            out.push('>');
        }
    }
}
