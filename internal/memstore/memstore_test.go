package memstore_test

import (
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/memstore"
	"github.com/scoped-go/scoped/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		NewStore:  func(_ *testing.T, c *storetest.Clock) scoped.Store { return memstore.NewWithClock(c.Now) },
		Footprint: func(_ *testing.T, s scoped.Store) int { return s.(*memstore.Store).Len() },
	})
}
