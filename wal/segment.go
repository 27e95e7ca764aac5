package wal

// This file owns one segment: its in-memory index and the scan that rebuilds
// that index on Open, deciding whether bytes past the last good record are a
// torn last write (cut off) or damage to synced data (an error).
//
// Invariants that recovery relies on, kept by the writer (append.go):
//   - a write is one pwrite of whole records, into one segment, and the next
//     write starts only after the previous one was synced; so at any moment at
//     most one write is not durable, and it is the last one of the last
//     segment;
//   - the first record of every write carries flagFirstOfWrite;
//   - bytes past the last written record are zero: segments are new files,
//     preallocated, never reused, and tail truncation cuts the file
//     (ftruncate) before preallocating again;
//   - a segment gets its final name only after its first write is synced, so
//     a segment's first record is never torn.

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// segment is one segment file and the offsets of its records.
//
// The fields below f are written with both WAL.wmu and WAL.mu held, so
// holding either one is enough to read them.
type segment struct {
	f     file
	path  string
	seq   uint64
	first uint64 // index of the record at offsets[0]
	seed  uint32 // CRC state after the segment's salt

	offsets []uint32 // offsets[i] is where record first+i starts
	end     int64    // offset past the last record: where the next write goes
	size    int64    // file size; the segment is full when a write would pass it
	// written is the offset up to which the file's blocks hold written
	// data or zeros, rather than space fallocate reserved: a write below
	// it changes no block mapping, so its fdatasync flushes data only.
	// Invariant: end <= written <= size.
	written int64
}

// count is the number of records held.
func (s *segment) count() uint64 { return uint64(len(s.offsets)) }

// last is the index of the last record; first-1 when the segment is empty.
func (s *segment) last() uint64 { return s.first + s.count() - 1 }

// span returns where the record at index starts and ends.
func (s *segment) span(index uint64) (off, end int64) {
	i := index - s.first
	off = int64(s.offsets[i])
	if i+1 < s.count() {
		return off, int64(s.offsets[i+1])
	}
	return off, s.end
}

const segSuffix = ".seg"

func segName(seq, first uint64) string {
	return fmt.Sprintf("%020d-%020d%s", seq, first, segSuffix)
}

// parseSegName returns the sequence number and first index in a segment
// file name, and whether name is one.
func parseSegName(name string) (seq, first uint64, ok bool) {
	base, found := strings.CutSuffix(name, segSuffix)
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(base, "-")
	if !found {
		return 0, 0, false
	}
	seq, err1 := strconv.ParseUint(a, 10, 64)
	first, err2 := strconv.ParseUint(b, 10, 64)
	return seq, first, err1 == nil && err2 == nil
}

// scanResult is what a scan learns from a segment's bytes.
type scanResult struct {
	hdr     segHeader
	offsets []uint32
	end     int64  // offset past the last good record
	commit  uint64 // commit index carried by the last good record
	torn    bool   // non-zero bytes past end were a torn write to cut off
}

// errDamaged marks a scan failure that is damage rather than a torn write.
var errDamaged = errors.New("damaged")

// scanSegment rebuilds the index of a segment from its bytes. last says
// whether it is the last segment, the only one that may end in a torn write.
// An error names the offset of the damage.
func scanSegment(b []byte, last bool) (scanResult, error) {
	hdr, err := decodeSegHeader(b)
	if err != nil {
		return scanResult{}, fmt.Errorf("offset 0: %w", err)
	}
	if int64(len(b)) > maxSegmentBytes {
		return scanResult{}, fmt.Errorf("offset 0: %d bytes, more than a segment may hold", len(b))
	}
	r := scanResult{hdr: hdr}
	seed := saltSeed(hdr.salt)
	off := segHeaderSize
	for off < len(b) && peekLen(b[off:]) != 0 {
		m, err := checkRecord(b[off:], seed)
		if err != nil {
			break
		}
		if want := hdr.first + uint64(len(r.offsets)); m.index != want {
			return r, fmt.Errorf("offset %d: %w: record has index %d, want %d", off, errDamaged, m.index, want)
		}
		r.offsets = append(r.offsets, uint32(off))
		r.commit = m.commit
		off += m.size
	}
	r.end = int64(off)
	if isZero(b[off:]) {
		return r, nil
	}
	if err := classifyTail(b, off, seed, last, hdr.first+uint64(len(r.offsets))); err != nil {
		return r, err
	}
	r.torn = true
	return r, nil
}

