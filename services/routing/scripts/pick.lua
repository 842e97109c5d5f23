-- Picks the assignee for one lead, atomically, and remembers the decision.
--
-- KEYS[1] cursors   HASH  pool -> last assigned user id
-- KEYS[2] decision  STRING  the assignee chosen for this lead and attempt (TTL)
-- KEYS[3] gen       STRING  generation marker; missing means the state was lost
-- KEYS[4] owners    HASH  lead id -> "version|owner" ("" owner: not counted)
-- KEYS[5] load      HASH  user id -> open leads
-- KEYS[6] touched   HASH  lead id -> the reconcile epoch it was last written in
-- KEYS[7] epoch     STRING  the current reconcile epoch (missing: 0)
-- ARGV[1] pool key, ARGV[2] strategy ("rr" | "balanced"), ARGV[3] lead id,
-- ARGV[4] decision TTL (seconds), ARGV[5] a fresh generation id,
-- ARGV[6..] the eligible user ids, ascending (the rotation order).
--
-- A remembered decision is replayed only while its assignee is still in the
-- pool: one who was deactivated, went away or lost a sales role since gets
-- no lead late; the lead is decided again and the earlier provisional count
-- is released.
--
-- Returns {assignee, replayed (0|1), generation, state_reset (0|1)}.
-- All keys share the organisation's hash tag, so this runs on Redis Cluster.

local FIRST = 6
-- HMGET arguments per call: Lua's unpack has a C-stack limit (~8,000).
local SLICE = 1000

-- Byte-wise string order, the same order as Rust's `str` comparison (Lua's
-- own `<` follows the server's locale).
local function less(a, b)
  if a == b then return false end
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local gen, reset = redis.call('GET', KEYS[3]), 0
if not gen then
  gen, reset = ARGV[5], 1
  redis.call('SET', KEYS[3], gen)
end

local pool, strategy, lead = ARGV[1], ARGV[2], ARGV[3]
local n = #ARGV - FIRST + 1

local stored = redis.call('GET', KEYS[2])
if stored then
  for i = FIRST, #ARGV do
    if ARGV[i] == stored then
      return {stored, 1, gen, reset}
    end
  end
  -- No longer eligible: release the provisional count it was given.
  if redis.call('HGET', KEYS[4], lead) == '0|' .. stored then
    redis.call('HDEL', KEYS[4], lead)
    if redis.call('HINCRBY', KEYS[5], stored, -1) <= 0 then
      redis.call('HDEL', KEYS[5], stored)
    end
  end
end

-- The first eligible id after the cursor, wrapping to the start.
local start = FIRST
local cursor = redis.call('HGET', KEYS[1], pool)
if cursor then
  for i = FIRST, #ARGV do
    if less(cursor, ARGV[i]) then
      start = i
      break
    end
  end
end

local pick
if strategy == 'rr' then
  pick = ARGV[start]
else
  local counts = {}
  for from = FIRST, #ARGV, SLICE do
    local to = math.min(from + SLICE - 1, #ARGV)
    local part = redis.call('HMGET', KEYS[5], unpack(ARGV, from, to))
    for j = 1, #part do
      counts[#counts + 1] = tonumber(part[j]) or 0
    end
  end
  local min
  for i = 1, n do
    if min == nil or counts[i] < min then min = counts[i] end
  end
  for k = 0, n - 1 do
    local i = ((start - FIRST + k) % n) + FIRST
    if counts[i - FIRST + 1] == min then
      pick = ARGV[i]
      break
    end
  end
end

redis.call('HSET', KEYS[1], pool, pick)
-- A provisional entry (version 0) counts the lead at once, so simultaneous
-- balanced picks spread out; the later ownership change for the same lead
-- and owner then changes nothing.
if redis.call('HEXISTS', KEYS[4], lead) == 0 then
  redis.call('HSET', KEYS[4], lead, '0|' .. pick)
  redis.call('HSET', KEYS[6], lead, redis.call('GET', KEYS[7]) or '0')
  redis.call('HINCRBY', KEYS[5], pick, 1)
end
redis.call('SET', KEYS[2], pick, 'EX', ARGV[4])
return {pick, 0, gen, reset}
