-- casmany.lua: check, write and delete several scopes' records, all or none,
-- in one round trip.
--
-- KEYS[i]  the hash of scope i (see load.lua); distinct keys, in one hash
--          slot on Redis Cluster
-- ARGV     seven arguments per key, key i's from ARGV[7*(i-1)+1]:
--   +1  the action: 'c' check (change nothing), 's' set, 'd' delete
--   +2  the expected version, decimal; '0': the scope has no record
--   +3  the expected writer token; '' with version '0'
--   +4  the new version, decimal: the expected one plus one ('s' only)
--   +5  the new writer token ('s' only)
--   +6  the msgpack value ('s' only)
--   +7  the new expiry time in milliseconds since the epoch, decimal; '' or
--       '0': the record never expires ('s' only)
--
-- Every key is checked first, as cas.lua checks its one: a record matches
-- if and only if its version and writer are the expected ones, a missing
-- one only {'0', ''}. If every key matches, every set is written as cas.lua
-- writes (HSET, and PEXPIREAT or HDEL e + PERSIST), every delete removes its
-- key (DEL), and checks change nothing; else nothing is written. Versions
-- are compared as strings and never computed here.
--
-- Returns
--   {1, checked...}    written: for each 'c' key, in order, its record as
--                      four strings {version, writer, value, expiry} (as
--                      load.lua); nothing for the other keys
--   {0, records...}    nothing written: every key's current record, in
--                      order, four strings each ({'', '', '', ''} for none)
--   {-1, what, i}      nothing written: key i holds something these scripts
--                      did not write ('WRONGTYPE' or 'NOVERSION', as
--                      load.lua)
-- No nil holes. The writes come last, and only the first of them can be
-- refused (see cas.lua): an error raised before them or by the first
-- leaves every key as it was.
local ok = true
local cur = {}
for i = 1, #KEYS do
  local a = 7 * (i - 1)
  local r = redis.pcall('HMGET', KEYS[i], 'n', 'w', 'e')
  if r.err then
    if string.sub(r.err, 1, 9) == 'WRONGTYPE' then return {-1, 'WRONGTYPE', i} end
    return r
  end
  local n = r[1]
  if n then
    if n ~= ARGV[a + 2] or r[2] ~= ARGV[a + 3] or ARGV[a + 3] == '' then ok = false end
  elseif redis.call('EXISTS', KEYS[i]) == 1 then
    return {-1, 'NOVERSION', i}
  elseif ARGV[a + 2] ~= '0' or ARGV[a + 3] ~= '' then
    ok = false
  end
  cur[i] = r
end
if not ok then
  local out = {0}
  for i = 1, #KEYS do
    local r = cur[i]
    if r[1] then
      table.insert(out, r[1])
      table.insert(out, r[2] or '')
      table.insert(out, redis.call('HGET', KEYS[i], 'v') or '')
      table.insert(out, r[3] or '')
    else
      table.insert(out, '')
      table.insert(out, '')
      table.insert(out, '')
      table.insert(out, '')
    end
  end
  return out
end
local out = {1}
for i = 1, #KEYS do
  local a = 7 * (i - 1)
  if ARGV[a + 1] == 'c' then
    local r = cur[i]
    table.insert(out, r[1] or '')
    table.insert(out, r[2] or '')
    table.insert(out, r[1] and redis.call('HGET', KEYS[i], 'v') or '')
    table.insert(out, r[3] or '')
  end
end
for i = 1, #KEYS do
  local a = 7 * (i - 1)
  local act = ARGV[a + 1]
  if act == 'd' then
    if cur[i][1] then redis.call('DEL', KEYS[i]) end
  elseif act == 's' then
    if ARGV[a + 7] ~= '' and ARGV[a + 7] ~= '0' then
      redis.call('HSET', KEYS[i], 'n', ARGV[a + 4], 'w', ARGV[a + 5], 'v', ARGV[a + 6], 'e', ARGV[a + 7])
      redis.call('PEXPIREAT', KEYS[i], ARGV[a + 7])
    else
      redis.call('HSET', KEYS[i], 'n', ARGV[a + 4], 'w', ARGV[a + 5], 'v', ARGV[a + 6])
      if cur[i][3] then
        redis.call('HDEL', KEYS[i], 'e')
        redis.call('PERSIST', KEYS[i])
      end
    end
  end
end
return out
