package raft

// This file owns NetworkTransport: its configuration, its connections (a
// LIFO pool of idle outgoing connections per target, plus the set of every
// open connection so that Close can end them all) and the client side of the
// five RPCs. The server side is in net_transport_server.go, pipelining in
// net_pipeline.go, the hand-written codec in msgpack_append.go.
//
// The protocol is hashicorp/raft's NetworkTransport at protocol version 3
// (../shared/wire.md), byte for byte. A connection carries one RPC at a time,
// the client writing a request frame and the server answering with a
// response frame before the next request:
//
//	request frame:
//	  byte    rpc type: 0 AppendEntries, 1 RequestVote, 2 InstallSnapshot,
//	          3 TimeoutNow, 4 RequestPreVote
//	  msgpack the request struct (a map keyed by field name, see msgpack_append.go)
//	  [InstallSnapshot only] exactly Size raw bytes of snapshot
//	response frame:
//	  msgpack a raw string, the error text ("" when none)
//	  msgpack the response struct (zero value on error; nil if the server had none)
//
// There is no length prefix, magic or version byte: the end of a msgpack
// value is found by parsing it, which is why readValue bounds what it reads
// (and why an AppendEntries request is decoded in place only when it lies
// whole in the connection's buffer).
//
// Invariants: a connection is in exactly one place (pooled, held by one RPC,
// owned by a pipeline, or owned by a server goroutine); a connection that saw
// a send or decode error is closed, never pooled; an InstallSnapshot
// connection is never reused.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-msgpack/v2/codec"
)

// The RPC types, the first byte of a request frame.
const (
	rpcAppendEntries uint8 = iota
	rpcRequestVote
	rpcInstallSnapshot
	rpcTimeoutNow
	rpcRequestPreVote
)

const (
	// DefaultTimeoutScale is the snapshot size per Timeout an InstallSnapshot
	// is given: its deadline is Timeout * (Size / TimeoutScale), at least
	// Timeout.
	DefaultTimeoutScale = 256 * 1024 // 256KB

	// DefaultMaxRPCsInFlight is the pipeline depth used when
	// NetworkTransportConfig.MaxRPCsInFlight is 0.
	DefaultMaxRPCsInFlight = 2

	// DefaultMaxRPCSize is the largest msgpack value (a request or response
	// struct, not counting a snapshot's data) accepted when
	// NetworkTransportConfig.MaxRPCSize is 0: room for an AppendEntries of
	// the largest MaxAppendEntries (1024) entries of SuggestedMaxDataSize
	// each, with 1 KiB of overhead per entry and 1 MiB for the rest.
	DefaultMaxRPCSize = maxAppendEntriesCap*(SuggestedMaxDataSize+1024) + 1<<20

	// minInFlightForPipelining: with fewer than two requests in flight a
	// pipeline is only a slower synchronous call.
	minInFlightForPipelining = 2

	// connBufferSize is the read buffer of each connection.
	connBufferSize = 64 << 10

	// maxKeptScratch is the largest scratch buffer a connection keeps
	// between frames; a larger one (after a huge frame) is dropped so idle
	// connections do not pin memory.
	maxKeptScratch = 4 << 20
)

// ErrTransportShutdown and ErrPipelineShutdown are declared in errors.go.

// NetworkTransportConfig configures a NetworkTransport.
type NetworkTransportConfig struct {
	// ServerAddressProvider, when set, is asked for the address of a server
	// ID before each connection is made; the address the caller gave is the
	// fallback when it fails.
	ServerAddressProvider ServerAddressProvider

	// Logger receives the transport's logs; nil means an hclog logger named
	// "raft-net" on stderr.
	Logger hclog.Logger

	// Stream carries the connections (TCP, TLS, ...).
	Stream StreamLayer

	// MaxPool is how many idle connections are kept per target.
	MaxPool int

	// MaxRPCsInFlight is the pipeline depth of AppendEntries: 0 means
	// DefaultMaxRPCsInFlight; 1 disables pipelining
	// (AppendEntriesPipeline returns ErrPipelineReplicationNotSupported).
	MaxRPCsInFlight int

	// Timeout is the I/O deadline of one RPC, on both sides: a client waits
	// this long for its answer, and a server gives a peer this long to send
	// the rest of a frame it started. InstallSnapshot scales it by the
	// snapshot's size (see DefaultTimeoutScale). Zero means no deadline.
	Timeout time.Duration

	// MsgpackUseNewTimeFormat writes time.Time values (Log.AppendedAt) in
	// msgpack's timestamp form rather than hashicorp's default MarshalBinary
	// form. Decoding always accepts both.
	MsgpackUseNewTimeFormat bool

	// MaxRPCSize bounds the size in bytes of the msgpack value of one
	// request or response (a snapshot's data is bounded by its declared Size
	// and the scaled deadline instead). A frame declaring more is refused and
	// its connection closed. 0 means DefaultMaxRPCSize. Memory is only ever
	// allocated for bytes that actually arrived, so the bound caps what a
	// peer can make one connection hold, not what a lie costs.
	MaxRPCSize int
}

