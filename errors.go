package raft

import "errors"

// The sentinel errors of hashicorp/raft's API, with the same messages, so that
// callers comparing with == keep working. raftkit often wraps them with the
// operation and the IDs involved: compare with errors.Is.
var (
	// ErrLeader: the operation is not allowed on the leader.
	ErrLeader = errors.New("node is the leader")

	// ErrNotLeader: the operation needs the leader and this server is not it.
	// LeaderWithID tells where to go instead.
	ErrNotLeader = errors.New("node is not the leader")

	// ErrNotVoter: the operation needs a voter.
	ErrNotVoter = errors.New("node is not a voter")

	// ErrLeadershipLost: the leader stepped down before the entry committed.
	// The entry may still commit under the next leader.
	ErrLeadershipLost = errors.New("leadership lost while committing log")

	// ErrAbortedByRestore: a user restore replaced the state before the entry
	// committed.
	ErrAbortedByRestore = errors.New("snapshot restored while committing log")

	// ErrRaftShutdown: the server was shut down.
	ErrRaftShutdown = errors.New("raft is already shutdown")

	// ErrEnqueueTimeout: the request could not be handed to the main loop
	// within its timeout.
	ErrEnqueueTimeout = errors.New("timed out enqueuing operation")

	// ErrNothingNewToSnapshot: no entry was applied since the last snapshot.
	ErrNothingNewToSnapshot = errors.New("nothing new to snapshot")

	// ErrUnsupportedProtocol: the operation belongs to a protocol version
	// raftkit does not speak (AddPeer, RemovePeer, versions below 3).
	ErrUnsupportedProtocol = errors.New("operation not supported with current protocol version")

	// ErrCantBootstrap: the stores already hold state.
	ErrCantBootstrap = errors.New("bootstrap only works on new clusters")

	// ErrLeadershipTransferInProgress: the leader is handing over leadership
	// and takes no new requests meanwhile.
	ErrLeadershipTransferInProgress = errors.New("leadership transfer in progress")

	// ErrIncompatibleLogStore: the configuration needs a capability the log
	// store lacks (RestoreCommittedLogs needs a CommitTrackingLogStore).
	ErrIncompatibleLogStore = errors.New("log store does not implement some required methods or malformed")

	// ErrLogNotFound is returned by a LogStore for an index it does not hold.
	ErrLogNotFound = errors.New("log not found")

	// ErrPipelineReplicationNotSupported is returned by a transport that
	// cannot pipeline AppendEntries.
	ErrPipelineReplicationNotSupported = errors.New("pipeline replication not supported")

	// ErrTransportShutdown is returned by a transport that was closed.
	ErrTransportShutdown = errors.New("transport shutdown")

	// ErrPipelineShutdown is returned by a pipeline that was closed.
	ErrPipelineShutdown = errors.New("append pipeline closed")
)

// Errors of raftkit's own, beyond hashicorp/raft's.
var (
	// ErrStorageFailed: the LogStore or StableStore failed a write. The server
	// no longer acknowledges writes nor votes; restart it once the storage is
	// sound. The error wraps the store's own error.
	ErrStorageFailed = errors.New("raft: storage failed")

	// ErrCommandTooLarge: a command is larger than MaxCommandSize.
	ErrCommandTooLarge = errors.New("raft: command too large")

	// ErrNilCommand: Apply was given a nil command.
	ErrNilCommand = errors.New("raft: nil command")
)

// MaxCommandSize is the largest command Apply accepts: a command must fit in
// one AppendEntries frame of the TCP transport with room to spare.
const MaxCommandSize = 64 << 20

// SuggestedMaxDataSize is the largest command size raft handles well. Larger
// commands are accepted up to MaxCommandSize but hold up replication.
const SuggestedMaxDataSize = 512 * 1024
