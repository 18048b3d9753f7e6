// The demo page: connects over WebSocket with the SDK (served from dist/ as ES modules)
// and shows the world before one joins (LOOK is anonymous: polled twice a second), then
// logs in and draws everyone from the backend's pushes. Every frame the page sends and
// receives is listed (newest first), and the gateway's figures are polled.
import { connect, utf8 } from '/sdk/client/index.js';

const $ = (id) => document.getElementById(id);
const config = await (await fetch('/config.json')).json();
const { cmd: Cmd, push: Push } = config;
const cmdName = Object.fromEntries([...Object.entries(Cmd), ...Object.entries(Push)].map(([k, v]) => [v, k]));
const dots = new Map();
let me = null;
let joined = false;
let pushes = 0;

$('name').value = `player-${Math.floor(Math.random() * 1000)}`;

function log(line) {
  const div = document.createElement('div');
  div.textContent = line;
  $('log').prepend(div);
}

/** One line per frame; the oldest go once there are 60. */
function frame(direction, text) {
  const li = document.createElement('li');
  li.className = direction === '→' ? 'out' : 'in';
  li.textContent = `${direction} ${text}`;
  $('frames').prepend(li);
  while ($('frames').children.length > 60) $('frames').lastChild.remove();
}

const short = (text) => (text.length > 60 ? `${text.slice(0, 57)}…` : text);
const named = (cmd) => `${cmdName[cmd] ?? 'cmd'} (${cmd})`;

/** A REQUEST and its RESPONSE, both logged unless `quiet`. */
async function request(cmd, body = '', quiet = false) {
  if (!quiet) frame('→', `REQUEST ${named(cmd)} ${short(body)}`);
  const r = await client.request(cmd, body);
  if (!quiet) frame('←', `RESPONSE seq ${r.seq} status ${r.status} ${r.statusName} ${short(r.text())}`);
  return r;
}

function place(player, x, y) {
  let dot = dots.get(player);
  if (!dot) {
    dot = document.createElement('div');
    dot.className = 'player';
    dot.dataset.player = player;
    dot.innerHTML = '<span></span>';
    dot.firstChild.textContent = player;
    $('map').append(dot);
    dots.set(player, dot);
  }
  dot.classList.toggle('me', player === me);
  dot.style.left = `${x * 20 + 1}px`;
  dot.style.top = `${y * 20 + 1}px`;
  dot.dataset.x = x;
  dot.dataset.y = y;
}

function remove(player) {
  dots.get(player)?.remove();
  dots.delete(player);
}

const client = await connect(`ws://${location.hostname}:${config.wsPort}/`, { reconnect: true });
frame(
  '←',
  `HELLO session ${client.hello.sessionId} on ${client.hello.node}, heartbeat ${client.hello.heartbeatMs} ms`,
);
$('status').textContent = 'watching (not logged in)';
client.on('push', ({ cmd, seq, body }) => {
  pushes++;
  $('pushes').textContent = pushes;
  const text = utf8(body);
  frame('←', `PUSH ${named(cmd)} seq ${seq} ${short(text)}`);
  const msg = JSON.parse(text || '{}');
  if (cmd === Push.MOVED) place(msg.player, msg.x, msg.y);
  else if (cmd === Push.LEFT) remove(msg.player);
  else if (cmd === Push.SAID) log(`${msg.player}: ${msg.text}`);
});
client.on('kick', (k) => {
  frame('←', `KICK ${k.status} ${k.error} ${k.message}`);
  log(`kicked: ${k.error} ${k.message}`);
});

/** Everyone's position from LOOK; players no longer listed leave the map. */
async function look(quiet) {
  const everyone = (await request(Cmd.LOOK, '', quiet)).json();
  for (const player of dots.keys()) if (!(player in everyone)) remove(player);
  for (const [player, p] of Object.entries(everyone)) place(player, p.x, p.y);
  return everyone;
}

// Before joining, the world is polled (the first LOOK logged, the rest quiet); after, pushes draw it.
await look(false);
frame('·', 'LOOK repeated twice a second (not listed) until you join');
const watching = setInterval(() => {
  if (!joined) look(true).catch(() => {});
}, 500);

$('join').onclick = async () => {
  me = $('name').value.trim();
  const login = await request(Cmd.LOGIN, me);
  if (!login.ok) {
    $('status').textContent = `login failed: ${login.statusName}`;
    return;
  }
  joined = true;
  clearInterval(watching);
  const { position } = login.json();
  $('status').textContent = `logged in as ${me} (session ${client.hello.sessionId} on ${client.hello.node})`;
  document.body.dataset.loggedIn = 'true';
  place(me, position.x, position.y);
  const everyone = await look(false);
  log(`joined; ${Object.keys(everyone).length} players on the map`);
  $('join').blur();
};

document.addEventListener('keydown', (e) => {
  const dot = dots.get(me);
  if (!joined || !dot || e.target === $('name')) return;
  const step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
  if (!step) return;
  e.preventDefault();
  const x = Math.max(0, Math.min(19, Number(dot.dataset.x) + step[0]));
  const y = Math.max(0, Math.min(19, Number(dot.dataset.y) + step[1]));
  request(Cmd.MOVE, JSON.stringify({ x, y }));
});

// Live figures: /stats proxies the gateway's GET /v1/stats; rates are differences per second.
let last = null;
setInterval(async () => {
  const s = await (await fetch('/stats')).json();
  $('online').textContent = s.players.online;
  $('sessions').textContent = `${s.sessions.authed} authed, ${s.sessions.connected} connected`;
  if (last) {
    const total = (r) => r.success + r.error + r.drop;
    $('rps').textContent = Math.max(0, total(s.requests) - total(last.requests)).toFixed(0);
    $('eps').textContent = Math.max(0, s.requests.error - last.requests.error).toFixed(0);
  }
  last = s;
}, 1000);
