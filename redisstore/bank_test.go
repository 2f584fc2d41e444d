package redisstore_test

import (
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/bank"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// newBank returns the bank test on the real Redis: 66 goroutines in all,
// each making 20 transfers.
func newBank() bank.Bank {
	return bank.Bank{Workers: 22, Transfers: 20, Open: func(t *testing.T, prefix string) scoped.Store {
		return redisstore.New(testenv.Redis(t), redisstore.WithPrefix(prefix))
	}}
}

// Three processes make random transfers between 16 accounts on the real
// Redis and read their total (see bank.Bank.Run).
func TestProcessBank(t *testing.T) {
	c := testenv.Redis(t)
	prefix := testenv.UniqueName("scopedtest:") + ":"
	t.Cleanup(func() { testenv.DeleteKeys(t, c, prefix+"*") })
	newBank().Run(t, redisstore.New(c, redisstore.WithPrefix(prefix)), prefix)
}

// TestBankChild is one process of TestProcessBank; it is skipped when run
// otherwise.
func TestBankChild(t *testing.T) { newBank().Child(t) }
