package postgres_test

import (
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/postgres"
	"github.com/scoped-go/scoped/internal/bank"
	"github.com/scoped-go/scoped/internal/testenv"
)

// newBank returns the bank test on PostgreSQL: 66 goroutines in all, each
// making 10 transfers, each process with a pool of its own.
func newBank() bank.Bank {
	return bank.Bank{Workers: 22, Transfers: 10, Open: func(t *testing.T, table string) scoped.Store {
		s, err := postgres.New(testenv.Postgres(t), postgres.WithTable(table))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}}
}

// Three processes make random transfers between 16 accounts and read their
// total (see bank.Bank.Run).
func TestProcessBank(t *testing.T) {
	s, _, table := newStore(t)
	newBank().Run(t, s, table)
}

// TestBankChild is one process of TestProcessBank; it is skipped when run
// otherwise.
func TestBankChild(t *testing.T) { newBank().Child(t) }
