package raft

// This file owns the log tail: the most recent entries of the log, kept in
// memory so that replication and the FSM read them without touching the
// LogStore. On the leader the tail holds entries before they are durable (the
// leader sends them to followers while its own write is in flight, thesis
// section 10.2.1), so the tail never evicts an entry above the durable index.
//
// The main loop is the only writer; replication and FSM goroutines read.

import "sync"

// Bounds of the tail. Evicted entries are read back from the LogStore.
const (
	tailMaxEntries = 16384
	tailMaxBytes   = 64 << 20
)

// logTail is a window [first, last] of consecutive log entries.
type logTail struct {
	mu sync.RWMutex
	// entries[i].Index == entries[0].Index + i.
	// Invariant: indexes are consecutive and terms non-decreasing.
	entries []*Log // guarded by mu
	// sizes[i] == len(entries[i].Data): eviction sums them without
	// reading the entries, which are cold by then. Guarded by mu.
	sizes []int
	bytes int // guarded by mu; sum of sizes
}

// append adds entries that follow the tail's last entry. Entries that do not
// continue the window replace it (the log restarted, after a snapshot).
func (t *logTail) append(es []*Log) {
	if len(es) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.entries); n > 0 && t.entries[n-1].Index+1 != es[0].Index {
		t.resetLocked()
	}
	for _, e := range es {
		t.sizes = append(t.sizes, len(e.Data))
		t.bytes += len(e.Data)
	}
	t.entries = append(t.entries, es...)
}

// truncateFrom drops the entries at index and above.
func (t *logTail) truncateFrom(index uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.entries) == 0 || index > t.lastLocked() {
		return
	}
	if index <= t.entries[0].Index {
		t.resetLocked()
		return
	}
	keep := int(index - t.entries[0].Index)
	for _, size := range t.sizes[keep:] {
		t.bytes -= size
	}
	clear(t.entries[keep:])
	t.entries, t.sizes = t.entries[:keep], t.sizes[:keep]
}

// reset empties the tail.
func (t *logTail) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.resetLocked()
}

func (t *logTail) resetLocked() {
	clear(t.entries)
	t.entries, t.sizes = t.entries[:0], t.sizes[:0]
	t.bytes = 0
}

func (t *logTail) lastLocked() uint64 {
	return t.entries[len(t.entries)-1].Index
}

// get returns the entry at index if the tail holds it.
func (t *logTail) get(index uint64) (*Log, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if len(t.entries) == 0 || index < t.entries[0].Index || index > t.lastLocked() {
		return nil, false
	}
	return t.entries[index-t.entries[0].Index], true
}

// copyRange appends to dst up to max entries starting at from, if the tail
// holds from; it returns dst unchanged otherwise.
func (t *logTail) copyRange(dst []*Log, from uint64, max int) []*Log {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if len(t.entries) == 0 || from < t.entries[0].Index || from > t.lastLocked() {
		return dst
	}
	lo := int(from - t.entries[0].Index)
	hi := min(len(t.entries), lo+max)
	return append(dst, t.entries[lo:hi]...)
}

// dropThrough drops the entries up to index (compacted from the log).
func (t *logTail) dropThrough(index uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.entries) == 0 || index < t.entries[0].Index {
		return
	}
	if index >= t.lastLocked() {
		t.resetLocked()
		return
	}
	t.dropLocked(int(index - t.entries[0].Index + 1))
}

// dropLocked drops the first n entries and moves the rest down, so the
// backing array does not grow for ever.
func (t *logTail) dropLocked(n int) {
	for _, size := range t.sizes[:n] {
		t.bytes -= size
	}
	kept := copy(t.entries, t.entries[n:])
	clear(t.entries[kept:])
	t.entries = t.entries[:kept]
	t.sizes = t.sizes[:copy(t.sizes, t.sizes[n:])]
}

// evict drops the oldest entries once the tail is over its bounds, down to
// three quarters of them so that the cost is paid in chunks, but never an
// entry above durable (not yet in the LogStore).
func (t *logTail) evict(durable uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.entries)
	if n <= tailMaxEntries && t.bytes <= tailMaxBytes {
		return
	}
	first := t.entries[0].Index // n > 0: an empty tail is within its bounds
	if durable < first {
		return
	}
	// Indexes are consecutive, so the entries up to durable are the first
	// durable-first+1 (all n when durable is past the last).
	evictable := int(min(durable-first, uint64(n-1))) + 1
	drop, bytes := 0, t.bytes
	for drop < evictable && (n-drop > tailMaxEntries*3/4 || bytes > tailMaxBytes*3/4) {
		bytes -= t.sizes[drop]
		drop++
	}
	if drop > 0 {
		t.dropLocked(drop)
	}
}
