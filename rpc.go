package raft

// This file dispatches incoming RPCs (processRPC) and handles the ones every
// role answers the same way: RequestVote, RequestPreVote, TimeoutNow and
// InstallSnapshot. AppendEntries is in follower.go. All run on the main loop.

import (
	"errors"
	"fmt"
	"io"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
)

// errUnexpectedRPC answers an RPC whose command raft does not know.
var errUnexpectedRPC = errors.New("raft: unexpected command")

// processRPC handles one incoming RPC.
func (r *Raft) processRPC(rpc RPC) {
	if err := checkRPCHeader(rpc); err != nil {
		rpc.Respond(nil, err)
		return
	}
	switch cmd := rpc.Command.(type) {
	case *AppendEntriesRequest:
		r.handleAppendEntries(rpc, cmd)
	case *RequestVoteRequest:
		r.handleRequestVote(rpc, cmd)
	case *RequestPreVoteRequest:
		r.handleRequestPreVote(rpc, cmd)
	case *InstallSnapshotRequest:
		r.handleInstallSnapshot(rpc, cmd)
	case *TimeoutNowRequest:
		r.handleTimeoutNow(rpc, cmd)
	default:
		r.logger.Error("got unexpected command", "command", hclog.Fmt("%#v", rpc.Command))
		rpc.Respond(nil, fmt.Errorf("%w: %T", errUnexpectedRPC, rpc.Command))
	}
}

// checkRPCHeader refuses messages of a protocol version raft cannot speak.
func checkRPCHeader(rpc RPC) error {
	wh, ok := rpc.Command.(WithRPCHeader)
	if !ok {
		return fmt.Errorf("%w: %T", errUnexpectedRPC, rpc.Command)
	}
	if v := wh.GetRPCHeader().ProtocolVersion; v < ProtocolVersionMin || v > ProtocolVersionMax {
		return fmt.Errorf("raft: protocol version %d: %w", v, ErrUnsupportedProtocol)
	}
	return nil
}

// leaderKnown reports whether this server leads, or heard from its leader
// within the minimum election timeout: then it ignores candidates (thesis
// section 4.2.3), which keeps a partitioned or removed server from
// disrupting a working cluster.
func (r *Raft) leaderKnown() bool {
	if r.getState() == Leader {
		return true
	}
	return r.leader.Load().id != "" && r.sinceContact() < r.config().HeartbeatTimeout
}

// voterView describes this server for decideVote.
func (r *Raft) voterView(candidate ServerID) voterView {
	latest := r.configs.latest
	return voterView{
		currentTerm: r.term,
		votedTerm:   r.votedTerm,
		votedFor:    r.votedFor,
		lastIndex:   r.lastIndex,
		lastTerm:    r.lastTerm,
		leaderKnown: r.leaderKnown(),
		// A server that knows no configuration yet cannot tell.
		candidateVotes: len(latest.Servers) == 0 || hasVote(latest, candidate),
	}
}

// handleRequestVote processes a RequestVote request (Figure 2).
func (r *Raft) handleRequestVote(rpc RPC, req *RequestVoteRequest) {
	defer metrics.MeasureSince([]string{"raft", "rpc", "requestVote"}, time.Now())
	r.observe(*req)
	resp := &RequestVoteResponse{RPCHeader: r.header()}
	err := r.requestVote(req, resp)
	resp.Term = r.term
	rpc.Respond(resp, err)
}

func (r *Raft) requestVote(req *RequestVoteRequest, resp *RequestVoteResponse) error {
	id, addr := r.senderOf(req.RPCHeader, req.Candidate)
	if err := r.storageFailed(); err != nil {
		return err
	}
	// hashicorp/raft records a vote by the candidate's encoded address.
	key := req.RPCHeader.Addr
	if len(key) == 0 {
		key = req.Candidate
	}
	verdict := decideVote(r.voterView(id), voteAsk{term: req.Term, candidate: key,
		lastIndex: req.LastLogIndex, lastTerm: req.LastLogTerm, transfer: req.LeadershipTransfer})
	if verdict.adoptTerm {
		if err := r.adoptTerm(req.Term); err != nil {
			return err
		}
	}
	if !verdict.grant {
		r.logger.Debug("rejecting vote request", "from", addr, "id", id, "term", req.Term, "reason", verdict.reason)
		return nil
	}
	if err := r.persistVote(req.Term, key); err != nil {
		return err
	}
	r.logger.Debug("granted vote", "to", addr, "id", id, "term", req.Term)
	resp.Granted = true
	return nil
}

