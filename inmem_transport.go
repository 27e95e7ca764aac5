package raft

// This file owns InmemTransport, the transport of every cluster test and of
// the in-memory benchmarks: servers of one process reach each other through
// channels, with no encoding and no network.
//
// How an RPC travels. The caller routes by address to the peer transport
// (routes are one-way: A.Connect(b, B) lets A reach B, not B reach A), builds
// an RPC whose RespChan has room for one answer, and either hands it to the
// peer's heartbeat handler (heartbeat-shaped AppendEntries, when a handler is
// set) or queues it on the peer's Consumer channel. Then it waits for the
// answer. Both the queuing and the wait are bounded by the timeout, and both
// end early when either transport is closed, so no caller outlives a Close by
// more than a scheduling step and a synctest bubble can always finish.
//
// Invariants:
//   - A Consumer channel is never closed: senders may be blocked on it.
//   - The only goroutines this file starts are the pipelines' response
//     readers; each ends when its pipeline closes, and Disconnect, DisconnectAll
//     and Close close the pipelines they cut before returning.
//   - An inmemCall goes back to its pool only after its answer was received,
//     so a late answer to an abandoned call can never reach a later call.
//
// Transports must be created in the synctest bubble that uses them (or
// outside any bubble, and used outside): their channels and pooled timers
// belong to the bubble that created them.

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// inmemDefaultTimeout is NewInmemTransport's RPC timeout, hashicorp's.
	inmemDefaultTimeout = 500 * time.Millisecond

	// inmemConsumerBuffer is the capacity of a transport's Consumer channel,
	// hashicorp's: this many RPCs may wait for the main loop before senders
	// block (for at most their timeout).
	inmemConsumerBuffer = 16

	// inmemPipelineDepth bounds the requests of one pipeline that were sent
	// and whose future was not yet handed to Consumer. A sender beyond it
	// blocks: the pipeline's back-pressure.
	inmemPipelineDepth = 64

	// inmemLongRPCScale scales the timeout of InstallSnapshot (which carries
	// data) and of TimeoutNow (which waits for the target to start an
	// election), as hashicorp does.
	inmemLongRPCScale = 10
)

// The failures of InmemTransport besides ErrTransportShutdown and
// ErrPipelineShutdown. They come wrapped with the RPC and the peer.
var (
	// errInmemUnreachable: the target is not connected (Connect was never
	// called for it, or Disconnect was).
	errInmemUnreachable = errors.New("raft: peer not connected")

	// errInmemPeerClosed: the target transport was closed.
	errInmemPeerClosed = errors.New("raft: peer transport closed")

	// errInmemTimeout: the target did not take or did not answer the RPC in
	// time.
	errInmemTimeout = errors.New("raft: rpc timed out")

	// errInmemBadResponse: the target answered with a value of the wrong type.
	errInmemBadResponse = errors.New("raft: unexpected response type")
)

var (
	_ LoopbackTransport = (*InmemTransport)(nil)
	_ AppendFuture      = (*inmemAppendFuture)(nil)
)

