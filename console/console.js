// The operator console (docs/console.md). A plain ES module with no dependency: it asks
// for the API token once (kept in sessionStorage, so for this tab only), then polls the
// documented JSON routes every second — GET /v1/stats, /v1/stats/cmds, /v1/stats/targets,
// /v1/nodes — and derives every rate by differencing two answers' totals, and every p99
// from the difference of two answers' latency bucket counts (as histogram_quantile()
// does). The player panel uses GET /v1/players/{id}, POST /v1/kick and POST /v1/push.
// Everything the server sends is written with textContent, never parsed as HTML.

const TOKEN_KEY = 'game-gateway-console-token';
const POLL_MS = 1_000;
/** Points of each chart: a minute at one a second. */
const CHART_POINTS = 60;
/** Per-cmd and per-target rates are over this window; the overview's over the last poll. */
const RATE_WINDOW_MS = 5_000;
/** Every p99 is over this window. */
const P99_WINDOW_MS = 10_000;

const $ = (id) => document.getElementById(id);

/** The bearer token: '' when the API needs none; null while not known. */
let token = null;
let polling = false;
let pollTimer = null;
/** Answers of the last polls, oldest first: { t, node, stats, cmds, targets }. */
const snapshots = [];
const series = { online: [], sessions: [], rps: [], eps: [], p99: [], inflight: [], offline: [] };
/** The player shown in the player panel (refreshed with every poll), or null. */
let shownPlayer = null;

class Unauthorized extends Error {}

class ApiFailure extends Error {
  constructor(status, body) {
    super(`${status} ${body?.error ?? ''}: ${body?.message ?? 'request failed'}`);
    this.status = status;
    this.body = body;
  }
}

/** One call of the API with the token; 401 → Unauthorized, other non-2xx → ApiFailure. */
async function api(method, path, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const json = (res.headers.get('content-type') ?? '').includes('json') ? await res.json() : null;
  if (res.status === 401) throw new Unauthorized(json?.message ?? 'unauthorized');
  if (!res.ok) throw new ApiFailure(res.status, json);
  return json;
}

// ---- the token -------------------------------------------------------------------------

function showError(message) {
  $('error').textContent = message;
  $('error').hidden = message === '';
}

function setState(state, text) {
  document.body.dataset.state = state;
  $('status').textContent = text;
}

function askToken(message) {
  stopPolling();
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('main').hidden = true;
  $('forget').hidden = true;
  $('token-form').hidden = false;
  $('token').value = '';
  $('token').focus();
  showError(message);
  setState(message === '' ? 'token' : 'error', message === '' ? 'token needed' : 'token refused');
}

/** Tries `candidate` on GET /v1/stats: kept and live when accepted, asked again when refused. */
async function open(candidate, refusedMessage) {
  token = candidate;
  try {
    const stats = await api('GET', '/v1/stats');
    if (candidate !== '') sessionStorage.setItem(TOKEN_KEY, candidate);
    showError('');
    $('token-form').hidden = true;
    $('main').hidden = false;
    $('forget').hidden = candidate === '';
    $('node').textContent = stats.node;
    startPolling();
  } catch (err) {
    if (err instanceof Unauthorized) askToken(refusedMessage(err.message));
    else {
      showError(`The gateway did not answer: ${err.message}`);
      setState('error', 'no answer');
      setTimeout(() => open(candidate, refusedMessage), 2_000);
    }
  }
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const given = $('token').value.trim();
  setState('starting', 'checking the token…');
  open(
    given,
    (m) => `The token was refused (401 unauthorized: ${m}). No data is shown without a valid token.`,
  );
});

$('forget').addEventListener('click', () => askToken(''));

// ---- polling ---------------------------------------------------------------------------

function startPolling() {
  if (polling) return;
  polling = true;
  snapshots.length = 0;
  poll();
}

function stopPolling() {
  polling = false;
  clearTimeout(pollTimer);
}

async function poll() {
  if (!polling) return;
  try {
    const nodes = api('GET', '/v1/nodes').catch((err) => {
      if (err instanceof Unauthorized) throw err;
      return { error: err.message };
    });
    const [stats, cmds, targets, nodeList] = await Promise.all([
      api('GET', '/v1/stats'),
      api('GET', '/v1/stats/cmds'),
      api('GET', '/v1/stats/targets'),
      nodes,
    ]);
    if (!polling) return;
    record({ t: performance.now(), node: stats.node, stats, cmds, targets });
    render(nodeList);
    if (shownPlayer !== null) await showPlayer(shownPlayer, true);
    setState('live', `live · ${new Date().toLocaleTimeString()}`);
  } catch (err) {
    if (err instanceof Unauthorized) {
      askToken(`The token is no longer accepted (401: ${err.message}); was it rotated?`);
      return;
    }
    setState('error', `poll failed: ${err.message}`);
  }
  if (polling) pollTimer = setTimeout(poll, POLL_MS);
}

