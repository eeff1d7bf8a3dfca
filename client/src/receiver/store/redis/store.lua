-- The Redis side of captchaai-client's ResultStore: one script, so that every operation is
-- one atomic step whatever the number of replicas. The key layout is documented in
-- `redis/mod.rs`; the rules are those of the in-memory store (`store/mod.rs`).
--
-- KEYS  1 the task's hash   2 `all`   3 `orphans`   4 `waited`   5 `seq`   6 `counts`
-- ARGV  1 operation   2 key prefix   3 ttl (ms)   4 capacity   5 task id   6.. the operation's
--
-- Every operation answers {value, code, source, evicted}: `evicted` lists the entries it
-- evicted for capacity as {id, had_result (0/1), ...}.

local task, all, orphans, waited, seq, counts =
    KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local op, prefix, ttl, capacity, id =
    ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
-- Times as integer strings, formatted once: Redis would format each Lua number it is given
-- as a double (`%.17g`), which costs more than the command itself.
local expiry = string.format('%d', now + ttl)
local before_now = '(' .. string.format('%d', now)

-- A new member for an entry: `<change serial, 16 hex digits>:<id>`. Members of `all` and
-- `orphans` are scored by the entry's expiry, so that entries expiring in the same
-- millisecond leave in change order.
local function member_for(entry_id)
  return string.format('%016x', redis.call('INCR', seq)) .. ':' .. entry_id
end

-- A new entry for the task, with these fields: at the end of the eviction order, expiring
-- ttl from now. Returns its member.
local function create(...)
  local member = member_for(id)
  redis.call('HSET', task, 'm', member, ...)
  redis.call('PEXPIREAT', task, expiry)
  redis.call('ZADD', all, expiry, member)
  return member
end

-- A change of an existing entry: it expires ttl from now and moves to the end of the order.
local function renew(key, entry_id)
  local old = redis.call('HGET', key, 'm')
  if old then
    redis.call('ZREM', all, old)
  end
  local member = member_for(entry_id)
  redis.call('HSET', key, 'm', member)
  redis.call('PEXPIREAT', key, expiry)
  redis.call('ZADD', all, expiry, member)
  return member
end

-- Entries Redis expired leave the indexes; an awaited entry whose last deadline passed (its
-- waiters gave up, or their replica went away) rejoins the eviction order. `waiting` is the
-- size of `waited` when the caller knows it (nothing to look up when it is 0). True when
-- anything changed.
local function trim(waiting)
  local changed = redis.call('ZREMRANGEBYSCORE', all, '-inf', before_now) > 0
  redis.call('ZREMRANGEBYSCORE', orphans, '-inf', before_now)
  if waiting == 0 then
    return changed
  end
  local due = redis.call('ZRANGEBYSCORE', waited, '-inf', before_now, 'LIMIT', 0, 64)
  for _, due_id in ipairs(due) do
    changed = true
    redis.call('ZREM', waited, due_id)
    local key = prefix .. 't:' .. due_id
    if redis.call('EXISTS', key) == 1 then
      redis.call('HDEL', key, 'w')
      renew(key, due_id)
    end
  end
  return changed
end

-- How many entries there are: those nobody waits on, and the awaited ones (the second
-- value). Until a trim, entries Redis expired still count: an operation that finds the
-- store full trims first.
local function count()
  local waiting = redis.call('ZCARD', waited)
  return redis.call('ZCARD', all) + waiting, waiting
end

-- Makes room for one more entry: the oldest result nobody registered goes first, then the
-- entry that expires first among those nobody waits on. Awaited entries are in neither
-- index, so they are never evicted.
local function make_room(evicted)
  local entries, waiting = count()
  if entries < capacity then
    return
  end
  if trim(waiting) then
    entries = count()
  end
  while entries >= capacity do
    local victim = redis.call('ZPOPMIN', orphans)[1]
    if victim then
      redis.call('ZREM', all, victim)
    else
      victim = redis.call('ZPOPMIN', all)[1]
      if not victim then
        break
      end
      redis.call('ZREM', orphans, victim)
    end
    local victim_id = string.sub(victim, 18)
    local key = prefix .. 't:' .. victim_id
    -- HEXISTS answers 0 for a key Redis already expired; DEL says whether there was one.
    local had_result = redis.call('HEXISTS', key, 'c')
    if redis.call('DEL', key) == 1 then
      table.insert(evicted, victim_id)
      table.insert(evicted, had_result)
    end
    entries = entries - 1
  end
end

-- Registers the id; 1 when it was not registered before.
local function register(evicted)
  if redis.call('EXISTS', task) == 1 then
    if redis.call('HSETNX', task, 'r', '1') == 0 then
      return 0
    end
    local member = redis.call('HGET', task, 'm')
    if member then
      redis.call('ZREM', orphans, member)
    end
    return 1
  end
  make_room(evicted)
  create('r', '1')
  return 1
end

local evicted = {}

if op == 'register' then
  return {register(evicted), false, false, evicted}

elseif op == 'record' then
  -- ARGV 6 code, 7 source, 8 registered-only ('1' or '0')
  local code, source = ARGV[6], ARGV[7]
  local kept = redis.call('HMGET', task, 'c', 's', 'r')
  local registered = kept[3] ~= false
  if ARGV[8] == '1' and not registered then
    return {'unregistered', false, false, evicted}
  end
  if kept[1] then
    if kept[1] == code then
      redis.call('HINCRBY', counts, 'duplicates', 1)
      return {'duplicate', kept[1], kept[2], evicted}
    end
    redis.call('HINCRBY', counts, 'conflicts', 1)
    return {'conflict', kept[1], kept[2], evicted}
  end
  if registered then
    redis.call('HSET', task, 'c', code, 's', source)
    if redis.call('HDEL', task, 'w') == 1 then
      redis.call('ZREM', waited, id)
    end
    renew(task, id)
  else
    make_room(evicted)
    local member = create('c', code, 's', source)
    redis.call('ZADD', orphans, expiry, member)
  end
  -- Published whether or not the entry is marked awaited: the mark can be gone while a
  -- waiter still listens (Redis restarted without the key, or its clock stepped past the
  -- waiter's deadline), and a publication nobody hears costs little.
  redis.call('PUBLISH', prefix .. 'ch:' .. id, source .. '\n' .. code)
  return {'stored', code, source, evicted}

elseif op == 'wait' then
  -- ARGV 6 how long the waiter waits (ms)
  local newly = register(evicted)
  local kept = redis.call('HMGET', task, 'c', 's')
  if kept[1] then
    return {newly, kept[1], kept[2], evicted}
  end
  local deadline = string.format('%d', now + tonumber(ARGV[6]))
  redis.call('HINCRBY', task, 'w', 1)
  redis.call('ZREM', all, redis.call('HGET', task, 'm'))
  redis.call('ZADD', waited, 'GT', deadline, id)
  redis.call('PEXPIREAT', task, deadline, 'GT')
  return {newly, false, false, evicted}

elseif op == 'unwait' then
  -- A waiter left without a result: the last one to leave puts the entry back in the order.
  if redis.call('EXISTS', task) == 0 or redis.call('HEXISTS', task, 'c') == 1 then
    return {0, false, false, evicted}
  end
  if redis.call('HINCRBY', task, 'w', -1) > 0 then
    return {0, false, false, evicted}
  end
  redis.call('HDEL', task, 'w')
  redis.call('ZREM', waited, id)
  renew(task, id)
  return {1, false, false, evicted}

elseif op == 'len' then
  trim(nil)
  return {count(), false, false, evicted}
end

return redis.error_reply('unknown store operation ' .. tostring(op))
