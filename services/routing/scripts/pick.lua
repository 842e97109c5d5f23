-- Picks the assignee for one lead, atomically, and remembers the decision.
--
-- KEYS[1] cursors   HASH  pool -> last assigned user id
-- KEYS[2] decision  STRING  the assignee chosen for this lead and attempt (TTL)
-- KEYS[3] gen       STRING  generation marker; missing means the state was lost
-- KEYS[4] owners    HASH  lead id -> "version|owner" ("" owner: not counted)
-- KEYS[5] load      HASH  user id -> open leads
-- KEYS[6] touched   HASH  lead id -> the reconcile epoch it was last written in
-- KEYS[7] epoch     STRING  the current reconcile epoch (missing: 0)
-- KEYS[8] weights   HASH  pool .. "\n" .. user id -> smooth-weighted current weight
-- KEYS[9] settings  STRING  the newest settings version published
-- KEYS[10] daily    HASH  user id .. "\n" .. local day -> leads routed to them that day
-- ARGV[1] pool key, ARGV[2] strategy ("rr" | "balanced"), ARGV[3] lead id,
-- ARGV[4] decision TTL (seconds), ARGV[5] a fresh generation id,
-- ARGV[6] the eligible reps' weights, comma-separated in their order ("":
-- an unweighted pool), ARGV[7] the settings version the pool was planned
-- with, ARGV[8] the eligible reps' caps in their order, `open,per_day,day`
-- separated by ';' ("": nobody capped; 0 is unlimited; day is the rep's
-- local YYYY-MM-DD), ARGV[9..] the eligible user ids, ascending (the
-- rotation order).
--
-- A rep at a cap (open leads from KEYS[5], today's routed leads from
-- KEYS[10]) is passed over as if absent: their cursor place and current
-- weight stay. With everyone capped nothing changes and the lead is held.
--
-- A pick planned with settings older than the newest published is refused
-- (newer_settings = 1, nothing changed): the caller reloads and plans again.
--
-- The choice is crate::domain::decision::choose_in, in Lua: plain round
-- robin from the cursor; smooth weighted round robin (nginx) over the
-- current weights, where only the eligible reps' weights change (a skipped
-- rep's stays frozen, a new rep starts at 0); balancing by open leads, per
-- unit of weight when weighted (compared by cross-multiplying).
--
-- A remembered decision is replayed only while its assignee is still in the
-- pool: one who was deactivated, went away or lost a sales role since gets
-- no lead late; the lead is decided again and the earlier provisional count
-- is released.
--
-- Returns {assignee, replayed (0|1), generation, state_reset (0|1),
-- newer_settings (0|1), capped}: capped lists "user\tO\topen\tmax" (at the
-- open-lead cap) or "user\tD\ttoday\tmax" (at the daily cap) entries; an
-- empty assignee with newer_settings 0 means everyone was capped.
-- All keys share the organisation's hash tag, so this runs on Redis Cluster.

local FIRST = 9
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
      return {stored, 1, gen, reset, 0, {}}
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

if tonumber(redis.call('GET', KEYS[9]) or '0') > tonumber(ARGV[7]) then
  return {'', 0, gen, reset, 1, {}}
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

local weights = nil
if ARGV[6] ~= '' then
  weights = {}
  for w in string.gmatch(ARGV[6], '%d+') do
    weights[#weights + 1] = tonumber(w)
  end
end

-- The values of `hash` for the eligible ids (field = prefix .. id), in order.
local function values(hash, prefix)
  local out = {}
  for from = FIRST, #ARGV, SLICE do
    local to = math.min(from + SLICE - 1, #ARGV)
    local fields = {}
    for i = from, to do fields[#fields + 1] = prefix .. ARGV[i] end
    local part = redis.call('HMGET', hash, unpack(fields))
    for j = 1, #part do
      out[#out + 1] = tonumber(part[j]) or 0
    end
  end
  return out
end

-- Caps: who is under theirs. ok[i] for the i-th eligible rep (1-based).
local ok, capped, days = {}, {}, nil
for i = 1, n do ok[i] = true end
if ARGV[8] ~= '' then
  days = {}
  local caps = {}
  for entry in string.gmatch(ARGV[8], '[^;]+') do
    local open, per_day, day = string.match(entry, '^(%d+),(%d+),(.+)$')
    caps[#caps + 1] = {tonumber(open), tonumber(per_day)}
    days[#days + 1] = day
  end
  local open_counts = values(KEYS[5], '')
  local today = {}
  for from = 1, n, SLICE do
    local fields = {}
    for i = from, math.min(from + SLICE - 1, n) do
      fields[#fields + 1] = ARGV[FIRST + i - 1] .. '\n' .. days[i]
    end
    local part = redis.call('HMGET', KEYS[10], unpack(fields))
    for j = 1, #part do today[#today + 1] = tonumber(part[j]) or 0 end
  end
  for i = 1, n do
    local id = ARGV[FIRST + i - 1]
    if caps[i][1] > 0 and open_counts[i] >= caps[i][1] then
      ok[i] = false
      capped[#capped + 1] = id .. '\tO\t' .. open_counts[i] .. '\t' .. caps[i][1]
    elseif caps[i][2] > 0 and today[i] >= caps[i][2] then
      ok[i] = false
      capped[#capped + 1] = id .. '\tD\t' .. today[i] .. '\t' .. caps[i][2]
    end
  end
end

local pick, best
if strategy == 'rr' and weights == nil then
  -- The first rep under their caps at or after the cursor's successor.
  for k = 0, n - 1 do
    local i = ((start - FIRST + k) % n) + 1
    if ok[i] then best = i break end
  end
elseif strategy == 'rr' then
  local prefix = pool .. '\n'
  local current = values(KEYS[8], prefix)
  local total = 0
  for i = 1, n do
    if ok[i] then
      total = total + weights[i]
      current[i] = current[i] + weights[i]
      if best == nil or current[i] > current[best] then best = i end
    end
  end
  if best ~= nil then
    current[best] = current[best] - total
    for from = 1, n, SLICE do
      local args = {}
      for i = from, math.min(from + SLICE - 1, n) do
        if ok[i] then
          args[#args + 1] = prefix .. ARGV[FIRST + i - 1]
          args[#args + 1] = current[i]
        end
      end
      if #args > 0 then redis.call('HSET', KEYS[8], unpack(args)) end
    end
  end
else
  local counts = values(KEYS[5], '')
  for k = 0, n - 1 do
    local i = ((start - FIRST + k) % n) + 1
    if ok[i] then
      if best == nil then
        best = i
      else
        local wi = weights and weights[i] or 1
        local wb = weights and weights[best] or 1
        if counts[i] * wb < counts[best] * wi then best = i end
      end
    end
  end
end
if best == nil then
  return {'', 0, gen, reset, 0, capped}
end
pick = ARGV[FIRST + best - 1]
if days ~= nil then
  redis.call('HINCRBY', KEYS[10], pick .. '\n' .. days[best], 1)
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
return {pick, 0, gen, reset, 0, capped}