// classifyTail decides about the non-zero bytes from off on, where the
// record sequence broke. They are a torn last write only in the last
// segment, past its first record, and if no intact record after off starts
// a later write or repeats an index already held: a later write would mean
// the broken one had been synced, so its loss would lose acknowledged data.
func classifyTail(b []byte, off int, seed uint32, last bool, next uint64) error {
	switch {
	case !last:
		return fmt.Errorf("offset %d: %w: invalid record in a sealed segment", off, errDamaged)
	case off == segHeaderSize:
		return fmt.Errorf("offset %d: %w: the segment's first record is invalid", off, errDamaged)
	}
	for q := off + recAlign; q < len(b); {
		if peekLen(b[q:]) == 0 {
			q += recAlign
			continue
		}
		m, err := checkRecord(b[q:], seed)
		if err != nil {
			q += recAlign
			continue
		}
		if m.flags&flagFirstOfWrite != 0 || m.index < next {
			return fmt.Errorf("offset %d: %w: invalid record followed by intact record %d at offset %d",
				off, errDamaged, m.index, q)
		}
		q += m.size
	}
	return nil
}

func isZero(b []byte) bool {
	const chunk = 64 << 10
	var zeros [chunk]byte
	for len(b) > 0 {
		n := min(len(b), chunk)
		if !bytes.Equal(b[:n], zeros[:n]) {
			return false
		}
		b = b[n:]
	}
	return true
}

// loadSegment opens a segment file and scans it.
func loadSegment(fsys fileSystem, dir, name string, last bool) (*segment, scanResult, error) {
	path := filepath.Join(dir, name)
	f, err := fsys.OpenFile(path, osReadWrite, 0)
	if err != nil {
		return nil, scanResult{}, fmt.Errorf("raft: wal open %s: %w", path, err)
	}
	s, r, err := readSegment(f, path, last)
	if err != nil {
		f.Close()
		return nil, r, err
	}
	return s, r, nil
}

func readSegment(f file, path string, last bool) (*segment, scanResult, error) {
	size, err := f.Size()
	if err != nil {
		return nil, scanResult{}, fmt.Errorf("raft: wal stat %s: %w", path, err)
	}
	if size > maxSegmentBytes {
		return nil, scanResult{}, fmt.Errorf("%w: %s: %d bytes, more than a segment may hold", ErrCorrupt, path, size)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return nil, scanResult{}, fmt.Errorf("raft: wal read %s: %w", path, err)
	}
	r, err := scanSegment(b, last)
	if err != nil {
		return nil, r, fmt.Errorf("%w: %s at %w", ErrCorrupt, path, err)
	}
	s := &segment{
		f: f, path: path, seq: r.hdr.seq, first: r.hdr.first, seed: saltSeed(r.hdr.salt),
		offsets: r.offsets, end: r.end, size: size, written: r.end,
	}
	return s, r, nil
}

// cutTail removes the torn bytes past s.end durably and preallocates the
// space again. ftruncate is atomic, so a crash leaves either the torn bytes
// (cut again on the next Open) or none.
func (s *segment) cutTail(sync bool) error {
	if err := s.f.Truncate(s.end); err != nil {
		return fmt.Errorf("raft: wal truncate %s: %w", s.path, err)
	}
	if err := s.f.Allocate(s.end, s.size-s.end); err != nil {
		return fmt.Errorf("raft: wal preallocate %s: %w", s.path, err)
	}
	s.written = s.end
	if !sync {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("raft: wal sync %s: %w", s.path, err)
	}
	return nil
}
