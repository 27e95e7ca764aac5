// Package wal is a durable raft.LogStore and raft.StableStore: a
// write-ahead log of segment files with group commit, crash recovery and
// fault handling that never acknowledges what it could not sync.
//
//	w, err := wal.Open(dir)          // files go to dir/wal/
//	defer w.Close()
//	r, err := raft.NewRaft(conf, fsm, w, w, snaps, trans)
//
// # Guarantees
//
// When StoreLogs, DeleteRange, Set or SetUint64 returns nil, the change is
// on disk (unless WithSync(false)): after a crash of the process or of the
// machine, Open returns it. A write cut short by a crash is detected by its
// CRC and removed on Open; damage to data that had been synced is reported
// by Open as an error wrapping ErrCorrupt that names the file and offset,
// never skipped. After a failed write or sync the WAL refuses every further
// write (ErrFailed) until it is opened again. See README.md for the limits.
//
// # Files
//
// All files live in the subdirectory "wal" of the directory given to Open:
//
//	LOCK                                   flock(2)ed while open
//	stable                                 the StableStore's keys and values
//	head                                   first index and commit index (optional)
//	00000000000000000001-00000000000000000001.seg   segments: sequence-firstindex
//	*.tmp                                  spares and replacements in progress; removed by Open
//
// Integers are little endian. CRC32C is the Castagnoli polynomial.
//
// # Segment file
//
// A segment starts with a 40-byte header, followed by records, followed by
// zeros up to the preallocated size. Segments are never reused, and tail
// truncation cuts the file with ftruncate, so the bytes past the last record
// are always zero.
//
//	offset size  header field
//	     0    8  magic "RKWALSG1"
//	     8    4  version, 1
//	    12    4  salt: random per segment; seeds every record CRC, so bytes of
//	             another segment (or a copy inside an entry) never validate
//	    16    8  sequence number, also in the file name
//	    24    8  index of the first record, also in the file name
//	    32    4  reserved, 0
//	    36    4  CRC32C of bytes 0..35
//
// Each record starts at a multiple of 8 and is padded with zeros to the
// next multiple of 8:
//
//	offset size  record field
//	     0    4  body length N (>= 40); 0 here means no more records
//	     4    4  CRC32C, seeded with the salt, of bytes 0..3 and the body
//	     8    8  body: index
//	    16    8        term
//	    24    8        commit index staged when the record was written
//	    32    8        AppendedAt, Unix nanoseconds; 0 for the zero time
//	    40    1        type (raft.LogType)
//	    41    1        flags: bit 0 marks the first record of a write(2)
//	    42    2        reserved, 0
//	    44    4        E, length of the extensions
//	    48  N-40-E     data
//	  8+N-E   E        extensions
//	   8+N  0..7  padding, 0
//
// Records of a segment have consecutive indexes; the first record of each
// segment continues the previous segment.
//
// # Recovery
//
// Open scans every segment. Only one write can be unsynced at a time, the
// last one, so only the last segment may end in a torn write: a record
// that fails its CRC, followed by zeros or by pieces of the same write. If
// an intact record follows that starts a later write (flag bit 0), the
// broken record had been synced: that is damage, and Open fails. A
// segment's first record is written and synced before the segment gets its
// name, so it is never torn.
//
// # Head file
//
// Deleting from the head removes whole segments; entries of the segment
// that holds the new first index stay in the file and the head file hides
// them. It also keeps the commit index when the log is emptied.
//
//	offset size  field
//	     0    8  magic "RKWALHD1"
//	     8    8  first index: entries below it are deleted
//	    16    8  commit index
//	    24    4  CRC32C of bytes 0..23
//
// # Stable file
//
//	offset size  field
//	     0    8  magic "RKWALST1"
//	     8    4  number of entries M
//	    12       M entries: key length K (4), value length V (4), key (K), value (V)
//	   end-4  4  CRC32C of every byte before it
//
// The stable file and the head file are replaced whole: written to a
// temporary file, synced, renamed over the old one, and the directory
// synced.
package wal
