package raft

// This file holds the functions that work on a server's stores without a
// running server: bootstrapping a new cluster, checking for existing state,
// disaster recovery, and reading the configuration offline.

import (
	"errors"
	"fmt"
)

// BootstrapCluster initializes a server's stores for a new cluster: term 1 and
// one configuration entry at index 1 holding configuration. Call it on every
// server of the initial configuration (with the same configuration), or on one
// and add the others later. It fails with ErrCantBootstrap if the stores hold
// any state, so it is safe to call at every start.
func BootstrapCluster(conf *Config, logs LogStore, stable StableStore, snaps SnapshotStore, trans Transport, configuration Configuration) error {
	has, err := checkOffline(conf, logs, stable, snaps, configuration)
	if err != nil {
		return err
	}
	if has {
		return ErrCantBootstrap
	}
	if err := stable.SetUint64(keyCurrentTerm, 1); err != nil {
		return fmt.Errorf("raft: bootstrap: persist term: %w", err)
	}
	entry := &Log{Index: 1, Term: 1, Type: LogConfiguration, Data: EncodeConfiguration(configuration)}
	if err := logs.StoreLogs([]*Log{entry}); err != nil {
		return fmt.Errorf("raft: bootstrap: store configuration entry: %w", err)
	}
	return nil
}

// checkOffline validates the arguments of an offline operation and reports
// whether the stores hold state.
func checkOffline(conf *Config, logs LogStore, stable StableStore, snaps SnapshotStore, configuration Configuration) (bool, error) {
	if err := ValidateConfig(conf); err != nil {
		return false, err
	}
	if err := checkConfiguration(configuration); err != nil {
		return false, err
	}
	return HasExistingState(logs, stable, snaps)
}

// HasExistingState reports whether the stores hold any state: a term, a log
// entry or a snapshot.
func HasExistingState(logs LogStore, stable StableStore, snaps SnapshotStore) (bool, error) {
	term, err := stable.GetUint64(keyCurrentTerm)
	if err != nil && !isNotFound(err) {
		return false, fmt.Errorf("raft: read current term: %w", err)
	}
	if term > 0 {
		return true, nil
	}
	last, err := logs.LastIndex()
	if err != nil {
		return false, fmt.Errorf("raft: read last log index: %w", err)
	}
	if last > 0 {
		return true, nil
	}
	metas, err := snaps.List()
	if err != nil {
		return false, fmt.Errorf("raft: list snapshots: %w", err)
	}
	return len(metas) > 0, nil
}

// RecoverCluster forces a new configuration onto a server's stores, for an
// operator whose cluster lost a quorum for good (for example from
// ReadConfigJSON). Run it, with the same configuration, on every surviving
// server while none runs, then start them. It replays the log into fsm to
// take a snapshot, so fsm must be a fresh FSM that is then discarded. The
// snapshot becomes the servers' common base, and the log is emptied, with the
// new configuration in the snapshot.
func RecoverCluster(conf *Config, fsm FSM, logs LogStore, stable StableStore, snaps SnapshotStore, trans Transport, configuration Configuration) error {
	has, err := checkOffline(conf, logs, stable, snaps, configuration)
	if err != nil {
		return err
	}
	if !has {
		return errors.New("raft: refused to recover cluster with no initial state, this is probably an operator error")
	}
	r, err := offlineRaft(conf, fsm, logs, stable, snaps, trans)
	if err != nil {
		return err
	}
	return r.recoverWith(configuration)
}

// GetConfiguration returns the latest configuration in a server's stores,
// without starting the server. fsm receives the newest snapshot (unless
// NoSnapshotRestoreOnStart), as on a start.
func GetConfiguration(conf *Config, fsm FSM, logs LogStore, stable StableStore, snaps SnapshotStore, trans Transport) (Configuration, error) {
	r, err := offlineRaft(conf, fsm, logs, stable, snaps, trans)
	if err != nil {
		return Configuration{}, err
	}
	return r.configs.latest.Clone(), nil
}

// offlineRaft builds a Raft over the stores and recovers its state, without
// starting any goroutine.
func offlineRaft(conf *Config, fsm FSM, logs LogStore, stable StableStore, snaps SnapshotStore, trans Transport) (*Raft, error) {
	r, err := newRaft(conf, fsm, logs, stable, snaps, trans)
	if err != nil {
		return nil, err
	}
	if err := r.recover(); err != nil {
		return nil, err
	}
	return r, nil
}

// recoverWith replays the whole log into the FSM, snapshots it with the new
// configuration at the last index, and empties the log.
func (r *Raft) recoverWith(configuration Configuration) error {
	f := &fsmRunner{r: r, st: r.fsmStart}
	f.applyUpTo(r.lastIndex, nil)
	if f.failed != nil {
		return fmt.Errorf("raft: recover cluster: replay log: %w", f.failed)
	}
	snap, err := r.fsm.Snapshot()
	if err != nil {
		return fmt.Errorf("raft: recover cluster: snapshot: %w", err)
	}
	defer snap.Release()
	index, term := r.lastIndex, r.lastTerm
	sink, err := r.snaps.Create(SnapshotVersionMax, index, term, configuration, index, r.trans)
	if err != nil {
		return fmt.Errorf("raft: recover cluster: create snapshot: %w", err)
	}
	if err := snap.Persist(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("raft: recover cluster: persist snapshot: %w", err)
	}
	if first, err := r.logs.FirstIndex(); err != nil {
		return fmt.Errorf("raft: recover cluster: %w", err)
	} else if first > 0 && r.lastIndex >= first {
		if err := r.logs.DeleteRange(first, r.lastIndex); err != nil {
			return fmt.Errorf("raft: recover cluster: compact log: %w", err)
		}
	}
	return nil
}
