package raft

// This file owns snapshots at run time: the snapshot goroutine that takes them
// (on a randomized interval once SnapshotThreshold entries were applied, or
// when the user asks), log compaction after a snapshot, and adopting a
// snapshot sent by the leader or given to Restore.
//
// Taking a snapshot: the FSM goroutine calls FSM.Snapshot between two applies
// (a point-in-time view), the snapshot goroutine persists it while the FSM
// keeps applying, and the main loop then records it and compacts the log.

import (
	"errors"
	"fmt"
	"io"
	"time"

	metrics "github.com/armon/go-metrics"
)

// userSnapshotFuture answers Snapshot.
type userSnapshotFuture struct {
	future
	r  *Raft
	id string // the snapshot's ID in the store, set before respond
}

// Open opens the snapshot that was taken.
func (u *userSnapshotFuture) Open() (*SnapshotMeta, io.ReadCloser, error) {
	if err := u.Error(); err != nil {
		return nil, nil, err
	}
	meta, rc, err := u.r.snaps.Open(u.id)
	if err != nil {
		return nil, nil, fmt.Errorf("raft: open snapshot %s: %w", u.id, err)
	}
	return meta, rc, nil
}

// runSnapshots is the snapshot goroutine.
func (r *Raft) runSnapshots() {
	for {
		select {
		case <-r.randomTimeout(r.config().SnapshotInterval):
			if !r.shouldSnapshot() {
				continue
			}
			if _, err := r.takeSnapshot(); err != nil && !errors.Is(err, ErrNothingNewToSnapshot) {
				r.logger.Error("failed to take snapshot", "error", err)
			}
		case f := <-r.userSnapshotCh:
			id, err := r.takeSnapshot()
			f.id = id
			f.respond(err)
		case <-r.shutdownCh:
			return
		}
	}
}

// shouldSnapshot reports whether SnapshotThreshold entries were applied
// since the last snapshot.
func (r *Raft) shouldSnapshot() bool {
	applied, snap := r.lastApplied.Load(), r.pubSnap.Load().index
	return applied > snap && applied-snap >= r.config().SnapshotThreshold
}

// takeSnapshot snapshots the FSM, persists the snapshot and has the main loop
// compact the log. It returns the snapshot's ID.
func (r *Raft) takeSnapshot() (string, error) {
	defer metrics.MeasureSince([]string{"raft", "snapshot", "takeSnapshot"}, time.Now())
	done := make(chan fsmSnapshotResult, 1)
	r.fsmQ.push(snapshotTask{done: done})
	var res fsmSnapshotResult
	select {
	case res = <-done:
	case <-r.shutdownCh:
		return "", ErrRaftShutdown
	}
	if res.err != nil {
		return "", res.err
	}
	defer res.snap.Release()
	if res.index <= r.pubSnap.Load().index {
		return "", ErrNothingNewToSnapshot
	}
	id, err := r.persistSnapshot(res)
	if err != nil {
		return "", err
	}
	req := &compactRequest{index: res.index, term: res.term}
	req.init(r.shutdownCh)
	if err := r.sendRequest(req, 0); err != nil {
		return id, err
	}
	return id, req.Error()
}

// persistSnapshot writes an FSM snapshot to the snapshot store.
func (r *Raft) persistSnapshot(res fsmSnapshotResult) (string, error) {
	start := time.Now()
	sink, err := r.snaps.Create(SnapshotVersionMax, res.index, res.term, res.config, res.configIndex, r.trans)
	if err != nil {
		return "", fmt.Errorf("raft: create snapshot: %w", err)
	}
	metrics.MeasureSince([]string{"raft", "snapshot", "create"}, start)
	start = time.Now()
	if err := res.snap.Persist(sink); err != nil {
		sink.Cancel()
		return "", fmt.Errorf("raft: persist snapshot: %w", err)
	}
	metrics.MeasureSince([]string{"raft", "snapshot", "persist"}, start)
	r.logger.Info("snapshot complete", "id", sink.ID(), "index", res.index, "term", res.term)
	return sink.ID(), nil
}

// compactRequest tells the main loop that a snapshot up to index is stored.
type compactRequest struct {
	future
	index, term uint64
}

// noteSnapshot records a stored snapshot and compacts the log behind it.
// Main loop only.
func (r *Raft) noteSnapshot(index, term uint64) error {
	if index <= r.snapIndex {
		return nil // a newer snapshot arrived meanwhile
	}
	r.setSnapshot(index, term)
	return r.compactLogs(index)
}

// compactLogs deletes the log up to the snapshot at index, keeping the last
// TrailingLogs entries for followers that lag a little. Main loop only.
func (r *Raft) compactLogs(index uint64) error {
	defer metrics.MeasureSince([]string{"raft", "compactLogs"}, time.Now())
	trailing := r.config().TrailingLogs
	if r.lastIndex <= trailing {
		return nil
	}
	upTo := min(index, r.lastIndex-trailing)
	first, err := r.logs.FirstIndex()
	if err != nil {
		return fmt.Errorf("raft: compact log: %w", err)
	}
	if first == 0 || upTo < first {
		return nil
	}
	if err := r.logs.DeleteRange(first, upTo); err != nil {
		return fmt.Errorf("raft: compact log [%d, %d]: %w", first, upTo, err)
	}
	r.tail.dropThrough(upTo)
	r.logger.Info("compacting logs", "from", first, "to", upTo)
	r.emitOldestLogAge()
	return nil
}

