package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// journalDir is the subdirectory of the journals of CompareAndSetMany: a
// journal names the renames and removals of one call, so that a call cut
// short by a crash is finished by the next writer of its scopes. It is made
// by the first call that needs a journal.
const journalDir = ".journal"

// A journal file is, in order:
//
//	magic    4 bytes   "SCJ1"
//	count    4 bytes   big-endian: the number of steps
//	steps    count times:
//	  kind   1 byte    'r': rename NAME.tmp over NAME.rec; 'd': remove NAME.rec
//	  len    2 bytes   big-endian
//	  base   len bytes, the scope's file base NAME
//	checksum 4 bytes   big-endian CRC-32C of everything before it
//
// Its name in journalDir is the name of the lowest lock stripe of its
// steps' scopes (lockName), which its writer holds: at most one call at a
// time can write it.
const journalMagic = "SCJ1"

// The kinds of a journal step.
const (
	stepRename = 'r'
	stepRemove = 'd'
)

// step is one rename or removal of a journal.
type step struct {
	kind byte
	base string
}

// journal is the steps of one CompareAndSetMany.
type journal []step

// stripes returns the lock stripes of the journal's scopes, ascending, each
// once.
func (j journal) stripes() []int {
	s := make([]int, 0, len(j))
	for _, st := range j {
		s = append(s, stripe(st.base))
	}
	slices.Sort(s)
	return slices.Compact(s)
}

// name returns the journal's file name in journalDir.
func (j journal) name() string { return lockName(j.stripes()[0]) }

// encode returns the journal file of j.
func (j journal) encode() []byte {
	b := append([]byte(nil), journalMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(j)))
	for _, st := range j {
		b = append(b, st.kind)
		b = binary.BigEndian.AppendUint16(b, uint16(len(st.base)))
		b = append(b, st.base...)
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeJournal reads the journal file b, whose name is name. It fails for a
// file that a crash cut short, as its checksum does not match.
func decodeJournal(name string, b []byte) (journal, error) {
	if len(b) < len(journalMagic)+4+crc32.Size {
		return nil, fmt.Errorf("%d bytes, shorter than any journal", len(b))
	}
	body, sum := b[:len(b)-crc32.Size], binary.BigEndian.Uint32(b[len(b)-crc32.Size:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fmt.Errorf("checksum %08x, want %08x", got, sum)
	}
	if string(body[:len(journalMagic)]) != journalMagic {
		return nil, fmt.Errorf("not a journal (magic %q)", body[:len(journalMagic)])
	}
	n := binary.BigEndian.Uint32(body[len(journalMagic):])
	p := body[len(journalMagic)+4:]
	j := make(journal, 0, min(int(n), len(p)/3))
	for range n {
		if len(p) < 3 {
			return nil, errors.New("truncated step")
		}
		kind, size := p[0], int(binary.BigEndian.Uint16(p[1:]))
		p = p[3:]
		if kind != stepRename && kind != stepRemove || size == 0 || size > len(p) {
			return nil, fmt.Errorf("bad step %q of %d bytes", kind, size)
		}
		j = append(j, step{kind: kind, base: string(p[:size])})
		p = p[size:]
	}
	if len(p) != 0 || len(j) == 0 || j.name() != name {
		return nil, errors.New("bad journal")
	}
	return j, nil
}

// journalPath returns the path of the journal file name.
func (s *Store) journalPath(name string) string {
	return filepath.Join(s.dir, journalDir, name)
}

// journalNames returns the names of the journal files, none if the
// journal directory is missing.
func (s *Store) journalNames() ([]string, error) {
	d, err := os.Open(filepath.Join(s.dir, journalDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// readJournal reads the journal file name. It returns nil, nil if the file
// is gone, and an error matching errBadJournal if it cannot be decoded.
func (s *Store) readJournal(name string) (journal, error) {
	b, err := os.ReadFile(s.journalPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	j, err := decodeJournal(name, b)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", errBadJournal, s.journalPath(name), err)
	}
	return j, nil
}

// errBadJournal is the error of a journal file that cannot be decoded: one
// that its writer is writing, or was writing when it died, before any of
// its steps.
var errBadJournal = errors.New("undecodable journal")

// writeJournal makes j durable in the journal directory, creating the
// directory if it is missing: the journal file is written and fsynced, and
// the journal directory fsynced, after the store's directory, which makes
// the temporary files and a journal directory created here durable before
// the journal. The caller holds the lock of every stripe of j. It returns
// true if the journal file may be left in place after an error: it then
// may be found and rolled forward.
func (s *Store) writeJournal(j journal) (bool, error) {
	dir := filepath.Join(s.dir, journalDir)
	if err := os.Mkdir(dir, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
		return false, err
	}
	if err := s.syncDir(s.dir); err != nil {
		return false, err
	}
	path := s.journalPath(j.name())
	if err := writeSynced(s.create, path, j.encode()); err != nil {
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return true, err
		}
		return false, err
	}
	if err := s.syncDir(dir); err != nil {
		if rerr := os.Remove(path); rerr != nil {
			return true, err
		}
		return false, err
	}
	return false, nil
}

// removeJournal removes the journal file name and fsyncs the journal
// directory, so that the journal cannot come back after a crash, once
// the locks of its stripes are released and its scopes written again.
func (s *Store) removeJournal(name string) error {
	if err := s.remove(s.journalPath(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return s.syncDir(filepath.Join(s.dir, journalDir))
}

// apply performs the steps of j, renaming every temporary file that is
// still there and removing every record file that is, and fsyncs the
// store's directory. It is what CompareAndSetMany does after writing j, and
// what a recovery does with a journal that a crash left, any number of
// times: while the journal exists no other write touches its scopes, so a
// temporary file that is gone was renamed, and a record file that is there
// is to be removed. The caller holds the lock of every stripe of j.
func (s *Store) apply(j journal) error {
	for _, st := range j {
		switch st.kind {
		case stepRename:
			tmp := s.path(st.base, tempSuffix)
			if _, err := os.Lstat(tmp); errors.Is(err, fs.ErrNotExist) {
				continue
			} else if err != nil {
				return err
			}
			if err := s.rename(tmp, s.path(st.base, recordSuffix)); err != nil {
				return err
			}
		case stepRemove:
			if err := s.remove(s.path(st.base, recordSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return s.syncDir(s.dir)
}
