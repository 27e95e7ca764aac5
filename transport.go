package raft

import (
	"io"
	"time"
)

// RPCResponse is the answer to an RPC: a response value, or an error.
type RPCResponse struct {
	Response interface{}
	Error    error
}

// RPC is an incoming request, delivered by a transport's Consumer channel.
type RPC struct {
	// Command is one of the *Request types of commands.go.
	Command interface{}
	// Reader carries the snapshot bytes of an InstallSnapshotRequest; nil
	// otherwise. It is valid until Respond is called.
	Reader io.Reader
	// RespChan receives exactly one RPCResponse.
	RespChan chan<- RPCResponse
}

// Respond answers the RPC. It is called exactly once per RPC, and RespChan
// must have room for the answer so that the responder never blocks.
func (r *RPC) Respond(resp interface{}, err error) {
	r.RespChan <- RPCResponse{resp, err}
}

// Transport carries raft's RPCs between servers.
//
// Outgoing calls (AppendEntries, RequestVote, ...) are made from several
// goroutines at once (one replication goroutine per peer, the candidate's
// vote requests) and must be safe for concurrent use. Each blocks until the
// response arrives or the transport gives up, and then returns the transport's
// error or nil; a response's own refusal is in the response value.
type Transport interface {
	// Consumer delivers incoming RPCs. Only raft's main loop reads it, and it
	// answers each through RPC.Respond.
	Consumer() <-chan RPC

	// LocalAddr is the address peers reach this transport at.
	LocalAddr() ServerAddress

	// AppendEntriesPipeline opens a pipeline to target, or returns
	// ErrPipelineReplicationNotSupported.
	AppendEntriesPipeline(id ServerID, target ServerAddress) (AppendPipeline, error)

	// AppendEntries sends one AppendEntries RPC and waits for its response.
	AppendEntries(id ServerID, target ServerAddress, args *AppendEntriesRequest, resp *AppendEntriesResponse) error

	// RequestVote sends one RequestVote RPC and waits for its response.
	RequestVote(id ServerID, target ServerAddress, args *RequestVoteRequest, resp *RequestVoteResponse) error

	// InstallSnapshot sends the request followed by args.Size bytes read from
	// data, and waits for the response.
	InstallSnapshot(id ServerID, target ServerAddress, args *InstallSnapshotRequest, resp *InstallSnapshotResponse, data io.Reader) error

	// EncodePeer turns a peer's address into the bytes carried in RPCs.
	EncodePeer(id ServerID, addr ServerAddress) []byte

	// DecodePeer is the inverse of EncodePeer.
	DecodePeer([]byte) ServerAddress

	// SetHeartbeatHandler registers a function that handles heartbeats
	// (AppendEntries requests of the heartbeat shape, see wire.md) straight
	// from the transport's goroutine, so that a heartbeat never waits behind
	// a slow request on the Consumer channel. A transport without such a
	// fast path may ignore the call and deliver heartbeats on Consumer.
	SetHeartbeatHandler(cb func(rpc RPC))

	// TimeoutNow asks target to start an election at once (leadership
	// transfer).
	TimeoutNow(id ServerID, target ServerAddress, args *TimeoutNowRequest, resp *TimeoutNowResponse) error
}

// WithPreVote is the optional capability of sending pre-vote requests
// (Raft thesis, section 9.6). Raft runs elections without a pre-vote phase
// over a transport that lacks it.
type WithPreVote interface {
	RequestPreVote(id ServerID, target ServerAddress, args *RequestPreVoteRequest, resp *RequestPreVoteResponse) error
}

// WithClose is the optional capability of releasing a transport's resources;
// Raft.Shutdown calls it.
type WithClose interface {
	// Close stops the transport's goroutines and closes its connections. It
	// is final.
	Close() error
}

// LoopbackTransport is a transport whose peers are wired up in process, such
// as InmemTransport.
type LoopbackTransport interface {
	Transport
	WithPeers
	WithClose
	WithPreVote
}

// WithPeers is the capability of an in-process transport to be wired to, and
// cut from, its peers. For other transports the Transport given to Connect
// may be nil.
type WithPeers interface {
	Connect(peer ServerAddress, t Transport) // make peer reachable
	Disconnect(peer ServerAddress)           // make peer unreachable
	DisconnectAll()                          // make every peer unreachable
}

// AppendPipeline sends AppendEntries requests to one follower without waiting
// for each response, which hides the network's latency from replication
// throughput. One replication goroutine owns a pipeline.
type AppendPipeline interface {
	// AppendEntries queues a request. It may block while too many requests
	// are in flight: that is the pipeline's back-pressure.
	AppendEntries(args *AppendEntriesRequest, resp *AppendEntriesResponse) (AppendFuture, error)

	// Consumer delivers the futures of completed requests in the order the
	// requests were queued.
	Consumer() <-chan AppendFuture

	// Close ends the pipeline; requests still in flight fail.
	Close() error
}

// AppendFuture is the pending result of a pipelined AppendEntries request.
type AppendFuture interface {
	Future

	// Start is when the request was queued. Always safe to call.
	Start() time.Time

	// Request is the request that was sent. Always safe to call.
	Request() *AppendEntriesRequest

	// Response is the follower's response: valid only after Error returned
	// nil.
	Response() *AppendEntriesResponse
}
