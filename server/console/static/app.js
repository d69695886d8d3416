// wharf console: one small script, no framework. It calls the console's
// same-origin API (/console/api/...), follows live data over server-sent
// events, and draws charts as inline SVG.
'use strict';

const API = '/console/api';
const SLOTS = 240; // samples kept per series, as the daemon's ring

const S = {
  info: null,        // the session (principal, csrf)
  streams: [],       // EventSources of the current view
  series: {},        // chart series of the current view: name -> values
  times: [],
  onSample: null,    // redraw hook of the current view
};

// ---- helpers --------------------------------------------------------------

const $ = (sel, root = document) => root.querySelector(sel);
const esc = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));

function status(msg) { $('#status').textContent = msg || ''; }

class APIError extends Error {
  constructor(code, msg) { super(msg); this.code = code; }
}

async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: {} };
  if (method !== 'GET' && S.info) opts.headers['X-Wharf-CSRF'] = S.info.csrf;
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(API + path, opts);
  if (res.status === 401 && path !== '/session') {
    showSignIn('Your session ended: sign in again.');
    throw new APIError(401, 'signed out');
  }
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = text; } }
  if (!res.ok) throw new APIError(res.status, (data && (data.message || data.Message)) || res.statusText);
  return data;
}

function stream(path, handlers) {
  const es = new EventSource(API + path);
  for (const [name, fn] of Object.entries(handlers)) {
    es.addEventListener(name, (e) => fn(JSON.parse(e.data)));
  }
  S.streams.push(es);
  return es;
}

function closeStreams() {
  for (const es of S.streams) es.close();
  S.streams = [];
  S.series = {};
  S.times = [];
  S.onSample = null;
}

function bytes(n) {
  if (n == null || isNaN(n)) return '';
  const u = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
  return (i ? n.toFixed(n < 10 ? 2 : 1) : n) + ' ' + u[i];
}

function ago(sec) {
  const d = Date.now() / 1000 - sec;
  if (d < 60) return Math.max(0, Math.round(d)) + ' s ago';
  if (d < 3600) return Math.round(d / 60) + ' min ago';
  if (d < 86400) return Math.round(d / 3600) + ' h ago';
  return Math.round(d / 86400) + ' days ago';
}

const shortID = (id) => String(id || '').replace(/^sha256:/, '').slice(0, 12);
const cname = (c) => (c.Names && c.Names[0] ? c.Names[0].replace(/^\//, '') : shortID(c.Id));

function ports(list) {
  return (list || []).map((p) => p.PublicPort ? `${p.IP && p.IP !== '0.0.0.0' ? p.IP + ':' : ''}${p.PublicPort}→${p.PrivatePort}/${p.Type}` : `${p.PrivatePort}/${p.Type}`)
    .filter((v, i, a) => a.indexOf(v) === i).join(', ');
}

function health(c) {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(c.Status || '');
  return m ? m[1].replace('health: ', '') : '';
}

// ---- charts -----------------------------------------------------------------

// pathOf draws values (null: a gap) into a w×h box; max is the top.
function pathOf(vals, w, h, max) {
  const n = vals.length;
  if (!n) return '';
  const top = max > 0 ? max : 1;
  let d = '';
  let pen = false;
  for (let i = 0; i < n; i++) {
    const v = vals[i];
    if (v == null) { pen = false; continue; }
    // The newest sample is at the right edge; older ones leftwards.
    const x = w - (n - 1 - i) * (w / (SLOTS - 1));
    const y = h - (Math.min(v, top) / top) * (h - 2) - 1;
    const next = i + 1 < n ? vals[i + 1] : null;
    if (!pen && next == null) {
      // An isolated sample: a short dash, so that it shows.
      d += 'M' + Math.max(0, x - 2).toFixed(1) + ' ' + y.toFixed(1) + 'H' + x.toFixed(1);
      continue;
    }
    d += (pen ? 'L' : 'M') + x.toFixed(1) + ' ' + y.toFixed(1);
    pen = true;
  }
  return d;
}

function lastValue(vals) {
  for (let i = (vals || []).length - 1; i >= 0; i--) if (vals[i] != null) return vals[i];
  return null;
}

function sparkSVG(kind, vals, label) {
  const max = kind === 'cpu' ? Math.max(0.05, ...vals.filter((v) => v != null)) : Math.max(1, ...vals.filter((v) => v != null));
  return `<svg class="spark ${kind}" width="90" height="22" viewBox="0 0 90 22" role="img" aria-label="${esc(label)}"><path d="${pathOf(vals, 90, 22, max)}"/></svg>`;
}

function chartFigure(id, title, vals, fmt, totalOf) {
  const nums = vals.filter((v) => v != null);
  const max = Math.max(1e-9, ...nums);
  const total = totalOf ? totalOf(nums) : lastValue(vals);
  const shown = total == null ? '–' : fmt(total);
  return `<figure class="chart" id="${id}"><figcaption><span>${esc(title)}</span><span class="total" data-total="${total ?? ''}">${esc(shown)}</span></figcaption>
<svg viewBox="0 0 300 90" preserveAspectRatio="none" role="img" aria-label="${esc(title)}: ${esc(shown)}"><line x1="0" y1="89" x2="300" y2="89"/><path d="${pathOf(vals, 300, 90, max * 1.1)}"/></svg></figure>`;
}

function pushSample(w) {
  // A sample is a window of one slot: append each series' value.
  if (!w.times.length) return;
  S.times.push(w.times[0]);
  if (S.times.length > SLOTS) S.times.shift();
  for (const name of Object.keys(S.series)) {
    if (!(name in w.series)) { S.series[name].push(null); }
  }
  for (const [name, vals] of Object.entries(w.series)) {
    if (!S.series[name]) S.series[name] = new Array(S.times.length - 1).fill(null);
    S.series[name].push(vals[0]);
  }
  for (const vals of Object.values(S.series)) while (vals.length > SLOTS) vals.shift();
  if (S.onSample) S.onSample();
}

function followMetrics(query) {
  stream('/metrics/stream?' + query, {
    window: (w) => { S.times = w.times; S.series = w.series; if (S.onSample) S.onSample(); },
    sample: pushSample,
  });
}

// ---- sign-in ------------------------------------------------------------------

function showSignIn(msg) {
  closeStreams();
  S.info = null;
  $('#nav').hidden = true;
  $('#who').hidden = true;
  $('#view').innerHTML = '';
  $('#signin').hidden = false;
  $('#signin-error').textContent = msg || '';
  document.title = 'Sign in · wharf console';
  $('#key-id').focus();
}

function signedIn(info) {
  S.info = info;
  $('#signin').hidden = true;
  $('#nav').hidden = false;
  $('#who').hidden = false;
  $('#principal').textContent = 'Signed in as ' + info.principal;
  if (!location.hash || location.hash.startsWith('#link=')) history.replaceState(null, '', '#/containers');
  route();
}

async function boot() {
  // The form is in the page before this script; it submits once the
  // script handles it.
  $('#signin-submit').disabled = false;
  $('#signin-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const id = $('#key-id'), secret = $('#key-secret');
    const body = { accessKeyId: id.value.trim(), secretAccessKey: secret.value };
    secret.value = ''; // the secret is never kept in the page
    try {
      signedIn(await api('POST', '/session', body));
    } catch (err) {
      $('#signin-error').textContent = err.message;
      secret.focus();
    }
  });
  $('#signout').addEventListener('click', async () => {
    try { await api('DELETE', '/session'); } catch { /* signed out either way */ }
    showSignIn('Signed out.');
  });
  window.addEventListener('hashchange', route);
  const m = /^#link=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (m) {
    history.replaceState(null, '', location.pathname); // the token leaves the address bar at once
    try { signedIn(await api('POST', '/session/link', { token: m[1] })); } catch (err) { showSignIn(err.message); }
    return;
  }
  try { signedIn(await api('GET', '/session')); } catch { showSignIn(); }
}

