import type { Redis } from 'ioredis';

/**
 * The Lua scripts of the Redis engine. Each runs atomically in Redis, so a check and the
 * write it guards (an epoch compare and an unbind, a queue bound and the insert, a
 * liveness check and the publish) can never interleave with another node's. Times come
 * from Redis' own clock (TIME), so nodes with skewed clocks agree on expiry.
 *
 * Scripts reach node keys and channels they build from the prefix, so they need one
 * Redis (or a primary with replicas / Sentinel), not Redis Cluster.
 */

/** Helpers shared by every script (prepended). */
const LIB = `
local function ns(s) s = tostring(s) return #s .. ':' .. s end
local function nowMs()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function num(x) return string.format('%.0f', x) end
local function alive(prefix, node, inst)
  if not node or node == '' then return false end
  return redis.call('GET', prefix .. 'node:' .. node) == inst
end
local function bodyLen(m) return #m - string.find(m, '|', 1, true) end
local function expiresAt(m) return tonumber(string.match(m, '^(%d+),')) end
-- Drops expired messages from the head of queue qk (player hash hk); returns bytes left, expired.
local function trim(hk, qk, now)
  local qb = tonumber(redis.call('HGET', hk, 'qb') or '0')
  local expired = 0
  while true do
    local head = redis.call('LINDEX', qk, 0)
    if not head then qb = 0; break end
    if expiresAt(head) > now then break end
    redis.call('LPOP', qk)
    qb = qb - bodyLen(head)
    expired = expired + 1
  end
  return qb, expired
end
-- Empties the queue (KEYS[2]), returning the unexpired messages.
local function drain(now)
  local items = redis.call('LRANGE', KEYS[2], 0, -1)
  redis.call('DEL', KEYS[2])
  local out, expired = {}, 0
  for _, m in ipairs(items) do
    if expiresAt(m) > now then out[#out + 1] = m else expired = expired + 1 end
  end
  return out, expired
end
`;

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
const PUSH = `${LIB}
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
const DIRECT = `${LIB}
if nowMs() > tonumber(ARGV[2]) then return -1 end
return redis.call('PUBLISH', ARGV[1], ARGV[3])
`;

/**
 * bind — KEYS: player hash, queue, epoch counter. ARGV: prefix, player, node, inst,
 * session, seqBlock, onlineTtlMs. Takes the next epoch (INCR), makes this node's session
 * the holder, reserves seqBlock sequences above the player's seq for this node to hand
 * out, and drains the queue. A holder on another live node gets a KICK REPLACED message
 * for its epoch. Returns {epoch, seq, ceiling, expired, messages}.
 */
const BIND = `${LIB}
local now = nowMs()
local epoch = redis.call('INCR', KEYS[3])
local old = redis.call('HMGET', KEYS[1], 'node', 'inst', 'epoch', 'seq')
local seq = tonumber(old[4] or '0')
local ceil = seq + tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'node', ARGV[3], 'inst', ARGV[4], 'sess', ARGV[5], 'epoch', epoch,
  'seq', num(ceil), 'cur', num(seq), 'last', num(now), 'qb', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[7])
local out, expired = drain(now)
if old[1] and old[1] ~= '' and not (old[1] == ARGV[3] and old[2] == ARGV[4]) and alive(ARGV[1], old[1], old[2]) then
  redis.call('PUBLISH', ARGV[1] .. 'ch:' .. old[1],
    'K' .. ns(old[3]) .. ns(ARGV[2]) .. ns('300') .. ns('') .. ns('') .. ns(''))
end
return {epoch, num(seq), num(ceil), expired, out}
`;

/**
 * unbind — KEYS: player hash, queue. ARGV: epoch, lastSeq, ceiling, retainMs, lastActiveAt.
 * Only when the player's epoch is still `epoch` (a stale close never removes a newer
 * binding): marks it offline, gives back the unused part of the reserved block (unless
 * another node took sequences above it), and lets hash and queue expire after retainMs.
 * Returns 1, or 0 when stale.
 */
const UNBIND = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
local s, last, ceil = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0'), tonumber(ARGV[2]), tonumber(ARGV[3])
if s == ceil or s < last then s = last end
redis.call('HSET', KEYS[1], 'node', '', 'inst', '', 'sess', '', 'last', ARGV[5], 'cur', string.format('%.0f', s),
  'seq', string.format('%.0f', s))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
`;

