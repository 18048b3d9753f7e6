import { LIB } from './lua-lib.js';

/**
 * The scripts that route a push, a kick or a group push: they read where players are and
 * publish to the holding nodes' channels (cluster-message.ts has the message layout), or
 * queue, in one atomic step. Defined on the client with the others in redis-scripts.ts.
 */

/**
 * push — no KEYS (the player keys are built from the prefix, as the node keys are). ARGV:
 * prefix, cmd, body, offline ('1'|'0'), maxMessages, maxBytes, ttlMs, from node, mode
 * ('route'|'store'), deadline (ms, Redis' clock), reqId, then per player: player, notEpoch.
 * A call that runs after its deadline changes nothing and answers dropped for every
 * player: its sender already answered so when its command timed out (Redis paused, say),
 * and a message stored or routed later would reach a client whose push was answered
 * `dropped`. Otherwise, per player:
 *   routed  bound on a live node (binding epoch not notEpoch), in 'route' mode: sent to
 *           that node in one PUSH message per node for the whole call (body once, reqId);
 *   cached  queued under the player's next seq: expired messages trimmed first, then the
 *           oldest dropped until it fits maxMessages and maxBytes;
 *   dropped unknown player (no hash), offline '0', or a message that can never fit.
 * A node whose channel has no subscriber (its connection is down) is passed over: its
 * players' messages are queued instead.
 * Returns {expired, overflow, k, node 1 … node k, then per player: code, epoch}: code j ≥ 1
 * routed to node j (epoch: its binding's), 0 cached, -1 dropped; expired and overflow
 * count the queued messages this call dropped, over all players.
 */
export const PUSH = `${LIB}
local prefix, cmd, body, offline = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local maxMessages, maxBytes, ttlMs = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local from, mode, deadline, reqId = ARGV[8], ARGV[9], tonumber(ARGV[10]), ARGV[11]
local n = (#ARGV - 11) / 2
local now = nowMs()
if now > deadline then
  local late = {0, 0, 0}
  for i = 1, n do late[#late + 1] = -1; late[#late + 1] = 0 end
  return late
end
local expiredAll, overflowAll = 0, 0
local codes, epochs = {}, {}
local function enqueue(i, hk)
  codes[i], epochs[i] = -1, 0
  if offline ~= '1' then return end
  local qk = prefix .. 'q:' .. ARGV[10 + 2 * i]
  local qb, expired = trim(hk, qk, now)
  expiredAll = expiredAll + expired
  if maxMessages == 0 or #body > maxBytes then
    redis.call('HSET', hk, 'qb', qb)
    overflowAll = overflowAll + 1
    return
  end
  local len = redis.call('LLEN', qk)
  while len > 0 and (len >= maxMessages or qb + #body > maxBytes) do
    qb = qb - bodyLen(redis.call('LPOP', qk))
    len = len - 1
    overflowAll = overflowAll + 1
  end
  if len == 0 then qb = 0 end
  local seq = redis.call('HINCRBY', hk, 'seq', 1)
  redis.call('RPUSH', qk, num(now + ttlMs) .. ',' .. num(seq) .. ',' .. cmd .. '|' .. body)
  redis.call('HSET', hk, 'qb', qb + #body)
  local ttl = redis.call('PTTL', hk)
  if ttl > 0 then redis.call('PEXPIRE', qk, ttl) end
  codes[i] = 0
end
local byNode, order, live, keys = {}, {}, {}, {}
for i = 1, n do
  local player, notEpoch = ARGV[10 + 2 * i], ARGV[11 + 2 * i]
  local hk = prefix .. 'p:' .. player
  keys[i] = hk
  if redis.call('EXISTS', hk) == 0 then
    codes[i], epochs[i] = -1, 0
  else
    if mode == 'route' then
      local h = redis.call('HMGET', hk, 'node', 'inst', 'epoch')
      if h[3] and h[3] ~= notEpoch and h[1] and h[1] ~= '' then
        local inst = live[h[1]]
        if inst == nil then
          inst = redis.call('GET', prefix .. 'node:' .. h[1]) or false
          live[h[1]] = inst
        end
        if inst == h[2] then
          local b = byNode[h[1]]
          if not b then b = {entries = {}, players = {}}; byNode[h[1]] = b; order[#order + 1] = h[1] end
          b.entries[#b.entries + 1] = ns(player) .. ns(h[3])
          b.players[#b.players + 1] = i
          codes[i], epochs[i] = false, tonumber(h[3])
        end
      end
    end
    if codes[i] == nil then enqueue(i, hk) end
  end
end
local nodes = {}
for _, node in ipairs(order) do
  local b = byNode[node]
  local msg = 'P' .. ns(cmd) .. ns(from) .. ns(reqId) .. ns(#b.entries) .. table.concat(b.entries) .. body
  if redis.call('PUBLISH', prefix .. 'ch:' .. node, msg) == 0 then
    for _, i in ipairs(b.players) do enqueue(i, keys[i]) end
  else
    nodes[#nodes + 1] = node
    for _, i in ipairs(b.players) do codes[i] = #nodes end
  end
end
local out = {expiredAll, overflowAll, #nodes}
for _, node in ipairs(nodes) do out[#out + 1] = node end
for i = 1, n do out[#out + 1] = codes[i]; out[#out + 1] = epochs[i] end
return out
`;

