package raft

// This file holds the methods of Raft that users call. They never touch the
// main loop's state: they send requests that carry futures, or read values
// the main loop published.

import (
	"fmt"
	"io"
	"strconv"
	"time"

	metrics "github.com/armon/go-metrics"
)

// BootstrapCluster writes the first configuration of a new cluster into a
// server's stores (see the package function). It works only on a server
// whose stores are empty, and fails with ErrCantBootstrap otherwise.
func (r *Raft) BootstrapCluster(configuration Configuration) Future {
	f := &bootstrapFuture{configuration: configuration}
	f.init(r.shutdownCh)
	if err := r.sendRequest(f, 0); err != nil {
		return errorFuture{err}
	}
	return f
}

// Leader returns the address of the current leader, "" when none is known.
func (r *Raft) Leader() ServerAddress {
	return r.leader.Load().addr
}

// LeaderWithID returns the address and ID of the current leader, empty when
// none is known.
func (r *Raft) LeaderWithID() (ServerAddress, ServerID) {
	l := r.leader.Load()
	return l.addr, l.id
}

// Apply replicates a command to the cluster and applies it to the FSM once
// it commits. It must be called on the leader (ErrNotLeader otherwise).
// timeout bounds the wait to hand the command to the main loop (0: none).
func (r *Raft) Apply(cmd []byte, timeout time.Duration) ApplyFuture {
	return r.ApplyLog(Log{Data: cmd}, timeout)
}

// ApplyLog is Apply with the Data and Extensions of log; its other fields are
// ignored.
func (r *Raft) ApplyLog(log Log, timeout time.Duration) ApplyFuture {
	switch {
	case log.Data == nil:
		return errorFuture{ErrNilCommand}
	case len(log.Data) > MaxCommandSize:
		return errorFuture{fmt.Errorf("%w: %d bytes, the limit is %d", ErrCommandTooLarge, len(log.Data), MaxCommandSize)}
	}
	return r.enqueue(Log{Type: LogCommand, Data: log.Data, Extensions: log.Extensions}, timeout)
}

// Barrier returns a future that completes once every entry before it is
// applied to the FSM on this leader: a read after it sees all committed
// writes.
func (r *Raft) Barrier(timeout time.Duration) Future {
	return r.enqueue(Log{Type: LogBarrier}, timeout)
}

// enqueue hands an entry to the leader's main loop.
func (r *Raft) enqueue(log Log, timeout time.Duration) ApplyFuture {
	if r.getState() != Leader {
		if r.isShutdown() {
			return errorFuture{ErrRaftShutdown}
		}
		return errorFuture{r.notLeaderError()}
	}
	f := newLogFuture(log)
	if err := send(r.applyCh, f, timeout, r.shutdownCh); err != nil {
		return errorFuture{err}
	}
	if r.isShutdown() {
		// The main loop may have drained the channel before f arrived;
		// whoever drains it now answers f.
		r.drainApplies()
	}
	return f
}

// drainApplies fails the entries waiting in the Apply channel. Raft calls it
// when the main loop ends, and so does any Apply that finds raft shut down
// after queuing, so that no queued future goes unanswered.
func (r *Raft) drainApplies() {
	for {
		select {
		case f := <-r.applyCh:
			f.respond(ErrRaftShutdown)
		default:
			return
		}
	}
}

// VerifyLeader confirms that this server is still the leader by hearing from
// a quorum of voters after the call. A read served after it succeeds is not
// stale.
func (r *Raft) VerifyLeader() Future {
	metrics.IncrCounter(keyVerifyLeader, 1)
	f := &verifyFuture{}
	f.init(r.shutdownCh)
	if err := r.sendRequest(f, 0); err != nil {
		return errorFuture{err}
	}
	return f
}

// GetConfiguration returns the latest configuration and its index.
func (r *Raft) GetConfiguration() ConfigurationFuture {
	f := &configurationFuture{configurations: r.pubConfigs.Load().clone()}
	f.init(nil)
	if r.isShutdown() {
		f.respond(ErrRaftShutdown)
	} else {
		f.respond(nil)
	}
	return f
}

// AddPeer belongs to protocol versions below 3: it fails with
// ErrUnsupportedProtocol. Use AddVoter.
func (r *Raft) AddPeer(peer ServerAddress) Future {
	return errorFuture{ErrUnsupportedProtocol}
}

