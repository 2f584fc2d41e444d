package memstore_test

import (
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/memstore"
	"github.com/scoped-go/scoped/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) scoped.Store { return memstore.New() },
		func(_ *testing.T, s scoped.Store) int { return s.(*memstore.Store).Len() })
}
