-- cas.lua: compare-and-set one scope's record in one round trip.
--
-- KEYS[1]  the scope's hash (see load.lua).
-- ARGV[1]  the expected version, decimal ('0': the scope was never written)
-- ARGV[2]  the new version, decimal: the expected one plus one
-- ARGV[3]  the writer token
-- ARGV[4]  the msgpack value; '' deletes it, keeping version and writer as a
--          tombstone so that versions never repeat
--
-- Versions are compared as strings and never computed here: Lua numbers are
-- doubles and would round versions past 2^53.
--
-- Returns {1} when written, or {0, version, writer, value} with the current
-- record (as load.lua) when the stored version is not the expected one. A
-- conflict is a normal reply, not an error. Only the version is read on the
-- way to a write: the writer and value are read only for a conflict's reply.
local version = redis.call('HGET', KEYS[1], 'n') or '0'
if version ~= ARGV[1] then
  local cur = redis.call('HMGET', KEYS[1], 'w', 'v')
  return {0, version, cur[1] or '', cur[2] or ''}
end
if ARGV[4] == '' then
  redis.call('HSET', KEYS[1], 'n', ARGV[2], 'w', ARGV[3])
  redis.call('HDEL', KEYS[1], 'v')
else
  redis.call('HSET', KEYS[1], 'n', ARGV[2], 'w', ARGV[3], 'v', ARGV[4])
end
return {1}
