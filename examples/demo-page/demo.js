// The demo page: logs in over WebSocket with the SDK (served from dist/ as ES modules),
// draws everyone on the map from the backend's pushes, and polls the gateway's figures.
import { connect, utf8 } from '/sdk/client/index.js';

const $ = (id) => document.getElementById(id);
const config = await (await fetch('/config.json')).json();
const { cmd: Cmd, push: Push } = config;
const dots = new Map();
let me = null;
let client = null;
let pushes = 0;

$('name').value = `player-${Math.floor(Math.random() * 1000)}`;

function log(line) {
  const div = document.createElement('div');
  div.textContent = line;
  $('log').prepend(div);
}

function place(player, x, y) {
  let dot = dots.get(player);
  if (!dot) {
    dot = document.createElement('div');
    dot.className = player === me ? 'player me' : 'player';
    dot.dataset.player = player;
    dot.innerHTML = '<span></span>';
    dot.firstChild.textContent = player;
    $('map').append(dot);
    dots.set(player, dot);
  }
  dot.style.left = `${x * 20 + 1}px`;
  dot.style.top = `${y * 20 + 1}px`;
  dot.dataset.x = x;
  dot.dataset.y = y;
}

function remove(player) {
  dots.get(player)?.remove();
  dots.delete(player);
}

$('join').onclick = async () => {
  me = $('name').value.trim();
  $('status').textContent = 'connecting…';
  client = await connect(`ws://${location.hostname}:${config.wsPort}/`, { reconnect: true });
  client.on('push', ({ cmd, seq, body }) => {
    pushes++;
    $('pushes').textContent = pushes;
    const msg = JSON.parse(utf8(body) || '{}');
    if (cmd === Push.MOVED) place(msg.player, msg.x, msg.y);
    else if (cmd === Push.LEFT) remove(msg.player);
    else if (cmd === Push.SAID) log(`${msg.player}: ${msg.text}`);
    else log(`push cmd ${cmd} seq ${seq}`);
  });
  client.on('kick', (k) => log(`kicked: ${k.error} ${k.message}`));
  const login = await client.request(Cmd.LOGIN, me);
  if (!login.ok) {
    $('status').textContent = `login failed: ${login.statusName}`;
    return;
  }
  const { position } = login.json();
  $('status').textContent = `logged in as ${me} (session ${client.hello.sessionId} on ${client.hello.node})`;
  document.body.dataset.loggedIn = 'true';
  place(me, position.x, position.y);
  const everyone = (await client.request(Cmd.LOOK)).json();
  for (const [player, p] of Object.entries(everyone)) place(player, p.x, p.y);
  log(`joined; ${Object.keys(everyone).length} players on the map`);
  $('join').blur();
};

document.addEventListener('keydown', (e) => {
  const dot = dots.get(me);
  if (!client || !dot || e.target === $('name')) return;
  const step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
  if (!step) return;
  e.preventDefault();
  const x = Math.max(0, Math.min(19, Number(dot.dataset.x) + step[0]));
  const y = Math.max(0, Math.min(19, Number(dot.dataset.y) + step[1]));
  client.request(Cmd.MOVE, JSON.stringify({ x, y }));
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
