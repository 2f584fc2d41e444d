package main

import (
	"context"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/storeurl"
)

// opened is a store with a description for the logs (no password) and what
// releases it once the engine is closed.
type opened struct {
	store    scoped.Store
	describe string
	close    func()
}

// openStore opens the store that target names (see storeurl.Open: a redis://
// or rediss:// URL, a MySQL DSN, a postgres:// URL, or a directory). A MySQL
// or PostgreSQL pool holds at most mysqlPool connections.
func openStore(ctx context.Context, target string, mysqlPool int) (opened, error) {
	st, err := storeurl.Open(ctx, target, storeurl.WithPool(mysqlPool))
	if err != nil {
		return opened{}, err
	}
	return opened{st.Store, st.Description, st.Close}, nil
}
