// The dashboard's entry: the token form, the hash routes (#/runs, #/runs/ID, #/agents) and the
// status line. See docs/dashboard.md.

import { api, token, setToken } from './feed.js';
import { runsPage, runPage, agentsPage } from './pages.js';

const main = document.getElementById('main');
const conn = document.getElementById('conn');
const form = document.getElementById('token-form');
const input = document.getElementById('token');
let close = () => {};

function status(text, error = false) {
  conn.textContent = text;
  conn.classList.toggle('error', error);
}

function route() {
  close();
  status('');
  // `#/runs?status=ended&project=2`: the page, then its query (the runs page's filters).
  const [hash, query = ''] = (location.hash || '#/runs').split('?');
  const run = /^#\/runs\/(\d+)$/.exec(hash);
  for (const a of document.querySelectorAll('nav a')) {
    a.toggleAttribute('aria-current', hash.startsWith(a.getAttribute('href')));
  }
  if (run) close = runPage(main, status, Number(run[1]));
  else if (hash === '#/agents') close = agentsPage(main, status);
  else close = runsPage(main, status, new URLSearchParams(query));
  document.title = `Volley · ${hash.slice(2) || 'runs'}`;
}

async function start() {
  const index = await api('GET', '/');
  const needed = index.body?.auth_required === true;
  form.hidden = !needed && !token();
  input.placeholder = token() ? 'token in use (this tab only)' : 'paste an API token';
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    input.value = '';
    input.placeholder = token() ? 'token in use (this tab only)' : 'paste an API token';
    route();
  });
  document.getElementById('token-forget').addEventListener('click', () => {
    setToken('');
    input.placeholder = 'paste an API token';
    route();
  });
  window.addEventListener('hashchange', () => { route(); main.focus(); });
  if (needed && !token()) {
    status('This controller needs an API token: enter one above (it is kept for this tab only).', true);
    main.replaceChildren();
    input.focus();
    return;
  }
  route();
}

start();
