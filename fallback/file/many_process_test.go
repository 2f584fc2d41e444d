//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/file"
	"github.com/scoped-go/scoped/internal/bank"
)

// What each account of the transfer tests holds at first, and how long
// the "transfer" children pause after each rename.
const (
	accountStart = 100
	renamePause  = 3 * time.Millisecond
)

// accountNames returns the names of n accounts.
func accountNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("{bank}acct%02d", i)
	}
	return names
}

// errOverdraft refuses a transfer larger than the balance it is taken from.
var errOverdraft = errors.New("overdraft")

// transfer moves amount from the account from to the accounts to, each
// getting amount, in one transaction.
func transfer(ctx context.Context, e *scoped.Engine, from string, to []string, amount int64) error {
	_, err := scoped.Transact(ctx, e, append([]string{from}, to...), func(tx *scoped.Tx) (struct{}, error) {
		src, err := scoped.TxValue[int64](tx, from)
		if err != nil {
			return struct{}{}, err
		}
		if *src < amount*int64(len(to)) {
			return struct{}{}, errOverdraft
		}
		for _, name := range to {
			dst, err := scoped.TxValue[int64](tx, name)
			if err != nil {
				return struct{}{}, err
			}
			*src -= amount
			*dst += amount
		}
		return struct{}{}, nil
	})
	return err
}

// openAccounts gives each of names accountStart, in one transaction.
func openAccounts(t *testing.T, e *scoped.Engine, names []string) {
	t.Helper()
	if _, err := scoped.Transact(t.Context(), e, names, func(tx *scoped.Tx) (struct{}, error) {
		for _, name := range names {
			v, err := scoped.TxValue[int64](tx, name)
			if err != nil {
				return struct{}{}, err
			}
			*v = accountStart
		}
		return struct{}{}, nil
	}); err != nil {
		t.Fatalf("opening the accounts: %v", err)
	}
}

// crashAccounts is how many accounts the "transfer" children move money
// between.
const crashAccounts = 8

// runTransfers is the child role "transfer": transfers from one account to
// one or two others, each a CompareAndSetMany of two or three files whose
// renames pause, until killed. It prints a line for each transfer that
// returned.
func runTransfers(dir string) error {
	s, err := file.Open(dir, file.WithRenamePause(renamePause))
	if err != nil {
		return err
	}
	e, names := scoped.New(s), accountNames(crashAccounts)
	for {
		perm := rand.Perm(crashAccounts)
		to := []string{names[perm[1]]}
		if rand.IntN(2) == 0 {
			to = append(to, names[perm[2]])
		}
		if err := transfer(context.Background(), e, names[perm[0]], to, 1+rand.Int64N(30)); err != nil && !errors.Is(err, errOverdraft) {
			return err
		}
		if _, err := fmt.Println("ack"); err != nil {
			return err
		}
	}
}

// Two processes make transfers between accounts, in CompareAndSetMany calls
// of several files, until each is killed with SIGKILL, round after round,
// often between two renames of a call. After every round, the accounts
// read by Load, which finishes a journal left by the dead, hold the money
// they held at first, in all, and none is negative: every transfer was made
// whole or not at all. Open then finds nothing left to finish.
func TestCrashDuringCompareAndSetMany(t *testing.T) {
	const rounds = 20
	dir := t.TempDir()
	s := open(t, dir)
	names := accountNames(crashAccounts)
	openAccounts(t, scoped.New(s), names)
	left := 0 // rounds that left a journal behind
	for round := range rounds {
		a, b := startChild(t, "transfer", dir), startChild(t, "transfer", dir)
		waitAcks(t, 1+rand.IntN(10), a, b)
		time.Sleep(rand.N(4 * renamePause))
		a.kill(t)
		b.kill(t)
		if journals, err := os.ReadDir(filepath.Join(dir, ".journal")); err == nil && len(journals) > 0 {
			left++
		}
		var total int64
		for _, name := range names {
			v, err := scoped.Read[int64](t.Context(), scoped.New(s), name)
			if err != nil {
				t.Fatalf("round %d: %s: %v", round, name, err)
			}
			if v < 0 {
				t.Fatalf("round %d: %s holds %d", round, name, v)
			}
			total += v
		}
		if want := int64(crashAccounts * accountStart); total != want {
			t.Fatalf("round %d: the accounts hold %d in all, want %d", round, total, want)
		}
	}
	if left == 0 {
		t.Errorf("no round of %d killed a process between two renames", rounds)
	}
	t.Logf("%d rounds of %d left a journal to finish", left, rounds)
	open(t, dir)
	if journals := readDir(t, filepath.Join(dir, ".journal")); len(journals) > 0 {
		t.Errorf("journals left after Open: %v", journals)
	}
	for _, name := range readDir(t, dir) {
		if strings.HasSuffix(name, ".tmp") {
			t.Errorf("%s is left after Open", name)
		}
	}
}

// newBank returns the bank test on one directory: 24 goroutines in all,
// each making 20 transfers.
func newBank() bank.Bank {
	return bank.Bank{Workers: 8, Transfers: 20, Open: func(t *testing.T, dir string) scoped.Store { return open(t, dir) }}
}

// Three processes, each with its own engine, make random transfers between
// 16 accounts and read their total (see bank.Bank.Run).
func TestProcessBank(t *testing.T) {
	dir := t.TempDir()
	newBank().Run(t, open(t, dir), dir)
}

// TestBankChild is one process of TestProcessBank; it is skipped when run
// otherwise.
func TestBankChild(t *testing.T) { newBank().Child(t) }
