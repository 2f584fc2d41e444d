package file

import (
	"context"
	"fmt"
	"os"
	"slices"

	"github.com/scoped-go/scoped"
)

// CompareAndSetMany implements scoped.Store. It takes the locks of the
// stripes of every scope, in ascending order and each once, reads every
// record under them and compares every revision; only then does it write.
// A call that changes one file does it as CompareAndSet or Delete would. A
// call that changes several writes each new record to its temporary file,
// fsynced, then its journal, fsynced with the directories, then renames the
// temporary files over the record files and removes the record files of
// the deletes, fsyncs the directory once, and removes the journal: a crash
// after the journal is written is rolled forward by whoever takes one of
// its locks next (a write, a Load of one of its scopes, Open).
//
// Every error returned before the journal is written (or, for one file,
// before it is renamed or removed) matches scoped.ErrNotApplied, as
// CompareAndSet's do, but for a journal that failed to be written and then
// to be removed. An error after it is a plain error: the journal stays, and
// whoever takes one of its locks next finishes the call.
func (s *Store) CompareAndSetMany(ctx context.Context, changes []scoped.Change) ([]scoped.Record, bool, error) {
	bases := make([]string, len(changes))
	stripes := make([]int, len(changes))
	for i, c := range changes {
		if err := check(ctx, c.Name); err != nil {
			return nil, false, err
		}
		if err := checkChange(c); err != nil {
			return nil, false, scoped.NotApplied(err)
		}
		bases[i] = fileBase(c.Name)
		stripes[i] = stripe(bases[i])
	}
	slices.Sort(stripes)
	h, err := s.lockStripes(ctx, slices.Compact(stripes))
	if err != nil {
		return nil, false, scoped.NotApplied(fmt.Errorf("file: lock: %w", err))
	}
	defer h.unlock()
	now := s.now()
	cur := make([]scoped.Record, len(changes))
	ok := true
	for i, c := range changes {
		rec, err := s.read(c.Name, bases[i])
		if err != nil {
			return nil, false, scoped.NotApplied(err)
		}
		cur[i] = live(rec, now)
		ok = ok && cur[i].Revision() == c.Expected
	}
	if !ok {
		return cur, false, nil
	}
	var (
		j     journal
		files [][]byte // the record file of each rename step of j, nil for a removal
	)
	for i, c := range changes {
		switch {
		case c.Action == scoped.ActionSet:
			cur[i] = c.Write.Record(c.Expected.Version + 1)
			j = append(j, step{kind: stepRename, base: bases[i]})
			files = append(files, encodeRecord(c.Name, cur[i]))
		case c.Action == scoped.ActionDelete && cur[i].Exists():
			cur[i] = scoped.Record{}
			j = append(j, step{kind: stepRemove, base: bases[i]})
			files = append(files, nil)
		case c.Action == scoped.ActionDelete:
			cur[i] = scoped.Record{} // no record, or an expired one left to Sweep
		}
	}
	if err := s.write(j, files); err != nil {
		return nil, false, err
	}
	return cur, true, nil
}

// checkChange refuses a change that no store may apply.
func checkChange(c scoped.Change) error {
	switch c.Action {
	case scoped.ActionCheck, scoped.ActionDelete:
		return nil
	case scoped.ActionSet:
		switch {
		case len(c.Write.Value) == 0:
			return fmt.Errorf("file: compare-and-set of an empty value to %q", c.Name)
		case c.Write.Writer.IsZero():
			return fmt.Errorf("file: compare-and-set of %q by the zero writer token", c.Name)
		}
		return nil
	}
	return fmt.Errorf("file: unknown action %d for %q", c.Action, c.Name)
}

// write performs the steps of j, whose rename steps store the record files
// of files, under the locks of all their stripes. One step needs no
// journal: it is a single rename or removal, as CompareAndSet and Delete
// make.
func (s *Store) write(j journal, files [][]byte) error {
	switch len(j) {
	case 0:
		return nil
	case 1:
		if j[0].kind == stepRemove {
			return s.removeRecord(j[0].base)
		}
		return s.replace(j[0].base, files[0])
	}
	for i, st := range j {
		if st.kind != stepRename {
			continue
		}
		if err := writeSynced(s.create, s.path(st.base, tempSuffix), files[i]); err != nil {
			s.removeTemps(j)
			return scoped.NotApplied(fmt.Errorf("file: %w", err))
		}
	}
	if kept, err := s.writeJournal(j); err != nil {
		if kept {
			return fmt.Errorf("file: the journal may stay, and the write be completed later: %w", err)
		}
		s.removeTemps(j)
		return scoped.NotApplied(fmt.Errorf("file: journal: %w", err))
	}
	if err := s.apply(j); err != nil {
		return fmt.Errorf("file: the write is journalled, and will be completed by the next writer of its scopes, or Open: %w", err)
	}
	if err := s.removeJournal(j.name()); err != nil {
		return fmt.Errorf("file: the write is made, but its journal may come back after a crash: %w", err)
	}
	return nil
}

// removeTemps removes the temporary files of the rename steps of j, after a
// failure before its journal was written. One that cannot be removed is
// left for Open or the scope's next write, and changes nothing.
func (s *Store) removeTemps(j journal) {
	for _, st := range j {
		if st.kind == stepRename {
			os.Remove(s.path(st.base, tempSuffix))
		}
	}
}
