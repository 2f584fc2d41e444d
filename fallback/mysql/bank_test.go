package mysql_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/mysql"
	"github.com/scoped-go/scoped/internal/testenv"
)

// The bank of TestProcessBank: accounts scopes holding bankStart each,
// bankWorkers goroutines in all, spread over bankProcesses child
// processes, each making bankTransfers transfers.
const (
	bankAccounts  = 16
	bankStart     = 100
	bankWorkers   = 64
	bankProcesses = 3
	bankTransfers = 10

	bankTableEnv    = "SCOPED_MYSQL_BANK_TABLE"   // the table of a child of TestProcessBank
	bankProcessEnv  = "SCOPED_MYSQL_BANK_PROCESS" // its number, from 0
	bankResultTitle = "bank-result "              // the line of its result
)

// bankResult is what a child process reports: the transfers it saw
// acknowledged, as the amount each account gained (or lost, below zero).
type bankResult struct {
	Moved    [bankAccounts]int64
	Applied  int // acknowledged transfers
	Refused  int // transfers refused as overdrafts
	Readings int // totals read, every one equal to the start
}

var errOverdraft = errors.New("overdraft")

// bankNames returns the names of the accounts.
func bankNames() []string {
	names := make([]string, bankAccounts)
	for i := range names {
		names[i] = fmt.Sprintf("{bank}acct%02d", i)
	}
	return names
}

// Three processes, each with its own engine and pool, make random
// transfers between 16 accounts from 64 goroutines in all, the handler
// refusing overdrafts, while each reads the total with a transaction over
// every account. The total never changes, no balance goes negative, and
// each account ends at its start plus the transfers the children saw
// acknowledged: every acknowledged transfer applied once, and no other.
func TestProcessBank(t *testing.T) {
	s, _, table := newStore(t)
	e := scoped.New(s)
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
		t.Fatal(err)
	}
	type child struct {
		cmd            *exec.Cmd
		stdout, stderr bytes.Buffer
	}
	children := make([]*child, bankProcesses)
	for i := range children {
		c := &child{cmd: exec.Command(os.Args[0], "-test.run=^TestBankChild$", "-test.count=1")}
		c.cmd.Env = append(os.Environ(), bankTableEnv+"="+table, bankProcessEnv+"="+strconv.Itoa(i))
		c.cmd.Stdout, c.cmd.Stderr = &c.stdout, &c.stderr
		if err := c.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children[i] = c
	}
	var moved [bankAccounts]int64
	var applied, refused, readings int
	for i, c := range children {
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s%s", i, err, c.stdout.Bytes(), c.stderr.Bytes())
		}
		r, err := parseBankResult(c.stdout.Bytes())
		if err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, c.stdout.Bytes())
		}
		for j := range moved {
			moved[j] += r.Moved[j]
		}
		applied, refused, readings = applied+r.Applied, refused+r.Refused, readings+r.Readings
	}
	if applied == 0 {
		t.Fatal("no transfer was applied")
	}
	var total int64
	for i, name := range names {
		v, err := scoped.Read[int64](t.Context(), e, name)
		if err != nil {
			t.Fatal(err)
		}
		if want := bankStart + moved[i]; v != want || v < 0 {
			t.Errorf("%s holds %d; the acknowledged transfers make it %d", name, v, want)
		}
		total += v
	}
	if total != bankAccounts*bankStart {
		t.Errorf("the accounts hold %d in all, want %d", total, bankAccounts*bankStart)
	}
	t.Logf("%d transfers applied, %d refused as overdrafts, %d totals read", applied, refused, readings)
}

// parseBankResult finds the result line in a child's output.
func parseBankResult(out []byte) (bankResult, error) {
	lines := bufio.NewScanner(bytes.NewReader(out))
	for lines.Scan() {
		if line, ok := strings.CutPrefix(lines.Text(), bankResultTitle); ok {
			var r bankResult
			err := json.Unmarshal([]byte(line), &r)
			return r, err
		}
	}
	return bankResult{}, errors.New("no result")
}

// TestBankChild is one process of TestProcessBank; it is skipped when run
// otherwise. It prints its result on a line of its own.
func TestBankChild(t *testing.T) {
	table := os.Getenv(bankTableEnv)
	process, err := strconv.Atoi(os.Getenv(bankProcessEnv))
	if table == "" || err != nil {
		t.Skip("a child process of TestProcessBank")
	}
	db := testenv.MySQL(t)
	bound(db)
	s, err := mysql.New(db, mysql.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := scoped.New(s)
	names := bankNames()
	var (
		mu     sync.Mutex
		result bankResult
		wg     sync.WaitGroup
		stop   = make(chan struct{})
	)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			sum, err := scoped.Transact(t.Context(), e, names, func(tx *scoped.Tx) (int64, error) {
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
			if err != nil || sum != bankAccounts*bankStart {
				t.Errorf("a transaction reading every account found the total %d, %v; want %d", sum, err, bankAccounts*bankStart)
				return
			}
			mu.Lock()
			result.Readings++
			mu.Unlock()
		}
	}()
	for w := process; w < bankWorkers; w += bankProcesses {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(process)))
			for range bankTransfers {
				from, to := rng.IntN(bankAccounts), rng.IntN(bankAccounts-1)
				if to >= from {
					to++
				}
				amount := int64(1 + rng.IntN(60))
				_, err := scoped.Transact(t.Context(), e, []string{names[from], names[to]}, func(tx *scoped.Tx) (struct{}, error) {
					src, err := scoped.TxValue[int64](tx, names[from])
					if err != nil {
						return struct{}{}, err
					}
					dst, err := scoped.TxValue[int64](tx, names[to])
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
				mu.Lock()
				switch {
				case err == nil:
					result.Moved[from] -= amount
					result.Moved[to] += amount
					result.Applied++
				case errors.Is(err, errOverdraft):
					result.Refused++
				default:
					t.Errorf("transfer %d from %s to %s: %v", amount, names[from], names[to], err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	<-readerDone
	line, err := json.Marshal(result)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(bankResultTitle + string(line))
}