/**
 * direct — ARGV: channel, deadline (ms, Redis' clock), message. Publishes a DIRECT push
 * (route-cache.ts) unless it runs after its deadline, as the push script does: a publish
 * delayed past its sender's command timeout (Redis paused) would reach a client whose
 * push was answered `dropped`. Returns the receivers, or -1 when late.
 */
export const DIRECT = `${LIB}
if nowMs() > tonumber(ARGV[2]) then return -1 end
return redis.call('PUBLISH', ARGV[1], ARGV[3])
`;

/**
 * kick — KEYS: player hash. ARGV: prefix, player, status, from node, reqId, reason.
 * Publishes a KICK for the current binding to its node when that node is alive.
 * Returns the number of receivers (0: nobody to kick).
 */
export const KICK = `${LIB}
local h = redis.call('HMGET', KEYS[1], 'node', 'inst', 'epoch')
if not alive(ARGV[1], h[1], h[2]) then return 0 end
return redis.call('PUBLISH', ARGV[1] .. 'ch:' .. h[1],
  'K' .. ns(h[3]) .. ns(ARGV[2]) .. ns(ARGV[3]) .. ns(ARGV[4]) .. ns(ARGV[5]) .. ns(ARGV[6]))
`;

/**
 * groupPush — KEYS: group set. ARGV: prefix, group, cmd, from node, reqId, body. Sorts the
 * group's members bound on live nodes by node and publishes one GROUP message per node
 * (members and their epochs); members whose record expired (or who left) are removed
 * from the set on the way. Returns the nodes that received a message.
 */
export const GROUP_PUSH = `${LIB}
local byNode, order, live = {}, {}, {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local h = redis.call('HMGET', ARGV[1] .. 'p:' .. m, 'node', 'inst', 'epoch', 'g:' .. ARGV[2])
  if not h[4] then
    redis.call('SREM', KEYS[1], m)
  elseif h[1] and h[1] ~= '' then
    local inst = live[h[1]]
    if inst == nil then
      inst = redis.call('GET', ARGV[1] .. 'node:' .. h[1]) or false
      live[h[1]] = inst
    end
    if inst == h[2] then
      local list = byNode[h[1]]
      if not list then list = {}; byNode[h[1]] = list; order[#order + 1] = h[1] end
      list[#list + 1] = ns(m) .. ns(h[3])
    end
  end
end
local out = {}
for _, node in ipairs(order) do
  local list = byNode[node]
  local msg = 'G' .. ns(ARGV[3]) .. ns(ARGV[4]) .. ns(ARGV[5]) .. ns(#list) .. table.concat(list) .. ARGV[6]
  if redis.call('PUBLISH', ARGV[1] .. 'ch:' .. node, msg) > 0 then out[#out + 1] = node end
end
return out
`;