// NewInmemAddr returns a fresh random address: a version 4 UUID.
func NewInmemAddr() ServerAddress {
	var b [16]byte
	rand.Read(b[:]) // never fails: crypto/rand.Read aborts the program instead
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return ServerAddress(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

// InmemTransport implements LoopbackTransport within one process, for tests
// and benchmarks. Wire servers together with Connect; cut them apart with
// Disconnect to simulate a partition.
//
// Requests are delivered by pointer: the receiver sees the sender's own
// request value, so the sender must not change it until the call returns,
// and the receiver must not change it at all. Responses are copied into the
// caller's value.
type InmemTransport struct {
	// RWMutex guards peers, pipelines and closed. It is embedded because
	// hashicorp's InmemTransport embeds it; callers have no reason to take it.
	sync.RWMutex
	peers     map[ServerAddress]*InmemTransport
	pipelines map[*inmemPipeline]struct{}
	closed    bool // set once by Close, together with closing shutdownCh

	consumerCh  chan RPC
	shutdownCh  chan struct{}
	localAddr   ServerAddress
	timeout     time.Duration // <= 0: no timeout
	heartbeatFn atomic.Pointer[func(RPC)]

	// calls recycles the response channel and timer of outgoing calls, so
	// that an RPC allocates nothing here.
	calls sync.Pool
}

// NewInmemTransportWithTimeout returns a transport at addr (a fresh address
// when addr is empty) whose RPCs give up after timeout, both to be queued and
// to be answered. A timeout <= 0 waits for ever (until Close).
func NewInmemTransportWithTimeout(addr ServerAddress, timeout time.Duration) (ServerAddress, *InmemTransport) {
	if addr == "" {
		addr = NewInmemAddr()
	}
	i := &InmemTransport{
		peers:      make(map[ServerAddress]*InmemTransport),
		pipelines:  make(map[*inmemPipeline]struct{}),
		consumerCh: make(chan RPC, inmemConsumerBuffer),
		shutdownCh: make(chan struct{}),
		localAddr:  addr,
		timeout:    timeout,
	}
	i.calls.New = newInmemCall
	return addr, i
}

// NewInmemTransport returns a transport at addr (a fresh address when addr is
// empty) with a timeout of 500ms.
func NewInmemTransport(addr ServerAddress) (ServerAddress, *InmemTransport) {
	return NewInmemTransportWithTimeout(addr, inmemDefaultTimeout)
}

// SetHeartbeatHandler makes heartbeats sent to this transport skip the
// Consumer channel: cb is called with the RPC from the sender's goroutine.
// cb must answer the RPC, at once or later (by forwarding it to the main
// loop), and must not block for long, since the sender's timeout does not
// start until cb returns. A nil cb sends heartbeats to Consumer again.
func (i *InmemTransport) SetHeartbeatHandler(cb func(RPC)) {
	if cb == nil {
		i.heartbeatFn.Store(nil)
		return
	}
	i.heartbeatFn.Store(&cb)
}

// Consumer delivers the RPCs sent to this transport. It is never closed.
func (i *InmemTransport) Consumer() <-chan RPC { return i.consumerCh }

// LocalAddr returns the transport's address.
func (i *InmemTransport) LocalAddr() ServerAddress { return i.localAddr }

// EncodePeer returns the address as bytes.
func (i *InmemTransport) EncodePeer(id ServerID, p ServerAddress) []byte { return []byte(p) }

// DecodePeer is the inverse of EncodePeer.
func (i *InmemTransport) DecodePeer(buf []byte) ServerAddress { return ServerAddress(buf) }

// Connect makes peer reachable from this transport, delivering to t, which
// must be an *InmemTransport (anything else is a programming error and
// panics). It does nothing on a closed transport.
func (i *InmemTransport) Connect(peer ServerAddress, t Transport) {
	target, ok := t.(*InmemTransport)
	if !ok || target == nil {
		panic(fmt.Sprintf("raft: InmemTransport.Connect(%q): want a non-nil *InmemTransport, got %T", peer, t))
	}
	i.Lock()
	defer i.Unlock()
	if !i.closed {
		i.peers[peer] = target
	}
}

// Disconnect makes peer unreachable and closes the pipelines to it. Calls
// already delivered to peer still get their answer.
func (i *InmemTransport) Disconnect(peer ServerAddress) {
	i.Lock()
	delete(i.peers, peer)
	cut := i.takePipelinesLocked(func(p *inmemPipeline) bool { return p.target == peer })
	i.Unlock()
	closeInmemPipelines(cut)
}

// DisconnectAll makes every peer unreachable and closes every pipeline.
func (i *InmemTransport) DisconnectAll() {
	i.Lock()
	clear(i.peers)
	cut := i.takePipelinesLocked(func(*inmemPipeline) bool { return true })
	i.Unlock()
	closeInmemPipelines(cut)
}

// Close disconnects everything for good: later calls fail with
// ErrTransportShutdown, calls waiting for an answer return it at once, and
// calls to this transport from its peers fail with a peer-closed error. It
// returns when the pipelines' goroutines have ended. Close is idempotent.
func (i *InmemTransport) Close() error {
	i.Lock()
	if !i.closed {
		i.closed = true
		close(i.shutdownCh)
	}
	clear(i.peers)
	cut := i.takePipelinesLocked(func(*inmemPipeline) bool { return true })
	i.Unlock()
	closeInmemPipelines(cut)
	return nil
}

// takePipelinesLocked removes and returns the pipelines that match; the
// caller closes them after unlocking, since Close waits for a goroutine.
func (i *InmemTransport) takePipelinesLocked(match func(*inmemPipeline) bool) []*inmemPipeline {
	var cut []*inmemPipeline
	for p := range i.pipelines {
		if match(p) {
			cut = append(cut, p)
			delete(i.pipelines, p)
		}
	}
	return cut
}

func closeInmemPipelines(ps []*inmemPipeline) {
	for _, p := range ps {
		p.Close()
	}
}

// route returns the transport that target is connected to.
func (i *InmemTransport) route(op string, target ServerAddress) (*InmemTransport, error) {
	i.RLock()
	peer, ok := i.peers[target]
	closed := i.closed
	i.RUnlock()
	switch {
	case closed:
		return nil, ErrTransportShutdown
	case !ok:
		return nil, fmt.Errorf("%s to %q: %w", op, target, errInmemUnreachable)
	}
	return peer, nil
}

// AppendEntries sends an AppendEntries request (or a heartbeat) to target and
// waits for the answer.
func (i *InmemTransport) AppendEntries(id ServerID, target ServerAddress, args *AppendEntriesRequest, resp *AppendEntriesResponse) error {
	return inmemRoundTrip(i, "AppendEntries", target, args, resp, nil, i.timeout)
}

// RequestVote sends a RequestVote request to target and waits for the answer.
func (i *InmemTransport) RequestVote(id ServerID, target ServerAddress, args *RequestVoteRequest, resp *RequestVoteResponse) error {
	return inmemRoundTrip(i, "RequestVote", target, args, resp, nil, i.timeout)
}

// RequestPreVote sends a RequestPreVote request to target and waits for the
// answer.
func (i *InmemTransport) RequestPreVote(id ServerID, target ServerAddress, args *RequestPreVoteRequest, resp *RequestPreVoteResponse) error {
	return inmemRoundTrip(i, "RequestPreVote", target, args, resp, nil, i.timeout)
}

// InstallSnapshot sends the request with data as the RPC's Reader and waits
// for the answer, for ten times the timeout. The receiver reads data before
// it answers.
func (i *InmemTransport) InstallSnapshot(id ServerID, target ServerAddress, args *InstallSnapshotRequest, resp *InstallSnapshotResponse, data io.Reader) error {
	return inmemRoundTrip(i, "InstallSnapshot", target, args, resp, data, inmemLongRPCScale*i.timeout)
}

// TimeoutNow asks target to start an election and waits for the answer, for
// ten times the timeout.
func (i *InmemTransport) TimeoutNow(id ServerID, target ServerAddress, args *TimeoutNowRequest, resp *TimeoutNowResponse) error {
	return inmemRoundTrip(i, "TimeoutNow", target, args, resp, nil, inmemLongRPCScale*i.timeout)
}

// inmemRoundTrip makes one call and copies the answer into resp.
func inmemRoundTrip[Req, Resp any](i *InmemTransport, op string, target ServerAddress, args *Req, resp *Resp, data io.Reader, timeout time.Duration) error {
	answer, err := i.call(op, target, args, data, timeout)
	if err != nil {
		return err
	}
	out, ok := answer.(*Resp)
	if !ok || out == nil {
		return fmt.Errorf("%s to %q: %w: got %T, want %T", op, target, errInmemBadResponse, answer, resp)
	}
	*resp = *out
	return nil
}

// inmemCall is the reusable state of one outgoing call.
type inmemCall struct {
	respCh chan RPCResponse // room for the one answer
	timer  *time.Timer      // stopped whenever the call is idle
}

func newInmemCall() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &inmemCall{respCh: make(chan RPCResponse, 1), timer: t}
}

// call delivers cmd to target and returns the answer's Response.
func (i *InmemTransport) call(op string, target ServerAddress, cmd any, data io.Reader, timeout time.Duration) (any, error) {
	peer, err := i.route(op, target)
	if err != nil {
		return nil, err
	}
	c := i.calls.Get().(*inmemCall)
	rpc := RPC{Command: cmd, Reader: data, RespChan: c.respCh}
	if fn := peer.heartbeatHandlerFor(cmd); fn != nil {
		if inmemClosed(peer.shutdownCh) {
			i.calls.Put(c)
			return nil, fmt.Errorf("%s to %q: %w", op, target, errInmemPeerClosed)
		}
		(*fn)(rpc)
	} else if err := peer.enqueue(rpc, c.timer, timeout, i.shutdownCh, ErrTransportShutdown); err != nil {
		i.calls.Put(c) // not delivered: nobody else holds respCh
		return nil, inmemWrap(op, target, err)
	}
	return i.await(op, target, peer, c, timeout)
}

// await waits for the answer to a delivered call.
func (i *InmemTransport) await(op string, target ServerAddress, peer *InmemTransport, c *inmemCall, timeout time.Duration) (any, error) {
	select { // a heartbeat handler usually answered already: no timer needed
	case r := <-c.respCh:
		return i.finish(op, target, c, r)
	default:
	}
	var stop error
	select {
	case r := <-c.respCh:
		c.timer.Stop() // before c goes back to the pool
		return i.finish(op, target, c, r)
	case <-startInmemTimer(c.timer, timeout):
		return nil, fmt.Errorf("%s to %q: no answer after %v: %w", op, target, timeout, errInmemTimeout)
	case <-i.shutdownCh:
		stop = ErrTransportShutdown
	case <-peer.shutdownCh:
		stop = fmt.Errorf("%s to %q: %w", op, target, errInmemPeerClosed)
	}
	c.timer.Stop()
	// An answer that raced with the close still counts.
	select {
	case r := <-c.respCh:
		return i.finish(op, target, c, r)
	default:
		return nil, stop
	}
}

// finish recycles c, whose answer r was received and whose timer is
// stopped, and unpacks r.
func (i *InmemTransport) finish(op string, target ServerAddress, c *inmemCall, r RPCResponse) (any, error) {
	i.calls.Put(c)
	if r.Error != nil {
		return nil, fmt.Errorf("%s to %q: %w", op, target, r.Error)
	}
	return r.Response, nil
}

// heartbeatHandlerFor returns the heartbeat handler to call for cmd, or nil
// when cmd goes to Consumer.
func (i *InmemTransport) heartbeatHandlerFor(cmd any) *func(RPC) {
	fn := i.heartbeatFn.Load()
	if fn == nil {
		return nil
	}
	if req, ok := cmd.(*AppendEntriesRequest); ok && isHeartbeat(req) {
		return fn
	}
	return nil
}

// inmemClosed reports whether ch, a shutdown channel, is closed.
func inmemClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// enqueue puts rpc on i's Consumer channel, waiting at most timeout for room.
// It gives up with abortErr when abort is closed. timer must be stopped; it
// is stopped again on return.
func (i *InmemTransport) enqueue(rpc RPC, timer *time.Timer, timeout time.Duration, abort <-chan struct{}, abortErr error) error {
	select { // the common case needs no timer
	case i.consumerCh <- rpc:
		return nil
	default:
	}
	defer timer.Stop()
	select {
	case i.consumerCh <- rpc:
		return nil
	case <-startInmemTimer(timer, timeout):
		return fmt.Errorf("not taken after %v: %w", timeout, errInmemTimeout)
	case <-i.shutdownCh:
		return errInmemPeerClosed
	case <-abort:
		return abortErr
	}
}

// inmemWrap adds the RPC and the peer to an error of enqueue, except to the
// shutdown errors, which are returned bare as hashicorp's transports do.
func inmemWrap(op string, target ServerAddress, err error) error {
	if err == ErrTransportShutdown || err == ErrPipelineShutdown {
		return err
	}
	return fmt.Errorf("%s to %q: %w", op, target, err)
}

// startInmemTimer starts the stopped timer t for d and returns its channel,
// or returns nil (a channel that never fires) when d <= 0.
func startInmemTimer(t *time.Timer, d time.Duration) <-chan time.Time {
	if d <= 0 {
		return nil
	}
	t.Reset(d)
	return t.C
}

// AppendEntriesPipeline opens a pipeline to target, which must be connected.
// The pipeline ends with its Close, with Disconnect(target), DisconnectAll or
// Close of the transport.
func (i *InmemTransport) AppendEntriesPipeline(id ServerID, target ServerAddress) (AppendPipeline, error) {
	const op = "AppendEntriesPipeline"
	i.Lock()
	defer i.Unlock()
	if i.closed {
		return nil, ErrTransportShutdown
	}
	peer, ok := i.peers[target]
	if !ok {
		return nil, fmt.Errorf("%s to %q: %w", op, target, errInmemUnreachable)
	}
	p := newInmemPipeline(i, peer, target)
	i.pipelines[p] = struct{}{}
	return p, nil
}

// forgetPipeline drops p, which is closing, from the pipelines to close.
func (i *InmemTransport) forgetPipeline(p *inmemPipeline) {
	i.Lock()
	delete(i.pipelines, p)
	i.Unlock()
}

// inmemPipeline queues AppendEntries requests on the peer's Consumer without
// waiting, and its reader goroutine waits for the answers in request order
// and hands the completed futures to Consumer.
type inmemPipeline struct {
	trans  *InmemTransport
	peer   *InmemTransport
	target ServerAddress

	// sendMu serializes AppendEntries, so that the order of inflight is the
	// order in which the peer received the requests. It also guards timer.
	sendMu sync.Mutex
	timer  *time.Timer // bounds the wait for room on the peer's Consumer

	// tokens holds one token per request that may still be sent: a sender
	// takes one and the reader gives it back once the future is on doneCh.
	// A token is a response channel to reuse, or nil to make a new one.
	tokens chan chan RPCResponse
	// inflight holds the futures of the requests sent, in order. A sender
	// holds a token, so putting a future there never blocks.
	inflight chan *inmemAppendFuture
	doneCh   chan AppendFuture

	shutdownCh chan struct{} // closed once by Close
	closeOnce  sync.Once
	reader     sync.WaitGroup // the goroutine running readResponses
}

func newInmemPipeline(trans, peer *InmemTransport, target ServerAddress) *inmemPipeline {
	t := time.NewTimer(time.Hour)
	t.Stop()
	p := &inmemPipeline{
		trans:      trans,
		peer:       peer,
		target:     target,
		timer:      t,
		tokens:     make(chan chan RPCResponse, inmemPipelineDepth),
		inflight:   make(chan *inmemAppendFuture, inmemPipelineDepth),
		doneCh:     make(chan AppendFuture, inmemPipelineDepth),
		shutdownCh: make(chan struct{}),
	}
	for range inmemPipelineDepth {
		p.tokens <- nil
	}
	p.reader.Go(p.readResponses)
	return p
}

// AppendEntries sends args to the peer and returns its future at once; the
// future appears on Consumer when the answer is copied into resp. It blocks
// while inmemPipelineDepth requests are outstanding, and for at most the
// transport's timeout while the peer's Consumer is full.
func (p *inmemPipeline) AppendEntries(args *AppendEntriesRequest, resp *AppendEntriesResponse) (AppendFuture, error) {
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	if inmemClosed(p.shutdownCh) { // select below picks at random among ready cases
		return nil, ErrPipelineShutdown
	}
	var respCh chan RPCResponse
	select {
	case respCh = <-p.tokens:
	case <-p.shutdownCh:
		return nil, ErrPipelineShutdown
	}
	if respCh == nil {
		respCh = make(chan RPCResponse, 1)
	}
	rpc := RPC{Command: args, RespChan: respCh}
	if err := p.peer.enqueue(rpc, p.timer, p.trans.timeout, p.shutdownCh, ErrPipelineShutdown); err != nil {
		p.tokens <- respCh // untouched: nobody received the RPC
		return nil, inmemWrap("AppendEntries pipeline", p.target, err)
	}
	f := &inmemAppendFuture{start: time.Now(), args: args, resp: resp, respCh: respCh}
	f.done.Add(1)
	p.inflight <- f
	return f, nil
}

// Consumer delivers the completed futures in request order.
func (p *inmemPipeline) Consumer() <-chan AppendFuture { return p.doneCh }

// Close ends the pipeline: requests in flight fail with ErrPipelineShutdown
// (their futures do not appear on Consumer), and later calls to AppendEntries
// return it. It returns when the reader goroutine has ended. Idempotent.
func (p *inmemPipeline) Close() error {
	p.closeOnce.Do(func() { close(p.shutdownCh) })
	// A sender past its closed check finishes before this lock is ours, and
	// any later one sees shutdownCh closed: after it, inflight only shrinks.
	p.sendMu.Lock()
	//lint:ignore SA2001 an empty critical section is the point: it waits for senders
	p.sendMu.Unlock()
	p.reader.Wait()
	for {
		select {
		case f := <-p.inflight:
			f.complete(ErrPipelineShutdown)
		default:
			p.trans.forgetPipeline(p)
			return nil
		}
	}
}

// readResponses completes the futures in request order until Close.
func (p *inmemPipeline) readResponses() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case f := <-p.inflight:
			if !p.awaitResponse(f, timer) {
				return
			}
			select {
			case p.doneCh <- f:
			case <-p.shutdownCh:
				return
			}
			p.tokens <- f.token()
		case <-p.shutdownCh:
			return
		}
	}
}

