// Formatting and small DOM helpers shared by the pages (docs/dashboard.md). Text is always set
// with textContent: names, notes and messages come from users.

/** Run statuses (docs/run-statuses.md): the name shown, a symbol and a colour class. The
 * text is always shown, so the colour never carries the status alone. */
export const RUN_STATUS = {
  '-2': ['CREATED', '○', 'pending'],
  '-1': ['VALIDATED', '○', 'pending'],
  '0': ['QUEUED', '◷', 'pending'],
  '1': ['INITIALIZING', '◔', 'active'],
  '2': ['RUNNING', '▶', 'active'],
  '3': ['FINISHED', '✔', 'good'],
  '4': ['TIMED_OUT', '⏱', 'bad'],
  '5': ['ABORTED_BY_USER', '■', 'neutral'],
  '6': ['ABORTED_BY_SYSTEM', '✖', 'bad'],
  '7': ['ABORTED_BY_SCRIPT_ERROR', '✖', 'bad'],
  '8': ['ABORTED_BY_THRESHOLD', '✖', 'bad'],
  '9': ['ABORTED_BY_LIMIT', '✖', 'bad'],
};

export const isTerminal = (s) => s >= 3;

/** Creates an element with attributes and children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** A status badge: symbol, name and colour. */
export function statusBadge(status) {
  const [name, sym, cls] = RUN_STATUS[String(status)] || [`STATUS ${status}`, '?', 'neutral'];
  return el('span', { class: `badge ${cls}`, 'data-status': status }, el('span', { 'aria-hidden': 'true' }, sym + ' '), name);
}

/** PASSED / FAILED with a symbol. */
export function resultBadge(result, ended) {
  if (!ended) return el('span', { class: 'badge neutral' }, '… pending');
  return result === 1
    ? el('span', { class: 'badge bad' }, el('span', { 'aria-hidden': 'true' }, '✖ '), 'FAILED')
    : el('span', { class: 'badge good' }, el('span', { 'aria-hidden': 'true' }, '✔ '), 'PASSED');
}

/** A health badge (`ok`, `warning`, `overloaded`) with its cause. */
export function healthBadge(health, cause) {
  const cls = { ok: 'good', warning: 'warn', overloaded: 'bad' }[health] || 'neutral';
  const sym = { ok: '✔', warning: '⚠', overloaded: '✖' }[health] || '?';
  const text = cause ? `${health} (${cause})` : health;
  return el('span', { class: `badge ${cls}` }, el('span', { 'aria-hidden': 'true' }, sym + ' '), text);
}

export function fmtDuration(secs) {
  if (secs === null || secs === undefined || !isFinite(secs)) return '—';
  secs = Math.max(0, Math.round(secs));
  const h = Math.floor(secs / 3600), m = Math.floor((secs % 3600) / 60), s = secs % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m${String(s).padStart(2, '0')}s` : m ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

/** Seconds a run has run: its `duration` once ended, else since `started`. */
export function runSeconds(run) {
  if (run.ended || isTerminal(run.run_status)) return run.duration;
  if (!run.started) return null;
  return (Date.now() - Date.parse(run.started)) / 1000;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toISOString().replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC');
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function fmtNum(v, digits = 1) {
  return v === null || v === undefined || !isFinite(v) ? '—' : Number(v).toFixed(digits);
}

/** Milliseconds as the run page shows them (two decimals). */
export const fmtMs = (v) => (v === null || v === undefined ? '—' : `${Number(v).toFixed(2)} ms`);

/** Where the keyboard focus is inside `box`, as something that survives a redraw: the row's
 * `data-*` and the link's address (or the control's id); null when it is elsewhere. */
function focusKey(box, e) {
  if (!e || e === box || !box.contains(e)) return null;
  const row = e.closest('tr');
  return JSON.stringify([row ? { ...row.dataset } : null, e.tagName, e.getAttribute('href') || e.id]);
}

/** Redraws `box` with `redraw()` and gives the keyboard focus back to the same link or control
 * if it was in there: the live tables are redrawn every second, and a keyboard user's focus
 * must not fall back to the top of the page each time. */
export function keepingFocus(box, redraw) {
  const key = focusKey(box, document.activeElement);
  redraw();
  if (key === null) return;
  for (const e of box.querySelectorAll('a[href], button, input, select, summary')) {
    if (focusKey(box, e) === key) { e.focus(); return; }
  }
}
