package wal

// This file owns the read path: the log's bounds, GetLog (from the cache of
// recent entries, else one pread of the record), and the commit index.

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/raftkit/raft"
)

// FirstIndex returns the index of the first entry, 0 when the log is empty.
func (w *WAL) FirstIndex() (uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed.Load() {
		return 0, ErrClosed
	}
	return w.first, nil
}

// LastIndex returns the index of the last entry, 0 when the log is empty.
func (w *WAL) LastIndex() (uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed.Load() {
		return 0, ErrClosed
	}
	return w.last, nil
}

// GetLog fills out with the entry at index, or returns raft.ErrLogNotFound.
// The returned Data and Extensions are never modified by the WAL; the caller
// may keep them.
func (w *WAL) GetLog(index uint64, out *raft.Log) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed.Load() {
		return ErrClosed
	}
	if w.last == 0 || index < w.first || index > w.last {
		return raft.ErrLogNotFound
	}
	if l, ok := w.cache.get(index); ok {
		*out = *l
		return nil
	}
	// The read lock is held across the pread so that no DeleteRange can
	// truncate or close the file under it; reads stay concurrent.
	return w.readRecordRLocked(w.segmentRLocked(index), index, out)
}

// segmentRLocked returns the segment holding index, which is in the log.
func (w *WAL) segmentRLocked(index uint64) *segment {
	i := sort.Search(len(w.segs), func(i int) bool { return w.segs[i].last() >= index })
	return w.segs[i]
}

func (w *WAL) readRecordRLocked(s *segment, index uint64, out *raft.Log) error {
	off, end := s.span(index)
	b := make([]byte, end-off)
	if _, err := s.f.ReadAt(b, off); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return raft.ErrLogNotFound
		}
		return fmt.Errorf("raft: wal read %s at %d: %w", s.path, off, err)
	}
	if err := decodeRecord(b, s.seed, out); err != nil {
		return fmt.Errorf("%w: %s at offset %d: %w", ErrCorrupt, s.path, off, err)
	}
	if out.Index != index {
		return fmt.Errorf("%w: %s at offset %d: record has index %d, want %d", ErrCorrupt, s.path, off, out.Index, index)
	}
	return nil
}

// StageCommitIndex records idx to be made durable with the next StoreLogs.
func (w *WAL) StageCommitIndex(idx uint64) error {
	if w.closed.Load() {
		return ErrClosed
	}
	w.commitStaged.Store(idx)
	return nil
}

// GetCommitIndex returns the latest commit index known: the staged one if
// any was staged since Open, else the one found on disk by Open.
func (w *WAL) GetCommitIndex() (uint64, error) {
	if w.closed.Load() {
		return 0, ErrClosed
	}
	return max(w.commitStaged.Load(), w.commitDurable.Load()), nil
}

// cacheMaxBytes bounds the payload bytes the tail cache keeps alive, so
// that large entries shrink it rather than grow memory.
const cacheMaxBytes = 32 << 20

// tailCache keeps the most recently stored entries so that replication,
// which reads the tail of the log, needs no system call. It is a ring
// indexed by log index modulo its size, holding the n entries ending at
// last; guarded by WAL.mu. The entries share the slices given to StoreLogs.
type tailCache struct {
	ring     []raft.Log
	maxBytes int    // cacheMaxBytes, smaller in tests
	last     uint64 // index of the newest entry held, 0 when empty
	n        uint64 // number of entries held
	bytes    int    // payload bytes held
}

func (c *tailCache) init(size int) {
	c.ring = make([]raft.Log, size)
	c.maxBytes = cacheMaxBytes
}

func (c *tailCache) get(index uint64) (*raft.Log, bool) {
	if c.n == 0 || index > c.last || index+c.n <= c.last {
		return nil, false
	}
	return c.slot(index), true
}

func (c *tailCache) slot(index uint64) *raft.Log { return &c.ring[index%uint64(len(c.ring))] }

func payload(l *raft.Log) int { return len(l.Data) + len(l.Extensions) }

// add caches l, which must follow the newest cached entry; anything else
// starts the cache afresh.
func (c *tailCache) add(l *raft.Log) {
	if len(c.ring) == 0 {
		return
	}
	if c.n > 0 && l.Index != c.last+1 {
		c.reset()
	}
	if c.n == uint64(len(c.ring)) {
		c.dropOldest()
	}
	*c.slot(l.Index) = *l
	c.bytes += payload(l)
	c.last = l.Index
	c.n++
	for c.bytes > c.maxBytes && c.n > 1 {
		c.dropOldest()
	}
}

func (c *tailCache) dropOldest() {
	s := c.slot(c.last - c.n + 1)
	c.bytes -= payload(s)
	*s = raft.Log{}
	c.n--
}

// truncate drops the entries after index.
func (c *tailCache) truncate(index uint64) {
	for c.n > 0 && c.last > index {
		s := c.slot(c.last)
		c.bytes -= payload(s)
		*s = raft.Log{}
		c.last--
		c.n--
	}
}

// reset empties the cache, releasing the entries' memory.
func (c *tailCache) reset() {
	clear(c.ring)
	c.n, c.last, c.bytes = 0, 0, 0
}