// awaitResponse waits until the answer of f arrives, its deadline passes or
// the peer closes, and completes f. It returns false, with f failed, when the
// pipeline closed first.
func (p *inmemPipeline) awaitResponse(f *inmemAppendFuture, timer *time.Timer) bool {
	select { // an answer already there wins over a deadline already past
	case r := <-f.respCh:
		f.answer(r)
		return true
	default:
	}
	var expired <-chan time.Time
	if timeout := p.trans.timeout; timeout > 0 {
		timer.Reset(time.Until(f.start.Add(timeout)))
		expired = timer.C
		defer timer.Stop()
	}
	select {
	case r := <-f.respCh:
		f.answer(r)
		return true
	case <-expired:
		f.abandon(fmt.Errorf("AppendEntries pipeline to %q: no answer after %v: %w", p.target, p.trans.timeout, errInmemTimeout))
		return true
	case <-p.peer.shutdownCh:
		f.abandon(fmt.Errorf("AppendEntries pipeline to %q: %w", p.target, errInmemPeerClosed))
		return true
	case <-p.shutdownCh:
		f.abandon(ErrPipelineShutdown)
		return false
	}
}

// inmemAppendFuture is the future of one pipelined AppendEntries. Exactly one
// of the reader goroutine and Close completes it.
type inmemAppendFuture struct {
	start time.Time
	args  *AppendEntriesRequest
	resp  *AppendEntriesResponse

	// respCh receives the peer's answer. It is set to nil once the answer can
	// no longer arrive, before done, when it may not be reused.
	respCh chan RPCResponse
	done   sync.WaitGroup // Done once, after err is set
	err    error
}

