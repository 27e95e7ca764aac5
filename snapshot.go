package raft

import "io"

// SnapshotMeta describes a snapshot. FileSnapshotStore stores it as JSON
// beside the snapshot's data, under these field names.
type SnapshotMeta struct {
	// Version is the snapshot format's version (SnapshotVersionMax for
	// snapshots raftkit writes).
	Version SnapshotVersion

	// ID is opaque to raft: the store chooses it.
	ID string

	// Index and Term are those of the last log entry the snapshot covers.
	Index uint64
	Term  uint64

	// Peers is the peer set of protocol version 0; unused.
	Peers []byte

	// Configuration is the configuration as of ConfigurationIndex, the one
	// in force at Index.
	Configuration      Configuration
	ConfigurationIndex uint64

	// Size is the size of the snapshot's data in bytes.
	Size int64
}

// SnapshotStore keeps snapshots. Raft calls Create from its snapshot
// goroutine and its main loop (when a leader's snapshot arrives), List and Open
// from any goroutine, so implementations must be safe for concurrent use.
type SnapshotStore interface {
	// Create begins a snapshot at index and term that includes the given
	// configuration. The snapshot becomes visible to List and Open only once
	// the sink is closed without error.
	Create(version SnapshotVersion, index, term uint64, configuration Configuration,
		configurationIndex uint64, trans Transport) (SnapshotSink, error)

	// List returns the metadata of the available snapshots, newest first.
	List() ([]*SnapshotMeta, error)

	// Open returns a snapshot's metadata and a reader of its data. The caller
	// closes the reader.
	Open(id string) (*SnapshotMeta, io.ReadCloser, error)
}

// SnapshotSink receives a snapshot's data. Exactly one of Close (keep it) and
// Cancel (discard it) ends its life.
type SnapshotSink interface {
	io.WriteCloser
	ID() string
	Cancel() error
}
