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
// The directory holds one record file per scope that has a record, the lock
// directory, and nothing else for long:
//
//	NAME.rec     the scope's record: its full name, its version, the writer
//	             token of that version and the msgpack value, followed by a
//	             CRC-32C of all of it
//	NAME.tmp     the record being written, renamed over NAME.rec when done
//	.locks/00 … .locks/ff
//	             256 empty lock files, shared by all scopes
//
// NAME, the scope's file base, is the scope name with every byte other than
// a-z, 0-9, '-' and '_' written as %XX, or, when that would exceed 200 bytes,
// '+' and the hex SHA-256 of the name. File names are therefore plain ASCII,
// distinct even on file systems that ignore case or normalize Unicode, and
// always inside the directory, whatever the scope name.
//
// A delete removes NAME.rec: nothing of a deleted scope stays, and a scope
// that is written again starts again at version 1. A scope that was never
// written has no file, even after a refused write or a delete. What the
// directory holds is therefore its records and the 256 lock files, made by
// Open: it does not grow with the number of scopes ever written or deleted.
//
// The lock file of a scope is .locks/XX, where XX is, in two lower-case hex
// digits, the first two bytes of the SHA-256 of the file base NAME, read as
// a big-endian number, modulo 256. The number of lock files and this hash
// are part of the format: every process sharing a directory must use the
// same. A process of version 1 of this package, which locked a NAME.lock
// file per scope, must not share a directory with this one. Its NAME.lock
// files are no longer used and may be removed once it has stopped, and its
// tombstones (records without a value, which it kept for deleted scopes)
// read as no record.
//
// Open creates a missing directory with mode 0777 and the store creates
// files with mode 0666, both less the umask; to keep the state private,
// create the directory with mode 0700 before Open.
//
// # Concurrency
//
// A reader opens and reads the record file, without a lock. A writer takes an
// exclusive flock(2) on the scope's lock file, reads the current record,
// compares its revision (version and writer) with the one expected, and
// writes the new record to NAME.tmp and renames it over NAME.rec, or removes
// NAME.rec. Because a record is replaced by a rename and never changed in
// place, a reader sees either the old record or the new one, never a mix.
// Waiting for a lock polls, so that a cancelled context ends the wait.
//
// The 256 lock files are stripes: scopes whose file bases hash to the same
// one wait for each other's writes, each of which holds the lock through two
// fsyncs. Sixty-four writers busy with sixty-four scopes fall on about 57
// stripes, two or three at most on one, and keep about nine tenths of the
// parallelism that a lock per scope would give, more than a disk's fsyncs
// usually have. A fixed set keeps what the directory holds from growing with
// the scopes, as a lock file per scope would.
//
// # Durability
//
// A write returns after the new record was written to NAME.tmp and fsynced,
// renamed over NAME.rec, and the directory fsynced (F_FULLFSYNC on macOS,
// through os.File.Sync), all under the lock; a delete, after NAME.rec was
// removed and the directory fsynced. A commit whose call returned is
// therefore on disk, even after a power failure, and a process killed at any
// point, even with SIGKILL, leaves every scope at its old or its new
// revision. Open fsyncs the parent of every directory it creates; lock files
// need no fsync, as they matter only while processes run. Reads fsync
// nothing.
//
// A record that fails its checksum, or cannot be decoded, or holds another
// scope's name, is reported as a *scoped.CorruptValueError naming the scope
// and the file, by reads and writes alike: it is never overwritten. Removing
// the file resets the scope to no record.
//
// Open removes the NAME.tmp files that a crash left behind, but for those
// whose lock a writer holds; a delete removes the scope's too.
//
// # Errors
//
// An error matches scoped.ErrNotApplied when the write was certainly not
// performed, and never will be: the context ended before the call, or while
// it waited for the lock (the lock file is closed, so the write never takes
// the lock later); the lock file could not be opened or locked; the current
// record could not be read, or is corrupt; the name is invalid; the
// temporary file could not be created, written, fsynced or closed (a full
// disk, say); or the rename or removal failed and left the files as they
// were. Once a write holds its lock it runs to its end, whatever its
// context. Any error after the rename or removal, such as a failed fsync of
// the directory, is a plain error: the write is visible, and may not survive
// a crash. Every error of Load matches scoped.ErrNotApplied, as a Load
// performs nothing.
//
// Locking needs flock(2): the package works on Linux, macOS, the BSDs and
// Solaris; elsewhere Open fails with an error matching errors.ErrUnsupported.
// File systems without working flock, such as some network file systems, are
// detected at Open.
package file
