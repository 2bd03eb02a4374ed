// The Saker web console: one file, plain JavaScript, no framework, no build.
//
// Everything the API returns may come from an attacker (a finding's paths,
// argv, domains and container names are whatever the watched workload chose),
// so the DOM is only ever built with `el()` / `svgEl()` below, which turn
// strings into text nodes. Nothing here parses HTML: no innerHTML, no
// insertAdjacentHTML, no document.write. The server's CSP forbids inline
// script on top of that.
//
// Sections: 1 DOM helpers · 2 formatting · 3 session and API · 4 router and
// layout · 5 sign-in · 6 findings list · 7 finding detail · 8 suppression
// rules · 9 threat lists · 10 coverage · 11 start-up.

'use strict';

// ---------------------------------------------------------------------------
// 1. DOM helpers
// ---------------------------------------------------------------------------

// Attributes `el()` may set. Anything else is a programming error: event
// handler attributes and `style` are never set from data.
const HTML_ATTRS = new Set([
  'id', 'class', 'type', 'name', 'value', 'placeholder', 'title', 'for', 'href', 'role', 'colspan', 'rowspan',
  'min', 'max', 'step', 'rows', 'cols', 'autocomplete', 'spellcheck', 'pattern', 'maxlength', 'accept',
  'tabindex', 'scope', 'lang', 'form', 'inputmode', 'size', 'wrap',
]);
// Set as properties (their live state), not attributes.
const HTML_PROPS = new Set(['checked', 'disabled', 'selected', 'required', 'readOnly', 'hidden', 'open', 'multiple']);
const SVG_ATTRS = new Set([
  'class', 'viewBox', 'x', 'y', 'width', 'height', 'x1', 'y1', 'x2', 'y2', 'd', 'text-anchor', 'transform', 'role',
  'aria-label', 'dominant-baseline', 'preserveAspectRatio', 'rx',
]);
const SVG_NS = 'http://www.w3.org/2000/svg';

// el('a', {href: '#/findings', class: 'x', on: {click: fn}}, 'text', node, [more])
// Strings and numbers become text nodes; null/undefined/false are skipped.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs, HTML_ATTRS);
  appendChildren(node, children);
  return node;
}

// The same for SVG elements (the findings chart).
function svgEl(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs, SVG_ATTRS);
  appendChildren(node, children);
  return node;
}

function setAttrs(node, attrs, allowed) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'on') {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
    } else if (HTML_PROPS.has(key)) {
      node[key] = Boolean(value);
    } else if (key === 'href') {
      node.setAttribute('href', safeHref(value));
    } else if (allowed.has(key) || key.startsWith('aria-')) {
      node.setAttribute(key, String(value));
    } else {
      throw new Error(`el(): attribute ${key} is not allowed`);
    }
  }
}

// Only in-console links: `#/…`. Anything else (javascript:, data:, other
// hosts) becomes a dead link.
function safeHref(value) {
  const s = String(value);
  return s.startsWith('#/') ? s : '#/';
}

