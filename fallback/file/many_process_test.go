//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/file"
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

// The "bank" children: each runs bankWorkers goroutines making bankTransfers
// transfers each between bankAccounts accounts, through its own engine, and
// a reader of the total.
const (
	bankProcesses = 3
	bankAccounts  = 16
	bankWorkers   = 8
	bankTransfers = 20
)

// bankReport is what a "bank" child prints on stdout, as JSON: the
// acknowledged transfers, as money in less money out of each account.
type bankReport struct {
	Moved   []int64
	Applied int
}

// runBank is the child role "bank".
func runBank(dir string) error {
	s, err := file.Open(dir)
	if err != nil {
		return err
	}
	ctx, e, names := context.Background(), scoped.New(s), accountNames(bankAccounts)
	var (
		mu     sync.Mutex
		report = bankReport{Moved: make([]int64, bankAccounts)}
		errs   = make(chan error, bankWorkers+1)
		wg     sync.WaitGroup
		stop   = make(chan struct{})
	)
	var reader sync.WaitGroup
	reader.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			sum, err := scoped.Transact(ctx, e, names, func(tx *scoped.Tx) (int64, error) {
				var sum int64
				for _, name := range names {
					v, err := scoped.TxValue[int64](tx, name)
					if err != nil {
						return 0, err
					}
					if *v < 0 {
						return 0, fmt.Errorf("%s holds %d", name, *v)
					}
					sum += *v
				}
				return sum, nil
			})
			if err == nil && sum != bankAccounts*accountStart {
				err = fmt.Errorf("a transaction reading every account found the total %d", sum)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	})
	for range bankWorkers {
		wg.Go(func() {
			for range bankTransfers {
				from, to := rand.IntN(bankAccounts), rand.IntN(bankAccounts-1)
				if to >= from {
					to++
				}
				amount := 1 + rand.Int64N(60)
				switch err := transfer(ctx, e, names[from], []string{names[to]}, amount); {
				case err == nil:
					mu.Lock()
					report.Moved[from] -= amount
					report.Moved[to] += amount
					report.Applied++
					mu.Unlock()
				case !errors.Is(err, errOverdraft):
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	reader.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(report)
}

// Three processes, each with its own engine, make transfers between 16
// accounts and read their total in transactions: the total never changes,
// no balance goes negative, and every account ends with what it held at
// first plus the transfers acknowledged to it, less those from it.
func TestMultiProcessBank(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	names := accountNames(bankAccounts)
	openAccounts(t, scoped.New(s), names)
	reports := make([]bankReport, bankProcesses)
	errs := make([]error, bankProcesses)
	var wg sync.WaitGroup
	for i := range bankProcesses {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), childEnv+"=bank", childDirEnv+"="+dir)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err == nil {
				err = json.Unmarshal(out, &reports[i])
			}
			if err != nil {
				errs[i] = fmt.Errorf("bank child %d: %v: %s", i, err, stderr.String())
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	applied := 0
	for i, name := range names {
		want := int64(accountStart)
		for _, r := range reports {
			want += r.Moved[i]
		}
		v, err := scoped.Read[int64](t.Context(), scoped.New(s), name)
		if err != nil {
			t.Fatal(err)
		}
		if v != want || v < 0 {
			t.Errorf("%s holds %d; the acknowledged transfers make it %d", name, v, want)
		}
	}
	for _, r := range reports {
		applied += r.Applied
	}
	if applied == 0 {
		t.Fatal("no transfer was applied")
	}
	t.Logf("%d transfers applied by %d processes", applied, bankProcesses)
}
