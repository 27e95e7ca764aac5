package raft

// This file owns the follower role: waiting for the leader, handling
// AppendEntries (log matching, truncation of a conflicting suffix, durable
// append, commit), and the heartbeat fast path that answers heartbeats from
// the transport's goroutine without waiting for the main loop.

import (
	"fmt"
	"time"

	metrics "github.com/armon/go-metrics"
)

// runFollower runs the follower role until the role changes.
func (r *Raft) runFollower() {
	ld := r.leader.Load()
	r.logger.Info("entering follower state", "follower", r, "leader-address", ld.addr, "leader-id", ld.id)
	metrics.IncrCounter([]string{"raft", "state", "follower"}, 1)
	timeout := r.randomTimeout(r.config().HeartbeatTimeout)
	for r.getState() == Follower {
		select {
		case rpc := <-r.trans.Consumer():
			r.processRPC(rpc)
		case rpc := <-r.rpcCh:
			r.processRPC(rpc)
		case f := <-r.applyCh:
			f.respond(r.notLeaderError())
		case req := <-r.reqCh:
			r.handleRequest(req)
		case <-timeout:
			hb := r.config().HeartbeatTimeout
			timeout = r.randomTimeout(hb)
			if time.Since(r.lastHeard()) >= hb {
				r.heartbeatTimedOut()
			}
		case <-r.shutdownCh:
			return
		}
	}
}

// lastHeard is the later of the last contact with a leader and the last vote
// granted: both reset the election timer (thesis section 3.4).
func (r *Raft) lastHeard() time.Time {
	if c := r.lastContact.Load(); c != 0 && time.Unix(0, c).After(r.votedAt) {
		return time.Unix(0, c)
	}
	return r.votedAt
}

// heartbeatTimedOut runs when the leader has been silent for an election
// timeout: a voter stands for election, anyone else waits.
func (r *Raft) heartbeatTimedOut() {
	r.setLeader("", "")
	metrics.IncrCounter([]string{"raft", "transition", "heartbeat_timeout"}, 1)
	switch {
	case r.storageFailed() != nil:
		r.logger.Warn("heartbeat timeout, but storage failed: not standing for election")
	case !hasVote(r.configs.latest, r.localID):
		if len(r.configs.latest.Servers) == 0 {
			r.logger.Warn("no known peers, aborting election")
		} else {
			r.logger.Debug("not a voter: not standing for election")
		}
	default:
		r.logger.Warn("heartbeat timeout reached, starting election", "last-leader-contact", r.sinceContact())
		r.setState(Candidate)
	}
}

// notLeaderError is ErrNotLeader, naming the leader when one is known.
func (r *Raft) notLeaderError() error {
	if ld := r.leader.Load(); ld.id != "" {
		return fmt.Errorf("%w: leader is %s at %s", ErrNotLeader, ld.id, ld.addr)
	}
	return ErrNotLeader
}

// header is the RPCHeader of every message this server sends.
func (r *Raft) header() RPCHeader { return r.rpcHeader }

// senderOf returns the ID and address of an RPC's sender: the header's, or
// for old peers the legacy address field.
func (r *Raft) senderOf(h RPCHeader, legacyAddr []byte) (ServerID, ServerAddress) {
	if len(h.Addr) > 0 {
		return ServerID(h.ID), r.trans.DecodePeer(h.Addr)
	}
	return ServerID(h.ID), r.trans.DecodePeer(legacyAddr)
}

// handleHeartbeatFast is the transport's heartbeat handler. It answers a
// heartbeat from the leader this follower already follows, in its current
// term, on the transport's goroutine: the heartbeat then never waits behind a
// disk write of the main loop. Anything else goes to the main loop.
func (r *Raft) handleHeartbeatFast(rpc RPC) {
	req, ok := rpc.Command.(*AppendEntriesRequest)
	if ok && isHeartbeat(req) && r.getState() == Follower && req.Term == r.pubTerm.Load() &&
		r.storageFailed() == nil {
		id, addr := r.senderOf(req.RPCHeader, req.Leader)
		if ld := r.leader.Load(); ld.id == id && ld.addr == addr && id != "" {
			defer metrics.MeasureSince(keyProcessHeartbeat, time.Now())
			r.touchContact()
			rpc.Respond(&AppendEntriesResponse{RPCHeader: r.header(), Term: req.Term,
				LastLog: r.pubLastIndex.Load(), Success: true}, nil)
			return
		}
	}
	select {
	case r.rpcCh <- rpc:
	case <-r.shutdownCh:
		rpc.Respond(nil, ErrRaftShutdown)
	}
}