// errShortSnapshot is returned when a snapshot stream ends before its size.
var errShortSnapshot = errors.New("raft: snapshot stream shorter than its declared size")

// receiveSnapshot stores the snapshot the leader streams. A stream that
// ends early or fails leaves nothing behind.
func (r *Raft) receiveSnapshot(req *InstallSnapshotRequest, data io.Reader) (*SnapshotMeta, error) {
	if req.SnapshotVersion < SnapshotVersionMin || req.SnapshotVersion > SnapshotVersionMax {
		return nil, fmt.Errorf("raft: snapshot version %d: %w", req.SnapshotVersion, ErrUnsupportedProtocol)
	}
	if data == nil || req.Size < 0 {
		return nil, fmt.Errorf("raft: InstallSnapshot without data (size %d)", req.Size)
	}
	config, err := decodeConfiguration(req.Configuration)
	if err != nil {
		return nil, fmt.Errorf("raft: InstallSnapshot refused: %w", err)
	}
	sink, err := r.snaps.Create(req.SnapshotVersion, req.LastLogIndex, req.LastLogTerm, config, req.ConfigurationIndex, r.trans)
	if err != nil {
		return nil, fmt.Errorf("raft: create snapshot: %w", err)
	}
	n, err := io.Copy(sink, io.LimitReader(data, req.Size))
	if err == nil && n != req.Size {
		err = fmt.Errorf("%w: got %d of %d bytes", errShortSnapshot, n, req.Size)
	}
	if err != nil {
		sink.Cancel()
		return nil, fmt.Errorf("raft: receive snapshot at index %d: %w", req.LastLogIndex, err)
	}
	if err := sink.Close(); err != nil {
		return nil, fmt.Errorf("raft: store snapshot at index %d: %w", req.LastLogIndex, err)
	}
	r.logger.Info("snapshot received", "id", sink.ID(), "index", req.LastLogIndex, "term", req.LastLogTerm, "size", n)
	return &SnapshotMeta{Version: req.SnapshotVersion, ID: sink.ID(), Index: req.LastLogIndex,
		Term: req.LastLogTerm, Configuration: config, ConfigurationIndex: req.ConfigurationIndex, Size: n}, nil
}

// adoptSnapshot makes a stored snapshot the server's state: the FSM restores
// it (after applying what it had queued), then the log behind it is discarded
// (all of it unless the log holds the snapshot's last entry: section 7).
// Main loop only.
func (r *Raft) adoptSnapshot(meta *SnapshotMeta) error {
	if err := r.restoreFSM(meta); err != nil {
		return err
	}
	keep := false
	if t, ok := r.termAt(meta.Index); ok && t == meta.Term && meta.Index <= r.lastIndex && !r.monotonicLogs() {
		keep = true
	}
	if err := r.discardLogFor(meta.Index, meta.Term, keep); err != nil {
		return err
	}
	r.setSnapshot(meta.Index, meta.Term)
	if meta.Index > r.commit {
		r.setCommit(meta.Index)
	}
	kept := r.pendingConfigs
	r.resetConfigs(meta.Configuration, meta.ConfigurationIndex)
	for _, c := range kept {
		if keep && c.index > meta.Index {
			r.appendConfig(c.index, c.config)
		}
	}
	return nil
}

// restoreFSM has the FSM goroutine restore the stored snapshot and waits.
func (r *Raft) restoreFSM(meta *SnapshotMeta) error {
	_, rc, err := r.snaps.Open(meta.ID)
	if err != nil {
		return fmt.Errorf("raft: open snapshot %s: %w", meta.ID, err)
	}
	done := make(chan error, 1)
	r.fsmQ.push(restoreTask{meta: meta, source: rc, done: done})
	select {
	case err := <-done:
		return err
	case <-r.shutdownCh:
		return ErrRaftShutdown
	}
}

// monotonicLogs reports whether the LogStore cannot hold gaps.
func (r *Raft) monotonicLogs() bool {
	m, ok := r.logs.(MonotonicLogStore)
	return ok && m.IsMonotonic()
}

// discardLogFor drops the log entries a snapshot at index replaces: those up
// to index when keep, else the whole log. Main loop only.
func (r *Raft) discardLogFor(index, term uint64, keep bool) error {
	first, err := r.logs.FirstIndex()
	if err != nil {
		return r.failStorage("read first index", err)
	}
	if keep {
		if first > 0 && first <= index {
			if err := r.logs.DeleteRange(first, index); err != nil {
				return r.failStorage("compact log", err)
			}
		}
		r.tail.dropThrough(index)
		return nil
	}
	if first > 0 && r.lastIndex >= first {
		if err := r.logs.DeleteRange(first, r.lastIndex); err != nil {
			return r.failStorage("discard log", err)
		}
	}
	r.tail.reset()
	r.setLastLog(index, term)
	r.durableIndex.Store(index)
	return nil
}