/**
 * Keeps the last answers for the windows. Totals that are not comparable (another node
 * answered, e.g. a --workers sibling, or the gateway restarted and its totals went down)
 * start the history again instead of making negative rates.
 */
function record(snap) {
  const last = snapshots.at(-1);
  if (last !== undefined && (last.node !== snap.node || totalRequests(snap) < totalRequests(last))) {
    snapshots.length = 0;
  }
  snapshots.push(snap);
  while (snapshots.length > 2 && snap.t - snapshots[1].t >= P99_WINDOW_MS) snapshots.shift();
}

/** The oldest kept answer at most `ms` (and a little slack) before the newest; null when there is none. */
function before(ms) {
  const now = snapshots.at(-1);
  for (const s of snapshots) if (s !== now && now.t - s.t <= ms + POLL_MS / 2) return s;
  return null;
}

const totalRequests = (s) => s.stats.requests.success + s.stats.requests.error + s.stats.requests.drop;
const sum = (record) => Object.values(record ?? {}).reduce((a, b) => a + b, 0);
const perSecond = (delta, ms) => (delta * 1000) / ms;

/**
 * The q-quantile (seconds) of the observations between two cumulative bucket lists, as
 * Prometheus' histogram_quantile() interpolates it (src/metrics/histogram-quantile.ts);
 * null when nothing was observed in between.
 */
function quantile(q, bounds, newer, older) {
  const diff = newer.map((n, i) => n - (older?.[i] ?? 0));
  const total = diff[bounds.length];
  if (!(total > 0)) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    if (diff[i] >= rank) {
      const lower = i === 0 ? 0 : bounds[i - 1];
      return lower + (bounds[i] - lower) * ((rank - below) / (diff[i] - below));
    }
    below = diff[i];
  }
  return bounds[bounds.length - 1];
}

// ---- rendering -------------------------------------------------------------------------

