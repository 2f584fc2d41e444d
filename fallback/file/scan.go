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
)

// dirBatch is how many directory entries List and Sweep read at a time.
const dirBatch = 256

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
