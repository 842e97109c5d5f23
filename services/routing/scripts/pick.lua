-- Picks the assignee for one lead, atomically, and remembers the decision.
--
-- KEYS[1] cursors   HASH  pool -> last assigned user id
-- KEYS[2] decision  STRING  the assignee already chosen for this lead (TTL)
-- KEYS[3] gen       STRING  generation marker; missing means the state was lost
-- KEYS[4] owners    HASH  lead id -> "version|owner" ("" owner: not counted)
-- KEYS[5] load      HASH  user id -> open leads
-- ARGV[1] pool key, ARGV[2] strategy ("rr" | "balanced"), ARGV[3] lead id,
-- ARGV[4] decision TTL (seconds), ARGV[5] a fresh generation id,
-- ARGV[6..] the eligible user ids, ascending (the rotation order).
--
-- Returns {assignee, replayed (0|1), generation, state_reset (0|1)}.
-- All keys share the organisation's hash tag, so this runs on Redis Cluster.

local FIRST = 6

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

local stored = redis.call('GET', KEYS[2])
if stored then
  return {stored, 1, gen, reset}
end

local pool, strategy, lead = ARGV[1], ARGV[2], ARGV[3]
local n = #ARGV - FIRST + 1

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
  local counts = redis.call('HMGET', KEYS[5], unpack(ARGV, FIRST))
  local min
  for i = 1, n do
    local c = tonumber(counts[i]) or 0
    if min == nil or c < min then min = c end
  end
  for k = 0, n - 1 do
    local i = ((start - FIRST + k) % n) + FIRST
    if (tonumber(counts[i - FIRST + 1]) or 0) == min then
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
  redis.call('HINCRBY', KEYS[5], pick, 1)
end
redis.call('SET', KEYS[2], pick, 'EX', ARGV[4])
return {pick, 0, gen, reset}
