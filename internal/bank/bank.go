// Package bank is the bank test across processes, run on every backend
// that several processes can share: the test binary runs itself as three
// children, each with its own engine on the same store, which make random
// transfers between 16 accounts in transactions and read their total, and
// the parent checks the final balances against the transfers the children
// saw acknowledged. A backend's test file holds two short tests:
//
//	func TestProcessBank(t *testing.T) {
//		s, table := newStore(t)
//		newBank().Run(t, s, table)
//	}
//
//	func TestBankChild(t *testing.T) { newBank().Child(t) }
//
// InProcess runs the same bank on several engines of one process, for the
// conformance suite.
package bank

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/scoped-go/scoped"
)

// The bank: accounts scopes holding start each, moved between by processes
// child processes.
const (
	accounts  = 16
	start     = 100
	processes = 3

	storeEnv    = "SCOPED_BANK_STORE" // in a child: the name its parent gave Run
	resultTitle = "bank-result "      // the start of a child's result line
)

// errOverdraft is a transfer's refusal to take an account below zero.
var errOverdraft = errors.New("overdraft")

// Bank is the bank test on one backend; Open is needed by Child only.
type Bank struct {
	Workers   int // goroutines making transfers in each child process
	Transfers int // transfers each goroutine makes

	// Open, in a child process, opens the store that the parent passed to
	// Run under name (a table, a key prefix, a directory), closing it at
	// the test's cleanup.
	Open func(t *testing.T, name string) scoped.Store
}

// result is what work returns, and a child process prints: the transfers
// acknowledged, as the amount each account gained (or lost, below zero).
type result struct {
	Moved    []int64
	Applied  int // acknowledged transfers
	Refused  int // transfers refused as overdrafts
	Readings int // totals read, every one equal to the start
}

// names returns the accounts' scope names: one hash tag, so that a Redis
// Cluster would hold them in one slot.
func names() []string {
	names := make([]string, accounts)
	for i := range names {
		names[i] = fmt.Sprintf("{bank}acct%02d", i)
	}
	return names
}

// Run opens the accounts on s, runs the child processes (TestBankChild,
// which must call Child) with name, and checks that each account ends at
// its start plus the transfers the children saw acknowledged, that none is
// negative, that the total never changed, and that some transfer was
// applied: every acknowledged transfer applied once, and no other.
func (b Bank) Run(t *testing.T, s scoped.Store, name string) {
	t.Helper()
	open(t, scoped.New(s))
	type child struct {
		cmd            *exec.Cmd
		stdout, stderr bytes.Buffer
	}
	children := make([]*child, processes)
	for i := range children {
		c := &child{cmd: exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBankChild$", "-test.count=1")}
		c.cmd.Env = append(os.Environ(), storeEnv+"="+name)
		c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children[i] = c
	}
	all := result{Moved: make([]int64, accounts)}
	for i, c := range children {
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s%s", i, err, c.stdout.Bytes(), c.stderr.Bytes())
		}
		r, err := parseResult(c.stdout.Bytes())
		if err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, c.stdout.Bytes())
		}
		all.add(r)
	}
	check(t, scoped.New(s), all)
	t.Logf("%d transfers applied by %d processes, %d refused as overdrafts, %d totals read", all.Applied, processes, all.Refused, all.Readings)
}

// InProcess runs the bank in this process, on engines engines over s:
// Workers goroutines in all, spread over the engines, and a reader of the
// total on each. The checks are Run's.
func (b Bank) InProcess(t *testing.T, s scoped.Store, engines int) {
	t.Helper()
	es := make([]*scoped.Engine, engines)
	for i := range es {
		es[i] = scoped.New(s)
	}
	open(t, es[0])
	check(t, es[0], b.work(t, es))
}

// open gives every account its start, in one transaction.
func open(t *testing.T, e *scoped.Engine) {
	t.Helper()
	names := names()
	if _, err := scoped.Transact(t.Context(), e, names, func(tx *scoped.Tx) (struct{}, error) {
		for _, name := range names {
			v, err := scoped.TxValue[int64](tx, name)
			if err != nil {
				return struct{}{}, err
			}
			*v = start
		}
		return struct{}{}, nil
	}); err != nil {
		t.Fatalf("opening the accounts: %v", err)
	}
}

