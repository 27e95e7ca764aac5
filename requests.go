package raft

// This file carries requests from API callers and raft's other goroutines to
// the main loop, and dispatches them there by type and role.

import (
	"fmt"
	"io"
	"time"
)

// loopRequest is a request the main loop handles; respond completes it.
type loopRequest interface {
	respond(error)
}

// sendRequest hands req to the main loop, giving up after timeout (0: no
// limit) or at shutdown.
func (r *Raft) sendRequest(req loopRequest, timeout time.Duration) error {
	return send(r.reqCh, req, timeout, r.shutdownCh)
}

// send sends v on ch, giving up with ErrEnqueueTimeout after timeout (0: no
// limit) or with ErrRaftShutdown at shutdown. A send that can go at once
// costs no timer.
func send[T any](ch chan<- T, v T, timeout time.Duration, shutdownCh <-chan struct{}) error {
	select {
	case ch <- v:
		return nil
	default:
	}
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case ch <- v:
		return nil
	case <-expired:
		return ErrEnqueueTimeout
	case <-shutdownCh:
		return ErrRaftShutdown
	}
}

// handleRequest performs a request on the main loop.
func (r *Raft) handleRequest(req loopRequest) {
	switch q := req.(type) {
	case *compactRequest:
		q.respond(r.noteSnapshot(q.index, q.term))
	case *bootstrapFuture:
		q.respond(r.bootstrap(q.configuration))
	case *verifyFuture:
		if r.lead == nil {
			q.respond(r.notLeaderError())
			return
		}
		r.startVerify(q)
	case *configChangeFuture:
		if r.lead == nil {
			q.respond(r.notLeaderError())
			return
		}
		r.requestChange(q)
	case *transferFuture:
		if r.lead == nil {
			q.respond(r.notLeaderError())
			return
		}
		r.startTransfer(q)
	case *userRestoreFuture:
		if r.lead == nil {
			q.respond(r.notLeaderError())
			return
		}
		q.respond(r.restoreUserSnapshot(q.meta, q.reader))
	default:
		req.respond(fmt.Errorf("raft: unknown request %T", req))
	}
}

// bootstrapFuture answers Raft.BootstrapCluster.
type bootstrapFuture struct {
	future
	configuration Configuration
}

// bootstrap writes the first configuration of a new cluster: term 1 and
// one configuration entry at index 1. Main loop only.
func (r *Raft) bootstrap(c Configuration) error {
	if err := checkConfiguration(c); err != nil {
		return err
	}
	if r.term != 0 || r.lastIndex != 0 || r.snapIndex != 0 {
		return ErrCantBootstrap
	}
	if err := r.setTerm(1); err != nil {
		return err
	}
	entry := &Log{Index: 1, Term: 1, Type: LogConfiguration, Data: EncodeConfiguration(c)}
	if err := r.storeEntries([]*Log{entry}); err != nil {
		return err
	}
	r.appendConfig(1, c)
	return nil
}

// userRestoreFuture answers Raft.Restore.
type userRestoreFuture struct {
	future
	meta   *SnapshotMeta
	reader io.Reader
}

// restoreUserSnapshot replaces the cluster's state with a user's snapshot
// (the leader's half of Restore): the snapshot is stored at an index past the
// log, the FSM restores it, and the log is discarded, so followers receive
// the snapshot. Entries not yet committed fail with ErrAbortedByRestore. Main
// loop only.
func (r *Raft) restoreUserSnapshot(meta *SnapshotMeta, reader io.Reader) error {
	l := r.lead
	if l.transfer != nil {
		return ErrLeadershipTransferInProgress
	}
	if r.configs.latestIndex > r.commit {
		return fmt.Errorf("raft: cannot restore snapshot now, wait until the configuration entry at %d has been applied (have applied %d)",
			r.configs.latestIndex, r.commit)
	}
	for _, f := range l.inflight {
		f.respond(ErrAbortedByRestore)
	}
	l.inflight = nil
	l.writer.stop() // settle the log before discarding it
	l.writer = r.newLogWriter(l.progress)

	index, term := max(r.lastIndex, meta.Index)+1, r.term
	stored, err := r.storeUserSnapshot(meta, reader, index, term)
	if err != nil {
		return err
	}
	if err := r.restoreFSM(stored); err != nil {
		return err
	}
	if err := r.discardLogFor(index, term, false); err != nil {
		return err
	}
	r.setSnapshot(index, term)
	r.setCommit(index)
	for _, p := range l.replicators {
		p.notify()
	}
	r.logger.Info("restored user snapshot", "index", index)
	return nil
}

// storeUserSnapshot copies a user's snapshot into the snapshot store at
// index and term, with the current configuration.
func (r *Raft) storeUserSnapshot(meta *SnapshotMeta, reader io.Reader, index, term uint64) (*SnapshotMeta, error) {
	c, ci := r.configs.latest, r.configs.latestIndex
	sink, err := r.snaps.Create(SnapshotVersionMax, index, term, c, ci, r.trans)
	if err != nil {
		return nil, fmt.Errorf("raft: create snapshot for restore: %w", err)
	}
	n, err := io.Copy(sink, reader)
	if err == nil && n != meta.Size {
		err = fmt.Errorf("%w: got %d of %d bytes", errShortSnapshot, n, meta.Size)
	}
	if err != nil {
		sink.Cancel()
		return nil, fmt.Errorf("raft: write snapshot for restore: %w", err)
	}
	if err := sink.Close(); err != nil {
		return nil, fmt.Errorf("raft: close snapshot for restore: %w", err)
	}
	return &SnapshotMeta{Version: SnapshotVersionMax, ID: sink.ID(), Index: index, Term: term,
		Configuration: c, ConfigurationIndex: ci, Size: n}, nil
}
