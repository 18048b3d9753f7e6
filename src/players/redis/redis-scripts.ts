import type { Redis } from 'ioredis';
import { LIB } from './lua-lib.js';
import { DIRECT, GROUP_PUSH, KICK, PUSH } from './push-scripts.js';

/**
 * The Lua scripts of the Redis engine (the push-routing ones in push-scripts.ts). Each runs atomically in Redis, so a check and the
 * write it guards (an epoch compare and an unbind, a queue bound and the insert, a
 * liveness check and the publish) can never interleave with another node's. Times come
 * from Redis' own clock (TIME), so nodes with skewed clocks agree on expiry.
 *
 * Scripts reach node keys and channels they build from the prefix, so they need one
 * Redis endpoint (docs/cluster.md: Sentinel is not supported), not Redis Cluster.
 */

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
