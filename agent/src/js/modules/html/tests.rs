use serde_json::json;

use crate::js::modulestest::TestVu;

const PAGE: &str = r#"<!DOCTYPE html><html><head><title>T</title><script>var x = 1 < 2;</script></head><body>
<div id="main" class="a b" data-foo="bar" data-num="5" data-obj='{"x":1}' data-camel-case="cc" data-t="true">
 <p class="x">one <b>bold</b></p><p class="y">two &amp; "q"</p><!-- c -->
 <a href="/rel/path?x=1#h">link</a>
 <ul><li>1</li><li>2</li><li class="last">3</li></ul>
</div>
<form id="f" action="/post" method="POST"><input name="user" value="bob"><input type="checkbox" name="c" value="on1" checked="checked"><input type="checkbox" name="c2" value="x">
<select name="s"><option value="o1">O1</option><option value="o2" selected>O2</option></select>
<select name="m" multiple><option selected>A</option><option selected value="b">B</option></select>
<textarea name="t">text area</textarea><input type="submit" name="go" value="Go"><input type="radio" name="r" checked="checked"><br>
</form></body></html>"#;

fn vu_with_page() -> TestVu {
    let vu = TestVu::new();
    vu.run(&format!(
        "import {{ parseHTML }} from 'k6/html'; globalThis.doc = parseHTML({});",
        serde_json::to_string(PAGE).unwrap()
    ))
    .unwrap();
    vu
}

#[test]
fn find_attr_text_html_and_sizes() {
    let vu = vu_with_page();
    assert_eq!(
        vu.json(
            "[doc.size(), doc.find('p').size(), doc.find('nope').size(), doc.find('[[').size(),
              doc.find('#main').attr('class'), doc.find('#main').attr('nope'),
              doc.find('#main').attr('nope', 'def'), doc.find('p').text(), doc.find('title').text(),
              doc.find('p.x').html(), doc.find('p.y').html(), doc.find('nope').html(),
              doc.find('form').html().includes('<br/>'), doc.url, doc.find('div p').size()]"
        ),
        json!([
            1,
            2,
            0,
            0,
            "a b",
            null,
            "def",
            "one boldtwo & \"q\"",
            "T",
            "one <b>bold</b>",
            "two &amp; &#34;q&#34;",
            "",
            true,
            "",
            2
        ])
    );
    // Script text is not escaped; the doctype is kept.
    let html: String = vu.json("doc.html()").as_str().unwrap().to_string();
    assert!(
        html.starts_with(
            "<!DOCTYPE html><html><head><title>T</title><script>var x = 1 < 2;</script>"
        ),
        "{html}"
    );
}

#[test]
fn traversal_follows_jquery() {
    let vu = vu_with_page();
    assert_eq!(
        vu.json(
            "[doc.find('#main').children().size(), doc.find('#main').children('p').size(),
              doc.find('ul').children().text(), doc.find('li').parent().size(),
              doc.find('b').parents().size(), doc.find('b').parents('div').attr('id'),
              doc.find('b').closest('div').attr('id'), doc.find('b').closest('b').size(),
              doc.find('p.x').next().text(), doc.find('p.y').prev().text(),
              doc.find('li').first().nextAll().size(), doc.find('.last').prevAll().size(),
              doc.find('li').first().nextUntil('.last').size(), doc.find('b').parentsUntil('body').size(),
              doc.find('li').first().siblings().size(), doc.find('p.x').contents().size(),
              doc.find('html').parent().size(), doc.find('li').eq(-1).text(), doc.find('li').eq(9).size(),
              doc.find('li').first().text(), doc.find('li').last().text(), doc.find('li').slice(1).text(),
              doc.find('li').filter('.last').size(), doc.find('li').filter((i) => i > 0).size(),
              doc.find('li').filter(doc.find('.last')).size(), doc.find('li').not('.last').size(),
              doc.find('p').is('.y'), doc.find('p').is('.z'), doc.find('div').has('b').size(),
              doc.find('p').add('li').size(), doc.find('p').find('b').end().size(),
              doc.find('body').children().index(doc.find('form')), doc.find('.last').index()]"
        ),
        json!([
            4, 2, "123", 1, 4, "main", "main", 1, "two & \"q\"", "one bold", 2, 2, 1, 2, 2, 2, 0,
            "3", 0, "1", "3", "23", 1, 2, 1, 2, true, false, 1, 5, 2, 1, 2
        ])
    );
}

#[test]
fn each_map_get_and_to_array_hand_out_elements_and_selections() {
    let vu = vu_with_page();
    assert_eq!(
        vu.json(
            "(() => { const r = []; doc.find('li').each((i, e) => r.push([i, e.textContent(), e.nodeName(), e.nodeType()]));
              return [r, doc.find('li').map((i, s) => s.text() + i), doc.find('li').map(() => undefined),
                      doc.find('li').toArray().map((s) => s.text()), doc.find('li').get(-1).textContent(),
                      doc.find('li').get(5), doc.find('li').get().length, String(doc.find('li').get(0))]; })()"
        ),
        json!([
            [[0, "1", "li", 1], [1, "2", "li", 1], [2, "3", "li", 1]],
            ["10", "21", "32"],
            [null, null, null],
            ["1", "2", "3"],
            "3",
            null,
            3,
            "[object html.Node]"
        ])
    );
}

