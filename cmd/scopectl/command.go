package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/scoped-go/scoped"
)

// command is one parsed command line: what to do, to which scope.
type command struct {
	verb   string         // get, set or delete
	scope  string         // a valid scope name
	fields map[string]any // set: the new fields
}

// parseCommand reads the command and its arguments, and for set the JSON,
// from the argument or, if it is "-", from stdin. It returns a usage error
// for anything wrong with them, before any I/O on the store.
func parseCommand(args []string, stdin io.Reader) (command, error) {
	if len(args) == 0 {
		return command{}, usagef("no command: want get, set or delete (scopectl -h for help)")
	}
	want := map[string]int{"get": 1, "set": 2, "delete": 1}
	verb := args[0]
	n, ok := want[verb]
	if !ok {
		return command{}, usagef("unknown command %q: want get, set or delete", verb)
	}
	if len(args)-1 != n {
		return command{}, usagef("%s takes %d argument(s), got %d", verb, n, len(args)-1)
	}
	c := command{verb: verb, scope: args[1]}
	if err := scoped.ValidateName(c.scope); err != nil {
		return command{}, err
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

// run runs the command on e, writing what get prints on stdout.
func (c command) run(ctx context.Context, e *scoped.Engine, stdout io.Writer) error {
	switch c.verb {
	case "get":
		return get(ctx, e, c.scope, stdout)
	case "set":
		return set(ctx, e, c.scope, c.fields)
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
