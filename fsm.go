package raft

import "io"

// FSM is the user's state machine, replicated by raft.
//
// Raft calls its methods from one goroutine, the FSM goroutine, one at a time
// and in log order, so an FSM needs no locking against itself (it does need
// it against the user's own readers).
type FSM interface {
	// Apply is called once for each committed LogCommand entry, in index
	// order. Its return value becomes ApplyFuture.Response on the server that
	// accepted the Apply. It must be deterministic.
	Apply(*Log) interface{}

	// Snapshot returns a snapshot of the current state. Apply is not called
	// until it returns, so it should capture a point-in-time view cheaply
	// (for example a pointer to an immutable structure); Persist on the
	// returned FSMSnapshot then runs concurrently with later Applies.
	Snapshot() (FSMSnapshot, error)

	// Restore replaces the FSM's whole state with the snapshot read from the
	// reader, and closes it. No other method runs meanwhile.
	Restore(snapshot io.ReadCloser) error
}

// BatchingFSM is an FSM that can apply many entries in one call. When the FSM
// implements it, raft calls ApplyBatch instead of Apply.
type BatchingFSM interface {
	// ApplyBatch applies the entries in order and returns one response per
	// entry. The entries may include LogConfiguration entries (the FSM should
	// ignore them; their response is ignored) besides LogCommand ones.
	// The slice and the entries must not be retained after it returns.
	ApplyBatch([]*Log) []interface{}

	FSM
}

// FSMSnapshot is a point-in-time snapshot of the FSM, written out by Persist.
type FSMSnapshot interface {
	// Persist writes the snapshot to sink and then calls sink.Close, or
	// sink.Cancel on failure. It runs on raft's snapshot goroutine while the
	// FSM keeps applying entries.
	Persist(sink SnapshotSink) error

	// Release is called when raft is done with the snapshot.
	Release()
}

// WrappingFSM is implemented by middleware that wraps another FSM, so tools can
// reach the FSM underneath.
type WrappingFSM interface {
	Underlying() FSM
}