#[test]
fn data_values_are_typed_as_jquery_reads_them() {
    let vu = vu_with_page();
    assert_eq!(
        vu.json("[doc.find('#main').data(), doc.find('#main').data('camelCase'), doc.find('nope').data()]"),
        json!([{"foo": "bar", "num": 5, "obj": {"x": 1}, "camelCase": "cc", "t": true}, "cc", null])
    );
}

#[test]
fn form_values_and_serialization() {
    let vu = vu_with_page();
    assert_eq!(
        vu.json(
            "[['input', 'select[name=s]', 'select[name=m]', 'textarea', 'option', 'p', 'input[type=checkbox]', 'input[type=radio]']
                .map((s) => doc.find(s).val() === undefined ? 'undefined' : doc.find(s).val()),
              doc.find('form').serialize(), doc.find('form').serializeArray(), doc.find('form').serializeObject()]"
        ),
        json!([
            ["bob", "o2", ["A", "b"], "text area", "o1", "undefined", "on1", "on"],
            "c=on1&m=A&m=b&r=on&s=o2&t=text+area&user=bob",
            [
                {"name": "user", "value": "bob"},
                {"name": "c", "value": "on1"},
                {"name": "s", "value": "o2"},
                {"name": "m", "value": ["A", "b"]},
                {"name": "t", "value": "text area"},
                {"name": "r", "value": "on"}
            ],
            {"user": "bob", "c": "on1", "s": "o2", "m": ["A", "b"], "t": "text area", "r": "on"}
        ])
    );
}

#[test]
fn elements_have_dom_methods_and_tag_specific_ones() {
    let vu = vu_with_page();
    assert_eq!(
        vu.json(
            "(() => { const p = doc.find('p.x').get(0); const a = doc.find('a').get(0); const f = doc.find('form').get(0);
              const s = doc.find('select').get(0); const i = doc.find('input').get(1);
              return [p.innerHTML(), p.className(), p.classList(), p.childElementCount(),
                p.childNodes().map((n) => [n.nodeType(), n.nodeName(), n.nodeValue()]),
                p.firstChild().nodeValue(), p.firstElementChild().nodeName(), p.parentElement().id(),
                p.nextElementSibling().className(), p.querySelector('b').textContent(), p.querySelector('i'),
                p.querySelectorAll('b').length, p.matches('p.x'), p.contains(p.firstElementChild()),
                p.isSameNode(doc.find('.x').get(0)), p.selection().text(), p.ownerDocument().nodeName(),
                p.hasAttribute('class'), p.getAttribute('nope'), Object.keys(doc.find('#main').get(0).attributes()).length,
                a.href(), a.pathname(), a.search(), a.hash(), a.text(),
                f.action(), f.method(), f.enctype(), f.elements().length,
                s.name(), s.value(), s.options().length, s.selectedIndex(), s.type(),
                i.checked(), i.type(), i.value(), i.form().id(), doc.find('br').get(0).nodeName(),
                doc.get(0).nodeType(), doc.get(0).nodeName()]; })()"
        ),
        json!([
            "one <b>bold</b>", "x", ["x"], 1, [[3, "#text", "one "], [1, "b", null]],
            "one ", "b", "main", "y", "bold", null, 1, true, true, true, "one bold", "#document",
            true, null, 7,
            "/rel/path?x=1#h", "/rel/path", "?x=1", "#h", "link",
            "/post", "post", "application/x-www-form-urlencoded", 8,
            "s", "o2", 2, 1, "select-one",
            true, "checkbox", "on1", "f", "br",
            9, "#document"
        ])
    );
}

#[test]
fn links_resolve_against_the_responses_url() {
    let vu = TestVu::new();
    vu.run(
        "globalThis.r = globalThis.__volleyHtml === undefined;
         __volley.need('k6/html');
         const H = __volley.htmlApi();
         const d = H.fromResponse({ body: '<a href=\"../b/c?q=1#x\">l</a><a href=\"//h2/z\">m</a><form action=\"\"></form>', url: 'https://u:p@h:8443/a/b/index.html?old' });
         const a = d.find('a').get(0);
         globalThis.r = [r, a.href(), a.protocol(), a.host(), a.hostname(), a.port(), a.pathname(), a.search(),
                         a.hash(), a.origin(), a.username(), a.password(), d.find('a').get(1).href(),
                         d.find('form').get(0).action(), d.url, H.resolveURL('http://h/a/b', '/x/./y/../z')];",
    )
    .unwrap();
    assert_eq!(
        vu.json("r"),
        json!([
            true,
            "https://u:p@h:8443/a/b/c?q=1#x",
            "https",
            "h:8443",
            "h",
            "8443",
            "/a/b/c",
            "?q=1",
            "#x",
            "https://h:8443",
            "u",
            "p",
            "https://h2/z",
            "https://u:p@h:8443/a/b/index.html?old",
            "https://u:p@h:8443/a/b/index.html?old",
            "http://h/x/z"
        ])
    );
}
