package raft

// This file owns DiscardSnapshotStore, a SnapshotStore that throws every
// snapshot away: for tests that want the log compacted without keeping the
// state. A node using it cannot restore a snapshot nor send one to a
// follower that fell behind.

import (
	"errors"
	"fmt"
	"io"
)

// errDiscardOpen is returned by DiscardSnapshotStore.Open.
var errDiscardOpen = errors.New("raft: discard snapshot store keeps no snapshot: open is not supported")

// DiscardSnapshotStore implements SnapshotStore and keeps nothing.
type DiscardSnapshotStore struct{}

// DiscardSnapshotSink accepts a snapshot's data and drops it.
type DiscardSnapshotSink struct{}

// NewDiscardSnapshotStore returns a store that keeps nothing.
func NewDiscardSnapshotStore() *DiscardSnapshotStore {
	return &DiscardSnapshotStore{}
}

// Create returns a sink that drops what it is given.
func (d *DiscardSnapshotStore) Create(version SnapshotVersion, index, term uint64,
	configuration Configuration, configurationIndex uint64, trans Transport) (SnapshotSink, error) {
	return &DiscardSnapshotSink{}, nil
}

// List returns no snapshot.
func (d *DiscardSnapshotStore) List() ([]*SnapshotMeta, error) {
	return nil, nil
}

// Open fails: there is never a snapshot to open.
func (d *DiscardSnapshotStore) Open(id string) (*SnapshotMeta, io.ReadCloser, error) {
	return nil, nil, fmt.Errorf("open snapshot %q: %w", id, errDiscardOpen)
}

// Write accepts b and drops it.
func (d *DiscardSnapshotSink) Write(b []byte) (int, error) {
	return len(b), nil
}

// Close does nothing.
func (d *DiscardSnapshotSink) Close() error {
	return nil
}

// ID returns "discard".
func (d *DiscardSnapshotSink) ID() string {
	return "discard"
}

// Cancel does nothing.
func (d *DiscardSnapshotSink) Cancel() error {
	return nil
}