// check fails t unless some transfer was applied and every account holds
// its start plus the transfers of r, none negative, the total unchanged.
func check(t *testing.T, e *scoped.Engine, r result) {
	t.Helper()
	if r.Applied == 0 {
		t.Fatal("no transfer was applied")
	}
	balances, err := balances(t, e)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for i, name := range names() {
		if want := start + r.Moved[i]; balances[i] != want {
			t.Errorf("%s holds %d; the acknowledged transfers make it %d", name, balances[i], want)
		}
		total += balances[i]
	}
	if total != accounts*start {
		t.Errorf("the accounts hold %d in all, want %d", total, accounts*start)
	}
}

// add adds the transfers and counts of o to r.
func (r *result) add(o result) {
	for j := range r.Moved {
		r.Moved[j] += o.Moved[j]
	}
	r.Applied, r.Refused, r.Readings = r.Applied+o.Applied, r.Refused+o.Refused, r.Readings+o.Readings
}

// parseResult finds the result line in a child's output.
func parseResult(out []byte) (result, error) {
	lines := bufio.NewScanner(bytes.NewReader(out))
	for lines.Scan() {
		if line, ok := strings.CutPrefix(lines.Text(), resultTitle); ok {
			var r result
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				return result{}, err
			}
			if len(r.Moved) != accounts {
				return result{}, fmt.Errorf("a result of %d accounts", len(r.Moved))
			}
			return r, nil
		}
	}
	return result{}, errors.New("no result")
}

// Child is one process of Run, the body of TestBankChild; it skips the
// test when run otherwise. It runs Workers goroutines on one engine (work)
// and prints its result on a line of its own.
func (b Bank) Child(t *testing.T) {
	name := os.Getenv(storeEnv)
	if name == "" {
		t.Skip("a child process of TestProcessBank; runs only when started by it")
	}
	r := b.work(t, []*scoped.Engine{scoped.New(b.Open(t, name))})
	line, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(resultTitle + string(line))
}

// work runs b.Workers goroutines, spread over engines, each making
// b.Transfers random transfers and refusing overdrafts, while a reader on
// each engine checks, in transactions over every account, that the total
// never changes and no balance is negative. It returns the transfers
// acknowledged.
func (b Bank) work(t *testing.T, engines []*scoped.Engine) result {
	names := names()
	var (
		mu      sync.Mutex
		r       = result{Moved: make([]int64, accounts)}
		wg      sync.WaitGroup
		readers sync.WaitGroup
		stop    = make(chan struct{})
	)
	for _, e := range engines {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				balances, err := balances(t, e)
				var sum int64
				for _, b := range balances {
					sum += b
				}
				if err != nil || sum != accounts*start {
					t.Errorf("a transaction reading every account found the total %d, %v; want %d", sum, err, accounts*start)
					return
				}
				mu.Lock()
				r.Readings++
				mu.Unlock()
			}
		})
	}
	for w := range b.Workers {
		e := engines[w%len(engines)]
		wg.Go(func() {
			for range b.Transfers {
				from, to := rand.IntN(accounts), rand.IntN(accounts-1)
				if to >= from {
					to++
				}
				amount := 1 + rand.Int64N(60)
				err := transfer(t, e, names[from], names[to], amount)
				mu.Lock()
				switch {
				case err == nil:
					r.Moved[from] -= amount
					r.Moved[to] += amount
					r.Applied++
				case errors.Is(err, errOverdraft):
					r.Refused++
				default:
					t.Errorf("transfer %d from %s to %s: %v", amount, names[from], names[to], err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	return r
}

// transfer moves amount from one account to another in a transaction,
// unless that would overdraw the first.
func transfer(t *testing.T, e *scoped.Engine, from, to string, amount int64) error {
	_, err := scoped.Transact(t.Context(), e, []string{from, to}, func(tx *scoped.Tx) (struct{}, error) {
		src, err := scoped.TxValue[int64](tx, from)
		if err != nil {
			return struct{}{}, err
		}
		dst, err := scoped.TxValue[int64](tx, to)
		if err != nil {
			return struct{}{}, err
		}
		if *src < amount {
			return struct{}{}, errOverdraft
		}
		*src -= amount
		*dst += amount
		return struct{}{}, nil
	})
	return err
}

// balances reads every account in one transaction, failing on a negative
// balance.
func balances(t *testing.T, e *scoped.Engine) ([]int64, error) {
	names := names()
	return scoped.Transact(t.Context(), e, names, func(tx *scoped.Tx) ([]int64, error) {
		balances := make([]int64, len(names))
		for i, name := range names {
			v, err := scoped.TxValue[int64](tx, name)
			if err != nil {
				return nil, err
			}
			if *v < 0 {
				return nil, fmt.Errorf("%s holds %d", name, *v)
			}
			balances[i] = *v
		}
		return balances, nil
	})
}
