-- cas.lua: compare-and-set or delete one scope's record in one round trip.
--
-- KEYS[1]  the scope's hash (see load.lua)
-- ARGV[1]  the expected version, decimal; '0': the scope has no record
-- ARGV[2]  the expected writer token; '' with version '0'
-- ARGV[3]  the new version, decimal: the expected one plus one
-- ARGV[4]  the new writer token
-- ARGV[5]  the msgpack value; '' deletes the record: the key is removed, and
--          ARGV[3], ARGV[4] and ARGV[6] are not read
-- ARGV[6]  the new expiry time in milliseconds since the epoch, decimal;
--          '' or '0': the record never expires
-- ARGV[7]  optional; '1': when the record found is this very write's (a copy
--          sent again to learn the outcome of the first, writer ARGV[4]),
--          write its writer field again, unchanged, so that a WAIT sent
--          after the script on the same connection covers that record (WAIT
--          waits for the connection's last write only)
--
-- The record is written if and only if its version and writer are the
-- expected ones: a record that exists never matches writer '', and a missing
-- one matches only {'0', ''}. Versions are compared as strings and never
-- computed here: Lua numbers are doubles and would round versions past 2^53.
--
-- A write with an expiry stores it in field e and sets it on the key with
-- PEXPIREAT: Redis's clock then decides when the key goes. A write without
-- one over a record that had one drops field e and PERSISTs the key (HSET
-- keeps a key's expiry). An expired key is gone to Redis, and so to these
-- scripts: it is a missing record.
--
-- Returns
--   {1}                                  written, or deleted
--   {0, version, writer, value, expiry}  nothing written: the current record
--                                        (as load.lua), {0, '', '', '', ''}
--                                        when there is none
--   {-1, what}                           nothing written: the key holds
--                                        something these scripts did not
--                                        write (see load.lua)
-- A conflict is a normal reply, not an error. The common path reads only the
-- version, writer and expiry, with one command; the value is read for a
-- conflict's reply, EXISTS runs only when the version is missing, HDEL
-- and PERSIST only when an expiry is dropped, and a conflict writes only as
-- ARGV[7] asks (its one write, last). The writes come last, and only
-- the first of them can be refused: the server's state (replica, replicas
-- in sync) does not change while a script runs, and Redis checks OOM before
-- a script's first write only. So an error raised before the writes
-- (MASTERDOWN, say) or by the first (READONLY, OOM) leaves the key as it was.
local cur = redis.pcall('HMGET', KEYS[1], 'n', 'w', 'e')
if cur.err then
  if string.sub(cur.err, 1, 9) == 'WRONGTYPE' then return {-1, 'WRONGTYPE'} end
  return cur
end
local n, w, e = cur[1], cur[2], cur[3]
if n then
  if n ~= ARGV[1] or w ~= ARGV[2] or ARGV[2] == '' then
    if ARGV[7] == '1' and ARGV[5] ~= '' and w == ARGV[4] then
      redis.call('HSET', KEYS[1], 'w', w)
    end
    return {0, n, w or '', redis.call('HGET', KEYS[1], 'v') or '', e or ''}
  end
elseif redis.call('EXISTS', KEYS[1]) == 1 then
  return {-1, 'NOVERSION'}
elseif ARGV[1] ~= '0' or ARGV[2] ~= '' then
  return {0, '', '', '', ''}
end
if ARGV[5] == '' then
  if n then redis.call('DEL', KEYS[1]) end
elseif ARGV[6] ~= '' and ARGV[6] ~= '0' then
  redis.call('HSET', KEYS[1], 'n', ARGV[3], 'w', ARGV[4], 'v', ARGV[5], 'e', ARGV[6])
  redis.call('PEXPIREAT', KEYS[1], ARGV[6])
else
  redis.call('HSET', KEYS[1], 'n', ARGV[3], 'w', ARGV[4], 'v', ARGV[5])
  if e then
    redis.call('HDEL', KEYS[1], 'e')
    redis.call('PERSIST', KEYS[1])
  end
end
return {1}
