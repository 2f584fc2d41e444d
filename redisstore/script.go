package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped/lua"
)

// script is one of the Lua scripts, sent by EVALSHA and, when the server
// answers NOSCRIPT, by EVAL.
type script struct {
	src string
	sha string
	// once: the client must never send it a second time by itself. go-redis
	// re-sends a command after some network errors, even one the server has
	// run; a compare-and-set run twice answers the second time with a
	// conflict, and the engine would take its own commit for another's.
	// go-redis also never re-sends a pipeline that holds such a command, so
	// the error of each command of that pipeline is the one of its only
	// attempt.
	once bool
}

func newScript(src string, once bool) *script {
	sum := sha1.Sum([]byte(src))
	return &script{src: src, sha: hex.EncodeToString(sum[:]), once: once}
}

var (
	loadScript    = newScript(lua.Load(), false)
	casScript     = newScript(lua.CAS(), true)
	casManyScript = newScript(lua.CASMany(), true)
)

// command returns the EVALSHA command of a call of s, or EVAL with byBody.
// ctx is the caller's.
func (s *script) command(ctx context.Context, byBody bool, keys []string, args []any) scriptCmd {
	all := make([]any, 0, 3+len(keys)+len(args))
	if byBody {
		all = append(all, "eval", s.src)
	} else {
		all = append(all, "evalsha", s.sha)
	}
	all = append(all, len(keys))
	for _, k := range keys {
		all = append(all, k)
	}
	return scriptCmd{Cmd: redis.NewCmd(ctx, append(all, args...)...), once: s.once}
}

// scriptCmd is a script command, which go-redis may retry unless once.
type scriptCmd struct {
	*redis.Cmd
	once bool
}

// NoRetry tells go-redis whether it must not send the command again.
func (c scriptCmd) NoRetry() bool { return c.once }

// isNoScript reports whether err is the server's NOSCRIPT answer.
func isNoScript(err error) bool { return redis.HasErrorPrefix(err, "NOSCRIPT") }

// argBytes returns the size of a call's keys and arguments, as a pipeline's
// byte bound counts it: the script's name or body is not counted.
func argBytes(keys []string, args []any) int {
	n := 0
	for _, k := range keys {
		n += len(k)
	}
	for _, a := range args {
		switch a := a.(type) {
		case string:
			n += len(a)
		case []byte:
			n += len(a)
		default:
			n += 8 // numbers: never sent by this package; a guess
		}
	}
	return n
}