// ServerAddressProvider maps a server ID to the address to dial.
type ServerAddressProvider interface {
	ServerAddr(id ServerID) (ServerAddress, error)
}

// StreamLayer is the connection layer under a NetworkTransport: a listener
// for incoming connections and a dialer for outgoing ones. The transport
// calls Accept from one goroutine, Dial from many, and Close once, from
// NetworkTransport.Close.
type StreamLayer interface {
	net.Listener

	// Dial opens a connection to address within timeout.
	Dial(address ServerAddress, timeout time.Duration) (net.Conn, error)
}

// NetworkTransport is a Transport over a StreamLayer speaking hashicorp/raft's
// wire protocol (see the top of net_transport.go), so raftkit and
// hashicorp/raft servers can form one cluster.
//
// Every method is safe for concurrent use. Close ends every goroutine the
// transport started and every connection it holds.
//
// What the receiving side hands to raft:
//   - Each RPC on Consumer (or, for heartbeats, to the SetHeartbeatHandler
//     function) must be answered exactly once with RPC.Respond; the
//     connection reads nothing else until then.
//   - An InstallSnapshot RPC carries RPC.Reader, which yields exactly the
//     request's Size bytes and then io.EOF, or io.ErrUnexpectedEOF (or a
//     deadline error) if the peer's stream ends or stalls sooner: such a
//     snapshot is incomplete and must be discarded. Read it before Respond
//     and never after; there is nothing to close: the transport owns and
//     closes the connection after writing the response.
//   - Decoded messages own their bytes: raft may keep entries and their Data
//     (see msgpack_append.go).
type NetworkTransport struct {
	// TimeoutScale is the snapshot size granted one Timeout (see
	// DefaultTimeoutScale). It may be changed before the transport is used.
	TimeoutScale int

	stream       StreamLayer
	logger       hclog.Logger
	addrProvider ServerAddressProvider
	consumeCh    chan RPC
	maxPool      int
	maxInFlight  int
	timeout      time.Duration
	maxRPCSize   int
	newTime      bool
	encHandle    *codec.MsgpackHandle // library encoding (TimeNotBuiltin unless newTime)
	decHandle    *codec.MsgpackHandle // library decoding, both time forms

	heartbeatFn atomic.Pointer[func(RPC)]

	shutdownCh chan struct{} // closed by Close
	goroutines sync.WaitGroup

	// mu guards the fields below.
	mu       sync.Mutex
	shutdown bool
	// pool holds idle outgoing connections per target, most recent last.
	// Invariant: len(pool[t]) <= maxPool.
	pool map[ServerAddress][]*netConn
	// open holds every connection open in either direction.
	open map[net.Conn]struct{}
	// serving holds the accepted connections, for CloseStreams.
	serving map[*serverConn]struct{}
}

// NewNetworkTransportWithConfig creates a transport over config.Stream and
// starts accepting connections.
func NewNetworkTransportWithConfig(config *NetworkTransportConfig) *NetworkTransport {
	logger := config.Logger
	if logger == nil {
		logger = hclog.New(&hclog.LoggerOptions{Name: "raft-net", Output: hclog.DefaultOutput, Level: hclog.DefaultLevel})
	}
	n := &NetworkTransport{
		TimeoutScale: DefaultTimeoutScale,
		stream:       config.Stream,
		logger:       logger,
		addrProvider: config.ServerAddressProvider,
		consumeCh:    make(chan RPC),
		maxPool:      config.MaxPool,
		maxInFlight:  config.MaxRPCsInFlight,
		timeout:      config.Timeout,
		maxRPCSize:   config.MaxRPCSize,
		newTime:      config.MsgpackUseNewTimeFormat,
		encHandle:    &codec.MsgpackHandle{},
		decHandle:    &codec.MsgpackHandle{},
		shutdownCh:   make(chan struct{}),
		pool:         make(map[ServerAddress][]*netConn),
		open:         make(map[net.Conn]struct{}),
		serving:      make(map[*serverConn]struct{}),
	}
	n.encHandle.TimeNotBuiltin = !n.newTime
	if n.maxInFlight == 0 {
		n.maxInFlight = DefaultMaxRPCsInFlight
	}
	if n.maxRPCSize <= 0 {
		n.maxRPCSize = DefaultMaxRPCSize
	}
	n.spawn(n.listen)
	return n
}

