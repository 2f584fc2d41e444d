package mysql_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/mysql"
	"github.com/scoped-go/scoped/internal/testenv"
)

// packetOverhead is the store's room for everything but the value in
// max_allowed_packet.
const packetOverhead = 1024

// A value over WithMaxValueSize is refused before any I/O: the store's pool
// is closed, and the error is still the typed one.
func TestConfiguredValueLimit(t *testing.T) {
	s := closedStore(t, mysql.WithMaxValueSize(10))
	_, _, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: make([]byte, 11), Writer: scoped.NewToken()})
	var tooLarge *scoped.ValueTooLargeError
	if !errors.Is(err, scoped.ErrValueTooLarge) || !errors.As(err, &tooLarge) ||
		*tooLarge != (scoped.ValueTooLargeError{Scope: "a", Size: 11, Limit: 10}) {
		t.Fatalf("CompareAndSet of 11 bytes over a limit of 10: %v; want a ValueTooLargeError", err)
	}

	// At the limit the value is written, on a real server.
	s, _, _ = newStore(t, mysql.WithMaxValueSize(10))
	rec, ok, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: make([]byte, 10), Writer: scoped.NewToken()})
	if err != nil || !ok {
		t.Fatalf("CompareAndSet of 10 bytes under a limit of 10: %v, %v", ok, err)
	}
	if _, _, err := s.CompareAndSet(t.Context(), "a", rec.Revision(), scoped.Write{Value: make([]byte, 11), Writer: scoped.NewToken()}); !errors.Is(err, scoped.ErrValueTooLarge) || !errors.Is(err, scoped.ErrNotApplied) {
		t.Fatalf("CompareAndSet of 11 bytes: %v; want ErrValueTooLarge, not applied", err)
	}
}

// The server's max_allowed_packet less the overhead is the limit without
// WithMaxValueSize: one byte over is refused without sending it (the server
// receives only the status queries around the call), and a value exactly at
// the limit is written and read back whole.
func TestServerValueLimit(t *testing.T) {
	db := testenv.MySQL(t)
	db.SetMaxOpenConns(1) // the session counters below are the store's
	var maxPacket int
	if err := db.QueryRowContext(t.Context(), "SELECT @@max_allowed_packet").Scan(&maxPacket); err != nil {
		t.Fatal(err)
	}
	if maxPacket > 64<<20 {
		t.Skipf("max_allowed_packet is %d bytes: a value at the limit is too big for a test", maxPacket)
	}
	s, _ := newStoreOn(t, db)
	limit := maxPacket - packetOverhead
	if _, _, err := s.CompareAndSet(t.Context(), "small", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); err != nil {
		t.Fatal(err) // the store has read the limit and prepared its statements
	}

	over := bytes.Repeat([]byte{0x00, '\'', '\\', 0xff}, limit/4+1)[:limit+1]
	before := sessionStatus(t, db)["Bytes_received"]
	_, _, err := s.CompareAndSet(t.Context(), "big", scoped.Revision{}, scoped.Write{Value: over, Writer: scoped.NewToken()})
	received := sessionStatus(t, db)["Bytes_received"] - before
	var tooLarge *scoped.ValueTooLargeError
	if !errors.As(err, &tooLarge) || tooLarge.Size != limit+1 || tooLarge.Limit != limit {
		t.Fatalf("CompareAndSet of %d bytes: %v; want a ValueTooLargeError with limit %d", limit+1, err, limit)
	}
	if received > 4096 {
		t.Fatalf("the server received %d bytes during the refused call; want only the status query", received)
	}

	at := over[:limit]
	if _, ok, err := s.CompareAndSet(t.Context(), "big", scoped.Revision{}, scoped.Write{Value: at, Writer: scoped.NewToken()}); err != nil || !ok {
		t.Fatalf("CompareAndSet of %d bytes, at the limit: %v, %v", limit, ok, err)
	}
	rec, err := s.Load(t.Context(), "big")
	if err != nil || !bytes.Equal(rec.Value, at) {
		t.Fatalf("Load of the value at the limit: %d bytes, %v; want %d bytes back", len(rec.Value), err, limit)
	}
}

// CompareAndSetMany checks every value against the limits before sending
// anything, and two values at the server's limit, more than one packet
// together, are written in one call and read back whole.
func TestManyValueLimit(t *testing.T) {
	s := closedStore(t, mysql.WithMaxValueSize(10))
	_, _, err := s.CompareAndSetMany(t.Context(), []scoped.Change{
		{Name: "a", Action: scoped.ActionSet, Write: scoped.Write{Value: make([]byte, 10), Writer: scoped.NewToken()}},
		{Name: "b", Action: scoped.ActionSet, Write: scoped.Write{Value: make([]byte, 11), Writer: scoped.NewToken()}},
	})
	var tooLarge *scoped.ValueTooLargeError
	if !errors.As(err, &tooLarge) || !errors.Is(err, scoped.ErrNotApplied) ||
		*tooLarge != (scoped.ValueTooLargeError{Scope: "b", Size: 11, Limit: 10}) {
		t.Fatalf("CompareAndSetMany with 11 bytes over a limit of 10: %v; want a ValueTooLargeError, not applied", err)
	}

	db := testenv.MySQL(t)
	bound(db)
	var maxPacket int
	if err := db.QueryRowContext(t.Context(), "SELECT @@max_allowed_packet").Scan(&maxPacket); err != nil {
		t.Fatal(err)
	}
	if maxPacket > 64<<20 {
		t.Skipf("max_allowed_packet is %d bytes: a value at the limit is too big for a test", maxPacket)
	}
	store, _ := newStoreOn(t, db)
	limit := maxPacket - packetOverhead
	changes := []scoped.Change{
		{Name: "a", Action: scoped.ActionSet, Write: scoped.Write{Value: bytes.Repeat([]byte{'a'}, limit), Writer: scoped.NewToken()}},
		{Name: "b", Action: scoped.ActionSet, Write: scoped.Write{Value: bytes.Repeat([]byte{'b'}, limit+1), Writer: scoped.NewToken()}},
	}
	if _, _, err := store.CompareAndSetMany(t.Context(), changes); !errors.As(err, &tooLarge) || tooLarge.Scope != "b" || tooLarge.Limit != limit {
		t.Fatalf("CompareAndSetMany with %d bytes: %v; want a ValueTooLargeError with limit %d", limit+1, err, limit)
	}
	changes[1].Write.Value = changes[1].Write.Value[:limit]
	if _, ok, err := store.CompareAndSetMany(t.Context(), changes); err != nil || !ok {
		t.Fatalf("CompareAndSetMany of two values at the limit: %v, %v", ok, err)
	}
	for _, c := range changes {
		if rec, err := store.Load(t.Context(), c.Name); err != nil || !bytes.Equal(rec.Value, c.Write.Value) {
			t.Fatalf("Load(%q): %d bytes, %v; want %d bytes back", c.Name, len(rec.Value), err, limit)
		}
	}
}
