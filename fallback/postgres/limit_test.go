package postgres_test

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/postgres"
	"github.com/scoped-go/scoped/internal/testenv"
)

// The store's limits: pgx sends no message over 1 GiB - 2 bytes, its
// length word included, and the store keeps 1 KiB of it for the rest.
const (
	maxMessageSize  = 0x3fffffff - 1
	messageOverhead = 1024
)

// tooLarge fails the test unless err is a ValueTooLargeError of size and
// limit, not applied.
func tooLarge(t *testing.T, err error, name string, size, limit int) {
	t.Helper()
	var e *scoped.ValueTooLargeError
	if !errors.As(err, &e) || *e != (scoped.ValueTooLargeError{Scope: name, Size: size, Limit: limit}) ||
		!errors.Is(err, scoped.ErrValueTooLarge) || !errors.Is(err, scoped.ErrNotApplied) {
		t.Fatalf("CompareAndSet of %d bytes: %v; want a ValueTooLargeError with limit %d, not applied", size, err, limit)
	}
}

// A value over WithMaxValueSize is refused before any I/O: the store's pool
// is closed, and the error is still the typed one.
func TestConfiguredValueLimit(t *testing.T) {
	s := closedStore(t, postgres.WithMaxValueSize(10))
	_, _, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: make([]byte, 11), Writer: scoped.NewToken()})
	tooLarge(t, err, "a", 11, 10)

	// At the limit the value is written, on a real server.
	s, _, _ = newStore(t, postgres.WithMaxValueSize(10))
	rec := mustSet(t, s, "a", scoped.Revision{}, make([]byte, 10))
	_, _, err = s.CompareAndSet(t.Context(), "a", rec.Revision(), scoped.Write{Value: make([]byte, 11), Writer: scoped.NewToken()})
	tooLarge(t, err, "a", 11, 10)
}

// Without WithMaxValueSize the limit is the protocol's: one byte over it
// is refused before anything is sent. (The slice of a gigabyte is never
// touched: the operating system gives it as zero pages.)
func TestProtocolValueLimit(t *testing.T) {
	var trips roundTrips
	pool := testenv.Postgres(t, func(c *pgxpool.Config) { c.ConnConfig.DialFunc = trips.dial })
	s := storeOn(t, pool, "scopes")
	limit := maxMessageSize - messageOverhead
	big := make([]byte, limit+1)
	before := trips.n.Load()
	for _, expected := range []scoped.Revision{{}, {Version: 1, Writer: scoped.NewToken()}} {
		_, _, err := s.CompareAndSet(t.Context(), "big", expected, scoped.Write{Value: big, Writer: scoped.NewToken()})
		tooLarge(t, err, "big", limit+1, limit)
	}
	if n := trips.n.Load() - before; n != 0 {
		t.Fatalf("%d round trips for values over the limit; want none", n)
	}
}

// A pool that reads no message over MaxProtocolMessageBodyLen lowers the
// limit to that less the overhead: a value at the limit is written, read
// back whole, and answered whole to a refused write; one byte more is
// refused before sending.
func TestReceiveLimit(t *testing.T) {
	const maxBody = 1 << 20
	pool := testenv.Postgres(t, func(c *pgxpool.Config) { c.ConnConfig.MaxProtocolMessageBodyLen = maxBody })
	s, _ := newStoreOn(t, pool)
	limit := maxBody - messageOverhead
	at := bytes.Repeat([]byte{0x00, '\'', '\\', 0xff}, limit/4+1)[:limit]
	rec := mustSet(t, s, "big", scoped.Revision{}, at)
	if got := mustLoad(t, s, "big"); !bytes.Equal(got.Value, at) || got.Revision() != rec.Revision() {
		t.Fatalf("Load of the value at the limit: %d bytes at version %d; want %d bytes back", len(got.Value), got.Version, limit)
	}
	for _, expected := range []scoped.Revision{{}, {Version: 7, Writer: scoped.NewToken()}} {
		cur, ok, err := s.CompareAndSet(t.Context(), "big", expected, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
		if err != nil || ok || !bytes.Equal(cur.Value, at) {
			t.Fatalf("a refused write over the value at the limit: %d bytes, %v, %v; want the %d bytes", len(cur.Value), ok, err, limit)
		}
	}
	_, _, err := s.CompareAndSet(t.Context(), "big", rec.Revision(), scoped.Write{Value: append(at, 1), Writer: scoped.NewToken()})
	tooLarge(t, err, "big", limit+1, limit)

	// The engine adopts the store's lower limit: the change over it fails,
	// and nothing is written.
	e := scoped.New(s, scoped.WithMaxValueSize(2*maxBody))
	_, err = scoped.Update(t.Context(), e, "engine", func(v *[]byte) (struct{}, error) {
		*v = make([]byte, limit)
		return struct{}{}, nil
	})
	var tl *scoped.ValueTooLargeError
	if !errors.As(err, &tl) || tl.Limit != limit {
		t.Fatalf("Update to an encoding over the store's limit: %v; want a ValueTooLargeError with the store's limit %d", err, limit)
	}
	if got := mustLoad(t, s, "engine"); got.Exists() {
		t.Fatalf("after the refused Update: %d bytes at version %d; want no record", len(got.Value), got.Version)
	}
}

// Versions are exact up to bigint's maximum, and a write that would go past
// it is refused, typed, without wrapping around; the engine gives up on it
// at once.
func TestVersionRange(t *testing.T) {
	s, pool, table := newStore(t)
	tok := scoped.NewToken()
	if _, err := pool.Exec(t.Context(), `INSERT INTO "`+table+`" VALUES ('v', $1, $2, '\x00')`, int64(math.MaxInt64-1), tok[:]); err != nil {
		t.Fatal(err)
	}
	near := mustLoad(t, s, "v")
	if near.Version != math.MaxInt64-1 {
		t.Fatalf("Load = version %d; want %d", near.Version, uint64(math.MaxInt64-1))
	}
	top := mustSet(t, s, "v", near.Revision(), []byte{0x01})
	if top.Version != math.MaxInt64 || mustLoad(t, s, "v").Revision() != top.Revision() {
		t.Fatalf("the write over version 2⁶³-2 stored version %d; want %d", top.Version, uint64(math.MaxInt64))
	}

	over := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, postgres.ErrVersionRange) || !errors.Is(err, scoped.ErrCorruptValue) || !errors.Is(err, scoped.ErrNotApplied) {
			t.Errorf("%s: %v; want ErrVersionRange, ErrCorruptValue and ErrNotApplied", what, err)
		}
	}
	_, _, err := s.CompareAndSet(t.Context(), "v", top.Revision(), scoped.Write{Value: []byte{0x02}, Writer: scoped.NewToken()})
	over("CompareAndSet over version 2⁶³-1", err)
	_, _, err = s.Delete(t.Context(), "v", scoped.Revision{Version: math.MaxInt64 + 1, Writer: tok})
	over("Delete expecting version 2⁶³", err)
	start := time.Now()
	_, err = scoped.Update(t.Context(), scoped.New(s), "v", increment)
	over("Update over version 2⁶³-1", err)
	if d := time.Since(start); d > time.Second {
		t.Errorf("the engine took %v to give up; want it at once", d)
	}
	if got := mustLoad(t, s, "v"); got.Revision() != top.Revision() {
		t.Fatalf("after the refused writes: %+v; want %+v", got, top)
	}
	if _, ok, err := s.Delete(t.Context(), "v", top.Revision()); err != nil || !ok {
		t.Fatalf("Delete at version 2⁶³-1 = %v, %v; want success", ok, err)
	}
}
