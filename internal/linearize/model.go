// Package linearize checks that the engine's calls, seen from outside, are
// linearizable: every call appears to take effect at one instant between
// its start and its return. Workers drive random calls through the public
// API (increments, reads, blind writes and deletes of a few scopes, and,
// with scoped.Transact, transfers between two scopes and reads of several,
// on several engines sharing one store, or in several processes), a
// Recorder logs when each call started and returned and what it answered,
// and porcupine (github.com/anishathalye/porcupine) searches for an order of
// the calls that a single integer per scope would explain.
//
//	linearize.Check(t, linearize.Engines(t, store, store, store), linearize.DefaultWorkload(seed))
//
// CheckProcesses does the same with child processes, each running the test
// binary; Verify checks a history without failing a test, as a test of a
// planted bug needs.
//
// The model's state is a map from scope to its State: an integer, or
// nothing. Histories are partitioned into the groups of scopes that some
// call touches together (Model.Partition), which is sound because no call
// crosses a group. A history of single-scope calls is thus checked scope by
// scope, each with a State for its state, in milliseconds. Multi-scope
// calls (Transfer, ReadMany) among a workload's few scopes usually join
// them all into one partition, which takes longer to check: Workload.Multi
// sets their share.
package linearize

import (
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"
)

// Kind is what a call does to its scopes.
type Kind uint8

