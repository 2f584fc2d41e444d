// Package file is the embedded backend of scoped: a Store over a local
// directory, safe for several goroutines and several processes at once, and
// safe against crashes. It needs no server.
//
//	s, err := file.Open("state")
//	if err != nil { ... }
//	e := scoped.New(s)
//	n, err := scoped.Update(ctx, e, "visits", func(n *int) (int, error) {
//		*n++
//		return *n, nil
//	})
//
// # Layout
//
// Each scope is one record file, NAME.rec, holding the scope's full name, its
// version, the writer token of that version and the msgpack value, followed
// by a CRC-32C of all of it; a deleted scope keeps a record without a value
// (a tombstone), so that versions never repeat. NAME is the scope name with
// every byte other than a-z, 0-9, '-' and '_' written as %XX, or, when that
// would exceed 200 bytes, '+' and the hex SHA-256 of the name. File names are
// therefore plain ASCII, distinct even on file systems that ignore case or
// normalize Unicode, and always inside the directory, whatever the scope
// name. NAME.lock is the scope's lock file and NAME.tmp the record being
// written. A scope's files stay after it is deleted, as its tombstone and its
// lock.
//
// Open creates a missing directory with mode 0777 and the store creates
// files with mode 0666, both less the umask; to keep the state private,
// create the directory with mode 0700 before Open.
//
// # Concurrency
//
// A reader opens and reads the record file, without a lock. A writer takes an
// exclusive flock(2) on the scope's lock file, reads the current record,
// compares versions, writes the new record to NAME.tmp and renames it over
// NAME.rec. Because a record is replaced by a rename and never changed in
// place, a reader sees either the old record or the new one, never a mix.
// Locks are per scope: writers of different scopes never wait for each other.
// Waiting for a lock polls, so that a cancelled context ends the wait.
//
// # Durability
//
// A write returns after the new record was written to NAME.tmp and fsynced,
// renamed over NAME.rec, and the directory fsynced (F_FULLFSYNC on macOS,
// through os.File.Sync), all under the scope's lock. A commit whose call
// returned is therefore on disk, even after a power failure, and a process
// killed at any point, even with SIGKILL, leaves every scope at its old or
// its new version. Open fsyncs the parent of every directory it creates.
// Reads fsync nothing.
//
// A record that fails its checksum, or cannot be decoded, or holds another
// scope's name, is reported as a *scoped.CorruptValueError naming the scope
// and the file, by reads and writes alike: it is never overwritten. Removing
// the file resets the scope to version 0.
//
// Open removes the NAME.tmp files that a crash left behind.
//
// Locking needs flock(2): the package works on Linux, macOS, the BSDs and
// Solaris; elsewhere Open fails with an error matching errors.ErrUnsupported.
// File systems without working flock, such as some network file systems, are
// detected at Open.
package file