function fmt(n, digits = 1) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  if (Math.abs(n) >= 100 || Number.isInteger(n)) return Math.round(n).toLocaleString('en');
  return n.toFixed(digits);
}
const ms = (seconds) => (seconds === null ? null : seconds * 1000);
const pct = (part, whole) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)} %` : '–');

function push(name, value) {
  const s = series[name];
  s.push(value);
  if (s.length > CHART_POINTS) s.shift();
}

function render(nodeList) {
  const cur = snapshots.at(-1);
  const prev = snapshots.length > 1 ? snapshots.at(-2) : null;
  const { stats, cmds } = cur;
  $('node').textContent = stats.node;

  // Overview: rates over the last poll; p99 over P99_WINDOW_MS.
  const dt = prev === null ? 0 : cur.t - prev.t;
  const rps = prev === null ? null : perSecond(totalRequests(cur) - totalRequests(prev), dt);
  const eps = prev === null ? null : perSecond(sum(stats.errors) - sum(prev.stats.errors), dt);
  const old = before(P99_WINDOW_MS);
  const p99 =
    old === null
      ? null
      : ms(quantile(0.99, cmds.bucketsSeconds, cmds.total.latency.buckets, old.cmds.total.latency.buckets));
  const figures = {
    online: stats.players.online,
    'sessions-connected': stats.sessions.connected,
    'sessions-authed': stats.sessions.authed,
    rps,
    eps,
    p99,
    inflight: stats.requestsInFlight,
    offline: stats.offlineMessages,
  };
  for (const [id, v] of Object.entries(figures)) $(id).textContent = fmt(v);
  push('online', stats.players.online);
  push('sessions', stats.sessions.connected + stats.sessions.authed);
  push('rps', rps ?? 0);
  push('eps', eps ?? 0);
  push('p99', p99 ?? 0);
  push('inflight', stats.requestsInFlight);
  push('offline', stats.offlineMessages);
  for (const canvas of document.querySelectorAll('canvas[data-series]'))
    draw(canvas, series[canvas.dataset.series]);

  renderErrors(cur, prev);
  renderCmds(cur);
  renderTargets(cur);
  renderNodes(nodeList);
}

/** A line chart of `values`, scaled from 0 to their maximum, hand-drawn. */
function draw(canvas, values) {
  const ratio = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const h = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  canvas.dataset.points = String(values.length);
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, w, h);
  if (values.length < 2) return;
  const max = Math.max(...values) || 1;
  const x = (i) => (i / (CHART_POINTS - 1)) * w;
  const y = (v) => h - 2 * ratio - (v / max) * (h - 4 * ratio);
  const first = CHART_POINTS - values.length;
  g.beginPath();
  values.forEach((v, i) => {
    if (i === 0) g.moveTo(x(first + i), y(v));
    else g.lineTo(x(first + i), y(v));
  });
  g.strokeStyle = '#2f6fd6';
  g.lineWidth = 1.5 * ratio;
  g.stroke();
  g.lineTo(x(first + values.length - 1), h);
  g.lineTo(x(first), h);
  g.closePath();
  g.fillStyle = 'rgba(47, 111, 214, 0.12)';
  g.fill();
}

/** Replaces a table body's rows: each row a list of cells (text, or { text, className, rowSpan }). */
function fill(tableId, rows, emptyText) {
  const body = $(tableId).tBodies[0];
  const trs = rows.map((row) => {
    const tr = document.createElement('tr');
    for (const [k, v] of Object.entries(row.data ?? {})) tr.dataset[k] = v;
    if (row.className) tr.className = row.className;
    for (const cell of row.cells) {
      const td = document.createElement('td');
      const c = typeof cell === 'object' && cell !== null ? cell : { text: cell };
      td.textContent = c.text;
      if (c.className) td.className = c.className;
      if (c.rowSpan) td.rowSpan = c.rowSpan;
      tr.append(td);
    }
    return tr;
  });
  if (trs.length === 0) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = $(tableId).tHead.rows[0].cells.length;
    td.textContent = emptyText;
    tr.append(td);
    trs.push(tr);
  }
  body.replaceChildren(...trs);
}

function renderErrors(cur, prev) {
  const dt = prev === null ? 0 : cur.t - prev.t;
  const rows = Object.entries(cur.stats.errors)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([type, n]) => ({
      data: { type },
      cells: [
        type,
        {
          text: prev === null ? '–' : fmt(perSecond(n - (prev.stats.errors[type] ?? 0), dt)),
          className: 'num',
        },
        { text: fmt(n), className: 'num' },
      ],
    }));
  fill('errors', rows, 'no errors since start');
}

function renderCmds(cur) {
  const win = before(RATE_WINDOW_MS);
  const old = before(P99_WINDOW_MS);
  const key = (r) => `${r.cmd}/${r.target}`;
  const find = (snap, k) => snap?.cmds.cmds.find((r) => key(r) === k);
  const bounds = cur.cmds.bucketsSeconds;
  const rows = cur.cmds.cmds.map((r) => {
    const w = find(win, key(r));
    const total = r.success + r.error + r.drop;
    const dTotal = total - (w ? w.success + w.error + w.drop : 0);
    const dt = win === null ? 0 : cur.t - win.t;
    const p99 =
      old === null ? null : ms(quantile(0.99, bounds, r.latency.buckets, find(old, key(r))?.latency.buckets));
    const errors = r.error - (w?.error ?? 0);
    const drops = r.drop - (w?.drop ?? 0);
    return {
      data: { cmd: String(r.cmd), target: r.target },
      className: win !== null && errors > 0 ? 'bad' : '',
      cells: [
        String(r.cmd),
        r.target === '' ? '—' : r.target,
        { text: win === null ? '–' : fmt(perSecond(dTotal, dt)), className: 'num' },
        { text: win === null ? '–' : pct(errors, dTotal), className: 'num' },
        { text: win === null ? '–' : pct(drops, dTotal), className: 'num' },
        { text: fmt(p99), className: 'num' },
        { text: fmt(total), className: 'num' },
      ],
    };
  });
  fill('cmds', rows, 'no request since start');
}

function renderTargets(cur) {
  const win = before(RATE_WINDOW_MS);
  const old = before(P99_WINDOW_MS);
  const find = (snap, name) => snap?.targets.targets.find((t) => t.name === name);
  const bounds = cur.targets.bucketsSeconds;
  const rows = [];
  for (const t of cur.targets.targets) {
    const w = find(win, t.name);
    const dt = win === null ? 0 : cur.t - win.t;
    const noInstance = (t.errors.no_instance ?? 0) - (w?.errors.no_instance ?? 0);
    const attempts = t.calls - (w?.calls ?? 0) + noInstance;
    const errors = sum(t.errors) - sum(w?.errors);
    const p99 =
      old === null ? null : ms(quantile(0.99, bounds, t.latency.buckets, find(old, t.name)?.latency.buckets));
    const span = Math.max(1, t.endpoints.length);
    const shared = [
      { text: win === null ? '–' : fmt(perSecond(attempts, dt)), className: 'num', rowSpan: span },
      { text: win === null ? '–' : pct(errors, attempts), className: 'num', rowSpan: span },
      { text: fmt(p99), className: 'num', rowSpan: span },
    ];
    const name = { text: t.discover === null ? t.name : `${t.name} (discover ${t.discover})`, rowSpan: span };
    if (t.endpoints.length === 0) {
      rows.push({
        data: { target: t.name },
        className: 'bad',
        cells: [name, 'no instance registered', '–', '–', '–', ...shared],
      });
      continue;
    }
    t.endpoints.forEach((e, i) => {
      const cells = [
        e.instance === null ? e.url : `${e.instance} ${e.url}`,
        { text: e.circuit, className: e.circuit === 'open' ? 'open' : '' },
        { text: `${e.pool.running} / ${e.pool.connected} / ${e.pool.connections ?? '∞'}`, className: 'num' },
        { text: String(e.pool.pending), className: 'num' },
      ];
      rows.push({
        data: { target: t.name, endpoint: e.instance ?? e.url },
        cells: i === 0 ? [name, ...cells, ...shared] : cells,
      });
    });
  }
  fill('targets', rows, 'no target configured');
}

function renderNodes(nodeList) {
  const cluster = nodeList?.engine === 'redis' || nodeList?.error !== undefined;
  $('nodes-section').hidden = !cluster;
  if (!cluster) return;
  if (nodeList.error !== undefined) {
    fill('nodes', [], `the node list is unavailable: ${nodeList.error}`);
    return;
  }
  const rows = nodeList.nodes.map((n) => ({
    data: { node: n.id },
    cells: [
      n.id,
      n.instance ?? '–',
      `${fmt(n.heartbeatAgeMs)} ms`,
      n.self ? 'this node (answers the console)' : '',
    ],
  }));
  fill('nodes', rows, 'no node has a live heartbeat');
}

// ---- the player panel ------------------------------------------------------------------

async function showPlayer(id, quiet = false) {
  try {
    const p = await api('GET', `/v1/players/${encodeURIComponent(id)}`);
    if (shownPlayer !== id && quiet) return;
    $('player-error').hidden = true;
    $('player').hidden = false;
    $('player').dataset.player = p.playerId;
    $('player').dataset.online = String(p.online);
    const fields = {
      'p-id': p.playerId,
      'p-online': p.online ? 'online' : 'offline',
      'p-node': p.node ?? '–',
      'p-session': p.sessionId ?? '–',
      'p-last': p.lastActiveAt,
      'p-queued': String(p.offlineQueued),
      'p-seq': String(p.pushSeq),
    };
    for (const [k, v] of Object.entries(fields)) $(k).textContent = v;
  } catch (err) {
    if (err instanceof Unauthorized) throw err;
    if (quiet && shownPlayer !== id) return;
    $('player').hidden = true;
    $('player-error').hidden = false;
    $('player-error').textContent =
      err instanceof ApiFailure && err.status === 404 ? `${id}: not known to this gateway` : err.message;
  }
}

async function guarded(action) {
  try {
    await action();
  } catch (err) {
    if (err instanceof Unauthorized) askToken(`The token is no longer accepted (401: ${err.message}).`);
    else throw err;
  }
}

$('lookup-form').addEventListener('submit', (e) => {
  e.preventDefault();
  shownPlayer = $('player-id').value.trim();
  $('kick-result').textContent = '';
  $('push-result').textContent = '';
  guarded(() => showPlayer(shownPlayer));
});

$('kick-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = shownPlayer;
  guarded(async () => {
    try {
      const r = await api('POST', '/v1/kick', { players: [id], reason: $('kick-reason').value });
      $('kick-result').textContent = r.kicked === 1 ? 'kicked' : 'not online: nothing to kick';
    } catch (err) {
      if (err instanceof Unauthorized) throw err;
      $('kick-result').textContent = err.message;
    }
    await showPlayer(id, true);
  });
});

/** UTF-8 text as base64, for the push body's `data`. */
function base64(text) {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

$('push-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = shownPlayer;
  guarded(async () => {
    try {
      const r = await api('POST', '/v1/push', {
        players: [id],
        cmd: Number($('push-cmd').value),
        data: base64($('push-data').value),
        offline: $('push-offline').checked,
      });
      $('push-result').textContent =
        r.results?.[id] ?? `delivered ${r.delivered}, cached ${r.cached}, dropped ${r.dropped}`;
    } catch (err) {
      if (err instanceof Unauthorized) throw err;
      $('push-result').textContent = err.message;
    }
    await showPlayer(id, true);
  });
});

// ---- start: a token kept for this tab, or none if the API needs none -------------------

const kept = sessionStorage.getItem(TOKEN_KEY);
setState('starting', 'connecting…');
open(kept ?? '', (m) => (kept === null ? '' : `The token kept for this tab was refused (401: ${m}).`));