/**
 * reserve — KEYS: player hash. ARGV: epoch, ceiling, seqBlock. Extends the holder's block
 * of sequences: from its ceiling, or from the player's seq when another node took
 * sequences above the ceiling. Returns {base, newCeiling}, or nil when the binding is stale.
 */
const RESERVE = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return false end
local s, c = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0'), tonumber(ARGV[2])
local base = c
if s > c then base = s end
local ceil = base + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'seq', string.format('%.0f', ceil))
return {string.format('%.0f', base), string.format('%.0f', ceil)}
`;

/**
 * refresh — KEYS: player hash, queue. ARGV: epoch, cur ('' keeps), lastActiveAt ('' keeps),
 * ttlMs. While `epoch` holds the player: records cur/last and extends the lease (1).
 * 0: the player is gone from Redis; -1: another binding holds it.
 */
const REFRESH = `
local e = redis.call('HGET', KEYS[1], 'epoch')
if not e then return 0 end
if e ~= ARGV[1] then return -1 end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'last', ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
`;

/**
 * register — KEYS: player hash, queue, epoch counter. ARGV: prefix, player, node, inst,
 * session, epoch (0: bound while Redis was unreachable), lastSeq, ceiling, seqBlock,
 * onlineTtlMs, lastActiveAt. Re-registers a binding this node kept through a Redis outage
 * (or after its heartbeat lapsed). {'stale'} when a newer binding exists (or, for epoch 0,
 * when another live node holds the player). Otherwise restores the record (taking a new
 * epoch for epoch 0, and lifting the epoch counter to at least `epoch`), reserves a fresh
 * block above every sequence given out, and drains what was queued meanwhile:
 * {'ok', epoch, base, ceiling, expired, messages}.
 */
const REGISTER = `${LIB}
local now = nowMs()
local h = redis.call('HMGET', KEYS[1], 'epoch', 'node', 'inst', 'seq')
local mine = tonumber(ARGV[6])
if mine > 0 and tonumber(h[1] or '0') > mine then return {'stale'} end
if mine == 0 and h[2] and h[2] ~= '' and not (h[2] == ARGV[3] and h[3] == ARGV[4]) and alive(ARGV[1], h[2], h[3]) then
  return {'stale'}
end
if mine == 0 then mine = redis.call('INCR', KEYS[3])
elseif tonumber(redis.call('GET', KEYS[3]) or '0') < mine then redis.call('SET', KEYS[3], num(mine)) end
local s, last, ceil = tonumber(h[4] or '0'), tonumber(ARGV[7]), tonumber(ARGV[8])
local base = last
if s > ceil and s > last then base = s end
local newCeil = base + tonumber(ARGV[9])
redis.call('HSET', KEYS[1], 'node', ARGV[3], 'inst', ARGV[4], 'sess', ARGV[5], 'epoch', num(mine),
  'seq', num(newCeil), 'cur', num(base), 'last', ARGV[11], 'qb', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[10])
local out, expired = drain(now)
return {'ok', num(mine), num(base), num(newCeil), expired, out}
`;

/**
 * kick — KEYS: player hash. ARGV: prefix, player, status, from node, reqId, reason.
 * Publishes a KICK for the current binding to its node when that node is alive.
 * Returns the number of receivers (0: nobody to kick).
 */
const KICK = `${LIB}
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
const GROUP_PUSH = `${LIB}
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

/**
 * join — KEYS: group set. ARGV: prefix, group, players…: adds the known players (those
 * with a record) to the set, and marks the membership in each player's hash, so it goes
 * when the player is forgotten. Returns the set's size.
 */
const JOIN = `
for i = 3, #ARGV do
  local key = ARGV[1] .. 'p:' .. ARGV[i]
  if redis.call('EXISTS', key) == 1 then
    redis.call('SADD', KEYS[1], ARGV[i])
    redis.call('HSET', key, 'g:' .. ARGV[2], '1')
  end
