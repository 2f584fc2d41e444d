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
// directory, the journal directory (empty between calls), and nothing else
// for long:
//
//	NAME.rec     the scope's record: its full name, its version, the writer
//	             token of that version, its expiry time (milliseconds since
//	             the Unix epoch, or none) and the msgpack value, followed by
//	             a CRC-32C of all of it
//	NAME.tmp     the record being written, renamed over NAME.rec when done
//	.locks/00 … .locks/ff
//	             256 empty lock files, shared by all scopes
//	.journal/XX  the journal of a CompareAndSetMany that writes several
//	             files, while it runs (see Several scopes at once); the
//	             directory is made by the first such call
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
// directory holds is therefore its records, the 256 lock files, made by
// Open, and the journal directory: it does not grow with the number of scopes ever written or deleted.
//
// The lock file of a scope is .locks/XX, where XX is, in two lower-case hex
// digits, the first two bytes of the SHA-256 of the file base NAME, read as
// a big-endian number, modulo 256. The number of lock files and this hash
// are part of the format: every process sharing a directory must use the
// same. A process of a version of this package without CompareAndSetMany
// knows nothing of journals, and must not share a directory with one that
// calls it. A process of version 1 of this package, which locked a NAME.lock
// file per scope, must not share a directory with this one. Its NAME.lock
// files are no longer used and may be removed once it has stopped, and its
// tombstones (records without a value, which it kept for deleted scopes)
// read as no record. Records written before expiry times were kept, whose
// files begin "SCF1" where the new ones begin "SCF2", read as records that
// never expire.
//
// Open creates a missing directory with mode 0777 and the store creates
// files with mode 0666, both less the umask; to keep the state private,
// create the directory with mode 0700 before Open.
//
// # Concurrency
//
// A reader opens and reads the record file, without a lock (once no journal
// names its stripe: see Several scopes at once). A writer takes an
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
// # Several scopes at once
//
// CompareAndSetMany takes the lock files of the stripes of all its scopes,
// each once even when scopes share it, in ascending order of stripe, which
// every caller follows, so that two calls never wait for each other in a
// cycle. Under the locks it reads every record and compares every revision;
// if one is not as expected it writes nothing. A call that changes a single
// file (the others only checked, or deletes of scopes without a record)
// then writes as CompareAndSet or Delete does. A call that changes several
// files writes every new record to its NAME.tmp and fsyncs it; fsyncs the
// directory; writes its journal, .journal/XX, which names every rename of
// a NAME.tmp over its NAME.rec and every removal of a NAME.rec, and fsyncs
// it and .journal; renames and removes; fsyncs the directory once; and
// removes the journal and fsyncs .journal, before it releases the locks.
// Such a call costs three fsyncs of directories and one of a file more
// than a single write.
//
// XX, the name of a journal, is the lowest stripe of its scopes: only the
// holder of that lock writes it. A journal that names a stripe whose lock a
// writer holds is therefore no running call's: its writer died, or failed
// after writing it. Whoever takes a stripe's lock (a write, a delete, a
// sweep, Open) first reads the journals, and finishes every one that names
// the stripe: having taken the locks of all its stripes (releasing its own
// and taking them all again in ascending order, if need be), it renames the
// temporary files still there, removes the record files still there,
// fsyncs the directory and removes the journal. While a journal exists no
// other write touches its scopes, so the temporary files it names are its
// own, fsynced before it was written: rolling forward is always possible,
// and finishing a journal twice does nothing more. A journal that cannot be
// decoded is one being written, or cut short by a crash before any rename:
// the next holder of the stripe it is named after removes it.
//
// A Load first reads the journals too, which costs it a read of the
// .journal directory, empty between calls, besides that of the record file
// (a failed open if no call ever needed a journal): if one names the
// scope's stripe it takes that lock, which waits for a running call or
// finishes a dead one's, and releases it before reading. Once a Load
// returned a record of a call of several scopes, a Load of any of its
// scopes that begins afterwards returns the call's record or a later one,
// also after a crash. List and Sweep read without the locks: while a call
// runs, or after its writer died until the next writer of one of its
// stripes, a Load of one of its scopes or Open finishes it, List may list
// some of its scopes as they will be and others as they were.
//
// # Expiry
//
// A write may give the record an expiry time, kept in its file to the
// millisecond. The store's clock decides whether it has passed: time.Now,
// the clock of the process, unless Open was given another with WithClock.
// Processes sharing a directory should therefore have clocks that agree.
// Once its expiry time is not after the clock's time, a record is no
// record: Load returns the zero Record, a write expecting its revision is
// refused with the zero Record, and a write expecting no record replaces
// its file with version 1, as a write over any record does. List leaves it
// out.
//
// The file of an expired record stays until a write replaces it or Sweep
// removes it: a Load or a delete expecting no record leaves it. Sweep reads
// the directory and the header of every record file, and removes at most
// the given number of expired ones, each as a delete would (under the
// stripe's lock, the directory fsynced), after reading the record again
// under the lock: a record written again meanwhile is kept. Nothing needs
// Sweep for correctness; it reclaims space, and can be run from any one
// of the processes sharing the directory, or from several.
//
// # Listing
//
// List reads the directory a batch of entries at a time, so that a large
// store is never held in memory but for the file names already seen, which
// it keeps to yield each name once. The name of a scope whose file base is
// escaped is read from the file name, and compared with the prefix before
// the file is opened; a digest's is read from the record. Every record file
// considered is opened and its header read, to leave out expired records
// (by the store's clock when List was called) and the tombstones of version
// 1; a file removed meanwhile is skipped. A record file whose header cannot
// be read is listed under the name its file name gives, so that Load
// reports the damage (and left out if that name is a digest). Temporary,
// lock and probe files, directories and files of names no scope has are
// never listed.
//
// # Durability
//
// A write returns after the new record was written to NAME.tmp and fsynced,
// renamed over NAME.rec, and the directory fsynced (F_FULLFSYNC on macOS,
// through os.File.Sync), all under the lock; a delete, after NAME.rec was
// removed and the directory fsynced. A commit whose call returned is
// therefore on disk, even after a power failure, and a process killed at any
// point, even with SIGKILL, leaves every scope at its old or its new
// revision. A CompareAndSetMany killed after its journal was written is
// finished by the next writer of one of its stripes, a Load of one of its
// scopes, or Open: it leaves all its scopes at their new revisions, or, if
// killed before, all at their old ones. Open fsyncs the parent of every directory it creates; lock files
// need no fsync, as they matter only while processes run. Reads fsync
// nothing.
//
// A record that fails its checksum, or cannot be decoded, or holds another
// scope's name, is reported as a *scoped.CorruptValueError naming the scope
// and the file, by reads and writes alike: it is never overwritten. Removing
// the file resets the scope to no record.
//
// Open finishes the journals that crashes left, but for those with a
// stripe whose lock a writer holds, and then removes the NAME.tmp files
// that a crash left behind, but for those whose lock a writer holds; a
// delete removes the scope's too.
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
// a crash. A CompareAndSetMany of several files is classified the same way,
// its journal in place of the rename: an error before the journal is
// written (its temporary files then removed) matches scoped.ErrNotApplied;
// one after it is a plain error, and the journal stays, for the next holder
// of one of its locks to finish. An error while finishing another call's
// journal fails, unperformed, the write that took the lock. Every error of Load and List matches scoped.ErrNotApplied, as
// they perform nothing. An error of Sweep is that of the removal it stopped
// at, classified as a delete's, and the records it removed before it are
// counted.
//
// Locking needs flock(2): the package works on Linux, macOS, the BSDs and
// Solaris; elsewhere Open fails with an error matching errors.ErrUnsupported.
// File systems without working flock, such as some network file systems, are
// detected at Open.
package file
