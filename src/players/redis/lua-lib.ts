/** Lua helpers every script of the Redis engine starts with (redis-scripts.ts, push-scripts.ts). */

export const LIB = `
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
