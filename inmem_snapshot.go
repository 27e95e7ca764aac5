package raft

// This file owns InmemSnapshotStore, which keeps the latest snapshot in
// memory, for tests. A snapshot becomes the store's latest when its sink is
// closed; until then List and Open still show the previous one. Published
// data is never written again, so readers share it without copying.

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"
)

// InmemSnapshotStore implements SnapshotStore in memory, keeping only the
// latest snapshot. It is safe for concurrent use.
type InmemSnapshotStore struct {
	// The embedded RWMutex (part of hashicorp/raft's API) guards latest and
	// lastMsec.
	sync.RWMutex

	// latest is the last snapshot whose sink was closed, nil before any.
	latest *inmemSnapshot
	// lastMsec is the time part of the last ID handed out. IDs take a later
	// one each time, so they stay unique even when two snapshots are
	// created at the same index within a millisecond.
	lastMsec int64
}

// inmemSnapshot is a published snapshot. Neither field changes after it is
// published.
type inmemSnapshot struct {
	meta SnapshotMeta
	data []byte
}

// InmemSnapshotSink receives one snapshot for an InmemSnapshotStore.
type InmemSnapshotSink struct {
	store *InmemSnapshotStore

	// mu guards meta.Size, buf and done.
	mu   sync.Mutex
	meta SnapshotMeta
	buf  bytes.Buffer
	done bool // closed or cancelled
}

// NewInmemSnapshotStore returns an empty store.
func NewInmemSnapshotStore() *InmemSnapshotStore {
	return &InmemSnapshotStore{}
}

// Create begins a snapshot. It becomes the store's latest when the sink is
// closed.
func (m *InmemSnapshotStore) Create(version SnapshotVersion, index, term uint64,
	configuration Configuration, configurationIndex uint64, trans Transport) (SnapshotSink, error) {
	if err := checkSnapshotVersion(version); err != nil {
		return nil, err
	}
	m.Lock()
	m.lastMsec = max(time.Now().UnixMilli(), m.lastMsec+1)
	id := snapshotName(term, index, m.lastMsec)
	m.Unlock()
	return &InmemSnapshotSink{
		store: m,
		meta: SnapshotMeta{
			Version:            version,
			ID:                 id,
			Index:              index,
			Term:               term,
			Configuration:      configuration.Clone(),
			ConfigurationIndex: configurationIndex,
		},
	}, nil
}

// List returns the latest snapshot's metadata, or an empty list.
func (m *InmemSnapshotStore) List() ([]*SnapshotMeta, error) {
	m.RLock()
	defer m.RUnlock()
	if m.latest == nil {
		return []*SnapshotMeta{}, nil
	}
	return []*SnapshotMeta{cloneMeta(&m.latest.meta)}, nil
}

// Open returns the latest snapshot if its ID is id.
func (m *InmemSnapshotStore) Open(id string) (*SnapshotMeta, io.ReadCloser, error) {
	m.RLock()
	latest := m.latest
	m.RUnlock()
	if latest == nil || latest.meta.ID != id {
		return nil, nil, fmt.Errorf("open snapshot %q: %w", id, errSnapshotNotFound)
	}
	return cloneMeta(&latest.meta), io.NopCloser(bytes.NewReader(latest.data)), nil
}

// cloneMeta returns a copy of meta that shares nothing mutable with it.
func cloneMeta(meta *SnapshotMeta) *SnapshotMeta {
	c := *meta
	c.Configuration = meta.Configuration.Clone()
	c.Peers = bytes.Clone(meta.Peers)
	return &c
}

// Write appends p to the snapshot.
func (s *InmemSnapshotSink) Write(p []byte) (n int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return 0, fmt.Errorf("write snapshot %s: %w", s.meta.ID, errSinkDone)
	}
	n, err = s.buf.Write(p)
	s.meta.Size += int64(n)
	return n, err
}

// Close makes the snapshot the store's latest. Closing again, or after
// Cancel, does nothing.
func (s *InmemSnapshotSink) Close() error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil
	}
	s.done = true
	snap := &inmemSnapshot{meta: s.meta, data: s.buf.Bytes()}
	s.mu.Unlock()

	s.store.Lock()
	s.store.latest = snap
	s.store.Unlock()
	return nil
}

// ID returns the snapshot's ID.
func (s *InmemSnapshotSink) ID() string {
	return s.meta.ID
}

// Cancel discards the snapshot. Cancelling again, or after Close, does
// nothing.
func (s *InmemSnapshotSink) Cancel() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.done = true
		s.buf = bytes.Buffer{}
	}
	return nil
}
