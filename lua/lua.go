// Package lua holds the Redis scripts of the Redis store, embedded as data.
// They run unchanged on Redis 7 and on miniredis: see each file's header for
// its keys, arguments and reply.
package lua

import _ "embed"

// Load is the source of load.lua: read a scope's version, writer and value.
//
//go:embed load.lua
var Load string

// CAS is the source of cas.lua: write or delete a scope's value if its
// version is the expected one, else return the current record.
//
//go:embed cas.lua
var CAS string
