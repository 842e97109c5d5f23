-- Applies versioned "lead X is owned by Y, open yes/no" facts to the workload.
--
-- KEYS[1] owners  HASH  lead id -> "version|owner" ("" owner: not counted)
-- KEYS[2] load    HASH  user id -> open leads
-- KEYS[3] gen     STRING  generation marker
-- ARGV[1] mode: "apply" (only newer versions count) or "reconcile" (the
--         leads database's truth: the same version also corrects)
-- ARGV[2] a fresh generation id
-- ARGV[3..] groups of four: lead id, owner id ("" = none), open ("1"|"0"), version
--
-- Replaying or reordering facts changes nothing: an entry only moves forward
-- in version, and a count only moves when an entry's counted owner changes.
-- Returns {entries whose counted owner changed, generation, state_reset}.

local gen, reset = redis.call('GET', KEYS[3]), 0
if not gen then
  gen, reset = ARGV[2], 1
  redis.call('SET', KEYS[3], gen)
end

local reconcile = ARGV[1] == 'reconcile'
local changed = 0
for i = 3, #ARGV, 4 do
  local lead, owner, open, version = ARGV[i], ARGV[i + 1], ARGV[i + 2] == '1', tonumber(ARGV[i + 3])
  local current = redis.call('HGET', KEYS[1], lead)
  local cur_version, cur_owner = -1, ''
  if current then
    local sep = string.find(current, '|', 1, true)
    cur_version = tonumber(string.sub(current, 1, sep - 1))
    cur_owner = string.sub(current, sep + 1)
  end
  if version > cur_version or (reconcile and version == cur_version) then
    local new_owner = ''
    if open then new_owner = owner end
    if cur_owner ~= new_owner then
      if cur_owner ~= '' then
        if redis.call('HINCRBY', KEYS[2], cur_owner, -1) <= 0 then
          redis.call('HDEL', KEYS[2], cur_owner)
        end
      end
      if new_owner ~= '' then
        redis.call('HINCRBY', KEYS[2], new_owner, 1)
      end
      changed = changed + 1
    end
    redis.call('HSET', KEYS[1], lead, version .. '|' .. new_owner)
  end
end
return {changed, gen, reset}
