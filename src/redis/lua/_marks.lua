-- Delivered marks, sharded: the start of every script that says `-- uses _marks.lua` (client.ts).
-- One destination's marks of one UTC day live under the day's base name B = <D>:e:<day> (KEYS,
-- newest first, where <D> is the destination's hash-tagged key prefix):
--   B            the bucket written by versions before sharding, event id → mark: read, never added to;
--   B:<k>:<j>    shard j of generation k: mark field (a 12-byte digest of the event id) → mark;
--   <D>:e:days   the index of the window's days, one hash for all of them: <day> → the day's
--                generations "<shards>:<marks>,…" and <day>:L → whether B exists ('1'/'0', kept
--                for days before yesterday: only a version before sharding writes B, and only
--                for its today).
-- A mark is "<state><attempt>": d = delivered, its attempt record not yet confirmed; D = delivered.
-- A generation's shard count is fixed when it begins: the first one of a day is sized for what
-- the day before wrote (16 shards at least), and a new one (four times as many shards) begins
-- once the current one holds PER_SHARD marks per shard. So shards stay small hashes, which Redis
-- keeps listpack-encoded (hash-max-listpack-entries, 512 by default): about 21 bytes a mark
-- instead of about 80 in one large hash per day. Every call reads the one index (not a key per
-- day), and looks in one shard per generation of each day. Shard and index keys are derived
-- here, not passed in: they carry the destination's hash tag, so on a Redis Cluster they are in
-- the slot of the keys passed.
local PER_SHARD = 64
-- The fewest shards a day starts with: a day with no history grows fewer generations (each one
-- more lookup for an event not delivered yet) before it fits; a quiet day pays a few keys.
local FIRST_SHARDS = 16
local indexKey = nil
local index = nil
local layouts = {}

local function loadIndex(base)
  if index then return end
  indexKey = string.match(base, '^(.*):e:%d+$') .. ':e:days'
  index = {}
  local raw = redis.call('HGETALL', indexKey)
  for i = 1, #raw, 2 do index[raw[i]] = raw[i + 1] end
end

-- The layout of day `base`; `recent` (today, yesterday): whether B exists is looked at every time.
local function layout(base, recent)
  local l = layouts[base]
  if l then return l end
  loadIndex(base)
  local day = string.match(base, ':e:(%d+)$')
  l = { day = day, g = 0, s = {}, c = {}, p = {}, dirty = false }
  for shards, marks in string.gmatch(index[day] or '', '(%d+):(%d+)') do
    local k = l.g + 1
    l.g, l.s[k], l.c[k], l.p[k] = k, tonumber(shards), tonumber(marks), base .. ':' .. k .. ':'
  end
  local known = index[day .. ':L']
  if known and not recent then
    l.legacy = known == '1'
  else
    l.legacy = redis.call('EXISTS', base) == 1
    if not recent then l.learned = true end
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

-- Every place a mark can be in the days of `bases`, newest first, worked out once per call (and
-- again after a generation began): each generation's shard prefix and count, each old bucket.
local places = nil

local function placesOf(bases)
  if places then return places end
  places = {}
  for b, base in ipairs(bases) do
    local l = layout(base, b <= 2)
    for k = l.g, 1, -1 do places[#places + 1] = { l.p[k], l.s[k] } end
    if l.legacy then places[#places + 1] = { base, 0 } end
  end
  return places
end

-- Where an event's mark is in the days of `bases` (newest first): key, hash field and mark.
local function findMark(bases, id, field)
  local h = hashOf(field)
  for _, place in ipairs(placesOf(bases)) do
    local shards = place[2]
    if shards > 0 then
      local key = place[1] .. (h % shards)
      local v = redis.call('HGET', key, field)
      if v then return key, field, v end
    else
      local v = redis.call('HGET', place[1], id)
      if v then return place[1], id, v end
    end
  end
  return nil, nil, nil
end

-- Adds a new mark to day `base` (today), sized from `previous` (yesterday's base, or nil).
local function addMark(base, previous, field, mark, expiresAt)
  local l = layout(base, true)
  if l.g == 0 then
    local shards, before = FIRST_SHARDS, 0
    if previous then
      local p = layout(previous, true)
      for k = 1, p.g do before = before + p.c[k] end
    end
    while shards * PER_SHARD < before * 1.25 do shards = shards * 2 end
    l.g, l.s[1], l.c[1], l.p[1] = 1, shards, 0, base .. ':1:'
    l.started = true
    places = nil
  elseif l.c[l.g] >= l.s[l.g] * PER_SHARD then
    local k = l.g + 1
    l.g, l.s[k], l.c[k], l.p[k] = k, l.s[k - 1] * 4, 0, base .. ':' .. k .. ':'
    places = nil
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

-- Writes what this call changed into the index (the layouts marks were added to, and what it
-- learned of older days' buckets), once per call; a day that began drops the days past `bases`.
local function saveLayouts(bases, expiresAt)
  if not index then return end
  local changed = false
  for _, l in pairs(layouts) do
    if l.dirty then
      local parts = {}
      for k = 1, l.g do parts[k] = l.s[k] .. ':' .. l.c[k] end
      redis.call('HSET', indexKey, l.day, table.concat(parts, ','))
      changed = true
    end
    if l.learned then
      redis.call('HSET', indexKey, l.day .. ':L', l.legacy and '1' or '0')
      changed = true
    end
    if l.started then
      local keep = {}
      for _, base in ipairs(bases) do keep[string.match(base, ':e:(%d+)$')] = true end
      for name in pairs(index) do
        if not keep[string.match(name, '^(%d+)')] then redis.call('HDEL', indexKey, name) end
      end
    end
  end
  if changed then redis.call('PEXPIREAT', indexKey, expiresAt) end
end
