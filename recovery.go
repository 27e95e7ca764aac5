package raft

// This file owns a server's start from its stores: term and vote, the newest
// usable snapshot, the log after it and the configurations in that log, and
// (with RestoreCommittedLogs) the replay of committed entries into the FSM.
// It runs inside NewRaft, before any goroutine starts.

import (
	"errors"
	"fmt"
	"io"
)

// errNoUsableSnapshot: snapshots exist but none could be restored.
var errNoUsableSnapshot = errors.New("raft: no usable snapshot")

// recover loads the server's state from its stores.
func (r *Raft) recover() error {
	if err := r.recoverTermAndVote(); err != nil {
		return err
	}
	if err := r.recoverSnapshot(); err != nil {
		return err
	}
	if err := r.recoverLog(); err != nil {
		return err
	}
	r.emitOldestLogAge()
	if r.RestoreCommittedLogs {
		return r.replayCommitted()
	}
	return nil
}

// recoverTermAndVote reads the term and the last vote.
func (r *Raft) recoverTermAndVote() error {
	term, err := r.stable.GetUint64(keyCurrentTerm)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("raft: read current term: %w", err)
	}
	r.term = term
	r.pubTerm.Store(term)
	if r.votedTerm, err = r.stable.GetUint64(keyLastVoteTerm); err != nil && !isNotFound(err) {
		return fmt.Errorf("raft: read last vote term: %w", err)
	}
	cand, err := r.stable.Get(keyLastVoteCand)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("raft: read last vote candidate: %w", err)
	}
	r.votedFor = cand
	return nil
}

// recoverSnapshot restores the newest snapshot that opens and restores,
// skipping broken ones with an error naming each. If snapshots exist and
// none is usable, the server refuses to start rather than start silently
// empty.
func (r *Raft) recoverSnapshot() error {
	metas, err := r.snaps.List()
	if err != nil {
		return fmt.Errorf("raft: list snapshots: %w", err)
	}
	var errs []error
	for _, m := range metas {
		if err := r.restoreOnStart(m); err != nil {
			r.logger.Error("failed to restore snapshot, trying an older one", "id", m.ID, "error", err)
			errs = append(errs, fmt.Errorf("snapshot %s: %w", m.ID, err))
			continue
		}
		return nil
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", errNoUsableSnapshot, errors.Join(errs...))
	}
	return nil
}

// restoreOnStart restores one snapshot into the FSM (unless
// NoSnapshotRestoreOnStart) and adopts it as the server's base.
func (r *Raft) restoreOnStart(m *SnapshotMeta) error {
	meta, rc, err := r.snaps.Open(m.ID)
	if err != nil {
		return err
	}
	if r.config().NoSnapshotRestoreOnStart {
		rc.Close()
	} else if err := restoreFSMNow(r.fsm, rc); err != nil {
		return err
	}
	r.setSnapshot(meta.Index, meta.Term)
	r.setLastLog(meta.Index, meta.Term)
	r.setCommit(meta.Index)
	r.lastApplied.Store(meta.Index)
	r.fsmStart = fsmState{index: meta.Index, term: meta.Term, config: meta.Configuration, configIndex: meta.ConfigurationIndex}
	r.resetConfigs(meta.Configuration, meta.ConfigurationIndex)
	r.logger.Info("restored from snapshot", "id", meta.ID, "last-index", meta.Index, "last-term", meta.Term)
	return nil
}

// restoreFSMNow restores an FSM from a snapshot reader, outside the FSM
// goroutine (which is not running yet).
func restoreFSMNow(fsm FSM, rc io.ReadCloser) error {
	if err := fsm.Restore(rc); err != nil {
		return fmt.Errorf("FSM restore: %w", err)
	}
	return nil
}

// recoverLog reads the log's bounds and the configurations in it.
func (r *Raft) recoverLog() error {
	first, err := r.logs.FirstIndex()
	if err != nil {
		return fmt.Errorf("raft: read first log index: %w", err)
	}
	last, err := r.logs.LastIndex()
	if err != nil {
		return fmt.Errorf("raft: read last log index: %w", err)
	}
	if last > 0 && last >= r.snapIndex {
		var e Log
		if err := r.logs.GetLog(last, &e); err != nil {
			return fmt.Errorf("raft: read last log entry %d: %w", last, err)
		}
		r.setLastLog(last, e.Term)
	}
	r.durableIndex.Store(r.lastIndex)
	from := max(first, r.snapIndex+1)
	if first == 0 {
		return nil
	}
	for i := from; i <= last; i++ {
		var e Log
		if err := r.logs.GetLog(i, &e); err != nil {
			return fmt.Errorf("raft: read log entry %d: %w", i, err)
		}
		if e.Type != LogConfiguration {
			continue
		}
		c, err := decodeConfiguration(e.Data)
		if err != nil {
			return fmt.Errorf("raft: configuration entry %d: %w", i, err)
		}
		r.appendConfig(i, c)
	}
	return nil
}

// replayCommitted applies the entries up to the commit index the log store
// recorded, before NewRaft returns, so the FSM starts where it left off.
func (r *Raft) replayCommitted() error {
	ct := r.logs.(CommitTrackingLogStore)
	commit, err := ct.GetCommitIndex()
	if err != nil {
		return fmt.Errorf("raft: read commit index: %w", err)
	}
	commit = min(commit, r.lastIndex)
	if commit <= r.commit {
		return nil
	}
	f := &fsmRunner{r: r, st: r.fsmStart}
	f.applyUpTo(commit, nil)
	if f.failed != nil {
		return f.failed
	}
	r.fsmStart = f.st
	r.setCommit(commit)
	r.commitConfigs(commit)
	r.logger.Info("restored committed logs", "commit-index", commit)
	return nil
}
