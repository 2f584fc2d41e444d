-- cas.lua: compare-and-set or delete one scope's record in one round trip.
--
-- KEYS[1]  the scope's hash (see load.lua)
-- ARGV[1]  the expected version, decimal; '0': the scope has no record
-- ARGV[2]  the expected writer token; '' with version '0'
-- ARGV[3]  the new version, decimal: the expected one plus one
-- ARGV[4]  the new writer token
-- ARGV[5]  the msgpack value; '' deletes the record: the key is removed, and
--          ARGV[3] and ARGV[4] are not read
--
-- The record is written if and only if its version and writer are the
-- expected ones: a record that exists never matches writer '', and a missing
-- one matches only {'0', ''}. Versions are compared as strings and never
-- computed here: Lua numbers are doubles and would round versions past 2^53.
--
-- Returns
--   {1}                          written, or deleted
--   {0, version, writer, value}  nothing written: the current record (as
--                                load.lua), {0, '', '', ''} when there is none
--   {-1, what}                   nothing written: the key holds something
--                                these scripts did not write (see load.lua)
-- A conflict is a normal reply, not an error. The common path reads only the
-- version and writer; the value is read for a conflict's reply, and EXISTS
-- runs only when the version is missing. The one write comes last, so an
-- error raised before it (MASTERDOWN, say) or by it (READONLY, OOM) leaves
-- the key as it was.
local cur = redis.pcall('HMGET', KEYS[1], 'n', 'w')
if cur.err then
  if string.sub(cur.err, 1, 9) == 'WRONGTYPE' then return {-1, 'WRONGTYPE'} end
  return cur
end
local n, w = cur[1], cur[2]
if n then
  if n ~= ARGV[1] or w ~= ARGV[2] or ARGV[2] == '' then
    return {0, n, w or '', redis.call('HGET', KEYS[1], 'v') or ''}
  end
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  return {-1, 'NOVERSION'}
elseif ARGV[1] ~= '0' or ARGV[2] ~= '' then
  return {0, '', '', ''}
end
if ARGV[5] == '' then
  if n then redis.call('DEL', KEYS[1]) end
else
  redis.call('HSET', KEYS[1], 'n', ARGV[3], 'w', ARGV[4], 'v', ARGV[5])
end
return {1}
