// The groups/checks tree of a run page (docs/dashboard.md): each group of the script with its
// checks' passes and fails, as the end-of-test summary's `root_group` has them once the run has
// ended, and from the run stream's `checks` event (merged over the agents) while it runs.
// Groups are <details> elements, so Tab reaches each and Enter folds it.

import { el } from './format.js';

/** The stream's flat list ({group: '::a::b', check, passes, fails}) as the summary's tree. */
export function checksTreeOf(list) {
  const root = { name: '', path: '', groups: [], checks: [] };
  for (const c of list) {
    let node = root;
    for (const name of c.group.split('::').slice(1)) {
      const path = `${node.path}::${name}`;
      let next = node.groups.find((g) => g.path === path);
      if (!next) {
        next = { name, path, groups: [], checks: [] };
        node.groups.push(next);
      }
      node = next;
    }
    node.checks.push({ name: c.check, path: `${c.group}::${c.check}`, passes: c.passes, fails: c.fails });
  }
  return root;
}

/** Passes and fails of a group and everything under it. */
function groupTotals(g) {
  let passes = 0, fails = 0;
  for (const c of g.checks) { passes += c.passes; fails += c.fails; }
  for (const sub of g.groups) {
    const t = groupTotals(sub);
    passes += t.passes;
    fails += t.fails;
  }
  return { passes, fails };
}

const share = (passes, fails) => (passes + fails ? `${((100 * passes) / (passes + fails)).toFixed(2)} %` : '—');

function checkBadge(c) {
  const ok = c.fails === 0;
  return el('span', { class: `badge ${ok ? 'good' : 'bad'}` }, el('span', { 'aria-hidden': 'true' }, ok ? '✔ ' : '✖ '), ok ? 'pass' : 'fail');
}

const checkCounts = (c) => `${c.passes} passed, ${c.fails} failed (${share(c.passes, c.fails)})`;

function checkItem(c) {
  return el('li', { class: `check ${c.fails === 0 ? 'check-pass' : 'check-fail'}`, 'data-check': c.path },
    checkBadge(c), ' ', el('span', { class: 'check-name' }, c.name), ' ',
    el('span', { class: 'check-counts' }, checkCounts(c)));
}

function groupItem(g) {
  const t = groupTotals(g);
  return el('li', { class: 'group', 'data-group': g.path },
    el('details', { open: true },
      el('summary', {}, el('span', { class: 'group-name' }, `group ${g.name}`), ' ',
        el('span', { class: 'check-counts' }, `${t.passes} passed, ${t.fails} failed`)),
      groupList(g)));
}

function groupList(g) {
  return el('ul', { class: 'checks' }, ...g.checks.map(checkItem), ...g.groups.map(groupItem));
}

/** Every group and check of a tree, in order: [path, node, isGroup]. */
function nodesOf(g, out = []) {
  for (const c of g.checks) out.push([c.path, c, false]);
  for (const sub of g.groups) {
    out.push([sub.path, sub, true]);
    nodesOf(sub, out);
  }
  return out;
}

/** Draws the tree into `box`: `root` is a summary's `root_group` (or checksTreeOf's); `more`
 * says the stream cut the list. When only the counts changed, they are updated in place, so
 * folded groups stay folded and the keyboard focus stays where it is. */
export function renderChecks(box, root, more = false) {
  if (!root || (!root.checks.length && !root.groups.length)) {
    box.replaceChildren(el('p', {}, 'This run has no checks (yet).'));
    box.dataset.shape = '';
    return;
  }
  const t = groupTotals(root);
  const total = `${t.passes} checks passed, ${t.fails} failed (${share(t.passes, t.fails)} passed)`;
  const nodes = nodesOf(root);
  const shape = JSON.stringify([nodes.map(([path, , isGroup]) => [path, isGroup]), more]);
  if (box.dataset.shape === shape) {
    box.querySelector('#checks-total').textContent = total;
    const items = box.querySelectorAll('li.check, li.group');
    nodes.forEach(([, node, isGroup], i) => {
      const li = items[i];
      if (isGroup) {
        const gt = groupTotals(node);
        li.querySelector(':scope > details > summary > .check-counts').textContent = `${gt.passes} passed, ${gt.fails} failed`;
      } else {
        li.className = `check ${node.fails === 0 ? 'check-pass' : 'check-fail'}`;
        li.querySelector('.badge').replaceWith(checkBadge(node));
        li.querySelector('.check-counts').textContent = checkCounts(node);
      }
    });
    return;
  }
  box.dataset.shape = shape;
  box.replaceChildren(el('p', { id: 'checks-total' }, total), groupList(root));
  if (more) box.append(el('p', {}, 'The run has more checks than the 1,000 shown here.'));
}
