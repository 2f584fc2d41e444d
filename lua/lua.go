// Package lua holds the Redis scripts of the Redis store, embedded as data.
// They run unchanged on Redis 7 and on miniredis: see each file's header for
// its keys, arguments and reply. The sources are read-only: a program can
// read them, never change what the store sends.
package lua

import _ "embed"

var (
	//go:embed load.lua
	load string

	//go:embed cas.lua
	cas string

	//go:embed casmany.lua
	casMany string
)

// Load returns the source of load.lua: read a scope's version, writer,
// value and expiry time.
func Load() string { return load }

// CAS returns the source of cas.lua: write (with its expiry time, set on the
// key too) or delete a scope's record if its revision (version and writer)
// is the expected one, else return the current record.
func CAS() string { return cas }

// CASMany returns the source of casmany.lua: check, write and delete
// several scopes' records if every one's revision is the expected one, all
// or none, else return the current record of each.
func CASMany() string { return casMany }