// NewNetworkTransport creates a transport logging to logOutput (stderr when
// nil). maxPool idle connections are kept per target; timeout is the I/O
// deadline of an RPC (see NetworkTransportConfig.Timeout).
func NewNetworkTransport(stream StreamLayer, maxPool int, timeout time.Duration, logOutput io.Writer) *NetworkTransport {
	if logOutput == nil {
		logOutput = os.Stderr
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft-net", Output: logOutput, Level: hclog.DefaultLevel})
	return NewNetworkTransportWithLogger(stream, maxPool, timeout, logger)
}

// NewNetworkTransportWithLogger creates a transport logging to logger.
func NewNetworkTransportWithLogger(stream StreamLayer, maxPool int, timeout time.Duration, logger hclog.Logger) *NetworkTransport {
	return NewNetworkTransportWithConfig(&NetworkTransportConfig{Stream: stream, MaxPool: maxPool, Timeout: timeout, Logger: logger})
}

// spawn runs f on a goroutine that Close waits for. It refuses (false) once
// the transport is shut down.
func (n *NetworkTransport) spawn(f func()) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.shutdown {
		return false
	}
	n.goroutines.Go(f)
	return true
}

// SetHeartbeatHandler sets the function that receives heartbeats (see
// Transport) straight from the connection's goroutine. It must answer
// through rpc.Respond; the connection waits for that answer before it reads
// the next request. nil sends heartbeats to Consumer again.
func (n *NetworkTransport) SetHeartbeatHandler(cb func(rpc RPC)) {
	if cb == nil {
		n.heartbeatFn.Store(nil)
		return
	}
	n.heartbeatFn.Store(&cb)
}

// Consumer delivers incoming RPCs.
func (n *NetworkTransport) Consumer() <-chan RPC { return n.consumeCh }

// LocalAddr is the stream layer's address.
func (n *NetworkTransport) LocalAddr() ServerAddress {
	return ServerAddress(n.stream.Addr().String())
}

// IsShutdown reports whether Close was called.
func (n *NetworkTransport) IsShutdown() bool {
	select {
	case <-n.shutdownCh:
		return true
	default:
		return false
	}
}

// Close stops accepting connections, closes every connection in either
// direction, and waits until every goroutine of the transport has ended.
// RPCs in progress fail. A heartbeat handler that never returns holds Close
// up. Close may be called more than once.
func (n *NetworkTransport) Close() error {
	n.mu.Lock()
	first := !n.shutdown
	var conns []net.Conn
	if first {
		n.shutdown = true
		close(n.shutdownCh)
		for c := range n.open {
			conns = append(conns, c)
		}
		clear(n.pool)
	}
	n.mu.Unlock()
	var err error
	if first {
		if err = n.stream.Close(); err != nil {
			err = fmt.Errorf("close stream layer: %w", err)
		}
		for _, c := range conns {
			_ = c.Close()
		}
	}
	n.goroutines.Wait()
	return err
}

// CloseStreams closes the pooled outgoing connections and the accepted
// ones: an idle accepted connection at once, a busy one as soon as it has
// answered its current request.
func (n *NetworkTransport) CloseStreams() {
	n.mu.Lock()
	var idle []*netConn
	for target, conns := range n.pool {
		idle = append(idle, conns...)
		delete(n.pool, target)
	}
	serving := make([]*serverConn, 0, len(n.serving))
	for s := range n.serving {
		serving = append(serving, s)
	}
	n.mu.Unlock()
	for _, c := range idle {
		n.release(c)
	}
	for _, s := range serving {
		s.closeWhenIdle()
	}
}

