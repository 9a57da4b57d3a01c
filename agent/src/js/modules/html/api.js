// k6/html's Selection and Element, over the natives of agent/src/js/modules/html (a document
// object and node handles in document order). Evaluated once per VU by __volley.htmlApi().
(function (V) {
  'use strict';
  const D = Symbol('document');
  const N = Symbol('nodes');
  const P = Symbol('previous');
  const H = Symbol('node');
  const XHTML = 'http://www.w3.org/1999/xhtml';

  const str = (s) => String(s);
  const union = (a, b) => {
    const seen = new Set(a);
    const out = a.slice();
    for (const h of b) if (!seen.has(h)) { seen.add(h); out.push(h); }
    return out;
  };

  // Resolves `ref` against the absolute URL `base` (RFC 3986, enough for links and forms).
  function resolveURL(base, ref) {
    ref = str(ref).trim();
    if (/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(ref) || !base) return ref;
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]*:)(\/\/[^/?#]*)?([^?#]*)(\?[^#]*)?(#.*)?$/.exec(base);
    if (!m) return ref;
    const [, scheme, authority = '', path = '', query = ''] = m;
    if (ref.startsWith('//')) return scheme + ref;
    if (ref === '') return scheme + authority + path + query;
    if (ref.startsWith('#')) return scheme + authority + path + query + ref;
    if (ref.startsWith('?')) return scheme + authority + path + ref;
    let target = ref.startsWith('/') ? ref : path.replace(/[^/]*$/, '') + ref;
    if (!target.startsWith('/')) target = '/' + target;
    const tail = /[?#].*$/.exec(target);
    let p = tail ? target.slice(0, tail.index) : target;
    const out = [];
    const segs = p.split('/');
    segs.forEach((s, i) => {
      if (s === '..') { if (out.length > 1) out.pop(); if (i === segs.length - 1) out.push(''); } else if (s === '.') { if (i === segs.length - 1) out.push(''); } else out.push(s);
    });
    p = out.join('/');
    return scheme + authority + (p.startsWith('/') ? p : '/' + p) + (tail ? tail[0] : '');
  }

  // The parts of an absolute URL, as an anchor's properties name them.
  function urlParts(href) {
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]*:)(?:\/\/(?:([^:@/?#]*)(?::([^@/?#]*))?@)?([^:/?#]*)(?::(\d*))?)?([^?#]*)(\?[^#]*)?(#.*)?$/.exec(href);
    if (!m) {
      // A relative reference (no base URL to resolve it against): its path, query, fragment.
      const r = /^([^?#]*)(\?[^#]*)?(#.*)?$/.exec(href);
      return { protocol: '', username: '', password: '', hostname: '', port: '', host: '', pathname: r[1], search: r[2] || '', hash: r[3] || '', origin: '' };
    }
    const [, protocol, username = '', password = '', hostname = '', port = '', pathname = '', search = '', hash = ''] = m;
    const host = hostname + (port ? ':' + port : '');
    return {
      protocol: protocol.slice(0, -1), username, password, hostname, port, host,
      pathname, search, hash, origin: hostname ? protocol + '//' + host : 'null',
    };
  }

  // data-* values as jQuery reads them: booleans, null, numbers and JSON become values.
  function dataValue(s) {
    if (s === 'true') return true;
    if (s === 'false') return false;
    if (s === 'null') return null;
    if (s !== '' && String(+s) === s) return +s;
    if (/^(?:\{[\w\W]*\}|\[[\w\W]*\])$/.test(s)) {
      try { return JSON.parse(s); } catch (e) { return s; }
    }
    return s;
  }
  const camel = (k) => k.replace(/-([a-z])/g, (_, c) => c.toUpperCase());

  // ---- form controls, as jQuery's val() and serializeArray() see them ----
  const tag = (doc, h) => { const d = V.htmlDescribe(doc, h); return d && d[0] === 1 ? d[1] : ''; };
  const attr = (doc, h, name) => V.htmlAttr(doc, h, name);
  const hasAttr = (doc, h, name) => attr(doc, h, name) !== undefined;
  const optionValue = (doc, h) => {
    const v = attr(doc, h, 'value');
    return v === undefined ? V.htmlText(doc, [h]) : v;
  };
  const options = (doc, h) => V.htmlFind(doc, [h], 'option');
  const selectedOptions = (doc, h) => {
    const all = options(doc, h);
    const sel = all.filter((o) => hasAttr(doc, o, 'selected'));
    if (hasAttr(doc, h, 'multiple')) return sel;
    if (sel.length) return [sel[sel.length - 1]];
    return all.length ? [all[0]] : [];
  };
  function controlValue(doc, h) {
    switch (tag(doc, h)) {
      case 'input': {
        const v = attr(doc, h, 'value');
        if (v !== undefined) return v;
        const type = str(attr(doc, h, 'type') || '').toLowerCase();
        return type === 'checkbox' || type === 'radio' ? 'on' : '';
      }
      case 'select': {
        const sel = selectedOptions(doc, h).map((o) => optionValue(doc, o));
        return hasAttr(doc, h, 'multiple') ? sel : (sel.length ? sel[0] : undefined);
      }
      case 'textarea':
        return V.htmlText(doc, [h]);
      case 'option':
        return optionValue(doc, h);
      case 'button':
        return attr(doc, h, 'value') || '';
      default:
        return undefined;
    }
  }
  const CONTROLS = 'input, select, textarea, keygen';
  const UNSUBMITTED = ['submit', 'button', 'image', 'reset', 'file'];
  function successfulControls(doc, nodes) {
    let controls = [];
    for (const h of nodes) {
      controls = union(controls, tag(doc, h) === 'form' ? V.htmlFind(doc, [h], CONTROLS) : V.htmlFilter(doc, [h], CONTROLS));
    }
    return controls.filter((h) => {
      const name = attr(doc, h, 'name');
      if (!name) return false;
      const type = str(attr(doc, h, 'type') || '').toLowerCase();
      if (UNSUBMITTED.includes(type)) return false;
      if (type === 'checkbox' || type === 'radio') return attr(doc, h, 'checked') === 'checked';
      return true;
    });
  }
  const formEscape = (s) => encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());

  // ---- Selection ----
  class Selection {
    constructor(doc, nodes, prev, url) {
      Object.defineProperty(this, D, { value: doc });
      Object.defineProperty(this, N, { value: nodes });
      Object.defineProperty(this, P, { value: prev });
      this.url = url === undefined ? '' : url;
    }
  }
  const derive = (sel, nodes) => new Selection(sel[D], nodes, sel, sel.url);
  const one = (sel, h) => new Selection(sel[D], [h], sel, sel.url);
  const filtered = (sel, nodes, s) => derive(sel, s === undefined ? nodes : V.htmlFilter(sel[D], nodes, str(s)));
  const walk = (name) => function (s) { return filtered(this, V.htmlWalk(this[D], this[N], name), s); };
  const walkUntil = (name) => function (until, s) {
    const nodes = until === undefined ? V.htmlWalk(this[D], this[N], name) : V.htmlWalk(this[D], this[N], name, str(until));
    return filtered(this, nodes, s);
  };
  // The nodes of `sel` that `test` (a selector, a function of (index, selection) or a
  // selection) accepts.
  function accepted(sel, test) {
    const doc = sel[D];
    const nodes = sel[N];
    if (typeof test === 'function') return nodes.filter((h, i) => !!test(i, one(sel, h)));
    if (test instanceof Selection) { const other = new Set(test[N]); return nodes.filter((h) => other.has(h)); }
    if (test instanceof Element) return nodes.filter((h) => h === test[H]);
    return V.htmlFilter(doc, nodes, str(test));
  }
  const isAncestor = (doc, a, h) => V.htmlWalk(doc, [h], 'parents').includes(a) || (a === 0 && h !== 0);

  Object.assign(Selection.prototype, {
    size() { return this[N].length; },
    find(s) {
      if (s instanceof Selection) return derive(this, s[N].filter((h) => this[N].some((a) => isAncestor(this[D], a, h))));
      return derive(this, V.htmlFind(this[D], this[N], str(s)));
    },
    attr(name, def) {
      const v = this[N].length ? V.htmlAttr(this[D], this[N][0], str(name)) : undefined;
      return v === undefined ? def : v;
    },
    text() { return V.htmlText(this[D], this[N]); },
    html() { return this[N].length ? V.htmlInner(this[D], this[N][0]) : ''; },
    val() { return this[N].length ? controlValue(this[D], this[N][0]) : undefined; },
    data(key) {
      if (!this[N].length) return undefined;
      const attrs = V.htmlAttrs(this[D], this[N][0]);
      const all = {};
      for (let i = 0; i < attrs.length; i += 2) {
        if (attrs[i].startsWith('data-')) all[camel(attrs[i].slice(5))] = dataValue(attrs[i + 1]);
      }
      return key === undefined ? all : all[camel(str(key))];
    },
    // k6 stops at a callback that throws and throws a GoError naming where it failed.
    each(fn) {
      this[N].forEach((h, i) => {
        try {
          fn(i, element(this[D], h, this.url));
        } catch (e) {
          const at = /\(?([^\s()]+):(\d+):(\d+)\)?\s*$/m.exec(String((e && e.stack) || '').split('\n').find((l) => l.trim().startsWith('at ')) || '');
          const where = at ? ` at file://${at[1]}:${at[2]}:${at[3]}` : '';
          const err = new Error(`the function passed to each() failed: ${String(e)}${where}`);
          Object.defineProperty(err, 'name', { value: 'GoError', writable: true, configurable: true });
          throw err;
        }
      });
      return this;
    },
    // k6 leaves out the elements whose callback throws.
    map(fn) {
      const out = [];
      this[N].forEach((h, i) => {
        let r;
        try {
          r = fn(i, one(this, h));
        } catch (e) {
          return;
        }
        out.push(r === undefined ? null : r);
      });
      return out;
    },
    toArray() { return this[N].map((h) => one(this, h)); },
    get(i) {
      if (i === undefined) return this[N].map((h) => element(this[D], h, this.url));
      i = Math.trunc(Number(i));
      const h = this[N][i < 0 ? this[N].length + i : i];
      return h === undefined ? undefined : element(this[D], h, this.url);
    },
    eq(i) {
      i = Math.trunc(Number(i));
      const h = this[N][i < 0 ? this[N].length + i : i];
      return derive(this, h === undefined ? [] : [h]);
    },
    first() { return derive(this, this[N].slice(0, 1)); },
    last() { return derive(this, this[N].slice(-1)); },
    slice(start, end) { return derive(this, this[N].slice(start, end)); },
    children: walk('children'),
    contents() { return derive(this, V.htmlWalk(this[D], this[N], 'contents')); },
    parent: walk('parent'),
    parents: walk('parents'),
    parentsUntil: walkUntil('parents'),
    next: walk('next'),
    nextAll: walk('nextAll'),
    nextUntil: walkUntil('nextAll'),
    prev: walk('prev'),
    prevAll: walk('prevAll'),
    prevUntil: walkUntil('prevAll'),
    siblings: walk('siblings'),
    closest(s) { return derive(this, V.htmlClosest(this[D], this[N], str(s))); },
    filter(test) { return derive(this, accepted(this, test)); },
    not(test) { const out = new Set(accepted(this, test)); return derive(this, this[N].filter((h) => !out.has(h))); },
    is(test) { return accepted(this, test).length > 0; },
    has(s) {
      const doc = this[D];
      if (s instanceof Selection) return derive(this, this[N].filter((a) => s[N].some((h) => isAncestor(doc, a, h))));
      return derive(this, this[N].filter((h) => V.htmlFind(doc, [h], str(s)).length > 0));
    },
    add(s) {
      const more = s instanceof Selection ? s[N] : V.htmlFind(this[D], [0], str(s));
      return derive(this, union(this[N], more));
    },
    end() { return this[P] || new Selection(this[D], [], undefined, this.url); },
    index(x) {
      const nodes = this[N];
      if (!nodes.length && x === undefined) return -1;
      if (x === undefined) return V.htmlWalk(this[D], [nodes[0]], 'prevAll').length;
      if (x instanceof Selection) return x[N].length ? nodes.indexOf(x[N][0]) : -1;
      if (x instanceof Element) return nodes.indexOf(x[H]);
      return nodes.length ? V.htmlFind(this[D], [0], str(x)).indexOf(nodes[0]) : -1;
    },
    serializeArray() {
      const doc = this[D];
      return successfulControls(doc, this[N]).map((h) => ({ name: attr(doc, h, 'name'), value: controlValue(doc, h) }));
    },
    serializeObject() {
      const out = {};
      for (const { name, value } of this.serializeArray()) out[name] = value;
      return out;
    },
    serialize() {
      const pairs = [];
      for (const { name, value } of this.serializeArray()) {
        for (const v of Array.isArray(value) ? value : [value]) pairs.push([name, v === undefined ? '' : v]);
      }
      // Sorted by name, values of one name in document order (as k6's encoding does).
      const names = [...new Set(pairs.map((p) => p[0]))].sort();
      return names.flatMap((n) => pairs.filter((p) => p[0] === n).map((p) => formEscape(n) + '=' + formEscape(p[1]))).join('&');
    },
  });

  // ---- Element ----
  class Element {
    constructor(doc, h, url) {
      Object.defineProperty(this, D, { value: doc });
      Object.defineProperty(this, H, { value: h });
      Object.defineProperty(this, 'url', { value: url });
    }
  }
  const info = (el) => V.htmlDescribe(el[D], el[H]) || [0, '', null];
  const elAttr = (el, name) => V.htmlAttr(el[D], el[H], name);
  const elOrNull = (el, hs) => (hs.length ? element(el[D], hs[0], el.url) : null);
  const elements = (el, hs) => hs.map((h) => element(el[D], h, el.url));
  const attrNode = (el, name, value) => ({ owner_element: el, name, value });
  const strAttr = (name) => function () { const v = elAttr(this, name); return v === undefined ? '' : v; };
  const boolAttr = (name) => function () { return elAttr(this, name) !== undefined; };
  const intAttr = (name, def) => function () { const v = parseInt(elAttr(this, name), 10); return Number.isNaN(v) ? def : v; };
  const urlAttr = (name) => function () { const v = elAttr(this, name); return v === undefined ? '' : resolveURL(this.url, v); };
  const lowerAttr = (name, def, allowed) => function () {
    const v = str(elAttr(this, name) || '').toLowerCase();
    return allowed ? (allowed.includes(v) ? v : def) : (v || def);
  };
  const formOf = function () {
    const id = elAttr(this, 'form');
    const hs = id ? V.htmlFind(this[D], [0], `form[id="${id.replace(/["\\]/g, '\\$&')}"]`) : V.htmlClosest(this[D], [this[H]], 'form');
    return elOrNull(this, hs);
  };

  Object.assign(Element.prototype, {
    toString() { return '[object html.Node]'; },
    nodeType() { return info(this)[0]; },
    nodeName() { return info(this)[1]; },
    nodeValue() { const i = info(this); return i[0] === 3 ? i[2] : i[0] === 8 ? '' : null; },
    textContent() { return info(this)[0] === 8 ? '' : V.htmlText(this[D], [this[H]]); },
    innerHTML() { return V.htmlInner(this[D], this[H]); },
    id: strAttr('id'),
    className: strAttr('class'),
    classList() { return str(elAttr(this, 'class') || '').split(/\s+/).filter((c) => c); },
    lang() { const v = elAttr(this, 'lang'); return v === undefined ? undefined : v; },
    namespaceURI() { return info(this)[0] === 1 ? XHTML : undefined; },
    isDefaultNamespace(ns) { return ns === XHTML; },
    attributes() {
      const a = V.htmlAttrs(this[D], this[H]);
      const out = {};
      for (let i = 0; i < a.length; i += 2) out[a[i]] = attrNode(this, a[i], a[i + 1]);
      return out;
    },
    getAttribute(name) { const v = elAttr(this, str(name)); return v === undefined ? undefined : v; },
    getAttributeNode(name) { const v = elAttr(this, str(name)); return v === undefined ? undefined : attrNode(this, str(name), v); },
    hasAttribute(name) { return elAttr(this, str(name)) !== undefined; },
    hasAttributes() { return V.htmlAttrs(this[D], this[H]).length > 0; },
    hasChildNodes() { return V.htmlWalk(this[D], [this[H]], 'contents').length > 0; },
    childElementCount() { return V.htmlWalk(this[D], [this[H]], 'children').length; },
    children() { return elements(this, V.htmlWalk(this[D], [this[H]], 'children')); },
    childNodes() { return elements(this, V.htmlWalk(this[D], [this[H]], 'contents')); },
    firstChild() { return elOrNull(this, V.htmlWalk(this[D], [this[H]], 'contents')); },
    lastChild() { return elOrNull(this, V.htmlWalk(this[D], [this[H]], 'contents').slice(-1)); },
    firstElementChild() { return elOrNull(this, V.htmlWalk(this[D], [this[H]], 'children')); },
    lastElementChild() { return elOrNull(this, V.htmlWalk(this[D], [this[H]], 'children').slice(-1)); },
    parentElement() { return elOrNull(this, V.htmlWalk(this[D], [this[H]], 'parent')); },
    parentNode() {
      const p = V.htmlWalk(this[D], [this[H]], 'parent');
      return p.length ? element(this[D], p[0], this.url) : (this[H] === 0 ? null : element(this[D], 0, this.url));
    },
    nextElementSibling() { return elOrNull(this, V.htmlWalk(this[D], [this[H]], 'next')); },
    previousElementSibling() { return elOrNull(this, V.htmlWalk(this[D], [this[H]], 'prev')); },
    nextSibling() {
      const p = this.parentNode();
      if (!p) return null;
      const all = V.htmlWalk(this[D], [p[H]], 'contents');
      const i = all.indexOf(this[H]);
      return i >= 0 && i + 1 < all.length ? element(this[D], all[i + 1], this.url) : null;
    },
    previousSibling() {
      const p = this.parentNode();
      if (!p) return null;
      const all = V.htmlWalk(this[D], [p[H]], 'contents');
      const i = all.indexOf(this[H]);
      return i > 0 ? element(this[D], all[i - 1], this.url) : null;
    },
    ownerDocument() { return element(this[D], 0, this.url); },
    querySelector(s) { return elOrNull(this, V.htmlFind(this[D], [this[H]], str(s))); },
    querySelectorAll(s) { return elements(this, V.htmlFind(this[D], [this[H]], str(s))); },
    getElementsByTagName(t) { return elements(this, V.htmlFind(this[D], [this[H]], str(t))); },
    getElementsByClassName(c) {
      const classes = str(c).split(/\s+/).filter((x) => x);
      return elements(this, classes.length ? V.htmlFind(this[D], [this[H]], classes.map((x) => `[class~="${x.replace(/["\\]/g, '\\$&')}"]`).join('')) : []);
    },
    matches(s) { return V.htmlFilter(this[D], [this[H]], str(s)).length > 0; },
    contains(other) { return other instanceof Element && (other[H] === this[H] || isAncestor(this[D], this[H], other[H])); },
    isSameNode(other) { return other instanceof Element && other[D] === this[D] && other[H] === this[H]; },
    isEqualNode(other) { return other instanceof Element && V.htmlOuter(other[D], other[H]) === V.htmlOuter(this[D], this[H]); },
    selection() { return new Selection(this[D], [this[H]], undefined, this.url); },
  });

  // Elements with properties of their own, by tag name.
  const hrefProps = {
    href: urlAttr('href'),
    hash() { const u = urlParts(this.href()); return u ? u.hash : ''; },
    host() { const u = urlParts(this.href()); return u ? u.host : ''; },
    hostname() { const u = urlParts(this.href()); return u ? u.hostname : ''; },
    port() { const u = urlParts(this.href()); return u ? u.port : ''; },
    pathname() { const u = urlParts(this.href()); return u ? u.pathname : ''; },
    protocol() { const u = urlParts(this.href()); return u ? u.protocol : ''; },
    search() { const u = urlParts(this.href()); return u ? u.search : ''; },
    origin() { const u = urlParts(this.href()); return u ? u.origin : ''; },
    username() { const u = urlParts(this.href()); return u ? u.username : ''; },
    password() { const u = urlParts(this.href()); return u ? u.password : ''; },
    download: strAttr('download'),
    hrefLang: strAttr('hreflang'),
    referrerPolicy: strAttr('referrerpolicy'),
    rel: strAttr('rel'),
    relList() { return str(elAttr(this, 'rel') || '').split(/\s+/).filter((c) => c); },
    target: strAttr('target'),
    type: strAttr('type'),
    accessKey: strAttr('accesskey'),
    text() { return this.textContent(); },
  };
  const fieldProps = {
    autofocus: boolAttr('autofocus'),
    disabled: boolAttr('disabled'),
    form: formOf,
    name: strAttr('name'),
    required: boolAttr('required'),
    tabIndex: intAttr('tabindex', 0),
    labels() {
      const id = elAttr(this, 'id');
      const byFor = id ? V.htmlFind(this[D], [0], `label[for="${id.replace(/["\\]/g, '\\$&')}"]`) : [];
      return elements(this, union(byFor, V.htmlClosest(this[D], [this[H]], 'label')));
    },
  };
  const selectOptions = (el) => V.htmlFind(el[D], [el[H]], 'option');
  const PER_TAG = {
    a: hrefProps,
    area: Object.assign({}, hrefProps, { alt: strAttr('alt'), coords: strAttr('coords'), shape: strAttr('shape') }),
    input: Object.assign({}, fieldProps, {
      accept: strAttr('accept'), accessKey: strAttr('accesskey'), alt: strAttr('alt'),
      autocomplete: strAttr('autocomplete'), checked: boolAttr('checked'), defaultChecked: boolAttr('checked'),
      defaultValue: strAttr('value'), dirName: strAttr('dirname'), formAction: urlAttr('formaction'),
      formEnctype: strAttr('formenctype'), formMethod: strAttr('formmethod'), formNoValidate: boolAttr('formnovalidate'),
      formTarget: strAttr('formtarget'), height: intAttr('height', 0), list() { const id = elAttr(this, 'list'); return id ? elOrNull(this, V.htmlFind(this[D], [0], `datalist[id="${id.replace(/["\\]/g, '\\$&')}"]`)) : null; },
      max: strAttr('max'), maxLength: intAttr('maxlength', -1), min: strAttr('min'), multiple: boolAttr('multiple'),
      pattern: strAttr('pattern'), placeholder: strAttr('placeholder'), readonly: boolAttr('readonly'),
      size: intAttr('size', 20), src: urlAttr('src'), step: strAttr('step'), type: lowerAttr('type', 'text'),
      value() { return controlValue(this[D], this[H]); }, width: intAttr('width', 0),
    }),
    button: Object.assign({}, fieldProps, {
      accessKey: strAttr('accesskey'), formAction: urlAttr('formaction'), formEnctype: strAttr('formenctype'),
      formMethod: strAttr('formmethod'), formNoValidate: boolAttr('formnovalidate'), formTarget: strAttr('formtarget'),
      type: lowerAttr('type', 'submit', ['submit', 'reset', 'button', 'menu']), value: strAttr('value'),
    }),
    form: {
      acceptCharset: strAttr('accept-charset'), action: urlAttr('action'), autocomplete: strAttr('autocomplete'),
      elements() { return elements(this, V.htmlFind(this[D], [this[H]], 'input, select, textarea, button, fieldset, object, output')); },
      encoding: lowerAttr('enctype', 'application/x-www-form-urlencoded', ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']),
      enctype: lowerAttr('enctype', 'application/x-www-form-urlencoded', ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']),
      length() { return this.elements().length; },
      method: lowerAttr('method', 'get', ['get', 'post', 'dialog']),
      name: strAttr('name'), noValidate: boolAttr('novalidate'), target: strAttr('target'),
    },
    select: Object.assign({}, fieldProps, {
      length() { return selectOptions(this).length; },
      multiple: boolAttr('multiple'),
      options() { return elements(this, selectOptions(this)); },
      selectedIndex() { const s = selectedOptions(this[D], this[H]); return s.length ? selectOptions(this).indexOf(s[0]) : -1; },
      selectedOptions() { return elements(this, selectedOptions(this[D], this[H])); },
      size: intAttr('size', 0),
      type() { return elAttr(this, 'multiple') !== undefined ? 'select-multiple' : 'select-one'; },
      value() { const s = selectedOptions(this[D], this[H]); return s.length ? optionValue(this[D], s[0]) : ''; },
    }),
    option: {
      defaultSelected: boolAttr('selected'), disabled: boolAttr('disabled'), form: formOf,
      index() { const sel = V.htmlClosest(this[D], [this[H]], 'select, datalist'); return sel.length ? V.htmlFind(this[D], sel, 'option').indexOf(this[H]) : 0; },
      label() { const v = elAttr(this, 'label'); return v === undefined ? this.text() : v; },
      selected: boolAttr('selected'),
      text() { return V.htmlText(this[D], [this[H]]).replace(/\s+/g, ' ').trim(); },
      value() { return optionValue(this[D], this[H]); },
    },
    textarea: Object.assign({}, fieldProps, {
      accessKey: strAttr('accesskey'), autocomplete: strAttr('autocomplete'), cols: intAttr('cols', 20),
      defaultValue() { return this.textContent(); }, dirName: strAttr('dirname'), inputMode: strAttr('inputmode'),
      maxLength: intAttr('maxlength', -1), minLength: intAttr('minlength', -1), placeholder: strAttr('placeholder'),
      readOnly: boolAttr('readonly'), rows: intAttr('rows', 2), type() { return 'textarea'; },
      value() { return this.textContent(); }, wrap: strAttr('wrap'),
    }),
    label: { htmlFor: strAttr('for'), form: formOf, control() { const id = elAttr(this, 'for'); const hs = id ? V.htmlFind(this[D], [0], `[id="${id.replace(/["\\]/g, '\\$&')}"]`) : V.htmlFind(this[D], [this[H]], 'input, select, textarea, button'); return elOrNull(this, hs); } },
    img: {
      alt: strAttr('alt'), crossOrigin: strAttr('crossorigin'), currentSrc: urlAttr('src'), height: intAttr('height', 0),
      isMap: boolAttr('ismap'), referrerPolicy: strAttr('referrerpolicy'), sizes: strAttr('sizes'), src: urlAttr('src'),
      srcset: strAttr('srcset'), useMap: strAttr('usemap'), width: intAttr('width', 0),
    },
    link: {
      crossOrigin: strAttr('crossorigin'), disabled: boolAttr('disabled'), href: urlAttr('href'), hrefLang: strAttr('hreflang'),
      media: strAttr('media'), referrerPolicy: strAttr('referrerpolicy'), rel: strAttr('rel'),
      relList() { return str(elAttr(this, 'rel') || '').split(/\s+/).filter((c) => c); }, type: strAttr('type'),
    },
    script: {
      async: boolAttr('async'), charset: strAttr('charset'), crossOrigin: strAttr('crossorigin'), defer: boolAttr('defer'),
      noModule: boolAttr('nomodule'), src: urlAttr('src'), text() { return this.textContent(); }, type: strAttr('type'),
    },
    meta: { content: strAttr('content'), httpEquiv: strAttr('http-equiv'), name: strAttr('name') },
    title: { text() { return this.textContent(); } },
  };
  const CLASSES = {};
  for (const t of Object.keys(PER_TAG)) {
    CLASSES[t] = class extends Element {};
    Object.assign(CLASSES[t].prototype, PER_TAG[t]);
  }
  function element(doc, h, url) {
    const d = V.htmlDescribe(doc, h);
    const C = (d && d[0] === 1 && CLASSES[d[1]]) || Element;
    return new C(doc, h, url === undefined ? '' : url);
  }

  // ---- entry points ----
  function parseHTML(src) {
    if (src === undefined || src === null) src = '';
    const text = typeof src === 'string' ? src : (src instanceof ArrayBuffer ? V.utf8Decode(src) : String(src));
    return new Selection(V.htmlParse(text), [0], undefined, '');
  }

  // `res.html(selector)`: the response body's document, with the response's URL.
  function fromResponse(res, selector) {
    const body = res.body;
    const text = body === null || body === undefined ? '' : (typeof body === 'string' ? body : V.utf8Decode(body));
    const doc = new Selection(V.htmlParse(text), [0], undefined, res.url || '');
    return selector === undefined ? doc : doc.find(selector);
  }

  return { parseHTML, fromResponse, resolveURL, Selection, Element };
})
