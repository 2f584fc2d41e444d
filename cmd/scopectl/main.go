// Command scopectl reads and writes the scopes of a store from a shell:
//
//	scopectl [-store URL] [-timeout 10s] get NAME         print the scope's fields as one JSON object
//	scopectl [-store URL] [-timeout 10s] set NAME JSON    replace the scope's fields with the JSON object's ("-": read it from stdin)
//	scopectl [-store URL] [-timeout 10s] delete NAME      delete the scope (a missing one is no error)
//	scopectl [-store URL] [-timeout 10s] [-0] list [PREFIX]  print the names of the scopes beginning with PREFIX, one a line
//	scopectl [-store URL] [-timeout 10s] ttl NAME         print the time the scope has left to live, or "none"
//	scopectl [-store URL] [-timeout 10s] ttl NAME D|none  make the scope expire D (90s, 30m, 24h) from now, or never
//
// The store is -store, else $SCOPED_STORE: redis://[user:password@]host:port[/db]
// or rediss://... (as go-redis parses them), a MySQL DSN with tcp( or unix(
// (or mysql://DSN), postgres://... or postgresql://..., or file:DIR or DIR, a
// directory (see internal/storeurl). Each command, from opening the store to
// closing it, must end within -timeout.
//
//	scopectl -store redis://127.0.0.1:6379/0 set config '{"limit": 10, "name": "été"}'
//	scopectl -store redis://127.0.0.1:6379/0 get config   # {"limit":10,"name":"été"}
//
// Exit codes:
//
//	0  success
//	1  the scope does not exist (get and ttl only: nothing is printed on stdout)
//	2  usage: bad flags or arguments, no store, a store URL that cannot be parsed,
//	   JSON that is not one object, a number that fits no 64-bit integer or float,
//	   an invalid scope name (see scoped.ValidateName), a value over the size limit
//	3  the store failed, did not answer within -timeout, or holds a value that cannot
//	   be shown; or the outcome of a write is unknown (the message then says
//	   "outcome unknown": the write may or may not have happened)
//
// A usage error writes nothing, and neither does a failure of the store
// unless its message says "outcome unknown". Messages go to stderr, one
// line each, prefixed "scopectl: ".
//
// Values: get shows each field's msgpack value as JSON. Integers print
// exactly, whatever their size (up to 2^64-1); floats always with a fraction
// or an exponent (3.0, 1e+21), and NaN and infinities as the strings "NaN",
// "+Inf", "-Inf"; binary values as base64 strings; timestamps as RFC 3339
// strings; a map key that is not a string as its JSON text (1 as "1", true
// as "true"); an extension value of type N as {"ext": N, "data": base64}.
// Strings that are not valid UTF-8 show U+FFFD for their bad bytes.
//
// set stores what JSON decodes to: a number written without a fraction or
// an exponent as an integer (int64, or uint64 above it), any other number as
// a float64; strings, booleans, null, arrays and objects as they are. It
// replaces the fields in one atomic write: the fields the object does not
// name are deleted. A set of {} empties an existing scope; on a missing one
// it writes nothing, and the scope stays missing. A set keeps the scope's
// expiry.
//
// list prints the names in no particular order, each on a line of its own;
// with -0, each ended by a NUL byte instead (for names that hold a newline,
// as xargs -0 reads them). ttl prints a Go duration (29m59.998s) or "none";
// ttl NAME D renews the scope's time to live to D, and ttl NAME none makes it
// never expire. On Redis the server's clock decides when a scope expires; on
// the other stores, the clock of the process that reads or writes it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/storeurl"
)

// Exit codes; see the package doc.
const (
	exitOK      = 0
	exitMissing = 1
	exitUsage   = 2
	exitStore   = 3
)

// usage is the text of -h.
const usage = `usage: scopectl [-store URL] [-timeout 10s] COMMAND
  get NAME         print the scope's fields as one JSON object
  set NAME JSON    replace the scope's fields with the JSON object's ("-": read it from stdin)
  delete NAME      delete the scope (a missing one is no error)
  list [PREFIX]    print the names of the scopes beginning with PREFIX, one a line, in no order
  ttl NAME         print the time the scope has left to live (29m59.998s), or none
  ttl NAME D|none  make the scope expire D (90s, 30m, 24h) from now, or never

flags:
  -store URL       redis://host:port/db, rediss://..., a MySQL DSN (user@tcp(host:port)/db),
                   postgres://..., file:DIR or DIR ($SCOPED_STORE)
  -timeout D       bound on each command, from opening the store to closing it (10s)
  -0               list: end each name with a NUL byte, not a newline

exit codes:
  0  success
  1  the scope does not exist (get and ttl: nothing on stdout)
  2  usage: bad flags or arguments, bad JSON, an invalid scope name, a value too large
  3  the store failed or did not answer; or "outcome unknown": a write may or may not have happened
`

// errMissing is the error of get on a scope that does not exist.
var errMissing = errors.New("does not exist")

// usageError is an error in the command line or its input.
type usageError struct{ msg string }

// Error is the message, as usagef formatted it.
func (e *usageError) Error() string { return e.msg }

// usagef returns a *usageError.
func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

func main() {
	redis.SetLogger(quiet{}) // its pool's messages would break the one-line rule of stderr
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr))
}

// quiet is a go-redis logger that drops every message: the error the
// command returns says what failed.
type quiet struct{}

// Printf drops the message.
func (quiet) Printf(context.Context, string, ...any) {}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scopectl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	target := fs.String("store", getenv("SCOPED_STORE"), "")
	timeout := fs.Duration("timeout", 10*time.Second, "")
	nul := fs.Bool("0", false, "")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return exitOK
	} else if err != nil {
		return fail(stderr, usagef("%v (scopectl -h for help)", err))
	}
	cmd, err := parseCommand(fs.Args(), stdin)
	if err != nil {
		return fail(stderr, err)
	}
	if *target == "" {
		return fail(stderr, usagef("no store: set -store or $SCOPED_STORE"))
	}
	if *timeout <= 0 {
		return fail(stderr, usagef("-timeout %v: want a positive duration", *timeout))
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	sep := byte('\n')
	if *nul {
		sep = 0
	}
	if err := execute(ctx, *target, cmd, stdout, sep); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

// fail writes err on stderr as one line and returns its exit code.
func fail(stderr io.Writer, err error) int {
	msg := err.Error()
	var unknown *scoped.CommitUnknownError
	if errors.As(err, &unknown) {
		msg = fmt.Sprintf("outcome unknown: the write to scope %q may or may not have happened: %v", unknown.Scope, unknown.Cause)
	}
	fmt.Fprintln(stderr, "scopectl: "+strings.ReplaceAll(strings.TrimSpace(msg), "\n", " "))
	var usage *usageError
	switch {
	case errors.Is(err, errMissing):
		return exitMissing
	case errors.As(err, &usage), errors.Is(err, scoped.ErrInvalidName),
		errors.Is(err, storeurl.ErrInvalidTarget), errors.Is(err, scoped.ErrValueTooLarge):
		return exitUsage
	default:
		return exitStore
	}
}

// execute opens the store, runs cmd on it and closes it.
func execute(ctx context.Context, target string, cmd command, stdout io.Writer, sep byte) error {
	st, err := storeurl.Open(ctx, target, storeurl.WithPool(2)) // a command makes one store call at a time
	if err != nil {
		return err
	}
	defer st.Close()
	e := scoped.New(st.Store)
	defer e.Close(ctx) // its error adds nothing: the call's own error says whether its write happened
	return cmd.run(ctx, e, stdout, sep)
}
