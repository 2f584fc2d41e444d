//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/file"
	"github.com/scoped-go/scoped/storetest"
)

// wantList checks that s.List(prefix) yields exactly want, each once, in
// any order.
func wantList(t *testing.T, s *file.Store, prefix string, want ...string) {
	t.Helper()
	var got []string
	for name, err := range s.List(t.Context(), prefix) {
		if err != nil {
			t.Fatalf("List(%.40q): %v", prefix, err)
		}
		got = append(got, name)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("List(%.40q) = %.40q, want %.40q", prefix, got, want)
	}
}

// List decodes the file names of escaped names, and reads the names of
// digests from their records, comparing prefixes of names, not of file
// names.
func TestListNames(t *testing.T) {
	names := slices.Concat(storetest.HostileNames, fileNames)
	slices.Sort(names)
	names = slices.Compact(names)
	s := open(t, t.TempDir())
	for _, name := range names {
		set(t, s, name, scoped.Revision{}, "x")
	}
	wantList(t, s, "", names...)
	for _, prefix := range []string{"a", "A", "%", "%6", ".", ".locks", "+", strings.Repeat("n", 250), strings.Repeat("A", 67), "straße", "e", "é", "/"} {
		var want []string
		for _, name := range names {
			if strings.HasPrefix(name, prefix) {
				want = append(want, name)
			}
		}
		wantList(t, s, prefix, want...)
	}
}

// List leaves out what is not a record file of a scope: temporary files,
// the lock directory, subdirectories, and files whose names no scope has,
// or digests whose record belongs elsewhere; and tombstones. A record file
// that cannot be read is listed under the name its file name gives, for
// Load to report the damage.
func TestListOtherFiles(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	set(t, s, "a", scoped.Revision{}, "x")
	long := strings.Repeat("long/", 50)
	set(t, s, long, scoped.Revision{}, "x")
	digestFile := "+" + digest(long) + ".rec"
	for name, content := range map[string]string{
		"b.tmp": "torn", ".open-1": "", "%61.rec": "", "%2a.rec": "", "%FF.rec": "",
		"x.y.rec": "", ".rec": "", "c.rec.tmp": "",
		"damaged.rec": "not a record",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "d.rec", "e.rec"), 0o777); err != nil {
		t.Fatal(err)
	}
	// A digest file holding the record of a: no scope's.
	copyFile(t, filepath.Join(dir, "a.rec"), filepath.Join(dir, "+"+strings.Repeat("0", 64)+".rec"))
	writeRecordV1(t, filepath.Join(dir, "tomb.rec"), "tomb", scoped.Record{Version: 1, Writer: scoped.NewToken()})
	wantList(t, s, "", "a", long, "damaged")
	if _, err := s.Load(t.Context(), "damaged"); err == nil {
		t.Fatal("Load of the damaged record succeeded")
	}

	// A file that cannot be opened ends the listing with an error.
	if os.Geteuid() != 0 {
		path := filepath.Join(dir, digestFile)
		if err := os.Chmod(path, 0); err != nil {
			t.Fatal(err)
		}
		var errs int
		for _, err := range s.List(t.Context(), "") {
			if err != nil {
				errs++
				if !errors.Is(err, scoped.ErrNotApplied) {
					t.Fatalf("List over an unreadable record file: %v; want an error matching scoped.ErrNotApplied", err)
				}
			}
		}
		if errs != 1 {
			t.Fatalf("List over an unreadable record file yielded %d errors, want 1", errs)
		}
	}
}

// A listing longer than a batch of directory entries, with the scopes of
// other prefixes among them.
func TestListBatches(t *testing.T) {
	s := open(t, t.TempDir())
	var want []string
	for i := range 600 {
		name := fmt.Sprintf("p%d/%03d", i%2, i)
		set(t, s, name, scoped.Revision{}, "x")
		if i%2 == 1 {
			want = append(want, name)
		}
	}
	wantList(t, s, "p1/", want...)
}