// handleRequestPreVote answers whether this server would grant a vote,
// changing nothing (thesis section 9.6).
func (r *Raft) handleRequestPreVote(rpc RPC, req *RequestPreVoteRequest) {
	defer metrics.MeasureSince([]string{"raft", "rpc", "requestPreVote"}, time.Now())
	id, addr := r.senderOf(req.RPCHeader, nil)
	resp := &RequestPreVoteResponse{RPCHeader: r.header(), Term: r.term}
	if err := r.storageFailed(); err != nil {
		rpc.Respond(resp, err)
		return
	}
	verdict := decideVote(r.voterView(id), voteAsk{term: req.Term, candidate: req.RPCHeader.Addr,
		lastIndex: req.LastLogIndex, lastTerm: req.LastLogTerm})
	resp.Granted = verdict.grant
	if !verdict.grant {
		r.logger.Debug("rejecting pre-vote request", "from", addr, "id", id, "term", req.Term, "reason", verdict.reason)
	}
	rpc.Respond(resp, nil)
}

// errNotFromLeader refuses a TimeoutNow from anyone but the current leader.
var errNotFromLeader = errors.New("raft: TimeoutNow refused: sender is not the leader this server follows")

// handleTimeoutNow starts an election at once, skipping the pre-vote, when
// the leader this server follows asks it to (leadership transfer, thesis
// section 3.10). From anyone else it is refused: a stray TimeoutNow must not
// depose a working leader.
func (r *Raft) handleTimeoutNow(rpc RPC, req *TimeoutNowRequest) {
	id, addr := r.senderOf(req.RPCHeader, nil)
	ld := r.leader.Load()
	switch {
	case r.getState() != Follower || ld.id == "" || ld.id != id:
		rpc.Respond(nil, fmt.Errorf("%w (from %s at %s)", errNotFromLeader, id, addr))
	case !hasVote(r.configs.latest, r.localID):
		rpc.Respond(nil, fmt.Errorf("raft: TimeoutNow refused: %w", ErrNotVoter))
	case r.storageFailed() != nil:
		rpc.Respond(nil, r.storageFailed())
	default:
		r.logger.Info("leadership transfer: starting an election at the leader's request", "leader", id)
		r.setLeader("", "")
		r.transferElection = true
		r.setState(Candidate)
		rpc.Respond(&TimeoutNowResponse{RPCHeader: r.header()}, nil)
	}
}

// handleInstallSnapshot stores a snapshot sent by the leader and restores
// the FSM from it (Figure 13 of the paper, in one chunk).
func (r *Raft) handleInstallSnapshot(rpc RPC, req *InstallSnapshotRequest) {
	defer metrics.MeasureSince([]string{"raft", "rpc", "installSnapshot"}, time.Now())
	resp := &InstallSnapshotResponse{RPCHeader: r.header()}
	err := r.installSnapshot(req, rpc.Reader, resp)
	resp.Term = r.term
	rpc.Respond(resp, err)
}

func (r *Raft) installSnapshot(req *InstallSnapshotRequest, data io.Reader, resp *InstallSnapshotResponse) error {
	if req.Term < r.term {
		return nil
	}
	if req.Term > r.term {
		if err := r.adoptTerm(req.Term); err != nil {
			return err
		}
	} else if r.getState() != Follower {
		r.becomeFollower()
	}
	id, addr := r.senderOf(req.RPCHeader, req.Leader)
	r.setLeader(addr, id)
	r.touchContact()
	if err := r.storageFailed(); err != nil {
		return err
	}
	meta, err := r.receiveSnapshot(req, data)
	if err != nil {
		return err
	}
	if err := r.adoptSnapshot(meta); err != nil {
		return err
	}
	resp.Success = true
	return nil
}
