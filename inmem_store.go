package raft

// This file owns InmemStore, a LogStore and StableStore kept in memory, for
// tests and benchmarks.
//
// The log is held as runs of consecutive indexes rather than in a map: raft
// appends at the end and deletes at either end, so nearly every operation
// touches the last run only and costs a slice access. Gaps (left, for
// example, by a snapshot installed over an older log) start a new run.
//
// Invariants of logRuns.runs: every run is non-empty; runs are sorted by
// first index; two runs are separated by at least one missing index (touching
// runs are merged).

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// errNilLog is returned by StoreLogs when one of the entries is nil.
var errNilLog = errors.New("raft: nil log entry")

// InmemStore implements LogStore and StableStore in memory. It is safe for
// concurrent use and its zero value is ready to use. It keeps the *Log
// pointers given to StoreLogs (raft never modifies them afterwards) and
// copies the entry into the caller's Log on GetLog.
type InmemStore struct {
	// mu guards log, kv and kvInt.
	mu    sync.RWMutex
	log   logRuns
	kv    map[string][]byte
	kvInt map[string]uint64

	// failure, when set, is returned (wrapped) by every write instead of
	// performing it, so that tests can make storage fail on demand.
	failure atomic.Pointer[error]
}

// NewInmemStore returns an empty in-memory store.
func NewInmemStore() *InmemStore {
	return &InmemStore{}
}

// FirstIndex returns the lowest index held, 0 when the store is empty.
func (i *InmemStore) FirstIndex() (uint64, error) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.log.firstIndex(), nil
}

// LastIndex returns the highest index held, 0 when the store is empty.
func (i *InmemStore) LastIndex() (uint64, error) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.log.lastIndex(), nil
}

// GetLog copies the entry at index into log, or returns ErrLogNotFound.
func (i *InmemStore) GetLog(index uint64, log *Log) error {
	i.mu.RLock()
	l := i.log.get(index)
	i.mu.RUnlock()
	if l == nil {
		return ErrLogNotFound
	}
	*log = *l
	return nil
}

// StoreLog stores one entry.
func (i *InmemStore) StoreLog(log *Log) error {
	if err := i.injected("store log"); err != nil {
		return err
	}
	if log == nil {
		return errNilLog
	}
	i.mu.Lock()
	i.log.store(log)
	i.mu.Unlock()
	return nil
}

// StoreLogs stores the entries, replacing any held at the same indexes. Either
// all are stored or, for a nil entry, none.
func (i *InmemStore) StoreLogs(logs []*Log) error {
	if err := i.injected("store logs"); err != nil {
		return err
	}
	if slices.Contains(logs, nil) {
		return errNilLog
	}
	i.mu.Lock()
	for _, l := range logs {
		i.log.store(l)
	}
	i.mu.Unlock()
	return nil
}

// DeleteRange removes the entries from min to max, both included. Indexes not
// held are ignored.
func (i *InmemStore) DeleteRange(min, max uint64) error {
	if err := i.injected("delete range"); err != nil {
		return err
	}
	i.mu.Lock()
	i.log.deleteRange(min, max)
	i.mu.Unlock()
	return nil
}

// Set stores a copy of val under key.
func (i *InmemStore) Set(key []byte, val []byte) error {
	if err := i.injected("set"); err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.kv == nil {
		i.kv = make(map[string][]byte)
	}
	i.kv[string(key)] = slices.Clone(val)
	return nil
}

// Get returns a copy of the value stored under key, or (nil, an error whose
// text is "not found") when there is none.
func (i *InmemStore) Get(key []byte) ([]byte, error) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	val, ok := i.kv[string(key)]
	if !ok {
		return nil, errKeyNotFound
	}
	return slices.Clone(val), nil
}

// SetUint64 stores val under key. Integer keys live apart from the keys of
// Set, as in hashicorp/raft.
func (i *InmemStore) SetUint64(key []byte, val uint64) error {
	if err := i.injected("set uint64"); err != nil {
		return err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.kvInt == nil {
		i.kvInt = make(map[string]uint64)
	}
	i.kvInt[string(key)] = val
	return nil
}

// GetUint64 returns the value stored under key, 0 when there is none.
func (i *InmemStore) GetUint64(key []byte) (uint64, error) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.kvInt[string(key)], nil
}

// failWrites makes every later write fail with err (wrapped), until it is
// called with nil. It lets tests see how raft handles a failed disk.
func (i *InmemStore) failWrites(err error) {
	if err == nil {
		i.failure.Store(nil)
		return
	}
	i.failure.Store(&err)
}

// injected returns the failure set by failWrites, wrapped with op.
func (i *InmemStore) injected(op string) error {
	if p := i.failure.Load(); p != nil {
		return fmt.Errorf("inmem store: %s: %w", op, *p)
	}
	return nil
}

// InmemCommitTrackingStore is an InmemStore that also records the commit
// index (CommitTrackingLogStore), for tests of RestoreCommittedLogs.
type InmemCommitTrackingStore struct {
	InmemStore
	commitIndex atomic.Uint64
}

// NewInmemCommitTrackingStore returns an empty commit-tracking store.
func NewInmemCommitTrackingStore() *InmemCommitTrackingStore {
	return &InmemCommitTrackingStore{}
}

// StageCommitIndex records index; memory needs no later persisting step.
func (i *InmemCommitTrackingStore) StageCommitIndex(index uint64) error {
	i.commitIndex.Store(index)
	return nil
}