end
return redis.call('SCARD', KEYS[1])
`;

/**
 * members — KEYS: group set. ARGV: prefix, group. The members that are still known (those
 * whose record expired are removed on the way, as groupPush does).
 */
const MEMBERS = `
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('HEXISTS', ARGV[1] .. 'p:' .. m, 'g:' .. ARGV[2]) == 1 then
    out[#out + 1] = m
  else
    redis.call('SREM', KEYS[1], m)
  end
end
return out
`;

/** leave — KEYS: group set. ARGV: prefix, group, players…. Returns the set's size. */
const LEAVE = `
for i = 3, #ARGV do
  redis.call('SREM', KEYS[1], ARGV[i])
  redis.call('HDEL', ARGV[1] .. 'p:' .. ARGV[i], 'g:' .. ARGV[2])
end
return redis.call('SCARD', KEYS[1])
`;

/**
 * info — KEYS: player hash, queue. ARGV: prefix. nil for an unknown player; otherwise
 * trims expired messages and returns {online, node, session, seq, cur, last, queued, expired}.
 */
const INFO = `${LIB}
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local qb, expired = trim(KEYS[1], KEYS[2], nowMs())
redis.call('HSET', KEYS[1], 'qb', qb)
local h = redis.call('HMGET', KEYS[1], 'node', 'inst', 'sess', 'seq', 'cur', 'last')
local online = 0
if alive(ARGV[1], h[1], h[2]) then online = 1 end
return {online, h[1] or '', h[3] or '', h[4] or '0', h[5] or '0', h[6] or '0', redis.call('LLEN', KEYS[2]), expired}
`;

const SCRIPTS: Record<string, { numberOfKeys?: number; lua: string }> = {
  // Variable keys: the call passes their number first.
  gwPush: { numberOfKeys: 0, lua: PUSH },
  gwDirect: { numberOfKeys: 0, lua: DIRECT },
  gwBind: { numberOfKeys: 3, lua: BIND },
  gwUnbind: { numberOfKeys: 2, lua: UNBIND },
  gwReserve: { numberOfKeys: 1, lua: RESERVE },
  gwRefresh: { numberOfKeys: 2, lua: REFRESH },
  gwRegister: { numberOfKeys: 3, lua: REGISTER },
  gwKick: { numberOfKeys: 1, lua: KICK },
  gwGroupPush: { numberOfKeys: 1, lua: GROUP_PUSH },
  gwJoin: { numberOfKeys: 1, lua: JOIN },
  gwLeave: { numberOfKeys: 1, lua: LEAVE },
  gwMembers: { numberOfKeys: 1, lua: MEMBERS },
  gwInfo: { numberOfKeys: 2, lua: INFO },
} as const;

type Arg = string | number | Buffer;
type Call<R> = (...args: Arg[]) => Promise<R>;
type Reply = string | number | null | Reply[];
type BufferReply = Buffer | number | null | BufferReply[];

/** The scripts as commands on a client (ioredis sends EVALSHA, and EVAL after a NOSCRIPT). */
export interface ScriptCommands {
  gwPush: Call<Array<string | number>>;
  gwDirect: Call<number>;
  gwBindBuffer: Call<[number, Buffer, Buffer, number, Buffer[]]>;
  gwUnbind: Call<number>;
  gwReserve: Call<[string, string] | null>;
  gwRefresh: Call<number>;
  gwRegisterBuffer: Call<BufferReply[]>;
  gwKick: Call<number>;
  gwGroupPush: Call<string[]>;
  gwJoin: Call<number>;
  gwLeave: Call<number>;
  gwMembers: Call<string[]>;
  gwInfo: Call<Reply[] | null>;
}

/** Defines every script on `client` and returns it typed with them. */
export function defineScripts(client: Redis): Redis & ScriptCommands {
  for (const [name, def] of Object.entries(SCRIPTS)) client.defineCommand(name, def);
  return client as Redis & ScriptCommands;
}