// track records a new connection so that Close can end it; it refuses
// (ErrTransportShutdown, conn closed) after Close.
func (n *NetworkTransport) track(conn net.Conn) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.shutdown {
		_ = conn.Close()
		return ErrTransportShutdown
	}
	n.open[conn] = struct{}{}
	return nil
}

// untrack forgets and closes conn.
func (n *NetworkTransport) untrack(conn net.Conn) {
	n.mu.Lock()
	delete(n.open, conn)
	n.mu.Unlock()
	_ = conn.Close()
}

// netConn is one outgoing connection with its buffers, used by one RPC at a
// time.
type netConn struct {
	target ServerAddress
	conn   net.Conn
	r      *bufio.Reader
	codec  wireCodec
	out    []byte // the frame being written; reused
	in     []byte // the value being read; reused
}

// addressFor is the provider's address for id, or target.
func (n *NetworkTransport) addressFor(id ServerID, target ServerAddress) ServerAddress {
	if n.addrProvider == nil {
		return target
	}
	addr, err := n.addrProvider.ServerAddr(id)
	if err != nil {
		n.logger.Warn("unable to get address for server, using fallback address", "id", id, "fallback", target, "error", err)
		return target
	}
	return addr
}

// conn returns the most recently pooled connection to the server, or dials
// a new one.
func (n *NetworkTransport) conn(id ServerID, target ServerAddress) (*netConn, error) {
	target = n.addressFor(id, target)
	n.mu.Lock()
	if n.shutdown {
		n.mu.Unlock()
		return nil, ErrTransportShutdown
	}
	if conns := n.pool[target]; len(conns) > 0 {
		c := conns[len(conns)-1]
		conns[len(conns)-1] = nil
		n.pool[target] = conns[:len(conns)-1]
		n.mu.Unlock()
		return c, nil
	}
	n.mu.Unlock()
	return n.dial(target)
}

// dial opens a new connection to target.
func (n *NetworkTransport) dial(target ServerAddress) (*netConn, error) {
	conn, err := n.stream.Dial(target, n.timeout)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	if err := n.track(conn); err != nil {
		return nil, err
	}
	return &netConn{
		target: target,
		conn:   conn,
		r:      bufio.NewReaderSize(conn, connBufferSize),
		codec:  wireCodec{n: n},
	}, nil
}