function appendChildren(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) appendChildren(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

function replace(node, ...children) {
  clear(node);
  appendChildren(node, children);
  return node;
}

// A link to a console route built from data: each segment encoded.
function routeHref(...segments) {
  return '#/' + segments.map((s) => encodeURIComponent(String(s))).join('/');
}

// A message line: kind is 'error', 'ok' or 'info'.
function banner(kind, text) {
  return el('p', { class: `banner ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

function showMessage(slot, kind, text) {
  replace(slot, text ? banner(kind, text) : null);
}

// A button that asks for a second click before doing something destructive
// (no blocking confirm() dialogs).
function confirmButton(label, confirmLabel, action, attrs) {
  let armed = false;
  let timer = null;
  const button = el('button', {
    type: 'button',
    class: 'danger small',
    ...attrs,
    on: {
      click: () => {
        if (!armed) {
          armed = true;
          button.textContent = confirmLabel;
          button.classList.add('armed');
          timer = setTimeout(() => {
            armed = false;
            button.textContent = label;
            button.classList.remove('armed');
          }, 4000);
          return;
        }
        clearTimeout(timer);
        action();
      },
    },
  }, label);
  return button;
}

// A table: headers are strings or nodes; rows are arrays of cells (strings,
// nodes, or arrays of them), or a ready <tr>.
function table(attrs, headers, rows, emptyText) {
  const body = el('tbody', null);
  for (const row of rows) body.appendChild(row instanceof Node ? row : el('tr', null, row.map((c) => el('td', null, c))));
  if (rows.length === 0 && emptyText) {
    body.appendChild(el('tr', { class: 'empty' }, el('td', { colspan: headers.length }, emptyText)));
  }
  return el('table', { class: 'grid', ...attrs },
    el('thead', null, el('tr', null, headers.map((h) => (h instanceof Node ? h : el('th', { scope: 'col' }, h))))),
    body);
}

// A right-aligned (numeric) column header.
function numTh(text) {
  return el('th', { scope: 'col', class: 'num' }, text);
}

// Key/value rows as a definition list; rows with an empty value are left out.
function facts(pairs) {
  const dl = el('dl', { class: 'facts' });
  for (const [key, value] of pairs) {
    if (value === undefined || value === null || value === '') continue;
    dl.append(el('dt', null, key), el('dd', null, value));
  }
  return dl;
}

function section(title, ...children) {
  return el('section', { class: 'card' }, el('h2', null, title), children);
}

// ---------------------------------------------------------------------------
// 2. Formatting
// ---------------------------------------------------------------------------

function pad2(n) {
  return String(n).padStart(2, '0');
}

// Local time, `2026-11-28 14:31:07`; the ISO text goes in the title.
function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ` +
    `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

function timeNode(iso) {
  return el('time', { title: iso ? String(iso) : undefined }, fmtTime(iso));
}

function fmtAgo(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return '';
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  if (s < 0) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function fmtBytes(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function fmtCount(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US') : n === undefined || n === null ? '' : String(n);
}

// GuardDuty's bands: High 7–8.9, Medium 4–6.9, Low 1–3.9.
function severityLabel(finding) {
  if (finding.severityLabel) return String(finding.severityLabel);
  const s = Number(finding.severity);
  return s >= 7 ? 'High' : s >= 4 ? 'Medium' : 'Low';
}

function severityBadge(finding) {
  const label = severityLabel(finding);
  const cls = ['High', 'Medium', 'Low'].includes(label) ? label.toLowerCase() : 'low';
  const n = Number(finding.severity);
  return el('span', { class: `sev sev-${cls}`, title: Number.isFinite(n) ? `severity ${n.toFixed(1)}` : undefined }, label);
}

function shortId(id, n = 12) {
  const s = String(id || '');
  return s.length > n ? s.slice(0, n) + '…' : s;
}

// The last path segment of an ARN (a task's id).
function arnTail(arn) {
  if (!arn) return '';
  const s = String(arn);
  return s.slice(s.lastIndexOf('/') + 1);
}

function pretty(value) {
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

// A JSON value as a node: scalars as text, objects and arrays as formatted
// JSON in a <pre>.
function valueNode(value) {
  if (value === null || value === undefined) return el('span', { class: 'muted' }, 'null');
  if (typeof value === 'object') return el('pre', { class: 'json' }, pretty(value));
  return el('span', { class: 'value' }, String(value));
}

// ---------------------------------------------------------------------------
// 3. Session and API
// ---------------------------------------------------------------------------

const TOKEN_KEY = 'saker.apiToken';
const session = { me: null };

function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

function clearToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: nothing kept
  }
  session.me = null;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
    // Set on a 401: the page has been replaced by the sign-in form, the
    // caller must not draw its error over it.
    this.signedOut = false;
  }
}

// Call the REST API with the session's token. A 401 ends the session and
// shows the sign-in form with the server's reason.
async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'NetworkError', `Cannot reach the Saker server (${e.message}).`);
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (response.ok) return data;
  const err = data && data.error ? data.error : {};
  const error = new ApiError(response.status, err.code || `HTTP${response.status}`,
    err.message || `${method} ${path}: HTTP ${response.status}`);
  if (response.status === 401) {
    clearToken();
    error.signedOut = true;
    showSignIn(`The server did not accept the token: ${error.message}. Paste a valid API token.`);
  }
  throw error;
}

// Put an API error in `slot` (unless it already sent the user to sign in).
function reportError(slot, e) {
  if (e && e.signedOut) return;
  showMessage(slot, 'error', e instanceof ApiError ? e.message : `Error: ${e && e.message ? e.message : e}`);
}

// `saker up` prints `http://127.0.0.1:8650/#token=sk_api_…`: take the token
// once and drop it from the address bar (and so from history).
function consumeFragmentToken() {
  const hash = location.hash;
  if (!hash.startsWith('#token=')) return;
  let token = hash.slice('#token='.length).split('&')[0];
  try {
    token = decodeURIComponent(token);
  } catch {
    // keep it as it is
  }
  token = token.trim();
  if (token) setToken(token);
  history.replaceState(null, '', location.pathname + location.search + '#/findings');
}

// ---------------------------------------------------------------------------
// 4. Router and layout
// ---------------------------------------------------------------------------

const NAV = [
  ['findings', 'Findings'],
  ['filters', 'Suppression rules'],
  ['lists', 'Threat lists'],
  ['coverage', 'Coverage'],
];

// `#/findings/abc?severity=high` → {segments: ['findings', 'abc'], query}.
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const pathPart = q >= 0 ? raw.slice(0, q) : raw;
  const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
  const segments = pathPart.split('/').filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  return { segments, query };
}

const routes = {
  findings: (view, route) => (route.segments[1] !== undefined ? findingDetailPage(view, route.segments[1]) : findingsPage(view, route.query)),
  filters: (view) => filtersPage(view),
  lists: (view) => listsPage(view),
  coverage: (view) => coveragePage(view),
};

// Draw the page the hash names. Each render gets a fresh view element:
// a page still loading when the user moves on writes into a detached node.
async function render() {
  if (!getToken()) {
    showSignIn();
    return;
  }
  if (!session.me) {
    try {
      session.me = await api('GET', '/api/v1/whoami');
    } catch (e) {
      if (!e.signedOut) showSignIn(e.message);
      return;
    }
  }
  const route = parseHash();
  if (route.segments.length === 0) {
    history.replaceState(null, '', location.pathname + location.search + '#/findings');
    route.segments = ['findings'];
  }
  const name = route.segments[0];
  drawTopbar(name);
  const main = document.getElementById('app');
  const view = el('div', { class: 'view', dataset: { view: name } });
  replace(main, view);
  const page = routes[name];
  if (!page) {
    view.append(el('h1', null, 'Not found'), el('p', null, 'No such page. ', el('a', { href: '#/findings' }, 'Go to findings')));
    return;
  }
  try {
    await page(view, route);
  } catch (e) {
    reportError(view, e);
  }
}

function drawTopbar(active) {
  const bar = document.getElementById('topbar');
  bar.hidden = false;
  const me = session.me || {};
  replace(bar,
    el('a', { class: 'brand', href: '#/findings' }, 'Saker'),
    el('nav', { class: 'nav' }, NAV.map(([route, label]) =>
      el('a', { href: `#/${route}`, class: route === active ? 'active' : undefined, dataset: { nav: route } }, label))),
    el('div', { class: 'account' },
      el('span', { id: 'account-id', title: me.tokenId ? `token ${me.tokenId}` : undefined },
        `Account ${me.accountId || '?'}`),
      me.isAdmin ? el('span', { class: 'tag' }, 'administrator') : null,
      el('button', { type: 'button', id: 'sign-out', class: 'small', on: { click: signOut } }, 'Sign out')));
}

function signOut() {
  clearToken();
  showSignIn('Signed out.', 'info');
}

// ---------------------------------------------------------------------------
// 5. Sign-in
// ---------------------------------------------------------------------------

// The sign-in form, with an optional message (an error unless `kind` says
// otherwise).
function showSignIn(message, kind = 'error') {
  const bar = document.getElementById('topbar');
  clear(bar);
  bar.hidden = true;
  const input = el('input', {
    type: 'password', id: 'token-input', name: 'token', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'sk_api_…', required: true,
  });
  const msg = el('div', { id: 'signin-message' });
  if (message) showMessage(msg, kind, message);
  const submit = el('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = el('form', { id: 'signin-form', class: 'signin', autocomplete: 'off' },
    el('h1', null, 'Saker'),
    el('p', { class: 'muted' }, 'Paste an API token (sk_api_…). ', el('code', null, 'saker up'),
      ' prints one with the console link; the token stays in this browser tab only.'),
    el('label', { for: 'token-input' }, 'API token'),
    input,
    submit,
    msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) {
      showMessage(msg, 'error', 'Paste a token first.');
      return;
    }
    submit.disabled = true;
    setToken(token);
    session.me = null;
    try {
      session.me = await api('GET', '/api/v1/whoami');
    } catch (e) {
      submit.disabled = false;
      clearToken();
      // a 401 has already redrawn this form with the reason
      if (!e.signedOut) showSignIn(e.message);
      return;
    }
    if (parseHash().segments.length === 0) history.replaceState(null, '', '#/findings');
    render();
  });
  replace(document.getElementById('app'), el('div', { class: 'view', dataset: { view: 'signin' } }, form));
  input.focus();
}

// ---------------------------------------------------------------------------
// 6. Findings list
// ---------------------------------------------------------------------------

// Where the resource text filter looks (criteria fields of the design's
// whitelist).
const RESOURCE_FIELDS = {
  image: ['Container image', 'resource.containerDetails.image'],
  cluster: ['ECS cluster', 'resource.ecsClusterDetails.name'],
  hostname: ['Hostname', 'resource.instanceDetails.hostname'],
  container: ['Container name', 'resource.containerDetails.name'],
  workload: ['Kubernetes workload', 'resource.kubernetesDetails.kubernetesWorkloadDetails.name'],
};

const RANGES = {
  hour: ['Last hour', 3600e3, 'minute'],
  day: ['Last day', 86400e3, 'hour'],
  week: ['Last week', 7 * 86400e3, 'hour'],
  all: ['All time', null, 'day'],
};

const FINDINGS_DEFAULTS = {
  severity: 'all', type: '', rfield: 'image', resource: '', archived: 'current', range: 'all',
  sort: 'updatedAt', order: 'DESC', size: '50',
};

const SORTABLE = new Set(['updatedAt', 'severity', 'count', 'type', 'createdAt']);

// The hash of the findings list last shown, for the detail page's back link.
let lastFindingsHash = '#/findings';

function findingsStateFrom(query) {
  const s = { ...FINDINGS_DEFAULTS };
  for (const key of Object.keys(s)) {
    const v = query.get(key);
    if (v !== null) s[key] = v;
  }
  if (!['all', 'medium', 'high'].includes(s.severity)) s.severity = 'all';
  if (!RESOURCE_FIELDS[s.rfield]) s.rfield = 'image';
  if (!['current', 'archived', 'all'].includes(s.archived)) s.archived = 'current';
  if (!RANGES[s.range]) s.range = 'all';
  if (!SORTABLE.has(s.sort)) s.sort = 'updatedAt';
  if (s.order !== 'ASC') s.order = 'DESC';
  if (!['25', '50', '100', '200'].includes(s.size)) s.size = '50';
  return s;
}

// Only what differs from the defaults goes into the hash.
function findingsHash(s) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(s)) if (v !== FINDINGS_DEFAULTS[k]) q.set(k, v);
  const qs = q.toString();
  return '#/findings' + (qs ? `?${qs}` : '');
}

// A text filter: wildcards as typed; plain text matches anywhere.
function wildcard(text) {
  return /[*?]/.test(text) ? text : `*${text}*`;
}

function rangeStart(range) {
  const ms = RANGES[range][1];
  return ms === null ? null : new Date(Date.now() - ms);
}

