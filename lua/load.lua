-- load.lua: read one scope's record in one round trip.
--
-- KEYS[1]  the scope's hash: field n = version (decimal string, 1 or more),
--          w = writer token, v = msgpack value, e = expiry time in
--          milliseconds since the epoch (decimal; absent: never). A record
--          with field e also has it as the key's expiry (PEXPIREAT), so
--          Redis removes the key itself when it passes.
-- ARGV[1]  optional: a writer token. When the record's writer is this one,
--          its writer field is written again, unchanged (the script's one
--          write, last), so that a WAIT sent after the script on the same
--          connection covers the record (WAIT waits for the connection's
--          last write only). Without it the script writes nothing.
--
-- Returns
--   {version, writer, value, expiry}  the record; expiry '' if it never
--                                     expires; {'', '', '', ''} when there
--                                     is none
--   {-1, what}                the key holds something these scripts did not
--                             write: 'WRONGTYPE' (not a hash) or 'NOVERSION'
--                             (a hash without field n)
-- No nil holes: an array reply stops at the first nil. Any other error of
-- the read (MASTERDOWN, say) is the script's error.
local r = redis.pcall('HMGET', KEYS[1], 'n', 'w', 'v', 'e')
if r.err then
  if string.sub(r.err, 1, 9) == 'WRONGTYPE' then return {-1, 'WRONGTYPE'} end
  return r
end
if r[1] then
  if ARGV[1] and ARGV[1] ~= '' and r[2] == ARGV[1] then
    redis.call('HSET', KEYS[1], 'w', r[2])
  end
  return {r[1], r[2] or '', r[3] or '', r[4] or ''}
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1, 'NOVERSION'} end
return {'', '', '', ''}
