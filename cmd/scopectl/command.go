package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/scoped-go/scoped"
)

// command is one parsed command line: what to do, to which scope.
type command struct {
	verb   string             // get, set, delete, list or ttl
	scope  string             // a valid scope name; list: the prefix
	fields map[string]any     // set: the new fields
	expiry *scoped.CallOption // ttl: the expiry to set, nil to show it
}

// verbs gives each command's least and most arguments.
var verbs = map[string][2]int{"get": {1, 1}, "set": {2, 2}, "delete": {1, 1}, "list": {0, 1}, "ttl": {1, 2}}

// parseCommand reads the command and its arguments, and for set the JSON,
// from the argument or, if it is "-", from stdin. It returns a usage error
// for anything wrong with them, before any I/O on the store.
func parseCommand(args []string, stdin io.Reader) (command, error) {
	if len(args) == 0 {
		return command{}, usagef("no command: want get, set, delete, list or ttl (scopectl -h for help)")
	}
	verb := args[0]
	n, ok := verbs[verb]
	if !ok {
		return command{}, usagef("unknown command %q: want get, set, delete, list or ttl", verb)
	}
	if got := len(args) - 1; got < n[0] || got > n[1] {
		want := fmt.Sprint(n[0])
		if n[1] > n[0] {
			want = fmt.Sprintf("%d or %d", n[0], n[1])
		}
		return command{}, usagef("%s takes %s argument(s), got %d", verb, want, got)
	}
	c := command{verb: verb}
	if verb == "list" {
		if len(args) == 2 {
			c.scope = args[1]
		}
		return c, nil
	}
	c.scope = args[1]
	if err := scoped.ValidateName(c.scope); err != nil {
		return command{}, err
	}
	if verb == "ttl" && len(args) == 3 {
		expiry, err := parseExpiry(args[2])
		if err != nil {
			return command{}, err
		}
		c.expiry = &expiry
	}
	if verb == "set" {
		var r io.Reader = strings.NewReader(args[2])
		if args[2] == "-" {
			r = stdin
		}
		fields, err := parseFields(r)
		if err != nil {
			return command{}, usagef("set %q: %v", c.scope, err)
		}
		c.fields = fields
	}
	return c, nil
}

// parseExpiry reads the expiry argument of ttl: a positive Go duration, or
// "none".
func parseExpiry(arg string) (scoped.CallOption, error) {
	if arg == "none" {
		return scoped.Persist(), nil
	}
	d, err := time.ParseDuration(arg)
	if err != nil || d <= 0 {
		return nil, usagef("ttl: %q is neither a positive duration (90s, 30m, 24h) nor none", arg)
	}
	return scoped.ExpireAfter(d), nil
}

// run runs the command on e, writing what get, list and ttl print on
// stdout; list ends each name with sep.
func (c command) run(ctx context.Context, e *scoped.Engine, stdout io.Writer, sep byte) error {
	switch c.verb {
	case "get":
		return get(ctx, e, c.scope, stdout)
	case "set":
		return set(ctx, e, c.scope, c.fields)
	case "list":
		return list(ctx, e, c.scope, stdout, sep)
	case "ttl":
		if c.expiry == nil {
			return showTTL(ctx, e, c.scope, stdout)
		}
		return setTTL(ctx, e, c.scope, *c.expiry)
	default:
		return e.Delete(ctx, c.scope)
	}
}

// get prints the fields of the scope name as one JSON object, or returns
// errMissing if the scope does not exist.
func get(ctx context.Context, e *scoped.Engine, name string, stdout io.Writer) error {
	obj, err := scoped.View(ctx, e, name, func(s *scoped.Scope) (map[string]any, error) {
		if !s.Exists() {
			return nil, fmt.Errorf("scope %q %w", name, errMissing)
		}
		obj := make(map[string]any, s.Len())
		for _, k := range s.Keys() {
			raw, err := scoped.Get[msgpack.RawMessage](s, k)
			if err != nil {
				return nil, err
			}
			v, err := showValue(raw)
			if err != nil {
				return nil, fmt.Errorf("scope %q: field %q cannot be shown as JSON: %w", name, k, err)
			}
			obj[k] = v
		}
		return obj, nil
	})
	if err != nil {
		return err
	}
	return writeJSON(stdout, obj)
}

// set replaces the fields of the scope name with fields, in one atomic write.
func set(ctx context.Context, e *scoped.Engine, name string, fields map[string]any) error {
	_, err := scoped.Run(ctx, e, name, func(s *scoped.Scope) (struct{}, error) {
		for _, k := range s.Keys() {
			if _, ok := fields[k]; !ok {
				if err := s.Delete(k); err != nil {
					return struct{}{}, err
				}
			}
		}
		for k, v := range fields {
			if err := s.Set(k, v); err != nil {
				return struct{}{}, err
			}
		}
		return struct{}{}, nil
	})
	return err
}

// list prints the name of every scope beginning with prefix, each ended by
// sep, as the store yields them.
func list(ctx context.Context, e *scoped.Engine, prefix string, stdout io.Writer, sep byte) error {
	for name, err := range e.List(ctx, prefix) {
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(stdout, "%s%c", name, sep); err != nil {
			return err
		}
	}
	return nil
}

// showTTL prints the time the scope name has left to live, to the
// millisecond, or "none" if it does not expire; errMissing if it does not
// exist.
func showTTL(ctx context.Context, e *scoped.Engine, name string, stdout io.Writer) error {
	at, err := scoped.View(ctx, e, name, func(s *scoped.Scope) (time.Time, error) {
		if !s.Exists() {
			return time.Time{}, fmt.Errorf("scope %q %w", name, errMissing)
		}
		return s.Expiry(), nil
	})
	if err != nil {
		return err
	}
	if at.IsZero() {
		_, err = fmt.Fprintln(stdout, "none")
		return err
	}
	_, err = fmt.Fprintln(stdout, max(time.Until(at), 0).Round(time.Millisecond))
	return err
}

// setTTL gives the scope name the expiry, or returns errMissing if it does
// not exist.
func setTTL(ctx context.Context, e *scoped.Engine, name string, expiry scoped.CallOption) error {
	_, err := scoped.Run(ctx, e, name, func(s *scoped.Scope) (struct{}, error) {
		if !s.Exists() {
			return struct{}{}, fmt.Errorf("scope %q %w", name, errMissing)
		}
		return struct{}{}, nil
	}, expiry)
	return err
}
