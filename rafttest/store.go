package rafttest

// This file owns the stores the cluster's servers use: raft's InmemStore and
// InmemSnapshotStore, behind a switch that makes writes fail on demand, so a
// test can see what a server does when its disk fails.

import (
	"errors"
	"sync"
	"time"

	"github.com/raftkit/raft"
)

// ErrInjected is the error a failing store returns.
var ErrInjected = errors.New("rafttest: injected storage failure")

// Store is a server's log and stable store: an InmemStore whose writes can be
// made to fail. It survives the server's restarts.
type Store struct {
	*raft.InmemStore

	mu     sync.Mutex
	fail   bool          // guarded by mu
	delay  time.Duration // guarded by mu
	writes int           // guarded by mu: StoreLogs calls that succeeded
}

// NewStore returns an empty store.
func NewStore() *Store { return &Store{InmemStore: raft.NewInmemStore()} }

// FailWrites makes every later write fail with ErrInjected (or succeed
// again, with false).
func (s *Store) FailWrites(fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

// SetWriteDelay makes every later StoreLogs take d (a slow disk).
func (s *Store) SetWriteDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// LogWrites returns the number of StoreLogs calls that succeeded.
func (s *Store) LogWrites() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

func (s *Store) failing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail
}

// StoreLog stores an entry unless writes fail.
func (s *Store) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

// StoreLogs stores entries unless writes fail. With a write delay the
// entries land at the end of it, so writes that start failing meanwhile (a
// crash during a slow write) lose them.
func (s *Store) StoreLogs(ls []*raft.Log) error {
	s.mu.Lock()
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return ErrInjected
	}
	if err := s.InmemStore.StoreLogs(ls); err != nil {
		return err
	}
	s.writes++
	return nil
}

// DeleteRange deletes entries unless writes fail.
func (s *Store) DeleteRange(min, max uint64) error {
	if s.failing() {
		return ErrInjected
	}
	return s.InmemStore.DeleteRange(min, max)
}

// Set stores a value unless writes fail.
func (s *Store) Set(k, v []byte) error {
	if s.failing() {
		return ErrInjected
	}
	return s.InmemStore.Set(k, v)
}

// SetUint64 stores a value unless writes fail.
func (s *Store) SetUint64(k []byte, v uint64) error {
	if s.failing() {
		return ErrInjected
	}
	return s.InmemStore.SetUint64(k, v)
}