// GuardDuty FindingCriteria for the list's filters.
function findingsCriteria(s) {
  const c = {};
  if (s.severity === 'high') c.severity = { gte: 7 };
  else if (s.severity === 'medium') c.severity = { gte: 4 };
  if (s.type.trim()) c.type = { matches: [wildcard(s.type.trim())] };
  if (s.resource.trim()) c[RESOURCE_FIELDS[s.rfield][1]] = { matches: [wildcard(s.resource.trim())] };
  if (s.archived === 'current') c['service.archived'] = { eq: [false] };
  else if (s.archived === 'archived') c['service.archived'] = { eq: [true] };
  const since = rangeStart(s.range);
  if (since) c.updatedAt = { gte: since.toISOString() };
  return Object.keys(c).length ? { criterion: c } : undefined;
}

// One line saying where the finding happened, and a second (the image or
// the instance).
function resourceSummary(resource) {
  const r = resource || {};
  const inst = r.instanceDetails || {};
  const container = r.containerDetails;
  const ecs = r.ecsClusterDetails;
  const k8s = r.kubernetesDetails && r.kubernetesDetails.kubernetesWorkloadDetails;
  if (ecs) {
    const task = ecs.taskDetails || {};
    const containers = task.containers || [];
    const names = containers.map((c) => c.name).filter(Boolean).join(', ') || (container && container.name);
    const parts = [ecs.name || 'ECS', arnTail(task.arn) ? shortId(arnTail(task.arn), 10) : null, names].filter(Boolean);
    return { kind: 'ECS', primary: parts.join(' / '), secondary: (containers[0] && containers[0].image) || (container && container.image) };
  }
  if (k8s) {
    return { kind: 'Kubernetes', primary: [k8s.namespace, k8s.name].filter(Boolean).join('/'), secondary: container && container.image };
  }
  if (container) {
    return { kind: 'Container', primary: container.name || shortId(container.id), secondary: container.image };
  }
  return { kind: 'Host', primary: inst.hostname || inst.instanceId || '?', secondary: inst.hostname ? inst.instanceId : null };
}

function resourceCell(resource) {
  const s = resourceSummary(resource);
  return el('div', { class: 'resource' },
    el('span', { class: 'tag' }, s.kind), ' ', el('span', { class: 'res-primary' }, s.primary),
    s.secondary ? el('div', { class: 'res-secondary muted' }, s.secondary) : null);
}

async function findingsPage(view, query) {
  const state = findingsStateFrom(query);
  lastFindingsHash = findingsHash(state);
  const paging = { tokens: [null], index: 0, next: null };
  const selected = new Set();

  // Filters bar.
  const sevSel = select('f-severity', [['all', 'All severities'], ['medium', '≥ Medium'], ['high', 'High']], state.severity);
  const typeIn = el('input', { id: 'f-type', type: 'search', placeholder: 'Type, e.g. Execution:*', value: state.type });
  const rfieldSel = select('f-rfield', Object.entries(RESOURCE_FIELDS).map(([k, [label]]) => [k, label]), state.rfield);
  const resIn = el('input', { id: 'f-resource', type: 'search', placeholder: 'Resource, e.g. nginx*', value: state.resource });
  const archSel = select('f-archived', [['current', 'Current'], ['archived', 'Archived'], ['all', 'Current and archived']], state.archived);
  const rangeSel = select('f-range', Object.entries(RANGES).map(([k, [label]]) => [k, label]), state.range);
  const sizeSel = select('f-size', [['25', '25'], ['50', '50'], ['100', '100'], ['200', '200']], state.size);
  const filterForm = el('form', { id: 'findings-filters', class: 'toolbar' },
    labelled('Severity', sevSel), labelled('Type', typeIn),
    labelled('Resource', el('span', { class: 'joined' }, rfieldSel, resIn)),
    labelled('Status', archSel), labelled('Updated', rangeSel), labelled('Per page', sizeSel),
    el('button', { type: 'submit', id: 'f-apply' }, 'Apply'));

  const message = el('div', { class: 'message-slot' });
  const chartBox = el('div', { id: 'chart', class: 'chart-box' });
  const tableBox = el('div', { id: 'findings-table-box' });
  const archiveBtn = el('button', { type: 'button', id: 'archive-selected', disabled: true }, 'Archive');
  const unarchiveBtn = el('button', { type: 'button', id: 'unarchive-selected', disabled: true }, 'Unarchive');
  const prevBtn = el('button', { type: 'button', id: 'page-prev', disabled: true }, '← Previous');
  const nextBtn = el('button', { type: 'button', id: 'page-next', disabled: true }, 'Next →');
  const pageInfo = el('span', { id: 'page-info', class: 'muted' });
  const selInfo = el('span', { id: 'selection-info', class: 'muted' });

  view.append(
    el('div', { class: 'page-head' }, el('h1', null, 'Findings')),
    section('New findings by severity', chartBox),
    filterForm,
    message,
    el('div', { class: 'toolbar actions' }, archiveBtn, unarchiveBtn, selInfo, el('span', { class: 'spacer' }), pageInfo, prevBtn, nextBtn),
    tableBox);

  // Read the controls into `state`, put them in the hash, reload.
  function apply() {
    Object.assign(state, {
      severity: sevSel.value, type: typeIn.value.trim(), rfield: rfieldSel.value, resource: resIn.value.trim(),
      archived: archSel.value, range: rangeSel.value, size: sizeSel.value,
    });
    paging.tokens = [null];
    paging.index = 0;
    lastFindingsHash = findingsHash(state);
    if (view.isConnected) history.replaceState(null, '', lastFindingsHash);
    loadChart();
    loadTable();
  }
  filterForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    apply();
  });
  for (const s of [sevSel, rfieldSel, archSel, rangeSel, sizeSel]) s.addEventListener('change', apply);

  function setSort(attribute) {
    if (state.sort === attribute) state.order = state.order === 'DESC' ? 'ASC' : 'DESC';
    else {
      state.sort = attribute;
      state.order = attribute === 'type' ? 'ASC' : 'DESC';
    }
    apply();
  }

  function updateSelection() {
    const n = selected.size;
    archiveBtn.disabled = n === 0;
    unarchiveBtn.disabled = n === 0;
    selInfo.textContent = n ? `${n} selected` : '';
  }

  async function setArchived(archived) {
    const ids = [...selected];
    if (ids.length === 0) return;
    archiveBtn.disabled = true;
    unarchiveBtn.disabled = true;
    try {
      const r = await api('POST', `/api/v1/findings/${archived ? 'archive' : 'unarchive'}`, { findingIds: ids });
      showMessage(message, 'ok', `${archived ? 'Archived' : 'Unarchived'} ${fmtCount(r && r.updated)} finding(s).`);
      selected.clear();
      loadChart();
      await loadTable();
    } catch (e) {
      reportError(message, e);
      updateSelection();
    }
  }
  archiveBtn.addEventListener('click', () => setArchived(true));
  unarchiveBtn.addEventListener('click', () => setArchived(false));

  prevBtn.addEventListener('click', () => {
    if (paging.index > 0) {
      paging.index -= 1;
      loadTable();
    }
  });
  nextBtn.addEventListener('click', () => {
    if (paging.next) {
      paging.tokens[paging.index + 1] = paging.next;
      paging.tokens.length = paging.index + 2;
      paging.index += 1;
      loadTable();
    }
  });

  async function loadChart() {
    replace(chartBox, el('p', { class: 'muted' }, 'Loading…'));
    const [, span, bucket] = RANGES[state.range];
    const to = new Date();
    const from = new Date(to.getTime() - (span === null ? 30 * 86400e3 : span));
    const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), bucket });
    try {
      const r = await api('GET', `/api/v1/findings/statistics?${q}`);
      drawChart(chartBox, (r && r.buckets) || [], bucket, span === null ? 'the last 30 days' : RANGES[state.range][0].toLowerCase());
    } catch (e) {
      clear(chartBox);
      reportError(chartBox, e);
    }
  }

  async function loadTable() {
    tableBox.classList.add('loading');
    const body = {
      sortCriteria: { attributeName: state.sort, orderBy: state.order },
      maxResults: Number(state.size),
    };
    const criteria = findingsCriteria(state);
    if (criteria) body.findingCriteria = criteria;
    const token = paging.tokens[paging.index];
    if (token) body.nextToken = token;
    let page;
    try {
      page = await api('POST', '/api/v1/findings/search', body);
    } catch (e) {
      tableBox.classList.remove('loading');
      reportError(message, e);
      return;
    }
    tableBox.classList.remove('loading');
    const findings = (page && page.findings) || [];
    paging.next = (page && page.nextToken) || null;
    prevBtn.disabled = paging.index === 0;
    nextBtn.disabled = !paging.next;
    pageInfo.textContent = `Page ${paging.index + 1} · ${findings.length} shown`;
    // Keep only selections still visible.
    const visible = new Set(findings.map((f) => f.id));
    for (const id of [...selected]) if (!visible.has(id)) selected.delete(id);
    replace(tableBox, findingsTable(findings, state, selected, setSort, updateSelection));
    updateSelection();
    view.dataset.loaded = 'true';
  }

  await Promise.all([loadChart(), loadTable()]);
}

