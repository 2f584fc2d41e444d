//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/storetest"
)

// fileNames are valid scope names that are awkward for this backend: they
// look like its own files, like an escape or a digest, differ only in case
// or in Unicode normalization, or are around the length where escaping gives
// way to a digest.
var fileNames = []string{
	"a", "A", "%61", "%41", "a.rec", "a.lock", "a.tmp", ".rec", ".lock", ".tmp",
	".locks", ".locks/00", "00", "ff", "%2Elocks",
	".open-1", "+", "-", "_", "~", "...", "./a", "a/../b", "/etc/passwd",
	"../../../../../../../../tmp/escaped", "..\\..\\..\\windows",
	"straße", "STRASSE", "Straße", "é", "e\u0301", "É",
	"+" + digest(strings.Repeat("n", scoped.MaxNameLength)),
	strings.Repeat("a", 200), strings.Repeat("a", 201),
	strings.Repeat("A", 66), strings.Repeat("A", 67), strings.Repeat("A", 85),
	strings.Repeat("n", 250), strings.Repeat("n", 255), strings.Repeat("n", 256),
	strings.Repeat("N", scoped.MaxNameLength),
	strings.Repeat("n", scoped.MaxNameLength-1) + "N",
	strings.Repeat("n", scoped.MaxNameLength-1),
	strings.Repeat("/", scoped.MaxNameLength),
	strings.Repeat("..", scoped.MaxNameLength/2),
	strings.Repeat("\U0010FFFF", scoped.MaxNameLength/4),
}

func digest(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// Every hostile name stores its own value, in its own file, inside the
// directory: no two files of the store differ only in case, no file name is
// over 255 bytes or outside printable ASCII, and nothing appears anywhere
// else but in the lock directory.
func TestHostileNames(t *testing.T) {
	names := slices.Concat(storetest.HostileNames, fileNames)
	slices.Sort(names)
	names = slices.Compact(names)

	root := t.TempDir()
	dir := filepath.Join(root, "x", "y", "store")
	s := open(t, dir)
	for _, name := range names {
		if err := scoped.ValidateName(name); err != nil {
			t.Fatalf("test name %q is invalid: %v", name, err)
		}
		if _, ok, err := s.CompareAndSet(t.Context(), name, scoped.Revision{}, scoped.Write{Value: []byte("value of " + name), Writer: scoped.NewToken()}); err != nil || !ok {
			t.Fatalf("CompareAndSet(%.40q) = %v, %v", name, ok, err)
		}
	}
	for _, name := range names {
		rec, err := s.Load(t.Context(), name)
		if err != nil || rec.Version != 1 || string(rec.Value) != "value of "+name {
			t.Errorf("Load(%.40q) = version %d, value %.60q, %v; want version 1, its own value", name, rec.Version, rec.Value, err)
		}
	}

	var outside []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(root, path); filepath.Dir(rel) != filepath.Join("x", "y", "store") &&
			filepath.Dir(rel) != filepath.Join("x", "y", "store", ".locks") &&
			!slices.Contains([]string{".", "x", filepath.Join("x", "y"), filepath.Join("x", "y", "store")}, rel) {
			outside = append(outside, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(outside) > 0 {
		t.Fatalf("files created outside the store's directory: %q", outside)
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	folded := map[string]string{}
	records := 0
	for _, e := range entries {
		name := e.Name()
		if name == ".locks" && e.IsDir() {
			continue
		}
		if !e.Type().IsRegular() {
			t.Errorf("%q is not a regular file", name)
		}
		if len(name) > 255 || strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
			t.Errorf("file name %q is over 255 bytes or not printable ASCII", name)
		}
		if other, ok := folded[strings.ToLower(name)]; ok {
			t.Errorf("file names %q and %q differ only in case", other, name)
		}
		folded[strings.ToLower(name)] = name
		if strings.HasSuffix(name, ".rec") {
			records++
		}
	}
	if records != len(names) {
		t.Fatalf("%d record files for %d scopes", records, len(names))
	}
}

// A record file found under another scope's file name, as a digest
// collision would put it there, is reported as corrupt, never returned as
// the other scope's value, and never overwritten.
func TestRecordOfAnotherScope(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	mine, theirs := strings.Repeat("m", scoped.MaxNameLength), strings.Repeat("t", scoped.MaxNameLength)
	set(t, s, theirs, scoped.Revision{}, "their value")
	theirFile := onlyRecordFile(t, dir)
	rec := set(t, s, mine, scoped.Revision{}, "my value")
	var myFile string
	for _, e := range readDir(t, dir) {
		if strings.HasSuffix(e, ".rec") && e != theirFile {
			myFile = e
		}
	}
	copyFile(t, filepath.Join(dir, theirFile), filepath.Join(dir, myFile))
	want := readFile(t, filepath.Join(dir, myFile))

	_, err := s.Load(t.Context(), mine)
	assertCorrupt(t, "Load", err, mine)
	_, _, err = s.CompareAndSet(t.Context(), mine, rec.Revision(), scoped.Write{Value: []byte("new"), Writer: scoped.NewToken()})
	assertCorrupt(t, "CompareAndSet", err, mine)
	_, _, err = s.Delete(t.Context(), mine, rec.Revision())
	assertCorrupt(t, "Delete", err, mine)
	if got := readFile(t, filepath.Join(dir, myFile)); string(got) != string(want) {
		t.Fatal("the record file was overwritten")
	}
	if rec := load(t, s, theirs); string(rec.Value) != "their value" {
		t.Fatalf("the other scope holds %q", rec.Value)
	}
}

func assertCorrupt(t *testing.T, what string, err error, scope string) {
	t.Helper()
	var corrupt *scoped.CorruptValueError
	if !errors.As(err, &corrupt) || corrupt.Scope != scope || !errors.Is(err, scoped.ErrCorruptValue) {
		t.Fatalf("%s: %v; want a CorruptValueError naming scope %.40q", what, err, scope)
	}
}