// RemovePeer belongs to protocol versions below 3: it fails with
// ErrUnsupportedProtocol. Use RemoveServer.
func (r *Raft) RemovePeer(peer ServerAddress) Future {
	return errorFuture{ErrUnsupportedProtocol}
}

// AddVoter adds a voter to the cluster, or updates the address of one that
// is a member already. The server first receives the log as a Staging member
// that does not count toward any quorum, and is promoted once it is within
// one replication round of the leader; the future completes then (its Index
// is the promotion's), or fails if the server cannot catch up. prevIndex, if
// non-zero, is the index of the configuration the change is based on: the
// change fails if the configuration moved on since. timeout bounds the
// enqueueing (0: none) and extends the catch-up allowance.
func (r *Raft) AddVoter(id ServerID, address ServerAddress, prevIndex uint64, timeout time.Duration) IndexFuture {
	return r.changeConfig(configurationChangeRequest{command: AddVoter, serverID: id, serverAddress: address, prevIndex: prevIndex}, timeout)
}

// AddNonvoter adds a server that receives the log but never votes. A member
// already in the configuration only has its address updated.
func (r *Raft) AddNonvoter(id ServerID, address ServerAddress, prevIndex uint64, timeout time.Duration) IndexFuture {
	return r.changeConfig(configurationChangeRequest{command: AddNonvoter, serverID: id, serverAddress: address, prevIndex: prevIndex}, timeout)
}

// RemoveServer removes a server from the cluster. Removing an unknown server
// succeeds and changes nothing. A leader that removes itself keeps leading
// until the change commits, then steps down.
func (r *Raft) RemoveServer(id ServerID, prevIndex uint64, timeout time.Duration) IndexFuture {
	return r.changeConfig(configurationChangeRequest{command: RemoveServer, serverID: id, prevIndex: prevIndex}, timeout)
}

// DemoteVoter makes a voter a non-voter.
func (r *Raft) DemoteVoter(id ServerID, prevIndex uint64, timeout time.Duration) IndexFuture {
	return r.changeConfig(configurationChangeRequest{command: DemoteVoter, serverID: id, prevIndex: prevIndex}, timeout)
}

// changeConfig sends a membership change to the leader's main loop.
func (r *Raft) changeConfig(req configurationChangeRequest, timeout time.Duration) IndexFuture {
	if req.serverID == "" {
		return errorFuture{fmt.Errorf("%w: %s of an empty server ID", errConfigEmptyID, req.command)}
	}
	if (req.command == AddVoter || req.command == AddNonvoter) && req.serverAddress == "" {
		return errorFuture{fmt.Errorf("%w: %s of %q", errConfigEmptyAddress, req.command, req.serverID)}
	}
	f := &configChangeFuture{req: req, stall: timeout}
	f.init(r.shutdownCh)
	if err := r.sendRequest(f, timeout); err != nil {
		return errorFuture{err}
	}
	return f
}

// Snapshot takes a snapshot of the FSM now and compacts the log. The future's
// Open reads the snapshot back. It fails with ErrNothingNewToSnapshot when
// nothing was applied since the last snapshot.
func (r *Raft) Snapshot() SnapshotFuture {
	f := &userSnapshotFuture{r: r}
	f.init(r.shutdownCh)
	select {
	case r.userSnapshotCh <- f:
		return f
	case <-r.shutdownCh:
		f.respond(ErrRaftShutdown)
		return f
	}
}

// Restore replaces the state of the whole cluster with a snapshot read from
// reader (meta.Size bytes), for disaster recovery. It must be called on the
// leader. Entries not yet committed fail with ErrAbortedByRestore. It returns
// once the restored state is committed on a quorum. timeout bounds the
// enqueueing (0: none).
func (r *Raft) Restore(meta *SnapshotMeta, reader io.Reader, timeout time.Duration) error {
	if meta == nil || reader == nil {
		return fmt.Errorf("raft: Restore needs snapshot metadata and a reader")
	}
	f := &userRestoreFuture{meta: meta, reader: reader}
	f.init(r.shutdownCh)
	if err := r.sendRequest(f, timeout); err != nil {
		return err
	}
	if err := f.Error(); err != nil {
		return err
	}
	// A no-op after the restore commits only once a quorum installed the
	// snapshot: then the restore is durable cluster-wide.
	return r.enqueue(Log{Type: LogNoop}, timeout).Error()
}

// State returns the server's role.
func (r *Raft) State() RaftState { return r.getState() }

