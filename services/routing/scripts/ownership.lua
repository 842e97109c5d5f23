-- Applies versioned "lead X is owned by Y, open yes/no" facts to the workload,
-- and the steps of an authoritative reconcile.
--
-- KEYS[1] owners   HASH  lead id -> "version|owner" ("" owner: not counted)
-- KEYS[2] load     HASH  user id -> open leads
-- KEYS[3] gen      STRING  generation marker
-- KEYS[4] touched  HASH  lead id -> the reconcile epoch it was last written in
-- KEYS[5] epoch    STRING  the current reconcile epoch (missing: 0)
-- ARGV[1] mode:
--   "apply"     only newer versions count (ownership facts as they happen)
--   "reconcile" the leads database's truth: the same version also corrects,
--               and every entry named is marked as confirmed in this epoch
--   "begin"     starts a reconcile: a new epoch (returned as the generation
--               slot's neighbour, see below); no facts
--   "forget"    closed leads routing need not remember: an entry is dropped
--               unless it is newer than the fact (facts as for apply)
--   "sweep"     ARGV[3] an epoch, ARGV[4..] lead ids: each entry not written
--               or confirmed since that epoch is dropped (the leads database
--               did not confirm it: a pick for a lead never stored)
-- ARGV[2] a fresh generation id
-- ARGV[3..] groups of four: lead id, owner id ("" = none), open ("1"|"0"), version
--
-- Replaying or reordering facts changes nothing: an entry only moves forward
-- in version, and a count only moves when an entry's counted owner changes.
-- Returns {entries whose counted owner changed (or dropped), generation,
-- state_reset, epoch}.

local gen, reset = redis.call('GET', KEYS[3]), 0
if not gen then
  gen, reset = ARGV[2], 1
  redis.call('SET', KEYS[3], gen)
end

local mode = ARGV[1]
local epoch = tonumber(redis.call('GET', KEYS[5]) or '0')
if mode == 'begin' then
  epoch = redis.call('INCR', KEYS[5])
  return {0, gen, reset, epoch}
end

local function parse(current)
  if not current then return -1, '' end
  local sep = string.find(current, '|', 1, true)
  return tonumber(string.sub(current, 1, sep - 1)), string.sub(current, sep + 1)
end

local function uncount(owner)
  if owner ~= '' and redis.call('HINCRBY', KEYS[2], owner, -1) <= 0 then
    redis.call('HDEL', KEYS[2], owner)
  end
end

local function drop(lead, owner)
  uncount(owner)
  redis.call('HDEL', KEYS[1], lead)
  redis.call('HDEL', KEYS[4], lead)
end

local changed = 0
if mode == 'sweep' then
  local since = tonumber(ARGV[3])
  for i = 4, #ARGV do
    local lead = ARGV[i]
    local current = redis.call('HGET', KEYS[1], lead)
    if current and (tonumber(redis.call('HGET', KEYS[4], lead) or '-1') < since) then
      local _, owner = parse(current)
      drop(lead, owner)
      changed = changed + 1
    end
  end
  return {changed, gen, reset, epoch}
end

local reconcile = mode == 'reconcile'
for i = 3, #ARGV, 4 do
  local lead, owner, open, version = ARGV[i], ARGV[i + 1], ARGV[i + 2] == '1', tonumber(ARGV[i + 3])
  local current = redis.call('HGET', KEYS[1], lead)
  local cur_version, cur_owner = parse(current)
  if mode == 'forget' then
    if current and cur_version <= version then
      drop(lead, cur_owner)
      if cur_owner ~= '' then changed = changed + 1 end
    end
  else
    if version > cur_version or (reconcile and version == cur_version) then
      local new_owner = ''
      if open then new_owner = owner end
      if cur_owner ~= new_owner then
        uncount(cur_owner)
        if new_owner ~= '' then
          redis.call('HINCRBY', KEYS[2], new_owner, 1)
        end
        changed = changed + 1
      end
      redis.call('HSET', KEYS[1], lead, version .. '|' .. new_owner)
      redis.call('HSET', KEYS[4], lead, epoch)
    elseif reconcile then
      -- Newer here than in the snapshot (a change made while it was read):
      -- still confirmed.
      redis.call('HSET', KEYS[4], lead, epoch)
    end
  end
end
return {changed, gen, reset, epoch}