// ---- routing ------------------------------------------------------------------

const routes = [
  [/^#\/containers$/, viewContainers],
  [/^#\/containers\/([^/]+)$/, viewContainer],
  [/^#\/images$/, viewImages],
  [/^#\/images\/([^/]+)$/, viewImage],
  [/^#\/networks$/, viewNetworks],
  [/^#\/volumes$/, viewVolumes],
  [/^#\/functions$/, viewFunctions],
  [/^#\/functions\/([^/]+)$/, viewFunction],
  [/^#\/registry$/, viewRegistry],
  [/^#\/registry\/(.+)$/, viewRepository],
  [/^#\/cluster$/, viewCluster],
  [/^#\/batch$/, viewBatch],
];

async function route() {
  if (!S.info) return;
  closeStreams();
  status('');
  const hash = location.hash || '#/containers';
  for (const a of document.querySelectorAll('nav a')) {
    if (hash === a.getAttribute('href') || hash.startsWith(a.getAttribute('href') + '/')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const view = $('#view');
  for (const [re, fn] of routes) {
    const m = re.exec(hash);
    if (m) {
      try {
        await fn(view, ...m.slice(1).map(decodeURIComponent));
      } catch (err) {
        if (err.code !== 401) view.innerHTML = `<h1>Error</h1><p class="error" role="alert">${esc(err.message)}</p>`;
      }
      return;
    }
  }
  location.hash = '#/containers';
}

function page(view, title, html) {
  document.title = title + ' · wharf console';
  view.innerHTML = `<h1>${esc(title)}</h1>` + html;
}

// ---- containers -------------------------------------------------------------

function containerRow(c) {
  const name = cname(c);
  const h = health(c);
  const running = c.State === 'running';
  return `<tr data-id="${esc(c.Id)}" data-name="${esc(name)}">
<td><a href="#/containers/${encodeURIComponent(name)}">${esc(name)}</a></td>
<td class="opt">${esc(c.Image)}</td>
<td class="state state-${esc(c.State)}">${esc(c.State)}</td>
<td class="opt">${esc(c.Status)}</td>
<td class="opt">${esc(ports(c.Ports))}</td>
<td class="health-${esc(h)}">${esc(h)}</td>
<td class="cpu"></td><td class="mem opt"></td>
<td><div class="actions">${running
    ? `<button type="button" data-act="stop" aria-label="Stop ${esc(name)}">Stop</button>`
    : `<button type="button" data-act="start" aria-label="Start ${esc(name)}">Start</button>`}
<button type="button" class="danger" data-act="remove" aria-label="Remove ${esc(name)}">Remove</button></div></td></tr>`;
}

// drawSparks redraws the sparklines of the rows on screen (all rows when
// no observer tracks them): a page of 500 containers redraws a screenful
// per sample, not 1,000 charts.
function drawSparks(root, rows) {
  for (const tr of rows || root.querySelectorAll('tr[data-name]')) {
    const name = tr.dataset.name;
    const cpu = S.series['ctr/' + name + '/cpu'];
    const mem = S.series['ctr/' + name + '/mem'];
    const tc = tr.querySelector('td.cpu'), tm = tr.querySelector('td.mem');
    if (cpu && tc) { const v = lastValue(cpu); tc.innerHTML = sparkSVG('cpu', cpu, `CPU of ${name}: ${v == null ? 'none' : (v * 100).toFixed(1) + '%'}`) + `<span class="muted">${v == null ? '' : (v * 100).toFixed(1) + '%'}</span>`; }
    if (mem && tm) { const v = lastValue(mem); tm.innerHTML = sparkSVG('mem', mem, `Memory of ${name}: ${bytes(v)}`) + `<span class="muted">${bytes(v)}</span>`; }
  }
}

async function containerAction(act, name) {
  const path = act === 'remove' ? `/docker/containers/${encodeURIComponent(name)}?force=1` : `/docker/containers/${encodeURIComponent(name)}/${act}`;
  if (act === 'remove' && !confirm(`Remove container ${name}? Its data is lost.`)) return false;
  status(`${act === 'stop' ? 'Stopping' : act === 'start' ? 'Starting' : 'Removing'} ${name}…`);
  try {
    await api(act === 'remove' ? 'DELETE' : 'POST', path);
    status(`${name}: ${act === 'stop' ? 'stopped' : act === 'start' ? 'started' : 'removed'}.`);
    return true;
  } catch (err) {
    status(`${name}: ${err.message}`);
    return false;
  }
}

async function viewContainers(view) {
  page(view, 'Containers', `<div class="toolbar"><label for="filter">Filter</label><input id="filter" type="search" placeholder="name or image">
<span id="count" class="muted"></span></div>
<div class="table-wrap"><table><caption class="muted">Every container, updated live</caption><thead><tr>
<th scope="col">Name</th><th scope="col" class="opt">Image</th><th scope="col">State</th><th scope="col" class="opt">Status</th>
<th scope="col" class="opt">Ports</th><th scope="col">Health</th><th scope="col">CPU</th><th scope="col" class="opt">Memory</th><th scope="col">Actions</th>
</tr></thead><tbody id="ctrs"></tbody></table></div>`);
  const tbody = $('#ctrs');
  const list = await api('GET', '/docker/containers/json?all=1');
  list.sort((a, b) => cname(a).localeCompare(cname(b)));
  tbody.innerHTML = list.map(containerRow).join('');
  const count = () => { $('#count').textContent = tbody.rows.length + ' containers'; };
  count();
  const applyFilter = () => {
    const f = $('#filter').value.trim().toLowerCase();
    for (const tr of tbody.rows) tr.hidden = f !== '' && !tr.textContent.toLowerCase().includes(f);
  };
  $('#filter').addEventListener('input', applyFilter);
  tbody.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-act]');
    if (!b) return;
    b.disabled = true;
    await containerAction(b.dataset.act, b.closest('tr').dataset.name);
    b.disabled = false;
  });
  // Live: one event updates one row (a burst of events for one container
  // fetches it once).
  const pending = new Map();
  const refresh = async (id) => {
    pending.delete(id);
    let rows;
    try { rows = await api('GET', '/docker/containers/json?all=1&filters=' + encodeURIComponent(JSON.stringify({ id: [id] }))); } catch { return; }
    const old = tbody.querySelector(`tr[data-id="${CSS.escape(id)}"]`);
    if (!rows.length) { if (old) old.remove(); count(); return; }
    const tmp = document.createElement('tbody');
    tmp.innerHTML = containerRow(rows[0]);
    const tr = tmp.firstElementChild;
    if (old) old.replaceWith(tr);
    else {
      const name = tr.dataset.name;
      const after = [...tbody.rows].find((r) => r.dataset.name.localeCompare(name) > 0);
      tbody.insertBefore(tr, after || null);
    }
    drawSparks(tbody, [tr]);
    applyFilter();
    count();
  };
  stream('/events', {
    event: (ev) => {
      if (ev.type !== 'container') return;
      if (ev.action === 'destroy') {
        const tr = tbody.querySelector(`tr[data-id="${CSS.escape(ev.id)}"]`);
        if (tr) tr.remove();
        count();
        return;
      }
      if (!pending.has(ev.id)) pending.set(ev.id, setTimeout(() => refresh(ev.id), 100));
    },
    lost: () => route(),
  });
  const onScreen = new Set();
  const io = new IntersectionObserver((entries) => {
    const shown = [];
    for (const en of entries) {
      if (en.isIntersecting) { onScreen.add(en.target); shown.push(en.target); } else onScreen.delete(en.target);
    }
    drawSparks(tbody, shown);
  });
  const observe = () => { for (const tr of tbody.rows) io.observe(tr); };
  observe();
  new MutationObserver((muts) => {
    for (const m of muts) {
      for (const n of m.removedNodes) { io.unobserve(n); onScreen.delete(n); }
      for (const n of m.addedNodes) if (n.nodeType === 1) io.observe(n);
    }
  }).observe(tbody, { childList: true });
  S.onSample = () => drawSparks(tbody, [...onScreen].filter((tr) => tr.isConnected));
  followMetrics('scope=containers');
}

async function viewContainer(view, name) {
  const c = await api('GET', `/docker/containers/${encodeURIComponent(name)}/json`);
  const st = c.State || {};
  const portsOf = Object.entries((c.NetworkSettings && c.NetworkSettings.Ports) || {})
    .map(([p, b]) => (b || []).map((x) => `${x.HostIp ? x.HostIp + ':' : ''}${x.HostPort}→${p}`).join(', ') || p).join(', ');
  page(view, 'Container ' + name, `<p><a href="#/containers">← Containers</a></p>
<div class="toolbar" id="ctr-actions">
<button type="button" data-act="start">Start</button><button type="button" data-act="stop">Stop</button>
<button type="button" data-act="restart">Restart</button><button type="button" class="danger" data-act="remove">Remove</button></div>
<div class="cols"><section aria-labelledby="h-props"><h2 id="h-props">Details</h2><dl class="props">
<dt>State</dt><dd id="ctr-state" class="state-${esc(st.Status)}">${esc(st.Status)}${st.Health ? ' (' + esc(st.Health.Status) + ')' : ''}</dd>
<dt>ID</dt><dd>${esc(c.Id)}</dd><dt>Image</dt><dd>${esc(c.Config && c.Config.Image)}</dd>
<dt>Command</dt><dd>${esc([c.Path, ...(c.Args || [])].join(' '))}</dd>
<dt>Created</dt><dd>${esc(c.Created)}</dd><dt>Started</dt><dd>${esc(st.StartedAt)}</dd>
<dt>Exit code</dt><dd>${esc(st.ExitCode)}</dd><dt>Ports</dt><dd>${esc(portsOf)}</dd>
<dt>Networks</dt><dd>${esc(Object.keys((c.NetworkSettings && c.NetworkSettings.Networks) || {}).join(', '))}</dd>
<dt>Mounts</dt><dd>${esc((c.Mounts || []).map((m) => (m.Name || m.Source) + ':' + m.Destination).join(', '))}</dd>
<dt>Restart policy</dt><dd>${esc(c.HostConfig && c.HostConfig.RestartPolicy && c.HostConfig.RestartPolicy.Name)}</dd>
</dl></section>
<section aria-labelledby="h-usage"><h2 id="h-usage">Usage</h2><div class="grid" id="ctr-charts"></div></section></div>
<section aria-labelledby="h-logs"><h2 id="h-logs">Logs</h2>
<div class="toolbar"><label><input type="checkbox" id="follow" checked> Follow</label><button type="button" id="clear-logs">Clear</button></div>
<pre id="logs" tabindex="0" aria-label="Log of ${esc(name)}"></pre></section>
<section aria-labelledby="h-term"><h2 id="h-term">Terminal</h2>
<div class="toolbar"><button type="button" id="term-open"${st.Running ? '' : ' disabled'}>Open a shell</button>
<button type="button" id="term-close" hidden>Close the shell</button><span id="term-status" class="muted" role="status"></span></div>
<div id="term" class="term" tabindex="0" role="application" aria-label="Shell in ${esc(name)}: type to send keys, Shift+Tab leaves" aria-describedby="term-status" hidden></div></section>`);
  $('#term-open').addEventListener('click', () => openTerminal(name));
  $('#ctr-actions').addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-act]');
    if (!b) return;
    b.disabled = true;
    const ok = await containerAction(b.dataset.act, name);
    b.disabled = false;
    if (ok && b.dataset.act === 'remove') location.hash = '#/containers';
  });
  const pre = $('#logs');
  let lines = 0;
  const MAX_LINES = 5000;
  const follow = () => {
    stream(`/containers/${encodeURIComponent(name)}/logs?tail=500`, {
      log: (l) => {
        const span = document.createElement('span');
        if (l.stream === 'stderr') span.className = 'stderr';
        span.textContent = l.text;
        pre.appendChild(span);
        lines += (l.text.match(/\n/g) || []).length || 1;
        while (lines > MAX_LINES && pre.firstChild) { pre.firstChild.remove(); lines--; }
        pre.scrollTop = pre.scrollHeight;
      },
    });
  };
  follow();
  let logStream = S.streams[S.streams.length - 1];
  $('#follow').addEventListener('change', (e) => {
    if (e.target.checked) { pre.textContent = ''; lines = 0; follow(); logStream = S.streams[S.streams.length - 1]; } else if (logStream) logStream.close();
  });
  $('#clear-logs').addEventListener('click', () => { pre.textContent = ''; lines = 0; });
  stream('/events', {
    event: async (ev) => {
      if (ev.type !== 'container' || ev.id !== c.Id) return;
      if (ev.action === 'destroy') { status(`${name} was removed.`); return; }
      try {
        const n = await api('GET', `/docker/containers/${encodeURIComponent(name)}/json`);
        const s = n.State || {};
        const dd = $('#ctr-state');
        if (dd) { dd.className = 'state-' + s.Status; dd.textContent = s.Status + (s.Health ? ' (' + s.Health.Status + ')' : ''); }
      } catch { /* gone */ }
    },
  });
  const charts = $('#ctr-charts');
  S.onSample = () => {
    const cpu = S.series['ctr/' + name + '/cpu'] || [];
    const mem = S.series['ctr/' + name + '/mem'] || [];
    charts.innerHTML = chartFigure('chart-cpu', 'CPU', cpu, (v) => (v * 100).toFixed(1) + '%')
      + chartFigure('chart-mem', 'Memory', mem, bytes);
  };
  S.onSample();
  followMetrics('scope=containers');
}

// ---- exec terminal ------------------------------------------------------------

let termLoaded = null;
function loadTerm() {
  // The terminal's script is fetched the first time a shell opens.
  termLoaded = termLoaded || new Promise((ok, fail) => {
    const s = document.createElement('script');
    s.src = 'static/term.js';
    s.onload = ok;
    s.onerror = () => { termLoaded = null; fail(new Error('the terminal did not load')); };
    document.head.appendChild(s);
  });
  return termLoaded;
}

async function openTerminal(name) {
  const box = $('#term'), st = $('#term-status'), open = $('#term-open'), close = $('#term-close');
  open.disabled = true;
  try { await loadTerm(); } catch (err) { st.textContent = err.message; open.disabled = false; return; }
  box.replaceChildren();
  box.hidden = false;
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${API}/containers/${encodeURIComponent(name)}/exec`);
  ws.binaryType = 'arraybuffer';
  const send = (keys) => { if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ i: keys })); };
  const term = new window.WharfTerm(box, send);
  S.term = term;
  S.streams.push(ws);
  const [cols, rows] = term.fit();
  st.textContent = 'Connecting…';
  let exit = null;
  ws.onopen = () => {
    ws.send(JSON.stringify({ csrf: S.info.csrf, cols, rows }));
    st.textContent = `Connected: sh in ${name}.`;
    close.hidden = false;
    box.focus();
  };
  ws.onmessage = (e) => {
    if (typeof e.data === 'string') { try { exit = JSON.parse(e.data).exit; } catch { /* not ours */ } return; }
    term.write(e.data);
  };
  ws.onclose = (e) => {
    st.textContent = exit != null ? `The shell exited with ${exit}.` : `Closed${e.reason ? ': ' + e.reason : e.code === 1006 ? ': refused or cut' : ''}.`;
    close.hidden = true;
    open.disabled = false;
  };
  const onResize = () => { if (ws.readyState === WebSocket.OPEN) { const [c, r] = term.fit(); ws.send(JSON.stringify({ cols: c, rows: r })); } };
  window.addEventListener('resize', onResize);
  ws.addEventListener('close', () => window.removeEventListener('resize', onResize));
  close.onclick = () => ws.close(1000, 'closed by the user');
}

// ---- images, networks, volumes -------------------------------------------------

async function viewImages(view) {
  const list = await api('GET', '/docker/images/json');
  list.sort((a, b) => b.Created - a.Created);
  page(view, 'Images', `<div class="table-wrap"><table><thead><tr><th scope="col">Repository:tag</th><th scope="col">ID</th>
<th scope="col">Size</th><th scope="col" class="opt">Created</th><th scope="col" class="opt">Containers</th></tr></thead><tbody>
${list.map((i) => `<tr data-id="${esc(i.Id)}"><td class="wrap"><a href="#/images/${encodeURIComponent(i.Id)}">${esc((i.RepoTags || []).join(', ') || '<none>')}</a></td>
<td><code>${esc(shortID(i.Id))}</code></td><td>${esc(bytes(i.Size))}</td><td class="opt">${esc(ago(i.Created))}</td><td class="opt">${i.Containers >= 0 ? esc(i.Containers) : ''}</td></tr>`).join('')}
</tbody></table></div>`);
}

async function viewImage(view, id) {
  const [img, hist, ctrs] = await Promise.all([
    api('GET', `/docker/images/${encodeURIComponent(id)}/json`),
    api('GET', `/docker/images/${encodeURIComponent(id)}/history`),
    api('GET', '/docker/containers/json?all=1').catch(() => []),
  ]);
  const users = ctrs.filter((c) => c.ImageID === img.Id);
  const layers = (img.RootFS && img.RootFS.Layers) || [];
  page(view, 'Image ' + ((img.RepoTags || [])[0] || shortID(img.Id)), `<p><a href="#/images">← Images</a></p>
<dl class="props"><dt>ID</dt><dd>${esc(img.Id)}</dd><dt>Tags</dt><dd>${esc((img.RepoTags || []).join(', '))}</dd>
<dt>Size</dt><dd>${esc(bytes(img.Size))}</dd><dt>Created</dt><dd>${esc(img.Created)}</dd>
<dt>Platform</dt><dd>${esc(img.Os)}/${esc(img.Architecture)}</dd>
<dt>Entrypoint / Cmd</dt><dd>${esc(JSON.stringify((img.Config || {}).Entrypoint))} ${esc(JSON.stringify((img.Config || {}).Cmd))}</dd></dl>
<h2>Used by</h2>${users.length ? `<ul>${users.map((c) => `<li><a href="#/containers/${encodeURIComponent(cname(c))}">${esc(cname(c))}</a> (${esc(c.State)})</li>`).join('')}</ul>` : '<p class="muted">No container.</p>'}
<h2>Layers (${layers.length})</h2><div class="table-wrap"><table><thead><tr><th scope="col">#</th><th scope="col">Diff ID</th></tr></thead><tbody>
${layers.map((l, i) => `<tr><td>${i + 1}</td><td class="wrap"><code>${esc(l)}</code></td></tr>`).join('')}</tbody></table></div>
<h2>History</h2><div class="table-wrap"><table><thead><tr><th scope="col">Created</th><th scope="col">Created by</th><th scope="col">Size</th></tr></thead><tbody>
${(hist || []).map((h) => `<tr><td>${esc(ago(h.Created))}</td><td class="wrap"><code>${esc(h.CreatedBy)}</code></td><td>${esc(bytes(h.Size))}</td></tr>`).join('')}</tbody></table></div>`);
}

async function viewNetworks(view) {
  const list = await api('GET', '/docker/networks');
  list.sort((a, b) => a.Name.localeCompare(b.Name));
  page(view, 'Networks', `<div class="table-wrap"><table><thead><tr><th scope="col">Name</th><th scope="col">Driver</th><th scope="col">Subnet</th>
<th scope="col" class="opt">Gateway</th><th scope="col" class="opt">ID</th></tr></thead><tbody>
${list.map((n) => { const c = ((n.IPAM && n.IPAM.Config) || [])[0] || {}; return `<tr><td>${esc(n.Name)}</td><td>${esc(n.Driver)}</td><td>${esc(c.Subnet)}</td><td class="opt">${esc(c.Gateway)}</td><td class="opt"><code>${esc(shortID(n.Id))}</code></td></tr>`; }).join('')}
</tbody></table></div>`);
}

async function viewVolumes(view) {
  const res = await api('GET', '/docker/volumes');
  const list = (res.Volumes || []).sort((a, b) => a.Name.localeCompare(b.Name));
  page(view, 'Volumes', list.length ? `<div class="table-wrap"><table><thead><tr><th scope="col">Name</th><th scope="col">Driver</th>
<th scope="col" class="opt">Mountpoint</th><th scope="col" class="opt">Created</th></tr></thead><tbody>
${list.map((v) => `<tr><td class="wrap">${esc(v.Name)}</td><td>${esc(v.Driver)}</td><td class="opt wrap">${esc(v.Mountpoint)}</td><td class="opt">${esc(v.CreatedAt)}</td></tr>`).join('')}
</tbody></table></div>` : '<p class="muted">No volume.</p>');
}

// ---- registry, cluster, batch ---------------------------------------------------

// since formats an RFC 3339 time as "… ago" ('' for Go's zero time).
function since(iso) {
  const t = Date.parse(iso || '');
  if (!t || t < 0 || iso.startsWith('0001-')) return '';
  return ago(t / 1000);
}

function table(caption, head, rows) {
  return `<div class="table-wrap"><table>${caption ? `<caption class="muted">${esc(caption)}</caption>` : ''}<thead><tr>${head.map((h) => `<th scope="col"${h.startsWith('~') ? ' class="opt"' : ''}>${esc(h.replace(/^~/, ''))}</th>`).join('')}</tr></thead>
<tbody>${rows.join('')}</tbody></table></div>`;
}

async function viewRegistry(view) {
  const list = await api('GET', '/registry/repositories');
  list.sort((a, b) => a.Name.localeCompare(b.Name));
  page(view, 'Registry', list.length ? table('Repositories of the daemon\'s registry', ['Repository', 'Images', 'Size', '~Tags', '~Lifecycle policy', '~Created'],
    list.map((r) => `<tr data-repo="${esc(r.Name)}"><td class="wrap"><a href="#/registry/${encodeURIComponent(r.Name)}">${esc(r.Name)}</a></td><td>${esc(r.Images)}</td>
<td>${esc(bytes(r.Size))}</td><td class="opt">${esc(String(r.TagMutability || '').toLowerCase())}</td><td class="opt">${r.HasPolicy ? 'yes' : 'none'}</td><td class="opt">${esc(since(r.Created))}</td></tr>`))
    : '<p class="muted">No repository yet: <code>wharf push</code> or <code>docker push</code> to the registry\'s address (<code>wharf daemon --registry</code>) makes one.</p>');
}

async function viewRepository(view, name) {
  const list = await api('GET', '/registry/images?repository=' + encodeURIComponent(name));
  list.sort((a, b) => Date.parse(b.Pushed) - Date.parse(a.Pushed));
  page(view, 'Repository ' + name, `<p><a href="#/registry">← Registry</a></p>` + (list.length ? table('', ['Digest', 'Tags', 'Size', '~Pushed', '~Last pull'],
    list.map((i) => `<tr data-digest="${esc(i.Digest)}"><td><code title="${esc(i.Digest)}">${esc(String(i.Digest).slice(0, 19))}</code></td><td class="wrap">${esc((i.Tags || []).slice().sort().join(', ') || '<untagged>')}</td>
<td>${esc(bytes(i.Size))}</td><td class="opt">${esc(since(i.Pushed))}</td><td class="opt">${esc(since(i.LastPull) || 'never')}</td></tr>`))
    : '<p class="muted">No image in this repository.</p>'));
}

async function viewCluster(view) {
  let nodes;
  try {
    nodes = await api('GET', '/cluster/nodes');
  } catch (err) {
    if (err.code !== 409) throw err;
    page(view, 'Cluster', `<p id="no-cluster"><strong>This daemon is not in a cluster.</strong></p>
<p class="muted">${esc(err.message)}</p><p>A cluster starts with <code>wharf daemon --cluster-init</code>; other daemons join it with <code>--join</code> and a token from <code>wharf cluster token</code>.</p>`);
    return;
  }
  const svcs = await api('GET', '/cluster/services').catch((err) => { status(err.message); return []; });
  svcs.sort((a, b) => a.Name.localeCompare(b.Name));
  const tasks = (await Promise.all(svcs.map((sv) => api('GET', `/cluster/services/${encodeURIComponent(sv.Name)}/tasks`).catch(() => [])))).flat();
  nodes.sort((a, b) => a.Name.localeCompare(b.Name));
  const byNode = new Map(nodes.map((n) => [n.ID, []]));
  for (const t of tasks) {
    if (t.LastStatus === 'STOPPED') continue;
    if (!byNode.has(t.NodeID)) byNode.set(t.NodeID, []);
    byNode.get(t.NodeID).push(t);
  }
  const role = (n) => n.Leader ? 'manager (leader)' : n.Manager ? 'manager' : 'worker';
  page(view, 'Cluster', `<h2>Nodes (${nodes.length})</h2>` + table('', ['Node', 'Status', 'Availability', 'Role', 'Tasks', '~CPU', '~Memory', '~Address', '~Heartbeat'],
    nodes.map((n) => `<tr data-node="${esc(n.Name)}"><td>${esc(n.Name)}${n.Self ? ' <span class="muted">(this daemon)</span>' : ''}</td><td>${esc(n.Status)}</td><td>${esc(n.Availability)}</td>
<td>${esc(role(n))}</td><td>${(byNode.get(n.ID) || []).length}</td><td class="opt">${esc((n.CPU / 1024).toFixed(1))} cores</td><td class="opt">${esc(n.MemoryMiB)} MiB</td>
<td class="opt">${esc(n.Addr)}</td><td class="opt">${esc(since(n.LastHeartbeat))}</td></tr>`))
  + `<h2>Services (${svcs.length})</h2>` + (svcs.length ? table('', ['Service', 'Status', 'Running / desired', 'Pending', 'Task definition', '~Deployments'],
    svcs.map((sv) => `<tr data-service="${esc(sv.Name)}"><td>${esc(sv.Name)}</td><td>${esc(sv.Status)}</td><td>${esc(sv.RunningCount)} / ${esc(sv.DesiredCount)}</td><td>${esc(sv.PendingCount)}</td>
<td class="wrap">${esc(sv.TaskDefinition)}</td><td class="opt wrap">${(sv.Deployments || []).map((d) => `${esc(d.Status)} ${esc(d.RolloutState)} (${esc(d.Running)} running, ${esc(d.Pending)} pending, ${esc(d.Failed)} failed)`).join('<br>')}</td></tr>`))
    : '<p class="muted">No service: <code>aws ecs create-service</code> makes one.</p>')
  + `<h2>Tasks per node</h2>` + ([...byNode.values()].some((l) => l.length) ? [...byNode.entries()].filter(([, l]) => l.length).map(([id, l]) => {
    const n = nodes.find((x) => x.ID === id);
    return `<h3>${esc(n ? n.Name : id)}</h3>` + table('', ['Task', 'Service', 'Status', 'Health', '~Started'],
      l.map((t) => `<tr><td><code>${esc(String(t.ID).slice(0, 12))}</code></td><td>${esc(t.Service)}</td><td>${esc(t.LastStatus)}${t.DesiredStatus !== t.LastStatus ? ' → ' + esc(t.DesiredStatus) : ''}</td>
<td>${esc(t.Health)}</td><td class="opt">${esc(since(t.StartedAt))}</td></tr>`));
  }).join('') : '<p class="muted">No task runs.</p>'));
}

async function viewBatch(view) {
  const [queues, jobs] = await Promise.all([api('GET', '/batch/queues'), api('GET', '/batch/jobs?limit=200')]);
  page(view, 'Batch', `<h2>Job queues (${queues.length})</h2>` + (queues.length ? table('', ['Queue', 'State', 'Status', 'Priority', '~Compute environments', '~Scheduling policy'],
    queues.map((q) => `<tr data-queue="${esc(q.Name)}"><td>${esc(q.Name)}</td><td>${esc(q.State)}</td><td>${esc(q.Status)}</td><td>${esc(q.Priority)}</td>
<td class="opt wrap">${esc((q.Envs || []).join(', '))}</td><td class="opt">${esc(q.Policy || 'first in, first out')}</td></tr>`))
    : '<p class="muted">No job queue: <code>aws batch create-job-queue</code> makes one.</p>')
  + `<h2>Jobs (${jobs.length}${jobs.length >= 200 ? ', the newest 200' : ''})</h2>` + (jobs.length ? table('Newest first', ['Job', 'Queue', 'Status', 'Attempts', '~Definition', '~Submitted', '~ID'],
    jobs.map((j) => `<tr data-job="${esc(j.Name)}"><td>${esc(j.Name)}${j.ArraySize ? ` <span class="muted">(array of ${esc(j.ArraySize)})</span>` : ''}</td><td>${esc(j.Queue)}</td>
<td class="job-${esc(String(j.Status).toLowerCase())}">${esc(j.Status)}${j.StatusReason ? ` <span class="muted">${esc(j.StatusReason)}</span>` : ''}</td><td>${esc(j.Attempts)}</td>
<td class="opt wrap">${esc(j.Definition)}</td><td class="opt">${esc(since(j.Created))}</td><td class="opt"><code>${esc(j.ID)}</code></td></tr>`))
    : '<p class="muted">No job: <code>aws batch submit-job</code> submits one; <code>wharf batch ls</code> lists them.</p>'));
}

// ---- functions --------------------------------------------------------------

async function viewFunctions(view) {
  const list = await api('GET', '/functions');
  list.sort((a, b) => a.FunctionName.localeCompare(b.FunctionName));
  page(view, 'Functions', list.length ? `<div class="table-wrap"><table><thead><tr><th scope="col">Name</th><th scope="col">Package</th>
<th scope="col" class="opt">Runtime / image</th><th scope="col">Memory</th><th scope="col" class="opt">Timeout</th><th scope="col">State</th><th scope="col" class="opt">Modified</th></tr></thead><tbody>
${list.map((f) => `<tr data-name="${esc(f.FunctionName)}"><td><a href="#/functions/${encodeURIComponent(f.FunctionName)}">${esc(f.FunctionName)}</a></td>
<td>${esc(f.PackageType)}</td><td class="opt wrap">${esc(f.Runtime || f.ImageURI)}</td><td>${esc(f.MemorySize)} MB</td><td class="opt">${esc(f.Timeout)} s</td>
<td>${esc(f.State)}</td><td class="opt">${esc(f.LastModified)}</td></tr>`).join('')}</tbody></table></div>`
    : '<p class="muted">No function yet: <code>wharf fn deploy</code> or <code>aws lambda create-function</code> makes one.</p>');
}

// Saved test events live in this browser (localStorage), per function,
// as the Lambda console keeps private test events: they are not secrets
// and not the daemon's.
function savedEvents(fn) {
  try { return JSON.parse(localStorage.getItem('wharf.events.' + fn) || '{}'); } catch { return {}; }
}
function saveEvents(fn, evs) { localStorage.setItem('wharf.events.' + fn, JSON.stringify(evs)); }

const fnCharts = [
  ['inv', 'Invocations', (v) => String(Math.round(v)), (n) => n.reduce((a, b) => a + b, 0)],
  ['err', 'Errors', (v) => String(Math.round(v)), (n) => n.reduce((a, b) => a + b, 0)],
  ['thr', 'Throttles', (v) => String(Math.round(v)), (n) => n.reduce((a, b) => a + b, 0)],
  ['p50', 'Duration p50', (v) => v.toFixed(1) + ' ms', null],
  ['p99', 'Duration p99', (v) => v.toFixed(1) + ' ms', null],
  ['conc', 'Concurrency', (v) => String(Math.round(v)), null],
];

async function viewFunction(view, name) {
  const fv = await api('GET', `/functions/${encodeURIComponent(name)}`);
  const c = fv.configuration;
  const env = Object.entries(c.Environment || {}).map(([k, v]) => `${k}=${v}`).join('\n');
  page(view, 'Function ' + name, `<p><a href="#/functions">← Functions</a></p>
<div class="cols"><section aria-labelledby="h-conf"><h2 id="h-conf">Configuration</h2><dl class="props">
<dt>ARN</dt><dd>${esc(c.FunctionArn)}</dd><dt>Package</dt><dd>${esc(c.PackageType)} ${esc(c.Runtime || c.ImageURI)}</dd>
<dt>Handler</dt><dd>${esc(c.Handler)}</dd><dt>Memory</dt><dd>${esc(c.MemorySize)} MB</dd><dt>Timeout</dt><dd>${esc(c.Timeout)} s</dd>
<dt>Ephemeral storage</dt><dd>${esc(c.EphemeralStorage)} MB</dd><dt>Reserved concurrency</dt><dd>${c.ReservedConcurrency == null ? 'none' : esc(c.ReservedConcurrency)}</dd>
<dt>State</dt><dd>${esc(c.State)} ${esc(c.StateReason)}</dd><dt>Code SHA-256</dt><dd>${esc(c.CodeSha256)}</dd><dt>Code size</dt><dd>${esc(bytes(c.CodeSize))}</dd>
<dt>Modified</dt><dd>${esc(c.LastModified)}</dd><dt>Environment</dt><dd><pre class="light">${esc(env) || '(none)'}</pre></dd></dl>
<h2>Versions</h2>${fv.versions.length ? `<ul>${fv.versions.map((v) => `<li>${esc(v.Version)} <span class="muted">${esc(v.Description)} ${esc(v.LastModified)}</span></li>`).join('')}</ul>` : '<p class="muted">None.</p>'}
<h2>Aliases</h2>${fv.aliases.length ? `<ul>${fv.aliases.map((a) => `<li>${esc(a.Name)} → ${esc(a.FunctionVersion)}</li>`).join('')}</ul>` : '<p class="muted">None.</p>'}
${(fv.denied || []).map((d) => `<p class="muted">${esc(d)}</p>`).join('')}
</section>
<section aria-labelledby="h-test"><h2 id="h-test">Test</h2><div class="editor">
<div class="toolbar"><label for="saved">Saved event</label><select id="saved"></select>
<label for="event-name">Name</label><input id="event-name" value="test-event" size="12"><button type="button" id="save-event">Save</button><button type="button" id="delete-event">Delete</button></div>
<label for="event">Event (JSON)</label><textarea id="event" spellcheck="false">{"key1": "value1"}</textarea>
<div class="toolbar"><label for="qualifier">Version or alias</label><select id="qualifier"><option value="">$LATEST</option>
${fv.versions.filter((v) => v.Version !== '$LATEST').map((v) => `<option>${esc(v.Version)}</option>`).join('')}${fv.aliases.map((a) => `<option>${esc(a.Name)}</option>`).join('')}</select>
<button type="button" class="primary" id="invoke">Invoke</button></div>
<div id="invoke-result" aria-live="polite"></div></div></section></div>
<section aria-labelledby="h-mon"><h2 id="h-mon">Monitoring <span class="muted">(last 20 minutes)</span></h2><div class="grid" id="fn-charts"></div></section>
<section aria-labelledby="h-rep"><h2 id="h-rep">Recent REPORT lines</h2><pre id="reports" class="light" tabindex="0" aria-label="Recent REPORT lines"></pre></section>`);

  const saved = $('#saved');
  const fillSaved = (sel) => {
    const evs = savedEvents(name);
    saved.innerHTML = '<option value="">(unsaved)</option>' + Object.keys(evs).sort().map((k) => `<option${k === sel ? ' selected' : ''}>${esc(k)}</option>`).join('');
  };
  fillSaved();
  saved.addEventListener('change', () => {
    const evs = savedEvents(name);
    if (saved.value in evs) { $('#event').value = evs[saved.value]; $('#event-name').value = saved.value; }
  });
  $('#save-event').addEventListener('click', () => {
    const evName = $('#event-name').value.trim();
    if (!evName) { status('Name the event first.'); return; }
    try { JSON.parse($('#event').value); } catch (e) { status('The event is not JSON: ' + e.message); return; }
    const evs = savedEvents(name);
    evs[evName] = $('#event').value;
    saveEvents(name, evs);
    fillSaved(evName);
    status(`Saved the event ${evName}.`);
  });
  $('#delete-event').addEventListener('click', () => {
    const evs = savedEvents(name);
    delete evs[saved.value];
    saveEvents(name, evs);
    fillSaved();
  });

  const loadReports = async () => {
    try { $('#reports').textContent = (await api('GET', `/functions/${encodeURIComponent(name)}/reports`)).join('\n') || '(none yet)'; } catch (err) { $('#reports').textContent = err.message; }
  };
  loadReports();

  $('#invoke').addEventListener('click', async (e) => {
    let payload;
    try { payload = JSON.parse($('#event').value); } catch (err) { status('The event is not JSON: ' + err.message); return; }
    e.target.disabled = true;
    const out = $('#invoke-result');
    out.innerHTML = '<p>Invoking…</p>';
    try {
      const r = await api('POST', `/functions/${encodeURIComponent(name)}/invoke`, { payload, qualifier: $('#qualifier').value });
      out.innerHTML = `<p class="${r.functionError ? 'error' : ''}" id="invoke-status">${r.functionError ? 'Function error (' + esc(r.functionError) + ')' : 'Succeeded'}: status ${esc(r.statusCode)}, version ${esc(r.executedVersion)}, request ${esc(r.requestId)}</p>
<h3>Result</h3><pre id="invoke-payload" class="light" tabindex="0"></pre><h3>Log tail</h3><pre id="invoke-log" tabindex="0"></pre>`;
      let shown = r.payload;
      try { shown = JSON.stringify(JSON.parse(r.payload), null, 2); } catch { /* not JSON */ }
      $('#invoke-payload').textContent = shown;
      $('#invoke-log').textContent = r.logTail;
      loadReports();
    } catch (err) {
      out.innerHTML = `<p class="error" role="alert">${esc(err.message)}</p>`;
    } finally {
      e.target.disabled = false;
    }
  });

  const charts = $('#fn-charts');
  S.onSample = () => {
    charts.innerHTML = fnCharts.map(([k, title, fmt, total]) => chartFigure('chart-' + k, title, S.series[`fn/${name}/${k}`] || [], fmt, total)).join('');
  };
  S.onSample();
  followMetrics('scope=function&name=' + encodeURIComponent(name));
}

boot();
