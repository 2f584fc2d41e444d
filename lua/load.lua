-- load.lua: read one scope's record in one round trip.
--
-- KEYS[1]  the scope's hash: field n = version (decimal string),
--          w = writer token, v = msgpack value (absent after a delete).
--
-- Returns {version, writer, value}: version '0' and writer '' for a scope
-- never written, value '' for a scope with no value. No nil holes: an array
-- reply stops at the first nil.
local r = redis.call('HMGET', KEYS[1], 'n', 'w', 'v')
return {r[1] or '0', r[2] or '', r[3] or ''}
