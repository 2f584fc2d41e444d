// Package sqlrows holds what the SQL backends' CompareAndSetMany share: the
// rows a call read or locked, by scope name, their comparison with the
// changes, and the records a committed call returns.
package sqlrows

import "github.com/scoped-go/scoped"

// Row is the row of a scope as a call read or locked it: present (live or
// expired) or absent, and its record, the zero Record unless live.
type Row struct {
	Present bool
	Record  scoped.Record
}

// Rows are the rows of a call's scopes, by name; a scope without a row has
// the zero Row.
type Rows map[string]Row

// Add adds the row of the scope name, which holds rec unless expired.
func (r Rows) Add(name string, rec scoped.Record, expired bool) {
	if expired {
		rec = scoped.Record{}
	}
	r[name] = Row{Present: true, Record: rec}
}

// Compare returns the current record of every change's scope, in the order
// of changes, and whether each is at the revision expected.
func (r Rows) Compare(changes []scoped.Change) ([]scoped.Record, bool) {
	out, ok := make([]scoped.Record, len(changes)), true
	for i, c := range changes {
		out[i] = r[c.Name].Record
		ok = ok && out[i].Revision() == c.Expected
	}
	return out, ok
}

// Committed returns the record of every change's scope once changes are
// committed over r, in the order of changes: a set's new record, a check's
// current one, no record for a delete.
func (r Rows) Committed(changes []scoped.Change) []scoped.Record {
	out := make([]scoped.Record, len(changes))
	for i, c := range changes {
		switch c.Action {
		case scoped.ActionSet:
			out[i] = c.Write.Record(c.Expected.Version + 1)
		case scoped.ActionCheck:
			out[i] = r[c.Name].Record
		}
	}
	return out
}
