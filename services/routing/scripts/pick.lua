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
--
-- ARGV[1] pool key, ARGV[2] strategy ("rr" | "balanced"), ARGV[3] lead id,
-- ARGV[4] decision TTL (seconds), ARGV[5] a fresh generation id, ARGV[6] n,
-- the number of eligible reps, ARGV[7] the settings version the pool was
-- planned with, ARGV[8] which sections follow the ids ("", "w", "c", "wc"),
-- then n values per section, each in the ids' order:
--   ids            the eligible user ids, ascending (the rotation order);
--   w: weights     each rep's weight (1..100);
--      fields      each rep's field in KEYS[8] (pool "\n" user);
--   c: open caps   the most open leads each may own (0: no cap);
--      day caps    the most routed leads each may get per local day (0: none);
--      fields      each rep's field in KEYS[10] (user "\n" their local day).
-- The caller spells out the fields so that the script does no string
-- building on the hot path: HMGET reads ARGV slices as they are.
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
local n = tonumber(ARGV[6])
local LAST = FIRST + n - 1
local weighted = string.find(ARGV[8], 'w', 1, true) ~= nil
local capped_mode = string.find(ARGV[8], 'c', 1, true) ~= nil
-- Where each section starts (see the header).
local W = LAST + 1
local WF = weighted and W + n or W
local OC = weighted and W + 2 * n or W
local DC, DF = OC + n, OC + 2 * n

local stored = redis.call('GET', KEYS[2])
if stored then
  for i = FIRST, LAST do
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

local swrr = strategy == 'rr' and weighted

-- The first eligible id after the cursor, wrapping to the start (smooth
-- weighted round robin does not start from the cursor).
local start = FIRST
local cursor = not swrr and redis.call('HGET', KEYS[1], pool)
if cursor then
  for i = FIRST, LAST do
    if less(cursor, ARGV[i]) then
      start = i
      break
    end
  end
end

-- HMGET of ARGV[from .. from + n - 1] (strings or false).
local function values(hash, from)
  if n <= SLICE then
    return redis.call('HMGET', hash, unpack(ARGV, from, from + n - 1))
  end
  local out = {}
  for a = from, from + n - 1, SLICE do
    local part = redis.call('HMGET', hash, unpack(ARGV, a, math.min(a + SLICE - 1, from + n - 1)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end

-- Caps: ok[i] says whether the i-th eligible rep (1-based) is under theirs.
-- Every rep is checked (not only until a pick), so the decision names each
-- one a cap passed over. One loop, since each Lua step counts here.
local ok, capped = {}, {}
local counts
if capped_mode or strategy ~= 'rr' then counts = values(KEYS[5], FIRST) end
if capped_mode then
  local today = values(KEYS[10], DF)
  for i = 1, n do
    local max_open, max_day = tonumber(ARGV[OC + i - 1]), tonumber(ARGV[DC + i - 1])
    local open, day = tonumber(counts[i]) or 0, tonumber(today[i]) or 0
    if max_open > 0 and open >= max_open then
      ok[i] = false
      capped[#capped + 1] = ARGV[FIRST + i - 1] .. '\tO\t' .. open .. '\t' .. max_open
    elseif max_day > 0 and day >= max_day then
      ok[i] = false
      capped[#capped + 1] = ARGV[FIRST + i - 1] .. '\tD\t' .. day .. '\t' .. max_day
    else
      ok[i] = true
    end
  end
else
  for i = 1, n do ok[i] = true end
end

local best
if strategy == 'rr' and not weighted then
  -- The first rep under their caps at or after the cursor's successor.
  for k = 0, n - 1 do
    local i = ((start - FIRST + k) % n) + 1
    if ok[i] then best = i break end
  end
elseif swrr then
  -- Every rep under their caps gains their weight; the highest current
  -- weight (first on a tie) wins and pays the total. The HSET arguments are
  -- built as we go, the winner's value fixed after.
  local current = values(KEYS[8], WF)
  local total, best_weight, args, at = 0, nil, {}, {}
  for i = 1, n do
    if ok[i] then
      local w = tonumber(ARGV[W + i - 1])
      local c = (tonumber(current[i]) or 0) + w
      total = total + w
      if best == nil or c > best_weight then best, best_weight = i, c end
      args[#args + 1] = ARGV[WF + i - 1]
      args[#args + 1] = c
      at[i] = #args
    end
  end
  if best ~= nil then
    args[at[best]] = best_weight - total
    for from = 1, #args, 2 * SLICE do
      redis.call('HSET', KEYS[8], unpack(args, from, math.min(from + 2 * SLICE - 1, #args)))
    end
  end
else
  -- Fewest open leads (per unit of weight), first from the cursor on a tie.
  for k = 0, n - 1 do
    local i = ((start - FIRST + k) % n) + 1
    if ok[i] then
      if best == nil then
        best = i
      else
        local wi = weighted and tonumber(ARGV[W + i - 1]) or 1
        local wb = weighted and tonumber(ARGV[W + best - 1]) or 1
        if (tonumber(counts[i]) or 0) * wb < (tonumber(counts[best]) or 0) * wi then best = i end
      end
    end
  end
end
if best == nil then
  return {'', 0, gen, reset, 0, capped}
end
local pick = ARGV[FIRST + best - 1]
if capped_mode then
  redis.call('HINCRBY', KEYS[10], ARGV[DF + best - 1], 1)
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