function select(id, options, value) {
  return el('select', { id: id || undefined, name: id || undefined },
    options.map(([v, label]) => el('option', { value: v, selected: v === value }, label)));
}

function labelled(text, ...controls) {
  return el('label', { class: 'field' }, el('span', { class: 'field-label' }, text), controls);
}

function findingsTable(findings, state, selected, setSort, onSelect) {
  const sortHeader = (label, attribute, extra) => {
    const active = state.sort === attribute;
    const arrow = active ? (state.order === 'DESC' ? ' ▼' : ' ▲') : '';
    const cls = ['sortable', active ? 'sorted' : '', extra || ''].filter(Boolean).join(' ');
    return el('th', { scope: 'col', class: cls, dataset: { sort: attribute } },
      el('button', { type: 'button', class: 'link', on: { click: () => setSort(attribute) } }, label + arrow));
  };
  const boxes = [];
  const all = el('input', { type: 'checkbox', id: 'select-all', title: 'Select all on this page', 'aria-label': 'Select all' });
  all.addEventListener('change', () => {
    for (const [box, id] of boxes) {
      box.checked = all.checked;
      if (all.checked) selected.add(id);
      else selected.delete(id);
    }
    onSelect();
  });
  const rows = findings.map((f) => {
    const id = String(f.id);
    const box = el('input', { type: 'checkbox', class: 'row-select', checked: selected.has(id), 'aria-label': `Select ${id}` });
    box.addEventListener('change', () => {
      if (box.checked) selected.add(id);
      else selected.delete(id);
      all.checked = boxes.every(([b]) => b.checked);
      onSelect();
    });
    boxes.push([box, id]);
    const service = f.service || {};
    const proc = (service.runtimeDetails && service.runtimeDetails.process) || {};
    return el('tr', { class: service.archived ? 'finding archived' : 'finding', dataset: { id } },
      el('td', { class: 'check' }, box),
      el('td', { class: 'sev-cell' }, severityBadge(f)),
      el('td', { class: 'type-cell' },
        el('a', { href: routeHref('findings', id), class: 'finding-link' }, String(f.type || '?')),
        service.archived ? el('span', { class: 'tag' }, 'archived') : null,
        f.title ? el('div', { class: 'muted small-text' }, f.title) : null),
      el('td', { class: 'resource-cell' }, resourceCell(f.resource)),
      el('td', { class: 'process-cell' }, proc.name ? el('code', null, proc.name) : ''),
      el('td', { class: 'num count-cell' }, fmtCount(service.count)),
      el('td', { class: 'time-cell' }, timeNode(f.updatedAt), el('div', { class: 'muted small-text' }, fmtAgo(f.updatedAt))));
  });
  all.checked = boxes.length > 0 && boxes.every(([b]) => b.checked);
  const headers = [
    el('th', { scope: 'col', class: 'check' }, all),
    sortHeader('Severity', 'severity'),
    sortHeader('Type', 'type'),
    el('th', { scope: 'col' }, 'Resource'),
    el('th', { scope: 'col' }, 'Process'),
    sortHeader('Count', 'count', 'num'),
    sortHeader('Last seen', 'updatedAt'),
  ];
  return table({ id: 'findings-table' }, headers, rows, 'No findings match these filters.');
}

// Stacked bars of new findings per bucket (High at the bottom), drawn as SVG.
function drawChart(box, buckets, bucketName, rangeText) {
  clear(box);
  const W = 1000;
  const H = 140;
  const pad = { left: 40, right: 10, top: 10, bottom: 24 };
  const plotW = W - pad.left - pad.right;
  const plotH = H - pad.top - pad.bottom;
  const data = buckets.map((b) => ({
    start: b.start, high: Number(b.high) || 0, medium: Number(b.medium) || 0, low: Number(b.low) || 0,
  }));
  const totals = data.map((b) => b.high + b.medium + b.low);
  const sum = totals.reduce((a, b) => a + b, 0);
  const top = niceCeil(Math.max(1, ...totals));
  const chart = svgEl('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
    'aria-label': `New findings by severity, ${rangeText}`,
  });
  // Grid lines and y labels.
  for (const v of [0, top / 2, top]) {
    const y = pad.top + plotH - (v / top) * plotH;
    chart.append(
      svgEl('line', { class: 'grid-line', x1: pad.left, x2: W - pad.right, y1: y, y2: y }),
      svgEl('text', { class: 'axis', x: pad.left - 6, y, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, fmtCount(v)));
  }
  const n = Math.max(1, data.length);
  const slot = plotW / n;
  const gap = slot > 6 ? Math.min(2, slot * 0.15) : 0;
  data.forEach((b, i) => {
    const x = pad.left + i * slot + gap / 2;
    const g = svgEl('g', { class: 'bucket' },
      svgEl('title', null, `${fmtTime(b.start)} — High ${b.high}, Medium ${b.medium}, Low ${b.low}`));
    let y = pad.top + plotH;
    for (const sev of ['high', 'medium', 'low']) {
      const v = b[sev];
      if (!v) continue;
      const h = (v / top) * plotH;
      y -= h;
      g.appendChild(svgEl('rect', { class: `bar bar-${sev}`, x, y, width: Math.max(0.5, slot - gap), height: h }));
    }
    // An invisible full-height rectangle so the tooltip works on empty buckets too.
    g.appendChild(svgEl('rect', { class: 'hit', x: pad.left + i * slot, y: pad.top, width: slot, height: plotH }));
    chart.appendChild(g);
  });
  // About six x labels.
  const every = Math.max(1, Math.ceil(data.length / 6));
  data.forEach((b, i) => {
    if (i % every !== 0) return;
    chart.appendChild(svgEl('text', { class: 'axis', x: pad.left + i * slot + slot / 2, y: H - 6, 'text-anchor': 'middle' },
      bucketLabel(b.start, bucketName)));
  });
  chart.appendChild(svgEl('line', { class: 'axis-line', x1: pad.left, x2: W - pad.right, y1: pad.top + plotH, y2: pad.top + plotH }));
  const sevSums = ['high', 'medium', 'low'].map((s) => data.reduce((a, b) => a + b[s], 0));
  box.append(
    el('div', { class: 'chart-legend' },
      el('span', { class: 'chart-total' }, `${fmtCount(sum)} new finding${sum === 1 ? '' : 's'} in ${rangeText}`),
      el('span', { class: 'legend-item' }, el('span', { class: 'swatch swatch-high' }), `High ${fmtCount(sevSums[0])}`),
      el('span', { class: 'legend-item' }, el('span', { class: 'swatch swatch-medium' }), `Medium ${fmtCount(sevSums[1])}`),
      el('span', { class: 'legend-item' }, el('span', { class: 'swatch swatch-low' }), `Low ${fmtCount(sevSums[2])}`)),
    chart);
}