// GetCommitIndex returns the last index given to StageCommitIndex.
func (i *InmemCommitTrackingStore) GetCommitIndex() (uint64, error) {
	return i.commitIndex.Load(), nil
}

// logRun is a stretch of consecutive indexes: logs[k] has index first+k.
type logRun struct {
	first uint64
	logs  []*Log
}

// offset reports where idx falls relative to the run: k = idx-first and
// whether idx >= first. Offsets avoid computing first+len, which could wrap.
func (r *logRun) offset(idx uint64) (uint64, bool) {
	if idx < r.first {
		return 0, false
	}
	return idx - r.first, true
}

// last is the highest index of the run (runs are never empty).
func (r *logRun) last() uint64 { return r.first + uint64(len(r.logs)) - 1 }

// logRuns is a log with possible gaps, as runs of consecutive entries. It is
// not safe for concurrent use: InmemStore locks around it.
type logRuns struct {
	runs []logRun
}

func (s *logRuns) firstIndex() uint64 {
	if len(s.runs) == 0 {
		return 0
	}
	return s.runs[0].first
}

func (s *logRuns) lastIndex() uint64 {
	if len(s.runs) == 0 {
		return 0
	}
	return s.runs[len(s.runs)-1].last()
}

// get returns the entry at idx, nil if it is not held.
func (s *logRuns) get(idx uint64) *Log {
	r := s.runFor(idx)
	if r == nil {
		return nil
	}
	if k, ok := r.offset(idx); ok && k < uint64(len(r.logs)) {
		return r.logs[k]
	}
	return nil
}

// runFor returns the last run starting at or below idx (the only one that
// may hold it), nil if there is none.
func (s *logRuns) runFor(idx uint64) *logRun {
	n := len(s.runs)
	if n == 0 {
		return nil
	}
	if r := &s.runs[n-1]; idx >= r.first {
		return r // the common case: no gap, or idx after the last gap
	}
	i := sort.Search(n, func(i int) bool { return s.runs[i].first > idx })
	if i == 0 {
		return nil
	}
	return &s.runs[i-1]
}

// store puts l at l.Index, replacing what was there.
func (s *logRuns) store(l *Log) {
	if n := len(s.runs); n > 0 {
		r := &s.runs[n-1]
		if k, ok := r.offset(l.Index); ok && k <= uint64(len(r.logs)) {
			if k == uint64(len(r.logs)) {
				r.logs = append(r.logs, l) // the common case: append at the end
			} else {
				r.logs[k] = l
			}
			return
		}
	}
	s.storeSlow(l)
}

// storeSlow handles an entry that neither falls in nor extends the last run.
func (s *logRuns) storeSlow(l *Log) {
	idx := l.Index
	// pos is the first run that contains idx, ends right before it, or
	// starts after it.
	pos := sort.Search(len(s.runs), func(i int) bool {
		k, ok := s.runs[i].offset(idx)
		return !ok || k <= uint64(len(s.runs[i].logs))
	})
	if pos < len(s.runs) {
		r := &s.runs[pos]
		if k, ok := r.offset(idx); ok {
			if k < uint64(len(r.logs)) {
				r.logs[k] = l
				return
			}
			r.logs = append(r.logs, l)
			s.mergeNext(pos)
			return
		}
		if r.first-1 == idx {
			r.logs = slices.Insert(r.logs, 0, l)
			r.first = idx
			return
		}
	}
	s.runs = slices.Insert(s.runs, pos, logRun{first: idx, logs: []*Log{l}})
}

// mergeNext joins run pos with run pos+1 when they touch.
func (s *logRuns) mergeNext(pos int) {
	if pos+1 >= len(s.runs) || s.runs[pos].last()+1 != s.runs[pos+1].first {
		return
	}
	s.runs[pos].logs = append(s.runs[pos].logs, s.runs[pos+1].logs...)
	s.runs = slices.Delete(s.runs, pos+1, pos+2)
}

// deleteRange removes the entries from min to max, both included.
func (s *logRuns) deleteRange(min, max uint64) {
	if min > max {
		return
	}
	// Runs [lo, hi) overlap the range.
	lo := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].last() >= min })
	hi := sort.Search(len(s.runs), func(i int) bool { return s.runs[i].first > max })
	if lo >= hi {
		return
	}
	var keep []logRun
	if r := s.runs[lo]; r.first < min {
		keep = append(keep, logRun{first: r.first, logs: r.logs[:min-r.first]})
	}
	if r := s.runs[hi-1]; r.last() > max {
		keep = append(keep, logRun{first: max + 1, logs: r.logs[max+1-r.first:]})
	}
	if len(keep) == 2 && lo == hi-1 {
		// Head and tail share an array: cap the head so that appending
		// to it cannot overwrite the tail.
		keep[0].logs = keep[0].logs[:len(keep[0].logs):len(keep[0].logs)]
	}
	for i := lo; i < hi; i++ {
		clearRange(&s.runs[i], min, max) // let the collector have them
	}
	s.runs = slices.Replace(s.runs, lo, hi, keep...)
}

// clearRange sets to nil the slots of r whose index lies in [min, max].
func clearRange(r *logRun, min, max uint64) {
	from := uint64(0)
	if min > r.first {
		from = min - r.first
	}
	to := uint64(len(r.logs)) // exclusive
	if max < r.last() {
		to = max - r.first + 1
	}
	clear(r.logs[from:to])
}
