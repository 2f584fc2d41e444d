package mysql

import (
	"context"
	"fmt"
	"iter"
	"strings"

	"github.com/scoped-go/scoped"
)

// listPage is how many names one statement of List reads.
const listPage = 100

// List implements scoped.Store with a range query on the primary key, one
// statement per page of 100 names: those from the prefix up to its end (see
// prefixEnd), in byte order, leaving out rows expired by the store's clock,
// the next page beginning after the last name of the one before. Names are
// compared as bytes, never with LIKE, so that no character of the prefix is
// a pattern. No statement or transaction stays open while the loop body
// runs: a scope that keeps its row throughout is yielded once, and one
// written or deleted meanwhile may be yielded or not.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		from, to := prefix, prefixEnd(prefix)
		for {
			names, err := s.listPage(ctx, from, to)
			if err != nil {
				yield("", err)
				return
			}
			for _, name := range names {
				if !yield(name, nil) {
					return
				}
			}
			if len(names) < listPage {
				return
			}
			// The least name after the last one: nothing lies between.
			from = names[len(names)-1] + "\x00"
		}
	}
}

// listPage reads the live names from from (included) to to (excluded), at
// most listPage of them, in byte order.
func (s *Store) listPage(ctx context.Context, from, to string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, scoped.NotApplied(fmt.Errorf("scoped/mysql: list: %w", err))
	}
	st, err := s.acquire(ctx)
	if err != nil {
		return nil, scoped.NotApplied(err)
	}
	defer st.release()
	rows, err := st.list.QueryContext(ctx, []byte(from), []byte(to), s.nowMilli())
	if err != nil {
		return nil, classify(fmt.Errorf("scoped/mysql: list: %w", err))
	}
	defer rows.Close()
	names := make([]string, 0, listPage)
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, classify(fmt.Errorf("scoped/mysql: list: %w", err))
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, classify(fmt.Errorf("scoped/mysql: list: %w", err))
	}
	return names, nil
}

// prefixEnd returns the least string greater than every string that begins
// with prefix: prefix with its last byte below 0xFF incremented, and the
// bytes after it cut. A prefix without such a byte (the empty prefix) has
// no end among names: it returns a string above every name, longer than
// the longest one and of 0xFF bytes, which valid UTF-8 never holds.
func prefixEnd(prefix string) string {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xFF {
			return prefix[:i] + string([]byte{prefix[i] + 1})
		}
	}
	return strings.Repeat("\xff", scoped.MaxNameLength+1)
}