function niceCeil(v) {
  const mag = 10 ** Math.floor(Math.log10(v));
  // Multiples whose half is a whole number too (the middle grid line).
  for (const m of [1, 2, 4, 10]) if (v <= m * mag) return Math.max(2, m * mag);
  return v;
}

function bucketLabel(iso, bucketName) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  if (bucketName === 'day') return `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  if (bucketName === 'hour' && d.getHours() === 0) return `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

// ---------------------------------------------------------------------------
// 7. Finding detail
// ---------------------------------------------------------------------------

async function findingDetailPage(view, id) {
  if (id === '.' || id === '..') id = '';
  view.append(el('p', null, el('a', { href: lastFindingsHash, id: 'back-to-list' }, '← Findings')));
  const message = el('div', { class: 'message-slot' });
  const body = el('div', { id: 'finding-detail' }, el('p', { class: 'muted' }, 'Loading…'));
  view.append(message, body);

  async function load() {
    let f;
    try {
      f = await api('GET', `/api/v1/findings/${encodeURIComponent(id)}`);
    } catch (e) {
      clear(body);
      if (e.status === 404) showMessage(message, 'error', `No finding ${id} in your account(s).`);
      else reportError(message, e);
      return;
    }
    replace(body, findingDetail(f, setArchived));
    view.dataset.loaded = 'true';
  }

  async function setArchived(archived) {
    try {
      await api('POST', `/api/v1/findings/${archived ? 'archive' : 'unarchive'}`, { findingIds: [id] });
      showMessage(message, 'ok', archived ? 'Finding archived.' : 'Finding unarchived.');
    } catch (e) {
      reportError(message, e);
    }
    await load();
  }

  await load();
}

function findingDetail(f, setArchived) {
  const service = f.service || {};
  const runtime = service.runtimeDetails || {};
  const archived = Boolean(service.archived);
  const archiveBtn = el('button', {
    type: 'button', id: 'detail-archive', class: archived ? '' : 'primary',
    on: { click: () => setArchived(!archived) },
  }, archived ? 'Unarchive' : 'Archive');
  return [
    el('div', { class: 'page-head' },
      el('h1', { id: 'finding-type' }, severityBadge(f), ' ', String(f.type || '?')),
      el('span', { class: 'spacer' }),
      el('span', { id: 'archived-state', class: archived ? 'tag archived' : 'tag' }, archived ? 'Archived' : 'Current'),
      archiveBtn),
    section('Summary', summaryFacts(f)),
    section('Resource', resourceDetails(f.resource)),
    section('Process', processTree(runtime.process)),
    contextSection(runtime.context),
    actionSection(service.action),
    evidenceSection(service.evidence),
    rawSection(f),
  ];
}

function summaryFacts(f) {
  const service = f.service || {};
  const agent = service.additionalInfo && service.additionalInfo.agentDetails;
  const sev = Number(f.severity);
  return [
    f.title ? el('p', { class: 'title', id: 'finding-title' }, f.title) : null,
    f.description ? el('p', { class: 'description' }, f.description) : null,
    facts([
      ['Type', f.type],
      ['Severity', [severityBadge(f), Number.isFinite(sev) ? ` ${sev.toFixed(1)}` : '']],
      ['Count', fmtCount(service.count)],
      ['First seen', service.eventFirstSeen ? timeNode(service.eventFirstSeen) : null],
      ['Last seen', service.eventLastSeen ? timeNode(service.eventLastSeen) : null],
      ['Created', f.createdAt ? timeNode(f.createdAt) : null],
      ['Updated', f.updatedAt ? timeNode(f.updatedAt) : null],
      ['Status', service.archived ? `Archived${service.archivedBy ? ` (by ${service.archivedBy})` : ''}` : 'Current'],
      ['Finding id', el('code', null, String(f.id || ''))],
      ['Account', f.accountId],
      ['Region', f.region],
      ['Agent version', agent && agent.agentVersion],
    ]),
  ];
}

function containerFacts(c) {
  return facts([
    ['Name', c.name],
    ['Image', c.image ? el('code', null, c.image) : null],
    ['Container id', c.id ? el('code', null, c.id) : null],
    ['Runtime', c.containerRuntime],
  ]);
}

function resourceDetails(resource) {
  const r = resource || {};
  const out = [facts([['Resource type', r.resourceType]])];
  const ecs = r.ecsClusterDetails;
  if (ecs) {
    const task = ecs.taskDetails || {};
    out.push(el('h3', null, 'ECS cluster'), facts([
      ['Cluster', ecs.name],
      ['Cluster ARN', ecs.arn ? el('code', null, ecs.arn) : null],
      ['Task ARN', task.arn ? el('code', { id: 'task-arn' }, task.arn) : null],
      ['Task definition', task.definitionArn],
      ['Revision', task.version],
      ['Launch type', task.launchType],
    ]));
    for (const c of task.containers || []) out.push(el('h4', null, `Container ${c.name || shortId(c.id)}`), containerFacts(c));
  }
  const k8s = r.kubernetesDetails && r.kubernetesDetails.kubernetesWorkloadDetails;
  if (k8s) {
    out.push(el('h3', null, 'Kubernetes workload'), facts([
      ['Pod', k8s.name], ['Namespace', k8s.namespace], ['Pod uid', k8s.uid],
    ]));
    for (const c of k8s.containers || []) out.push(el('h4', null, `Container ${c.name || shortId(c.id)}`), containerFacts(c));
  }
  if (r.containerDetails && !ecs && !k8s) out.push(el('h3', null, 'Container'), containerFacts(r.containerDetails));
  const inst = r.instanceDetails;
  if (inst) {
    out.push(el('h3', null, 'Instance'), facts([
      ['Hostname', inst.hostname], ['Instance id', inst.instanceId], ['Machine id', inst.machineId],
    ]));
  }
  return out;
}

// The process, then each ancestor nested under it (parent first), as the
// lineage lists them.
function processTree(proc) {
  if (!proc) return el('p', { class: 'muted' }, 'No process recorded.');
  const chain = [proc, ...(Array.isArray(proc.lineage) ? proc.lineage : [])];
  const root = el('ul', { class: 'tree', id: 'lineage' });
  let parentList = root;
  chain.forEach((p, depth) => {
    const item = el('li', { class: depth === 0 ? 'proc current' : 'proc', dataset: { depth } }, processNode(p, depth));
    parentList.appendChild(item);
    if (depth < chain.length - 1) {
      const next = el('ul', { class: 'tree' });
      item.appendChild(next);
      parentList = next;
    }
  });
  return root;
}

function processNode(p, depth) {
  const user = p.user !== undefined && p.user !== null ? `${p.user} (uid ${p.userId})` : p.userId !== undefined ? `uid ${p.userId}` : '';
  const euid = p.euid !== undefined && p.euid !== p.userId ? `, euid ${p.euid}` : '';
  const argv = Array.isArray(p.argv) ? p.argv : [];
  return el('div', { class: 'proc-node' },
    el('div', { class: 'proc-head' },
      el('span', { class: 'relation muted' }, depth === 0 ? 'process' : depth === 1 ? 'parent' : `ancestor ${depth}`),
      el('code', { class: 'proc-name' }, String(p.name || '?')),
      el('span', { class: 'pid' }, `pid ${p.pid ?? '?'}`),
      p.namespacePid !== undefined && p.namespacePid !== p.pid ? el('span', { class: 'muted' }, `ns pid ${p.namespacePid}`) : null,
      user ? el('span', { class: 'user' }, `user ${user}${euid}`) : null),
    facts([
      ['Executable', p.executablePath ? el('code', { class: 'exe-path' }, p.executablePath) : null],
      ['SHA-256', p.executableSha256 ? el('code', { class: 'hash' }, p.executableSha256) : null],
      ['Working dir', p.pwd ? el('code', null, p.pwd) : null],
      ['Started', p.startTime ? timeNode(p.startTime) : null],
    ]),
    argv.length
      ? el('div', { class: 'argv-box' }, el('span', { class: 'muted' }, `argv (${argv.length})`),
        el('ol', { class: 'argv' }, argv.map((a) => el('li', null, el('code', null, String(a))))))
      : null);
}