// returnConn pools c, or closes it when the pool is full or closed.
func (n *NetworkTransport) returnConn(c *netConn) {
	n.mu.Lock()
	if conns := n.pool[c.target]; !n.shutdown && len(conns) < n.maxPool {
		n.pool[c.target] = append(conns, c)
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	n.release(c)
}

// release closes c for good.
func (n *NetworkTransport) release(c *netConn) { n.untrack(c.conn) }

// setDeadline gives c's next exchange d from now, when d > 0.
func (c *netConn) setDeadline(d time.Duration) {
	if d > 0 {
		_ = c.conn.SetDeadline(time.Now().Add(d))
	}
}

// send writes one request frame.
func (c *netConn) send(rpcType uint8, args any) error {
	out, err := c.codec.appendMessage(append(c.out[:0], rpcType), args)
	c.out = out
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	if _, err := c.conn.Write(out); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	return nil
}

// receive reads one response frame into resp. reusable is false when the
// connection's state is unknown (the frame did not decode); a non-empty
// error text is returned as the error, with reusable true.
func (c *netConn) receive(resp any) (reusable bool, err error) {
	text, err := c.codec.readErrorText(c.r, &c.in)
	if err != nil {
		return false, fmt.Errorf("read response: %w", err)
	}
	if err := c.codec.readMessage(c.r, &c.in, resp); err != nil {
		return false, fmt.Errorf("read response: %w", err)
	}
	if cap(c.in) > maxKeptScratch {
		c.in = nil
	}
	if text != "" {
		return true, errors.New(text)
	}
	return true, nil
}

// genericRPC makes one request/response exchange on a pooled connection.
func (n *NetworkTransport) genericRPC(id ServerID, target ServerAddress, rpcType uint8, args, resp any) error {
	c, err := n.conn(id, target)
	if err != nil {
		return err
	}
	return n.exchange(c, rpcType, args, resp)
}

// exchange sends one request on c and reads its response; c returns to the
// pool if it can be used again.
func (n *NetworkTransport) exchange(c *netConn, rpcType uint8, args, resp any) error {
	c.setDeadline(n.timeout)
	if err := c.send(rpcType, args); err != nil {
		n.release(c)
		return err
	}
	reusable, err := c.receive(resp)
	if reusable {
		n.returnConn(c)
	} else {
		n.release(c)
	}
	return err
}

// AppendEntries sends one AppendEntries (or heartbeat) on a pooled
// connection, never on a pipeline's.
func (n *NetworkTransport) AppendEntries(id ServerID, target ServerAddress, args *AppendEntriesRequest, resp *AppendEntriesResponse) error {
	return n.genericRPC(id, target, rpcAppendEntries, args, resp)
}

// RequestVote sends one RequestVote.
func (n *NetworkTransport) RequestVote(id ServerID, target ServerAddress, args *RequestVoteRequest, resp *RequestVoteResponse) error {
	return n.genericRPC(id, target, rpcRequestVote, args, resp)
}

// RequestPreVote sends one RequestPreVote. A server of an older version that
// does not know it closes the connection without answering: the error then
// wraps errPeerUnsupported, and the candidate counts that server's pre-vote
// as granted (its real vote decides). Because a pooled connection may also
// have been closed by a peer that restarted, an unanswered request is asked
// again once on a new connection before the peer is judged.
func (n *NetworkTransport) RequestPreVote(id ServerID, target ServerAddress, args *RequestPreVoteRequest, resp *RequestPreVoteResponse) error {
	err := n.genericRPC(id, target, rpcRequestPreVote, args, resp)
	if !closedWithoutAnswer(err) {
		return err
	}
	c, derr := n.dial(n.addressFor(id, target))
	if derr != nil {
		return err
	}
	err = n.exchange(c, rpcRequestPreVote, args, resp)
	if closedWithoutAnswer(err) {
		return fmt.Errorf("%w: %w", errPeerUnsupported, err)
	}
	return err
}

// closedWithoutAnswer reports whether err says that the peer closed the
// connection instead of answering.
func closedWithoutAnswer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// TimeoutNow sends one TimeoutNow.
func (n *NetworkTransport) TimeoutNow(id ServerID, target ServerAddress, args *TimeoutNowRequest, resp *TimeoutNowResponse) error {
	return n.genericRPC(id, target, rpcTimeoutNow, args, resp)
}

// InstallSnapshot sends the request followed by exactly args.Size bytes of
// data (an error if data ends sooner; what follows is not read), on a
// connection closed afterwards. Its deadline is scaled by the size (see
// snapshotTimeout).
func (n *NetworkTransport) InstallSnapshot(id ServerID, target ServerAddress, args *InstallSnapshotRequest, resp *InstallSnapshotResponse, data io.Reader) error {
	if args.Size < 0 {
		return fmt.Errorf("install snapshot: negative size %d", args.Size)
	}
	c, err := n.conn(id, target)
	if err != nil {
		return err
	}
	defer n.release(c)
	c.setDeadline(n.snapshotTimeout(args.Size))
	if err := c.send(rpcInstallSnapshot, args); err != nil {
		return err
	}
	if sent, err := io.CopyN(c.conn, data, args.Size); err != nil {
		return fmt.Errorf("send snapshot: %d of %d bytes sent: %w", sent, args.Size, err)
	}
	_, err = c.receive(resp)
	return err
}

// snapshotTimeout is the deadline of a snapshot of size bytes:
// Timeout * (size / TimeoutScale), at least Timeout, 0 (none) if Timeout is.
func (n *NetworkTransport) snapshotTimeout(size int64) time.Duration {
	if n.timeout <= 0 {
		return 0
	}
	scale := int64(n.TimeoutScale)
	if scale <= 0 {
		scale = DefaultTimeoutScale
	}
	mult := size / scale
	if mult > math.MaxInt64/int64(n.timeout) {
		return math.MaxInt64
	}
	return max(n.timeout*time.Duration(mult), n.timeout)
}

// EncodePeer returns the address to carry in RPCs for a peer: the provider's
// when there is one.
func (n *NetworkTransport) EncodePeer(id ServerID, p ServerAddress) []byte {
	return []byte(n.addressFor(id, p))
}

// DecodePeer is the inverse of EncodePeer.
func (n *NetworkTransport) DecodePeer(buf []byte) ServerAddress { return ServerAddress(buf) }