// answer completes f with the peer's answer r.
func (f *inmemAppendFuture) answer(r RPCResponse) {
	if r.Error != nil {
		f.complete(r.Error)
		return
	}
	out, ok := r.Response.(*AppendEntriesResponse)
	if !ok || out == nil {
		f.complete(fmt.Errorf("AppendEntries pipeline: %w: got %T", errInmemBadResponse, r.Response))
		return
	}
	*f.resp = *out
	f.complete(nil)
}

// abandon completes f with err while the peer may still answer into respCh,
// which therefore must not be reused.
func (f *inmemAppendFuture) abandon(err error) {
	f.respCh = nil
	f.complete(err)
}

// token returns what to give back to the pipeline's tokens: respCh, empty,
// if the answer was received, else nil.
func (f *inmemAppendFuture) token() chan RPCResponse { return f.respCh }

func (f *inmemAppendFuture) complete(err error) {
	f.err = err
	f.done.Done()
}

// Error waits for the answer and returns the failure, if any.
func (f *inmemAppendFuture) Error() error {
	f.done.Wait()
	return f.err
}

// Start returns when the request was sent.
func (f *inmemAppendFuture) Start() time.Time { return f.start }

// Request returns the request.
func (f *inmemAppendFuture) Request() *AppendEntriesRequest { return f.args }

// Response returns the answer; valid after Error returned nil.
func (f *inmemAppendFuture) Response() *AppendEntriesResponse { return f.resp }