function contextSection(context) {
  const entries = context && typeof context === 'object' ? Object.entries(context) : [];
  if (entries.length === 0) return null;
  const rows = entries.map(([k, v]) => el('tr', { dataset: { key: k } }, el('th', { scope: 'row' }, k), el('td', null, valueNode(v))));
  return section('Context', table({ id: 'context-table', class: 'grid kv' }, ['Field', 'Value'], rows));
}

function endpoint(ip, port) {
  const addr = ip && (ip.ipAddressV4 || ip.ipAddressV6);
  const p = port && port.port;
  if (!addr && (p === undefined || p === null)) return null;
  const host = addr && String(addr).includes(':') ? `[${addr}]` : addr || '?';
  return p !== undefined && p !== null ? `${host}:${p}` : host;
}

function actionSection(action) {
  if (!action) return null;
  const net = action.networkConnectionAction;
  const dns = action.dnsRequestAction;
  const out = [];
  if (net) {
    out.push(facts([
      ['Action', action.actionType],
      ['Direction', net.connectionDirection],
      ['Protocol', net.protocol],
      ['Remote', endpoint(net.remoteIpDetails, net.remotePortDetails)],
      ['Local', endpoint(net.localIpDetails, net.localPortDetails)],
      ['Blocked', net.blocked === undefined ? null : String(net.blocked)],
    ]));
  }
  if (dns) {
    out.push(facts([
      ['Action', action.actionType],
      ['Domain', dns.domain ? el('code', { class: 'domain' }, dns.domain) : null],
      ['Protocol', dns.protocol],
      ['Blocked', dns.blocked === undefined ? null : String(dns.blocked)],
    ]));
  }
  if (!net && !dns) out.push(facts([['Action', action.actionType]]), el('pre', { class: 'json' }, pretty(action)));
  return section('Action', out);
}

function evidenceSection(evidence) {
  const details = (evidence && evidence.threatIntelligenceDetails) || [];
  if (details.length === 0) return null;
  return section('Threat intelligence',
    el('ul', { class: 'evidence' }, details.map((d) => el('li', null,
      el('span', { class: 'list-name' }, String(d.threatListName || '?')),
      (d.threatNames || []).length
        ? [': ', (d.threatNames || []).map((n, i) => [i ? ', ' : '', el('code', null, String(n))])]
        : el('span', { class: 'muted' }, ' (no threat name)')))));
}

function rawSection(f) {
  const json = pretty(f);
  const pre = el('pre', { id: 'raw-json', class: 'json raw' }, json);
  const status = el('span', { class: 'muted', role: 'status' });
  const copy = el('button', {
    type: 'button', id: 'copy-json', class: 'small',
    on: { click: () => copyText(json, pre).then((ok) => { status.textContent = ok ? 'Copied.' : 'Select the text and copy it.'; }) },
  }, 'Copy');
  return el('section', { class: 'card' },
    el('div', { class: 'card-head' }, el('h2', null, 'Raw JSON'), copy, status), pre);
}

