package raft

// This file defines the RPC messages. Their field names and types are part of the
// wire protocol (see net_transport.go): msgpack encodes each struct as a map keyed
// by the Go field name, so renaming a field breaks compatibility with
// hashicorp/raft peers.

// RPCHeader opens every RPC message, request or response: it names the sender
// and the protocol version it speaks.
type RPCHeader struct {
	// ProtocolVersion of the sender; raftkit always sends 3.
	ProtocolVersion ProtocolVersion
	// ID is the sender's ServerID.
	ID []byte
	// Addr is the sender's ServerAddress.
	Addr []byte
}

// WithRPCHeader is implemented by every RPC message.
type WithRPCHeader interface {
	GetRPCHeader() RPCHeader
}

// AppendEntriesRequest is the command used to append entries to the replicated
// log (Raft paper, Figure 2). A request carrying only the header, Term and
// Leader is a heartbeat.
type AppendEntriesRequest struct {
	RPCHeader

	// Term is the leader's current term.
	Term uint64

	// Deprecated: use RPCHeader.Addr instead. Still filled for old peers.
	Leader []byte

	// PrevLogEntry and PrevLogTerm identify the entry that immediately precedes
	// Entries in the leader's log.
	PrevLogEntry uint64
	PrevLogTerm  uint64

	// Entries are the new log entries to store.
	Entries []*Log

	// LeaderCommitIndex is the leader's commit index.
	LeaderCommitIndex uint64
}

// GetRPCHeader returns the request's RPCHeader.
func (r *AppendEntriesRequest) GetRPCHeader() RPCHeader { return r.RPCHeader }

// AppendEntriesResponse is the response to an AppendEntriesRequest.
type AppendEntriesResponse struct {
	RPCHeader

	// Term is the responder's current term, for a stale leader to learn of.
	Term uint64

	// LastLog is a hint for the leader's next probe: on success the follower's
	// last index; on a mismatch the highest index at which the follower's log
	// may still match the leader's (see followerHint).
	LastLog uint64

	// Success is true when the follower's log matched PrevLogEntry and
	// PrevLogTerm and the entries were stored durably.
	Success bool

	// NoRetryBackoff asks the leader to retry at once rather than back off.
	NoRetryBackoff bool
}

// GetRPCHeader returns the response's RPCHeader.
func (r *AppendEntriesResponse) GetRPCHeader() RPCHeader { return r.RPCHeader }

// RequestVoteRequest is the command used by a candidate to ask a Raft peer for
// a vote in an election.
type RequestVoteRequest struct {
	RPCHeader

	// Term is the candidate's term.
	Term uint64

	// Deprecated: use RPCHeader.Addr instead. Still filled for old peers.
	Candidate []byte

	// LastLogIndex and LastLogTerm describe the candidate's log, for the
	// up-to-date check of section 5.4.1.
	LastLogIndex uint64
	LastLogTerm  uint64

	// LeadershipTransfer is set when the election was started by a TimeoutNow
	// from the current leader: voters then grant even though they know a leader.
	LeadershipTransfer bool
}

// GetRPCHeader returns the request's RPCHeader.
func (r *RequestVoteRequest) GetRPCHeader() RPCHeader { return r.RPCHeader }

// RequestVoteResponse is the response to a RequestVoteRequest.
type RequestVoteResponse struct {
	RPCHeader

	// Term is the voter's term, possibly updated by the request.
	Term uint64

	// Deprecated: no longer used; kept for the wire format.
	Peers []byte

	// Granted is true when the vote was granted.
	Granted bool
}

// GetRPCHeader returns the response's RPCHeader.
func (r *RequestVoteResponse) GetRPCHeader() RPCHeader { return r.RPCHeader }

// RequestPreVoteRequest asks a peer whether it would vote for the sender in an
// election at Term (Raft thesis, section 9.6). Granting it changes nothing on
// the voter.
type RequestPreVoteRequest struct {
	RPCHeader

	// Term is the term the candidate would campaign in (its current term + 1).
	Term uint64

	// LastLogIndex and LastLogTerm describe the candidate's log.
	LastLogIndex uint64
	LastLogTerm  uint64
}

// GetRPCHeader returns the request's RPCHeader.
func (r *RequestPreVoteRequest) GetRPCHeader() RPCHeader { return r.RPCHeader }

// RequestPreVoteResponse is the response to a RequestPreVoteRequest.
type RequestPreVoteResponse struct {
	RPCHeader

	// Term is the voter's current term.
	Term uint64

	// Granted is true when the voter would grant a real vote.
	Granted bool
}

// GetRPCHeader returns the response's RPCHeader.
func (r *RequestPreVoteResponse) GetRPCHeader() RPCHeader { return r.RPCHeader }

// InstallSnapshotRequest is the command sent to a follower that must be
// brought up to date with a snapshot because the leader no longer holds the
// log entries it needs. The snapshot's bytes follow the request on the stream.
type InstallSnapshotRequest struct {
	RPCHeader
	SnapshotVersion SnapshotVersion

	Term   uint64
	Leader []byte

	// LastLogIndex and LastLogTerm are the index and term of the last entry
	// the snapshot covers.
	LastLogIndex uint64
	LastLogTerm  uint64

	// Deprecated: peer set of protocol version 0; kept for the wire format.
	Peers []byte

	// Configuration is the cluster configuration as of ConfigurationIndex,
	// encoded with EncodeConfiguration.
	Configuration      []byte
	ConfigurationIndex uint64

	// Size is the number of snapshot bytes that follow the request.
	Size int64
}

// GetRPCHeader returns the request's RPCHeader.
func (r *InstallSnapshotRequest) GetRPCHeader() RPCHeader { return r.RPCHeader }

// InstallSnapshotResponse is the response to an InstallSnapshotRequest.
type InstallSnapshotResponse struct {
	RPCHeader

	Term    uint64
	Success bool
}

// GetRPCHeader returns the response's RPCHeader.
func (r *InstallSnapshotResponse) GetRPCHeader() RPCHeader { return r.RPCHeader }

// TimeoutNowRequest is sent by a leader transferring its leadership: the
// target starts an election at once (Raft thesis, section 3.10).
type TimeoutNowRequest struct {
	RPCHeader
}

// GetRPCHeader returns the request's RPCHeader.
func (r *TimeoutNowRequest) GetRPCHeader() RPCHeader { return r.RPCHeader }

// TimeoutNowResponse is the response to a TimeoutNowRequest.
type TimeoutNowResponse struct {
	RPCHeader
}

// GetRPCHeader returns the response's RPCHeader.
func (r *TimeoutNowResponse) GetRPCHeader() RPCHeader { return r.RPCHeader }

// isHeartbeat reports whether req has the shape of a heartbeat (wire.md):
// only the header, Term and the leader's address (possibly empty, as
// hashicorp/raft checks for nil only). Transports hand such
// requests to the heartbeat handler.
func isHeartbeat(req *AppendEntriesRequest) bool {
	leader := req.Addr
	if len(leader) == 0 {
		leader = req.Leader
	}
	return req.Term != 0 && leader != nil &&
		req.PrevLogEntry == 0 && req.PrevLogTerm == 0 &&
		len(req.Entries) == 0 && req.LeaderCommitIndex == 0
}