// LeaderCh returns a channel that receives true when this server becomes
// leader and false when it stops being leader. It holds only the latest
// transition: a slow reader sees the current state, not every change.
func (r *Raft) LeaderCh() <-chan bool { return r.leaderCh }

// String returns a description of the server.
func (r *Raft) String() string {
	return fmt.Sprintf("Node at %s [%v]", r.localAddr, r.getState())
}

// LastContact returns when this server last heard from a leader (the zero
// time if never).
func (r *Raft) LastContact() time.Time {
	if c := r.lastContact.Load(); c != 0 {
		return time.Unix(0, c)
	}
	return time.Time{}
}

// CurrentTerm returns the current term.
func (r *Raft) CurrentTerm() uint64 { return r.pubTerm.Load() }

// LastIndex returns the index of the last entry of the log, or of the
// snapshot when the log is empty.
func (r *Raft) LastIndex() uint64 { return r.pubLastIndex.Load() }

// CommitIndex returns the commit index.
func (r *Raft) CommitIndex() uint64 { return r.pubCommit.Load() }

// AppliedIndex returns the index of the last entry applied to the FSM.
func (r *Raft) AppliedIndex() uint64 { return r.lastApplied.Load() }

// LeadershipTransfer hands leadership to the voter with the most up-to-date
// log. New entries are refused with ErrLeadershipTransferInProgress until it
// ends; the future succeeds once this server was deposed by the target's
// election.
func (r *Raft) LeadershipTransfer() Future {
	return r.transfer("", "")
}

// LeadershipTransferToServer hands leadership to the given voter.
func (r *Raft) LeadershipTransferToServer(id ServerID, address ServerAddress) Future {
	if id == "" {
		return errorFuture{fmt.Errorf("raft: leadership transfer to an empty server ID")}
	}
	return r.transfer(id, address)
}

func (r *Raft) transfer(id ServerID, address ServerAddress) Future {
	f := &transferFuture{id: id, addr: address}
	f.init(r.shutdownCh)
	if err := r.sendRequest(f, 0); err != nil {
		return errorFuture{err}
	}
	return f
}

// ReloadConfig changes the reloadable settings of a running server. The
// result must pass ValidateConfig.
func (r *Raft) ReloadConfig(rc ReloadableConfig) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	next := rc.apply(*r.config())
	if err := ValidateConfig(&next); err != nil {
		return err
	}
	r.conf.Store(&next)
	return nil
}

// ReloadableConfig returns the current reloadable settings.
func (r *Raft) ReloadableConfig() ReloadableConfig {
	var rc ReloadableConfig
	rc.fromConfig(*r.config())
	return rc
}

// Stats returns diagnostic values, under the keys hashicorp/raft uses.
func (r *Raft) Stats() map[string]string {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	snap := r.pubSnap.Load()
	configs := r.pubConfigs.Load()
	s := map[string]string{
		"state":                      r.getState().String(),
		"term":                       u(r.pubTerm.Load()),
		"last_log_index":             u(r.pubLastIndex.Load()),
		"last_log_term":              u(r.pubLastTerm.Load()),
		"commit_index":               u(r.pubCommit.Load()),
		"applied_index":              u(r.lastApplied.Load()),
		"fsm_pending":                u(uint64(r.fsmQ.len())),
		"last_snapshot_index":        u(snap.index),
		"last_snapshot_term":         u(snap.term),
		"protocol_version":           u(uint64(r.config().ProtocolVersion)),
		"protocol_version_min":       u(uint64(ProtocolVersionMin)),
		"protocol_version_max":       u(uint64(ProtocolVersionMax)),
		"snapshot_version_min":       u(uint64(SnapshotVersionMin)),
		"snapshot_version_max":       u(uint64(SnapshotVersionMax)),
		"latest_configuration_index": u(configs.latestIndex),
		"latest_configuration":       fmt.Sprintf("%+v", configs.latest.Servers),
	}
	peers := 0
	for _, srv := range configs.latest.Servers {
		if srv.Suffrage == Voter && srv.ID != r.localID {
			peers++
		}
	}
	s["num_peers"] = strconv.Itoa(peers)
	switch last := r.LastContact(); {
	case r.getState() == Leader:
		s["last_contact"] = "0"
	case last.IsZero():
		s["last_contact"] = "never"
	default:
		s["last_contact"] = time.Since(last).String()
	}
	return s
}