// handleAppendEntries processes an AppendEntries request (Figure 2,
// AppendEntries RPC, receiver implementation).
func (r *Raft) handleAppendEntries(rpc RPC, req *AppendEntriesRequest) {
	defer metrics.MeasureSince(keyRPCAppendEntries, time.Now())
	resp := &AppendEntriesResponse{RPCHeader: r.header(), Term: r.term, LastLog: r.lastIndex}
	err := r.appendEntries(req, resp)
	resp.Term = r.term
	rpc.Respond(resp, err)
}

// appendEntries does the work of handleAppendEntries and fills resp. A
// returned error is sent back as the RPC's error.
func (r *Raft) appendEntries(req *AppendEntriesRequest, resp *AppendEntriesResponse) error {
	if req.Term < r.term {
		return nil // rule 1: a stale leader; it learns our term from resp
	}
	if req.Term > r.term {
		if err := r.adoptTerm(req.Term); err != nil {
			return err
		}
	} else if r.getState() != Follower {
		// A candidate that hears from the leader of its term steps down
		// (section 5.2). Two leaders in one term cannot exist.
		assert(r.getState() != Leader, "AppendEntries from another leader of our term", "term", r.term)
		r.becomeFollower()
	}
	id, addr := r.senderOf(req.RPCHeader, req.Leader)
	r.setLeader(addr, id)
	r.touchContact()
	if err := r.storageFailed(); err != nil {
		return err
	}
	if req.PrevLogEntry > r.snapIndex && !prevMatches(req.PrevLogEntry, req.PrevLogTerm, r.termAt) {
		// Rule 2. Entries at or below the snapshot are committed, hence
		// match the leader's.
		resp.LastLog = followerHint(req.PrevLogEntry, req.PrevLogTerm, r.lastIndex, r.snapIndex, r.termAt)
		resp.NoRetryBackoff = true
		return nil
	}
	if err := r.appendNewEntries(req.Entries); err != nil {
		return err
	}
	if req.LeaderCommitIndex > r.commit {
		// Rule 5: commit no further than the entries this request proved.
		proved := req.PrevLogEntry + uint64(len(req.Entries))
		if c := min(req.LeaderCommitIndex, proved, r.lastIndex); c > r.commit {
			r.checkRemoved(r.commitTo(c, nil))
		}
	}
	resp.Success = true
	resp.LastLog = r.lastIndex
	return nil
}

// appendNewEntries stores the entries the follower does not hold yet,
// truncating a conflicting suffix first (rules 3 and 4). Configuration
// entries are checked before anything is stored: one that does not decode
// fails the request and changes nothing.
func (r *Raft) appendNewEntries(entries []*Log) error {
	for len(entries) > 0 && entries[0].Index <= r.snapIndex {
		entries = entries[1:] // covered by our snapshot: committed and held
	}
	pos, truncate := firstNewEntry(entries, r.lastIndex, r.termAt)
	fresh := entries[pos:]
	if len(fresh) == 0 {
		return nil
	}
	configs, err := decodeConfigEntries(fresh)
	if err != nil {
		return err
	}
	if truncate > 0 {
		if truncate <= r.commit {
			return fmt.Errorf("raft: leader asked to overwrite committed entry %d (commit index %d): refused",
				truncate, r.commit)
		}
		r.logger.Warn("clearing log suffix", "from", truncate, "to", r.lastIndex)
		if err := r.truncateFrom(truncate); err != nil {
			return err
		}
		r.truncateConfigs(truncate)
	}
	start := time.Now()
	if err := r.storeEntries(fresh); err != nil {
		return err
	}
	metrics.MeasureSince(keyRPCStoreLogs, start)
	for _, c := range configs {
		r.appendConfig(c.index, c.config)
	}
	return nil
}

// configEntry is a configuration and the index of its log entry.
type configEntry struct {
	index  uint64
	config Configuration
}

// decodeConfigEntries decodes the configuration entries among es.
func decodeConfigEntries(es []*Log) ([]configEntry, error) {
	var out []configEntry
	for _, e := range es {
		if e.Type != LogConfiguration {
			continue
		}
		c, err := decodeConfiguration(e.Data)
		if err != nil {
			return nil, fmt.Errorf("raft: configuration entry %d refused: %w", e.Index, err)
		}
		out = append(out, configEntry{index: e.Index, config: c})
	}
	return out, nil
}

// commitTo advances the commit index to index, hands the newly committed
// entries (and the futures of those this server accepted as leader) to the
// FSM, and commits the configurations up to index.
// It returns the committed configuration before the advance, for
// checkRemoved, which the caller runs once it has finished with the commit.
func (r *Raft) commitTo(index uint64, futures []*logFuture) (prevCommitted Configuration) {
	r.setCommit(index)
	prev := r.configs.committed
	r.commitConfigs(index)
	r.fsmQ.push(commitTask{index: index, futures: futures})
	return prev
}