async function copyText(text, pre) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to selecting the text
  }
  const range = document.createRange();
  range.selectNodeContents(pre);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
  try {
    return document.execCommand('copy');
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// 8. Suppression rules ("filters", GuardDuty's name)
// ---------------------------------------------------------------------------

// The criteria fields the server accepts (its whitelist), with value types.
const CRITERIA_FIELDS = [
  ['type', 'text'], ['severity', 'number'], ['id', 'text'], ['accountId', 'text'], ['region', 'text'],
  ['createdAt', 'time'], ['updatedAt', 'time'], ['service.archived', 'bool'], ['service.count', 'number'],
  ['resource.resourceType', 'text'],
  ['resource.instanceDetails.instanceId', 'text'], ['resource.instanceDetails.hostname', 'text'],
  ['resource.ecsClusterDetails.name', 'text'], ['resource.ecsClusterDetails.taskDetails.arn', 'text'],
  ['resource.ecsClusterDetails.taskDetails.containers.image', 'text'],
  ['resource.ecsClusterDetails.taskDetails.containers.name', 'text'],
  ['resource.containerDetails.id', 'text'], ['resource.containerDetails.name', 'text'],
  ['resource.containerDetails.image', 'text'],
  ['resource.kubernetesDetails.kubernetesWorkloadDetails.name', 'text'],
  ['resource.kubernetesDetails.kubernetesWorkloadDetails.namespace', 'text'],
  ['service.runtimeDetails.process.name', 'text'], ['service.runtimeDetails.process.executablePath', 'text'],
  ['service.runtimeDetails.process.executableSha256', 'text'],
  ['service.additionalInfo.agentDetails.agentVersion', 'text'],
];
const FIELD_TYPES = new Map(CRITERIA_FIELDS);
const OPERATORS = [
  ['eq', 'equals any of'], ['neq', 'equals none of'], ['matches', 'matches any of (*, ?)'],
  ['notMatches', 'matches none of'], ['gt', '>'], ['gte', '≥'], ['lt', '<'], ['lte', '≤'],
];
const LIST_OPERATORS = new Set(['eq', 'neq', 'matches', 'notMatches']);

// A typed criteria value from the builder's text.
function criteriaValue(field, op, text) {
  const kind = FIELD_TYPES.get(field) || 'text';
  if (op === 'matches' || op === 'notMatches') return text;
  if (kind === 'number') {
    const n = Number(text);
    if (!Number.isFinite(n)) throw new Error(`${field}: ${text} is not a number`);
    return n;
  }
  if (kind === 'bool') {
    if (text === 'true' || text === 'false') return text === 'true';
    throw new Error(`${field}: use true or false`);
  }
  if (kind === 'time' && /^\d+$/.test(text)) return Number(text);
  return text;
}

// Builder rows → FindingCriteria. Several rows on one field merge.
function builderCriteria(rows) {
  const criterion = {};
  for (const { field, op, value } of rows) {
    const text = value.trim();
    if (!text) throw new Error(`${field}: enter a value`);
    const cond = criterion[field] || (criterion[field] = {});
    if (LIST_OPERATORS.has(op)) {
      const values = text.split(',').map((v) => v.trim()).filter(Boolean).map((v) => criteriaValue(field, op, v));
      cond[op] = [...(cond[op] || []), ...values];
    } else {
      cond[op] = criteriaValue(field, op, text);
    }
  }
  if (Object.keys(criterion).length === 0) throw new Error('Add at least one condition.');
  return { criterion };
}

// The criteria a stored filter carries, whatever the store called it.
function filterCriteria(f) {
  return f.findingCriteria ?? f.criteria ?? null;
}

async function filtersPage(view) {
  const message = el('div', { class: 'message-slot' });
  const listBox = el('div', { id: 'filters-box' }, el('p', { class: 'muted' }, 'Loading…'));
  const form = filterForm(async (name, body) => {
    try {
      const r = await api('PUT', `/api/v1/filters/${encodeURIComponent(name)}`, body);
      const n = r && r.archived ? ` ${fmtCount(r.archived)} existing finding(s) archived.` : '';
      showMessage(message, 'ok', `Saved rule ${name}.${n}`);
      await load();
      return true;
    } catch (e) {
      reportError(message, e);
      return false;
    }
  });
  view.append(
    el('div', { class: 'page-head' }, el('h1', null, 'Suppression rules')),
    el('p', { class: 'muted' }, 'ARCHIVE rules archive matching findings as they arrive (and, when created, those already stored). ',
      'They apply in rank order; the administrator\u2019s rules apply to every account.'),
    message,
    section('Rules', listBox),
    section('Create or replace a rule', form.node));

  async function remove(name) {
    try {
      await api('DELETE', `/api/v1/filters/${encodeURIComponent(name)}`);
      showMessage(message, 'ok', `Deleted rule ${name}.`);
      await load();
    } catch (e) {
      reportError(message, e);
    }
  }

  async function load() {
    let r;
    try {
      r = await api('GET', '/api/v1/filters');
    } catch (e) {
      clear(listBox);
      reportError(message, e);
      return;
    }
    const filters = (r && r.filters) || [];
    const rows = filters.map((f) => el('tr', { dataset: { name: String(f.name) } },
      el('td', { class: 'num' }, String(f.rank ?? '')),
      el('td', null, el('strong', null, String(f.name)), f.description ? el('div', { class: 'muted small-text' }, f.description) : null),
      el('td', null, el('span', { class: 'tag' }, String(f.action ?? '').toUpperCase())),
      el('td', null, el('pre', { class: 'json compact' }, pretty(filterCriteria(f)))),
      el('td', { class: 'muted' }, f.accountId ? String(f.accountId) : ''),
      el('td', { class: 'row-actions' },
        el('button', { type: 'button', class: 'small', on: { click: () => form.edit(f) } }, 'Edit'),
        confirmButton('Delete', 'Really delete?', () => remove(String(f.name)), { class: 'danger small delete-filter' }))));
    replace(listBox, table({ id: 'filters-table' }, [numTh('Rank'), 'Name', 'Action', 'Criteria', 'Account', ''], rows, 'No suppression rules yet.'));
    view.dataset.loaded = 'true';
  }

  await load();
}

// The create/replace form with its criteria builder. `save(name, body)`
// returns true when the server accepted it.
function filterForm(save) {
  const name = el('input', { id: 'filter-name', required: true, pattern: '[A-Za-z0-9._\\-]{3,64}', placeholder: 'e.g. ignore-ci-runners', maxlength: 64 });
  const description = el('input', { id: 'filter-description', maxlength: 512, placeholder: 'Why this rule exists' });
  const action = select('filter-action', [['ARCHIVE', 'ARCHIVE (auto-archive)'], ['NOOP', 'NOOP (saved filter)']], 'ARCHIVE');
  const rank = el('input', { id: 'filter-rank', type: 'number', min: 1, max: 100000, value: '1', required: true });
  const rowsBox = el('div', { id: 'criteria-rows' });
  const raw = el('textarea', { id: 'filter-json', rows: 8, spellcheck: 'false', placeholder: '{"criterion": {"type": {"eq": ["Execution:Runtime/NewBinaryExecuted"]}}}' });
  const rawBox = el('div', { class: 'raw-box', hidden: true }, raw);
  const mode = el('input', { type: 'checkbox', id: 'filter-raw-mode' });
  const error = el('div', { class: 'message-slot' });
  const rows = [];

  function addRow(field = 'type', op = 'eq', value = '') {
    const fieldSel = select('', CRITERIA_FIELDS.map(([f]) => [f, f]), field);
    fieldSel.className = 'criteria-field';
    const opSel = select('', OPERATORS, op);
    opSel.className = 'criteria-op';
    const valueIn = el('input', { class: 'criteria-value', placeholder: 'value (comma-separated for lists)', value });
    const row = { fieldSel, opSel, valueIn, node: null };
    row.node = el('div', { class: 'criteria-row' }, fieldSel, opSel, valueIn,
      el('button', {
        type: 'button', class: 'small', title: 'Remove this condition',
        on: {
          click: () => {
            rows.splice(rows.indexOf(row), 1);
            row.node.remove();
          },
        },
      }, '✕'));
    rows.push(row);
    rowsBox.appendChild(row.node);
  }

  function builderRows() {
    return rows.map((r) => ({ field: r.fieldSel.value, op: r.opSel.value, value: r.valueIn.value }));
  }

  function setRawMode(on) {
    mode.checked = on;
    rawBox.hidden = !on;
    builderBox.hidden = on;
    if (on && !raw.value.trim() && rows.some((r) => r.valueIn.value.trim())) {
      try {
        raw.value = pretty(builderCriteria(builderRows()));
      } catch {
        // leave it empty; the builder's error shows on save
      }
    }
  }
  mode.addEventListener('change', () => setRawMode(mode.checked));

  const builderBox = el('div', { class: 'builder' }, rowsBox,
    el('button', { type: 'button', class: 'small', id: 'add-condition', on: { click: () => addRow() } }, '+ Condition'));
  addRow();

  const node = el('form', { id: 'filter-form', class: 'stack' },
    el('div', { class: 'toolbar' }, labelled('Name', name), labelled('Action', action), labelled('Rank', rank)),
    labelled('Description', description),
    el('div', { class: 'field-label' }, 'Criteria (all conditions must hold)'),
    builderBox,
    el('label', { class: 'inline' }, mode, ' Edit criteria as JSON'),
    rawBox,
    error,
    el('div', null, el('button', { type: 'submit', class: 'primary', id: 'filter-save' }, 'Save rule')));

  node.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(error);
    let criteria;
    try {
      criteria = mode.checked ? JSON.parse(raw.value) : builderCriteria(builderRows());
    } catch (e) {
      showMessage(error, 'error', mode.checked ? `Criteria JSON: ${e.message}` : e.message);
      return;
    }
    const ok = await save(name.value.trim(), {
      description: description.value, action: action.value, rank: Number(rank.value), findingCriteria: criteria,
    });
    if (ok) {
      node.reset();
      raw.value = '';
      rows.splice(0).forEach((r) => r.node.remove());
      addRow();
      setRawMode(false);
    }
  });

  // Load an existing rule into the form (as JSON: any criteria shape fits).
  function edit(f) {
    name.value = String(f.name ?? '');
    description.value = String(f.description ?? '');
    action.value = String(f.action ?? 'ARCHIVE').toUpperCase();
    rank.value = String(f.rank ?? 1);
    raw.value = pretty(filterCriteria(f));
    setRawMode(true);
    name.focus();
  }

  return { node, edit };
}

// ---------------------------------------------------------------------------
// 9. Threat and trusted lists
// ---------------------------------------------------------------------------

// `saker findings categories`.
const CATEGORIES = [
  'c2', 'crypto', 'blackhole', 'drop-point', 'dga', 'drive-by', 'phishing', 'tor-relay', 'tor-client',
  'malicious-file', 'custom-malicious-file', 'abused-domain', 'bitcoin-domain', 'malicious-domain', 'suspicious-domain',
];
const FORMATS = ['auto', 'plain', 'csv', 'tor-exit', 'stix'];

function listEntries(l) {
  const e = l.entries || l;
  return { ips: e.ips ?? 0, domains: e.domains ?? 0, hashes: e.hashes ?? 0, skipped: e.skipped ?? 0 };
}

async function listsPage(view) {
  const message = el('div', { class: 'message-slot' });
  const listBox = el('div', { id: 'lists-box' }, el('p', { class: 'muted' }, 'Loading…'));
  view.append(
    el('div', { class: 'page-head' }, el('h1', null, 'Threat and trusted lists')),
    el('p', { class: 'muted' }, 'Active lists are pushed to every agent of the account(s) they apply to; trusted lists win over threat lists.'),
    message,
    section('Lists', listBox),
    section('Upload a list', uploadForm(message, () => load())));

  async function act(path, method, done) {
    try {
      await api(method, path);
      showMessage(message, 'ok', done);
      await load();
    } catch (e) {
      reportError(message, e);
    }
  }

  async function load() {
    let r;
    try {
      r = await api('GET', '/api/v1/lists');
    } catch (e) {
      clear(listBox);
      reportError(message, e);
      return;
    }
    const lists = (r && r.lists) || [];
    const rows = lists.map((l) => {
      const id = String(l.id);
      const n = listEntries(l);
      const base = `/api/v1/lists/${encodeURIComponent(id)}`;
      return el('tr', { dataset: { id, name: String(l.name) } },
        el('td', null, el('strong', null, String(l.name)),
          (l.messages || []).length ? el('div', { class: 'muted small-text' }, (l.messages || []).slice(0, 3).join('; ')) : null),
        el('td', null, String(l.kind ?? '')),
        el('td', null, l.category ? String(l.category) : '—'),
        el('td', null, String(l.format ?? '')),
        el('td', null, el('span', { class: l.active ? 'tag ok' : 'tag' }, l.active ? 'active' : 'inactive')),
        el('td', { class: 'num' }, fmtCount(n.ips)),
        el('td', { class: 'num' }, fmtCount(n.domains)),
        el('td', { class: 'num' }, fmtCount(n.hashes)),
        el('td', { class: 'num' }, fmtCount(n.skipped)),
        el('td', null, timeNode(l.createdAt)),
        el('td', { class: 'row-actions' },
          l.active
            ? el('button', { type: 'button', class: 'small', on: { click: () => act(`${base}/deactivate`, 'POST', `Deactivated ${l.name}.`) } }, 'Deactivate')
            : el('button', { type: 'button', class: 'small', on: { click: () => act(`${base}/activate`, 'POST', `Activated ${l.name}.`) } }, 'Activate'),
          confirmButton('Delete', 'Really delete?', () => act(base, 'DELETE', `Deleted ${l.name}.`))));
    });
    replace(listBox, table({ id: 'lists-table' },
      ['Name', 'Kind', 'Category', 'Format', 'State', numTh('IPs'), numTh('Domains'), numTh('Hashes'), numTh('Skipped'), 'Uploaded', ''], rows,
      'No lists uploaded.'));
    view.dataset.loaded = 'true';
  }

  await load();
}