// The kinds of calls. Increment, Read, Write and Delete call one scope,
// Input.Scope; Transfer and ReadMany call several, Input.Scopes, in one
// scoped.Transact.
const (
	Increment Kind = iota // adds one to the value (absent counts as 0) and returns the new value
	Read                  // returns the value, or that the scope is absent
	Write                 // sets the value to Input.Value without reading it
	Delete                // removes the scope
	Transfer              // moves 1 from Input.Scopes[0] to Input.Scopes[1] (absent counts as 0) and returns both new values
	ReadMany              // returns the value, or absence, of each of Input.Scopes
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case Increment:
		return "inc"
	case Read:
		return "read"
	case Write:
		return "write"
	case Delete:
		return "delete"
	case Transfer:
		return "transfer"
	case ReadMany:
		return "readmany"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Input is a call: what it does, to which scopes.
type Input struct {
	Scope  string   // the scope of a single-scope call
	Scopes []string `json:",omitempty"` // the scopes of a Transfer or ReadMany, distinct
	Kind   Kind
	Value  int64 // the value a Write sets
}

// names returns the scopes the call touches.
func (in Input) names() []string {
	if in.Kind == Transfer || in.Kind == ReadMany {
		return in.Scopes
	}
	return []string{in.Scope}
}

// Output is what a call answered.
type Output struct {
	// Value is the value an Increment returned, or a Read found.
	Value int64
	// Exists is whether a Read found a value.
	Exists bool
	// Values is what a Transfer returned or a ReadMany found, one State
	// per scope of Input.Scopes, in their order.
	Values []State `json:",omitempty"`
	// Unknown marks a call whose outcome is unknown (scoped.ErrCommitUnknown):
	// it matches any answer, and the call may or may not have taken effect.
	Unknown bool
}

// State is the value of one scope: an integer, or nothing.
type State struct {
	Value  int64
	Exists bool
}

// String returns the state as the visualization shows it.
func (s State) String() string {
	if !s.Exists {
		return "absent"
	}
	return fmt.Sprint(s.Value)
}

// states is the model's state: the State of each scope of a partition,
// absent scopes left out. Step never changes a states, it makes another.
type states map[string]State

// with returns s with the scope name set to st.
func (s states) with(name string, st State) states {
	next := make(states, len(s)+1)
	maps.Copy(next, s)
	if st.Exists {
		next[name] = st
	} else {
		delete(next, name)
	}
	return next
}

// Model returns the porcupine model of scopes holding integers, partitioned
// into groups of scopes that no call crosses. Operations' inputs are
// Inputs, their outputs Outputs. Verify checks a history without
// multi-scope calls with a faster model of one scope per partition.
func Model() porcupine.Model {
	seed := maphash.MakeSeed()
	return porcupine.Model{
		Partition: partition,
		Init:      func() any { return states(nil) },
		Step: func(state, input, output any) (bool, any) {
			return stepMany(state.(states), input.(Input), output.(Output))
		},
		Equal: func(a, b any) bool { return maps.Equal(a.(states), b.(states)) },
		Hash: func(state any) uint64 {
			var h uint64
			for name, st := range state.(states) {
				// Summed, so that the order of the map does not count.
				h += maphash.String(seed, name) ^ hashState(st)
			}
			return h
		},
		DescribeOperation: describeOperation,
		DescribeState:     func(state any) string { return describeStates(state.(states)) },
	}
}

// scopeModel returns the model of one scope per partition, for histories
// whose calls all touch one scope: its state is that scope's State.
func scopeModel() porcupine.Model {
	return porcupine.Model{
		Partition: partition,
		Init:      func() any { return State{} },
		Step: func(state, input, output any) (bool, any) {
			return step(state.(State), input.(Input), output.(Output))
		},
		Hash:              func(state any) uint64 { return hashState(state.(State)) },
		DescribeOperation: describeOperation,
		DescribeState:     func(state any) string { return state.(State).String() },
	}
}

// modelFor returns the model that checks h: scopeModel if every call of h
// touches one scope, else Model.
func modelFor(h History) porcupine.Model {
	for _, op := range h {
		if len(op.Input.names()) > 1 {
			return Model()
		}
	}
	return scopeModel()
}

// hashState returns a hash of s, 0 for absent.
func hashState(s State) uint64 {
	if !s.Exists {
		return 0
	}
	return uint64(s.Value)<<1 | 1
}

// step applies the single-scope call in to s, and reports whether out is
// what it answers.
func step(s State, in Input, out Output) (bool, State) {
	switch in.Kind {
	case Increment:
		next := State{Value: s.Value + 1, Exists: true}
		return out.Unknown || out.Value == next.Value, next
	case Read:
		return out.Exists == s.Exists && out.Value == s.Value, s
	case Write:
		return true, State{Value: in.Value, Exists: true}
	case Delete:
		return true, State{}
	}
	return false, s
}

// stepMany applies in to s, and reports whether out is what it answers.
func stepMany(s states, in Input, out Output) (bool, states) {
	switch in.Kind {
	case Transfer:
		from, to := in.Scopes[0], in.Scopes[1]
		next := []State{{Value: s[from].Value - 1, Exists: true}, {Value: s[to].Value + 1, Exists: true}}
		ok := out.Unknown || len(out.Values) == 2 && out.Values[0] == next[0] && out.Values[1] == next[1]
		return ok, s.with(from, next[0]).with(to, next[1])
	case ReadMany:
		if out.Unknown {
			return true, s
		}
		if len(out.Values) != len(in.Scopes) {
			return false, s
		}
		for i, name := range in.Scopes {
			if out.Values[i] != s[name] {
				return false, s
			}
		}
		return true, s
	}
	cur := s[in.Scope]
	ok, next := step(cur, in, out)
	if next != cur {
		s = s.with(in.Scope, next)
	}
	return ok, s
}

// partition splits a history into the groups of scopes that some call
// touches together (the connected components of scopes joined by calls),
// in order of first call: one per scope when every call touches one.
func partition(history []porcupine.Operation) [][]porcupine.Operation {
	parent := map[string]string{}
	var root func(string) string
	root = func(name string) string {
		p, ok := parent[name]
		if !ok || p == name {
			return name
		}
		r := root(p)
		parent[name] = r
		return r
	}
	for _, op := range history {
		names := op.Input.(Input).names()
		first := root(names[0])
		parent[first] = first
		for _, name := range names[1:] {
			if r := root(name); r != first {
				parent[r] = first
			}
		}
	}
	index := map[string]int{}
	var parts [][]porcupine.Operation
	for _, op := range history {
		r := root(op.Input.(Input).names()[0])
		i, ok := index[r]
		if !ok {
			i = len(parts)
			index[r] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}

// describeOperation returns a call as the visualization shows it.
func describeOperation(input, output any) string {
	in, out := input.(Input), output.(Output)
	var call string
	switch in.Kind {
	case Write:
		call = fmt.Sprintf("%s(%s, %d)", in.Kind, in.Scope, in.Value)
	case Transfer, ReadMany:
		call = fmt.Sprintf("%s(%s)", in.Kind, strings.Join(in.Scopes, ", "))
	default:
		call = fmt.Sprintf("%s(%s)", in.Kind, in.Scope)
	}
	switch {
	case out.Unknown:
		return call + " -> unknown"
	case in.Kind == Increment:
		return fmt.Sprintf("%s -> %d", call, out.Value)
	case in.Kind == Read:
		return call + " -> " + State{Value: out.Value, Exists: out.Exists}.String()
	case in.Kind == Transfer || in.Kind == ReadMany:
		vals := make([]string, len(out.Values))
		for i, v := range out.Values {
			vals[i] = v.String()
		}
		return call + " -> " + strings.Join(vals, ", ")
	}
	return call
}

// describeStates returns a state as the visualization shows it: each
// scope's value, in name order, or "all absent".
func describeStates(s states) string {
	if len(s) == 0 {
		return "all absent"
	}
	var b strings.Builder
	for i, name := range slices.Sorted(maps.Keys(s)) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %s", name, s[name])
	}
	return b.String()
}
