package file_test

import (
	"testing"

	"github.com/scoped-go/scoped"

	"github.com/scoped-go/scoped/internal/linearize"
)

// Three engines, each on a store of its own, on one directory: the history
// is linearizable.
func TestLinearizable(t *testing.T) {
	dir := t.TempDir()
	linearize.Check(t, linearize.Engines(t, open(t, dir), open(t, dir), open(t, dir)), linearize.DefaultWorkload(21))
}

// Three processes, each with an engine and three workers, on one directory: the merged
// history is linearizable.
func TestLinearizableProcesses(t *testing.T) {
	dir := linearize.Place(t, t.TempDir)
	linearize.CheckProcesses(t, 3, linearize.ProcessWorkload(22), dir, func(dir string) []*scoped.Engine {
		return linearize.Engines(t, open(t, dir))
	})
}
