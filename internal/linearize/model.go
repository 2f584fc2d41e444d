// Package linearize checks that the engine's calls, seen from outside, are
// linearizable: every call appears to take effect at one instant between
// its start and its return. Workers drive random calls through the public
// API (increments, reads, blind writes and deletes of a few scopes, on
// several engines sharing one store, or in several processes), a Recorder
// logs when each call started and returned and what it answered, and
// porcupine (github.com/anishathalye/porcupine) searches for an order of
// the calls that a single integer per scope would explain.
//
//	linearize.Check(t, linearize.Engines(t, store, store, store), linearize.DefaultWorkload(seed))
//
// CheckProcesses does the same with child processes, each running the test
// binary; Verify checks a history without failing a test, as a test of a
// planted bug needs.
//
// The model holds one scope: an integer, or nothing. Histories are
// partitioned per scope (Model.Partition), which keeps them small enough to
// check in seconds, and is sound because every call touches one scope.
//
// Multi-scope calls, when the engine has them, go here as a new Kind whose
// Input names several scopes. The partition then can no longer split by
// scope alone: it would group the scopes that some call touches together
// (connected components over the history), and the state would become a
// map from scope to State, with Step applying a multi-scope call to every
// scope it names at once.
package linearize

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// Kind is what a call does to its scope.
type Kind uint8

// The kinds of calls.
const (
	Increment Kind = iota // adds one to the value (absent counts as 0) and returns the new value
	Read                  // returns the value, or that the scope is absent
	Write                 // sets the value to Input.Value without reading it
	Delete                // removes the scope
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
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Input is a call: what it does, to which scope.
type Input struct {
	Scope string
	Kind  Kind
	Value int64 // the value a Write sets
}

// Output is what a call answered.
type Output struct {
	// Value is the value an Increment returned, or a Read found.
	Value int64
	// Exists is whether a Read found a value.
	Exists bool
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

// Model returns the porcupine model of scopes holding integers, partitioned
// per scope. Operations' inputs are Inputs, their outputs Outputs.
func Model() porcupine.Model {
	return porcupine.Model{
		Partition: partition,
		Init:      func() any { return State{} },
		Step: func(state, input, output any) (bool, any) {
			return step(state.(State), input.(Input), output.(Output))
		},
		Hash: func(state any) uint64 {
			s := state.(State)
			if !s.Exists {
				return 0
			}
			return uint64(s.Value)<<1 | 1
		},
		DescribeOperation: func(input, output any) string {
			return describe(input.(Input), output.(Output))
		},
		DescribeState: func(state any) string { return state.(State).String() },
	}
}

// step applies in to s, and reports whether out is what it answers.
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

// partition splits a history into one per scope, in order of first call.
func partition(history []porcupine.Operation) [][]porcupine.Operation {
	index := map[string]int{}
	var parts [][]porcupine.Operation
	for _, op := range history {
		scope := op.Input.(Input).Scope
		i, ok := index[scope]
		if !ok {
			i = len(parts)
			index[scope] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], op)
	}
	return parts
}

// describe returns a call as the visualization shows it.
func describe(in Input, out Output) string {
	var call string
	if in.Kind == Write {
		call = fmt.Sprintf("%s(%s, %d)", in.Kind, in.Scope, in.Value)
	} else {
		call = fmt.Sprintf("%s(%s)", in.Kind, in.Scope)
	}
	switch {
	case out.Unknown:
		return call + " -> unknown"
	case in.Kind == Increment:
		return fmt.Sprintf("%s -> %d", call, out.Value)
	case in.Kind == Read:
		return call + " -> " + State{Value: out.Value, Exists: out.Exists}.String()
	}
	return call
}