function uploadForm(message, reload) {
  const name = el('input', { id: 'list-name', required: true, maxlength: 128, placeholder: 'e.g. feodo-c2' });
  const kind = select('list-kind', [['threat', 'Threat list'], ['trusted', 'Trusted list']], 'threat');
  const category = select('list-category', CATEGORIES.map((c) => [c, c]), 'c2');
  const format = select('list-format', FORMATS.map((f) => [f, f]), 'auto');
  const file = el('input', { id: 'list-file', type: 'file', accept: '.txt,.csv,.json,.list,text/plain,text/csv,application/json' });
  const pasted = el('textarea', { id: 'list-text', rows: 4, spellcheck: 'false', placeholder: 'or paste entries here, one per line' });
  const submit = el('button', { type: 'submit', class: 'primary', id: 'list-upload' }, 'Upload');
  kind.addEventListener('change', () => {
    category.disabled = kind.value === 'trusted';
  });
  const form = el('form', { id: 'list-form', class: 'stack' },
    el('div', { class: 'toolbar' }, labelled('Name', name), labelled('Kind', kind), labelled('Category', category), labelled('Format', format)),
    labelled('File', file),
    pasted,
    el('div', null, submit));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let content;
    try {
      content = file.files && file.files[0] ? await readFile(file.files[0]) : pasted.value;
    } catch (e) {
      showMessage(message, 'error', `Reading the file: ${e.message}`);
      return;
    }
    if (!content.trim()) {
      showMessage(message, 'error', 'Choose a file or paste some entries.');
      return;
    }
    const body = { name: name.value.trim(), kind: kind.value, format: format.value, content };
    if (kind.value === 'threat') body.category = category.value;
    submit.disabled = true;
    try {
      const l = await api('POST', '/api/v1/lists', body);
      const n = listEntries(l || {});
      const notes = ((l && l.messages) || []).slice(0, 3).join('; ');
      showMessage(message, 'ok', `Uploaded ${body.name}: ${n.ips} IPs, ${n.domains} domains, ${n.hashes} hashes, ${n.skipped} skipped.${notes ? ` ${notes}` : ''}`);
      form.reset();
      category.disabled = false;
      await reload();
    } catch (e) {
      reportError(message, e);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function readFile(f) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result || ''));
    reader.onerror = () => reject(reader.error || new Error('unreadable'));
    reader.readAsText(f);
  });
}

// ---------------------------------------------------------------------------
// 10. Coverage
// ---------------------------------------------------------------------------

function healthTag(health, issue) {
  const ok = health === 'HEALTHY';
  return [el('span', { class: ok ? 'tag ok' : 'tag bad' }, String(health || '?')),
    issue ? el('div', { class: 'issue small-text' }, String(issue)) : null];
}

async function coveragePage(view) {
  const message = el('div', { class: 'message-slot' });
  const body = el('div', { id: 'coverage' }, el('p', { class: 'muted' }, 'Loading…'));
  view.append(el('div', { class: 'page-head' }, el('h1', null, 'Runtime coverage'),
    el('span', { class: 'spacer' }),
    el('button', { type: 'button', class: 'small', id: 'coverage-refresh', on: { click: () => load() } }, 'Refresh')), message, body);

  async function load() {
    let r;
    try {
      r = await api('GET', '/api/v1/coverage');
    } catch (e) {
      clear(body);
      reportError(message, e);
      return;
    }
    clear(message);
    const clusters = (r && r.clusters) || [];
    const resources = (r && r.resources) || [];
    const events = (r && r.events) || [];
    replace(body,
      section('ECS clusters', table({ id: 'clusters-table' }, ['Cluster', 'Coverage', numTh('Healthy / total'), 'Health'],
        clusters.map((c) => el('tr', { dataset: { name: String(c.name) } },
          el('td', null, String(c.name)),
          el('td', null, coverageBar(Number(c.coveragePercent))),
          el('td', { class: 'num' }, `${fmtCount(c.healthy)} / ${fmtCount(c.total)}`),
          el('td', null, healthTag(c.health, c.issue)))),
        'No ECS clusters report yet.')),
      section('Resources', table({ id: 'resources-table' },
        ['Hostname', 'Mode', 'ECS cluster', 'Agent', 'Kernel', 'Health', 'Last seen', numTh('Events'), numTh('Lost'), numTh('CPU'), numTh('RSS')],
        resources.map((a) => el('tr', { dataset: { agent: String(a.agentId ?? '') } },
          el('td', null, String(a.hostname ?? ''), a.ecsTaskArn ? el('div', { class: 'muted small-text' }, `task ${shortId(arnTail(a.ecsTaskArn), 12)}`) : null),
          el('td', null, String(a.mode ?? '')),
          el('td', null, a.ecsClusterName ? String(a.ecsClusterName) : '—'),
          el('td', null, String(a.agentVersion ?? '')),
          el('td', null, el('code', null, String(a.kernel ?? ''))),
          el('td', null, healthTag(a.health, a.issue)),
          el('td', null, timeNode(a.lastSeen), el('div', { class: 'muted small-text' }, fmtAgo(a.lastSeen))),
          el('td', { class: 'num' }, fmtCount(a.eventsTotal)),
          el('td', { class: a.eventsLost ? 'num bad-text' : 'num' }, fmtCount(a.eventsLost)),
          el('td', { class: 'num' }, typeof a.cpuPercent === 'number' ? `${a.cpuPercent.toFixed(1)} %` : ''),
          el('td', { class: 'num' }, fmtBytes(a.rssBytes)))),
        'No agent has reported yet. Agents appear here after their first heartbeat.')),
      section('Recent health changes', table({ id: 'health-events-table' }, ['When', 'Resource', 'From', 'To', 'Issue'],
        events.map((e) => [timeNode(e.at), String(e.subject ?? ''), String(e.from ?? ''), String(e.to ?? ''), e.issue ? String(e.issue) : '']),
        'No health changes recorded.')));
    view.dataset.loaded = 'true';
  }

  await load();
}

function coverageBar(pct) {
  const p = Number.isFinite(pct) ? Math.max(0, Math.min(100, pct)) : 0;
  const fill = el('span', { class: p >= 100 ? 'meter-fill ok' : 'meter-fill' });
  fill.style.width = `${p}%`;
  return el('span', { class: 'meter-wrap' }, el('span', { class: 'meter' }, fill), ` ${Number.isFinite(pct) ? pct : '?'} %`);
}

// ---------------------------------------------------------------------------
// 11. Start-up
// ---------------------------------------------------------------------------

function boot() {
  consumeFragmentToken();
  window.addEventListener('hashchange', () => {
    // A pasted `#token=` link in an open tab signs in as well.
    if (location.hash.startsWith('#token=')) {
      consumeFragmentToken();
      session.me = null;
    }
    render();
  });
  render();
}

boot();
