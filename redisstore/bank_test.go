package redisstore_test

import (
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
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// The bank across processes: bankProcs copies of the test binary, each with
// its own Engine on the real Redis, move money between bankAccounts
// accounts in transactions, while the parent reads the total in
// transactions over every account.
const (
	bankChildEnv     = "SCOPED_REDIS_BANK_CHILD" // the key prefix, in a child
	bankProcs        = 3
	bankAccounts     = 16
	bankStart        = 100
	bankWorkers      = 22 // goroutines per process: 66 in all
	bankTransfers    = 20 // per goroutine
	bankResultPrefix = "bank result: "
)

// bankResult is what a child reports on stdout, once done: the acknowledged
// transfers into each account, less those out of it, and how many were
// applied.
type bankResult struct {
	Moved   []int64
	Applied int
}

// bankNames returns the accounts' scope names: one hash tag, so that a
// Redis Cluster would hold them in one slot.
func bankNames() []string {
	names := make([]string, bankAccounts)
	for i := range names {
		names[i] = fmt.Sprintf("{bank}acct%02d", i)
	}
	return names
}

// errOverdraft is a transfer's refusal to take an account below zero.
var errOverdraft = errors.New("overdraft")

// bankTransfer moves amount from one account to another in a transaction,
// unless that would overdraw the first.
func bankTransfer(t *testing.T, e *scoped.Engine, from, to string, amount int64) error {
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

// bankBalances reads every account in one transaction, failing on a
// negative balance.
func bankBalances(t *testing.T, e *scoped.Engine) ([]int64, error) {
	names := bankNames()
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

// TestBankProcesses: three processes make random transfers between 16
// accounts on the real Redis, 66 goroutines in all, while the parent reads
// every balance in transactions. The total never changes, no balance goes
// negative, and the final balances are the opening ones plus the transfers
// the children saw acknowledged: each applied once.
func TestBankProcesses(t *testing.T) {
	c := testenv.Redis(t)
	prefix := testenv.UniqueName("scopedtest:") + ":"
	t.Cleanup(func() { testenv.DeleteKeys(t, c, prefix+"*") })
	e := scoped.New(redisstore.New(c, redisstore.WithPrefix(prefix)))
	names := bankNames()
	if _, err := scoped.Transact(t.Context(), e, names, func(tx *scoped.Tx) (struct{}, error) {
		for _, name := range names {
			v, err := scoped.TxValue[int64](tx, name)
			if err != nil {
				return struct{}{}, err
			}
			*v = bankStart
		}
		return struct{}{}, nil
	}); err != nil {
		t.Fatalf("opening the accounts: %v", err)
	}

	type child struct {
		cmd            *exec.Cmd
		stdout, stderr bytes.Buffer
	}
	children := make([]*child, bankProcs)
	for i := range children {
		ch := &child{cmd: exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBankChild$", "-test.count=1")}
		ch.cmd.Env = append(os.Environ(), bankChildEnv+"="+prefix)
		ch.cmd.Stdout, ch.cmd.Stderr = &ch.stdout, &ch.stderr
		if err := ch.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children[i] = ch
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	reads := 0
	readers.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			balances, err := bankBalances(t, e)
			var sum int64
			for _, b := range balances {
				sum += b
			}
			if err != nil || sum != bankAccounts*bankStart {
				t.Errorf("a transaction reading every account found the total %d, %v; want %d", sum, err, bankAccounts*bankStart)
				return
			}
			reads++
		}
	})
	moved := make([]int64, bankAccounts)
	applied := 0
	for i, ch := range children {
		if err := ch.cmd.Wait(); err != nil {
			t.Errorf("process %d: %v\nstdout:\n%s\nstderr:\n%s", i, err, ch.stdout.String(), ch.stderr.String())
			continue
		}
		var r bankResult
		found := false
		for line := range strings.Lines(ch.stdout.String()) {
			if js, ok := strings.CutPrefix(line, bankResultPrefix); ok {
				found = json.Unmarshal([]byte(js), &r) == nil && len(r.Moved) == bankAccounts
			}
		}
		if !found {
			t.Errorf("process %d reported no result:\n%s", i, ch.stdout.String())
			continue
		}
		for k, m := range r.Moved {
			moved[k] += m
		}
		applied += r.Applied
	}
	close(stop)
	readers.Wait()
	if t.Failed() {
		return
	}
	balances, err := bankBalances(t, scoped.New(redisstore.New(c, redisstore.WithPrefix(prefix))))
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		if want := bankStart + moved[i]; balances[i] != want {
			t.Errorf("%s holds %d; the acknowledged transfers make it %d", name, balances[i], want)
		}
	}
	if applied == 0 {
		t.Error("no transfer was applied")
	}
	t.Logf("%d transfers applied by %d processes; %d reads of every balance meanwhile", applied, bankProcs, reads)
}

// TestBankChild is one process of TestBankProcesses; it runs only when
// started by it.
func TestBankChild(t *testing.T) {
	prefix := os.Getenv(bankChildEnv)
	if prefix == "" {
		t.Skip("a child process of TestBankProcesses; runs only when started by it")
	}
	e := scoped.New(redisstore.New(testenv.Redis(t), redisstore.WithPrefix(prefix)))
	names := bankNames()
	var (
		mu sync.Mutex
		r  = bankResult{Moved: make([]int64, bankAccounts)}
		wg sync.WaitGroup
	)
	for range bankWorkers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			for range bankTransfers {
				from, to := rng.IntN(bankAccounts), rng.IntN(bankAccounts-1)
				if to >= from {
					to++
				}
				amount := int64(1 + rng.IntN(60))
				switch err := bankTransfer(t, e, names[from], names[to], amount); {
				case err == nil:
					mu.Lock()
					r.Moved[from] -= amount
					r.Moved[to] += amount
					r.Applied++
					mu.Unlock()
				case errors.Is(err, errOverdraft):
				default:
					t.Errorf("transfer %d from %s to %s: %v", amount, names[from], names[to], err)
					return
				}
			}
		})
	}
	wg.Wait()
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(bankResultPrefix + string(js))
}
