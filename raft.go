package raft

import "sync"

// Raft is one server of a Raft cluster.
type Raft struct {
	// RestoreCommittedLogs mirrors Config.RestoreCommittedLogs.
	RestoreCommittedLogs bool

	trans      Transport
	observers  observers
	shutdownCh chan struct{}
	goroutines sync.WaitGroup
}
