-- Delivered marks, sharded: the start of every script that says `-- uses _marks.lua` (client.ts).
-- One destination's marks of one UTC day live under the day's base name B (KEYS, newest first):
--   B          the bucket written by versions before sharding, event id → mark: read, never added to;
--   B:m        the day's layout: g = its generations, s<k> = the shards of generation k, c<k> =
--              the marks written into generation k;
--   B:<k>:<j>  shard j of generation k: mark field (a 12-byte digest of the event id) → mark.
-- A mark is "<state><attempt>": d = delivered, its attempt record not yet confirmed; D = delivered.
-- A generation's shard count is fixed when it begins: the first one of a day is sized for what
-- the day before wrote (16 shards at least), and a new one (four times as many shards) begins once the current one
-- holds PER_SHARD marks per shard. So shards stay small hashes, which Redis keeps listpack-encoded
-- (hash-max-listpack-entries, 512 by default): about 21 bytes a mark instead of about 80 in one
-- large hash per day. A lookup scans its shard: 64 marks cost about 2 µs of Redis (128: 3.8;
-- a hash table 0.8), and 64 keep the same bytes per mark as 128. Shard keys are derived here, not passed in: they carry the destination's hash
-- tag, so on a Redis Cluster they are in the slot of the keys passed.
local PER_SHARD = 64
-- The fewest shards a day starts with: a day with no history grows fewer generations (each one
-- more lookup for an event not delivered yet) before it fits; a quiet day pays a few keys.
local FIRST_SHARDS = 16
local layouts = {}

local function layout(base)
  local l = layouts[base]
  if l then return l end
  local raw = redis.call('HGETALL', base .. ':m')
  local h = {}
  for i = 1, #raw, 2 do h[raw[i]] = tonumber(raw[i + 1]) end
  l = { g = h.g or 0, s = {}, c = {}, p = {}, legacy = redis.call('EXISTS', base) == 1, dirty = false }
  for k = 1, l.g do
    l.s[k] = h['s' .. k] or 1
    l.c[k] = h['c' .. k] or 0
    l.p[k] = base .. ':' .. k .. ':'
  end
  layouts[base] = l
  return l
end

-- A field's shard hash: its first 4 bytes as a number.
local function hashOf(field)
  local a, b, c, d = string.byte(field, 1, 4)
  return ((a * 256 + b) * 256 + c) * 256 + d
end

-- The shard of generation k of a day (layout l) holding a field of hash h.
local function shardKey(l, k, h)
  return l.p[k] .. (h % l.s[k])
end

-- Shard keys whose expiry this call has set already.
local expiring = {}

-- Where an event's mark is in the days of `bases` (newest first): key, hash field and mark.
local function findMark(bases, id, field)
  local h = hashOf(field)
  for _, base in ipairs(bases) do
    local l = layout(base)
    for k = l.g, 1, -1 do
      local key = shardKey(l, k, h)
      local v = redis.call('HGET', key, field)
      if v then return key, field, v end
    end
    if l.legacy then
      local v = redis.call('HGET', base, id)
      if v then return base, id, v end
    end
  end
  return nil, nil, nil
end

-- Adds a new mark to day `base` (today), sized from `previous` (yesterday's base, or nil).
local function addMark(base, previous, field, mark, expiresAt)
  local l = layout(base)
  if l.g == 0 then
    local shards, before = FIRST_SHARDS, 0
    if previous then
      local p = layout(previous)
      for k = 1, p.g do before = before + p.c[k] end
    end
    while shards * PER_SHARD < before * 1.25 do shards = shards * 2 end
    l.g, l.s[1], l.c[1], l.p[1] = 1, shards, 0, base .. ':1:'
    redis.call('HSET', base .. ':m', 'g', 1, 's1', shards)
  elseif l.c[l.g] >= l.s[l.g] * PER_SHARD then
    local k = l.g + 1
    l.g, l.s[k], l.c[k], l.p[k] = k, l.s[k - 1] * 4, 0, base .. ':' .. k .. ':'
    redis.call('HSET', base .. ':m', 'g', k, 's' .. k, l.s[k], 'c' .. (k - 1), l.c[k - 1])
  end
  local key = shardKey(l, l.g, hashOf(field))
  redis.call('HSET', key, field, mark)
  if not expiring[key] then
    redis.call('PEXPIREAT', key, expiresAt)
    expiring[key] = true
  end
  l.c[l.g] = l.c[l.g] + 1
  l.dirty = true
end

-- Writes the counts of the generations marks were added to, once per call.
local function saveLayouts(expiresAt)
  for base, l in pairs(layouts) do
    if l.dirty then
      redis.call('HSET', base .. ':m', 'c' .. l.g, l.c[l.g])
      redis.call('PEXPIREAT', base .. ':m', expiresAt)
    end
  end
end
