package postgres

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"unicode/utf8"

	"github.com/scoped-go/scoped"
)

// listPage is how many names one statement of List reads.
const listPage = 100

// List implements scoped.Store with a range query on the primary key, one
// statement per page of 100 names: those from the prefix up to its end (see
// listRange), in byte order (the "C" collation), leaving out rows expired
// by the store's clock, the next page beginning after the last name of the
// one before. Names are compared, never matched with LIKE, so that no
// character of the prefix is a pattern. No statement or transaction stays
// open while the loop body runs: a scope that keeps its row throughout is
// yielded once, and one written or deleted meanwhile may be yielded or not.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		from, to := listRange(prefix)
		after := ""
		for {
			names, err := s.listPage(ctx, from, after, to)
			if err != nil {
				yield("", err)
				return
			}
			for _, name := range names {
				if strings.HasPrefix(name, prefix) && !yield(name, nil) {
					return
				}
			}
			if len(names) < listPage {
				return
			}
			after = names[len(names)-1]
		}
	}
}

// listPage reads the live names from from (included), after after, up to
// to (excluded), at most listPage of them, in byte order.
func (s *Store) listPage(ctx context.Context, from, after, to string) ([]string, error) {
	conn, err := s.acquire(ctx, s.sql.list)
	if err != nil {
		return nil, fmt.Errorf("scoped/postgres: list: %w", err)
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, s.sql.list, from, after, to, s.nowMilli())
	if err != nil {
		return nil, fmt.Errorf("scoped/postgres: list: %w", classify(err))
	}
	names := make([]string, 0, listPage)
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scoped/postgres: list: %w", classify(err))
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("scoped/postgres: list: %w", classify(err))
	}
	return names, nil
}

// listRange returns the range of names, from (included) to to (excluded),
// that holds every name beginning with prefix, as text PostgreSQL takes:
// valid UTF-8 without NUL. The prefix is cut at its first invalid byte or
// NUL, which no name holds (though a name may begin with the bytes of a
// prefix that ends inside a character): the caller keeps only the names
// that begin with the whole prefix. to is from with its last
// character made the next one (UTF-8 orders bytes as it orders code
// points), the characters U+10FFFF at its end cut; if none is left (the
// empty prefix), to is a string above every name, longer than the longest
// and of U+10FFFF only.
func listRange(prefix string) (from, to string) {
	from = prefix
	for i := 0; i < len(prefix); {
		r, size := utf8.DecodeRuneInString(prefix[i:])
		if r == utf8.RuneError && size == 1 || r == 0 {
			from = prefix[:i]
			break
		}
		i += size
	}
	for end := from; end != ""; {
		r, size := utf8.DecodeLastRuneInString(end)
		end = end[:len(end)-size]
		switch {
		case r == utf8.MaxRune:
			continue
		case r == 0xD7FF: // the next is past the surrogates
			return from, end + "\uE000"
		default:
			return from, end + string(r+1)
		}
	}
	return from, strings.Repeat(string(utf8.MaxRune), scoped.MaxNameLength/utf8.UTFMax+1)
}
