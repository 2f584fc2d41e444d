package file

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"iter"
	"os"
	"strings"
	"time"

	"github.com/scoped-go/scoped"
)

// dirBatch is how many directory entries a listing reads at a time.
const dirBatch = 256

// List implements scoped.Store. It reads the directory in batches, and the
// header of every record file whose name may begin with prefix: an escaped
// file base gives the scope name, a digest needs the name its record holds.
// It leaves out records expired by the store's clock when it was called,
// tombstones of version 1 of the package, and files that vanish meanwhile.
// A record file whose header cannot be read is listed under the name its
// file base gives, so that a Load reports the damage, and left out if its
// base is a digest. It keeps the file base of every record file seen, so
// as to yield each name once. Every error it yields matches
// scoped.ErrNotApplied, as a listing performs nothing.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		now := s.now()
		for base, err := range s.recordFiles(ctx) {
			if err != nil {
				yield("", scoped.NotApplied(err))
				return
			}
			name, escaped := nameOfBase(base)
			if escaped && !strings.HasPrefix(name, prefix) {
				continue
			}
			h, found, err := s.readHeader(base)
			if err != nil {
				yield("", scoped.NotApplied(err))
				return
			}
			if !found {
				continue // removed meanwhile
			}
			if name, ok := listed(base, name, escaped, h, now); ok && strings.HasPrefix(name, prefix) && !yield(name, nil) {
				return
			}
		}
	}
}

// listed returns the name under which List yields the record file of the
// file base base, whose header is h (nil if damaged), and false if it
// leaves the file out. name and escaped are what nameOfBase says of base.
func listed(base, name string, escaped bool, h *fileHeader, now time.Time) (string, bool) {
	switch {
	case h == nil || escaped && h.name != name:
		return name, escaped // damaged: listed for Load to say so
	case !escaped && fileBase(h.name) != base:
		return "", false // no scope's file
	case h.tombstone || expired(h.expiresAt, now):
		return "", false
	}
	return h.name, true
}

// recordFiles yields the file base of every record file in the directory,
// each once, reading the directory dirBatch entries at a time and checking
// ctx before each batch. Lock, temporary and other files, directories, and
// names with no file base are left out.
func (s *Store) recordFiles(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		d, err := os.Open(s.dir)
		if err != nil {
			yield("", fmt.Errorf("file: %w", err))
			return
		}
		defer d.Close()
		seen := map[string]struct{}{}
		for {
			if err := ctx.Err(); err != nil {
				yield("", err)
				return
			}
			entries, err := d.ReadDir(dirBatch)
			for _, e := range entries {
				base, ok := strings.CutSuffix(e.Name(), recordSuffix)
				if !ok || base == "" || strings.Contains(base, ".") || !e.Type().IsRegular() {
					continue
				}
				if _, dup := seen[base]; dup {
					continue
				}
				seen[base] = struct{}{}
				if !yield(base, nil) {
					return
				}
			}
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				yield("", fmt.Errorf("file: %w", err))
				return
			}
		}
	}
}

// fileHeader is the header of a record file, as a listing or a sweep reads
// it.
type fileHeader struct {
	header
	tombstone bool // a record of version 1 of the package without a value
}

// readHeader reads the header of the record file of the file base base. It
// returns false if there is no such file, and a nil header if the file is
// too damaged to read one.
func (s *Store) readHeader(base string) (*fileHeader, bool, error) {
	f, err := os.Open(s.path(base, recordSuffix))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("file: %w", err)
	}
	b := make([]byte, min(info.Size(), int64(maxHeader)))
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, false, fmt.Errorf("file: %w", err)
	}
	h, err := decodeHeader(b)
	if err != nil {
		return nil, true, nil
	}
	return &fileHeader{header: h, tombstone: h.magic == recordMagicV1 && info.Size() == int64(h.size+crc32.Size)}, true, nil
}
