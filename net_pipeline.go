package raft

// This file owns the AppendEntries pipeline of NetworkTransport: one
// dedicated connection per pipeline, on which the replication goroutine
// writes requests without waiting for their answers, while a decoder
// goroutine reads the answers in the order the requests were sent.
//
// Depth: a request is written before it is queued to the decoder; the queue
// holds MaxRPCsInFlight-2 requests and the decoder holds one more, so a
// sender blocks (back-pressure) with MaxRPCsInFlight requests written and
// unanswered. That is hashicorp's accounting, kept so that the same setting
// means the same depth.
//
// Concurrency: the sender goroutine uses the connection's write side
// (netConn.send, out), the decoder goroutine its read side (netConn.receive,
// r, in). Both go through the hand-written codec only, which shares no
// state, so they never race.

import (
	"sync"
	"time"
)

// netPipeline is the AppendPipeline of a NetworkTransport.
type netPipeline struct {
	n        *NetworkTransport
	c        *netConn
	inflight chan *netAppendFuture // written, waiting for the decoder
	doneCh   chan AppendFuture     // answered, in request order
	// shutdownCh is closed by Close; closeOnce guards it.
	shutdownCh chan struct{}
	closeOnce  sync.Once
}

// AppendEntriesPipeline opens a pipeline on a connection of its own to the
// server, or returns ErrPipelineReplicationNotSupported when MaxRPCsInFlight
// is below 2.
func (n *NetworkTransport) AppendEntriesPipeline(id ServerID, target ServerAddress) (AppendPipeline, error) {
	if n.maxInFlight < minInFlightForPipelining {
		return nil, ErrPipelineReplicationNotSupported
	}
	c, err := n.conn(id, target)
	if err != nil {
		return nil, err
	}
	p := &netPipeline{
		n:          n,
		c:          c,
		inflight:   make(chan *netAppendFuture, n.maxInFlight-2),
		doneCh:     make(chan AppendFuture, n.maxInFlight-2),
		shutdownCh: make(chan struct{}),
	}
	if !n.spawn(p.decodeResponses) {
		n.release(c)
		return nil, ErrTransportShutdown
	}
	return p, nil
}

// AppendEntries writes one request and queues it for its answer, blocking
// while MaxRPCsInFlight requests are unanswered. A write error ends the
// pipeline's connection: the caller should close the pipeline.
func (p *netPipeline) AppendEntries(args *AppendEntriesRequest, resp *AppendEntriesResponse) (AppendFuture, error) {
	f := &netAppendFuture{
		start:     time.Now(),
		args:      args,
		resp:      resp,
		done:      make(chan struct{}),
		pipeDone:  p.shutdownCh,
		transDone: p.n.shutdownCh,
	}
	if p.n.timeout > 0 {
		_ = p.c.conn.SetWriteDeadline(time.Now().Add(p.n.timeout))
	}
	if err := p.c.send(rpcAppendEntries, args); err != nil {
		p.n.release(p.c)
		return nil, err
	}
	select {
	case p.inflight <- f:
		return f, nil
	case <-p.shutdownCh:
		return nil, ErrPipelineShutdown
	case <-p.n.shutdownCh:
		return nil, ErrTransportShutdown
	}
}

// decodeResponses reads the answers of queued requests, in order, until the
// pipeline or the transport closes.
func (p *netPipeline) decodeResponses() {
	for {
		var f *netAppendFuture
		select {
		case f = <-p.inflight:
		case <-p.shutdownCh:
			return
		case <-p.n.shutdownCh:
			return
		}
		p.c.setReadDeadline(p.n.timeout)
		reusable, err := p.c.receive(f.resp)
		if !reusable {
			p.n.release(p.c) // later requests fail at once
		}
		f.respond(err)
		select {
		case p.doneCh <- f:
		case <-p.shutdownCh:
			return
		case <-p.n.shutdownCh:
			return
		}
	}
}

// Consumer delivers answered requests in the order they were sent.
func (p *netPipeline) Consumer() <-chan AppendFuture { return p.doneCh }

// Close ends the pipeline and closes its connection; futures not yet
// answered fail with ErrPipelineShutdown.
func (p *netPipeline) Close() error {
	p.closeOnce.Do(func() {
		close(p.shutdownCh)
		p.n.release(p.c)
	})
	return nil
}

// setReadDeadline gives c's next read d from now, when d > 0.
func (c *netConn) setReadDeadline(d time.Duration) {
	if d > 0 {
		_ = c.conn.SetReadDeadline(time.Now().Add(d))
	}
}

// netAppendFuture is the AppendFuture of a pipelined request.
type netAppendFuture struct {
	start time.Time
	args  *AppendEntriesRequest
	resp  *AppendEntriesResponse
	done  chan struct{} // closed by respond, after err is set
	err   error
	// pipeDone and transDone are the pipeline's and transport's shutdown:
	// a future whose decoder is gone fails instead of blocking for ever.
	pipeDone, transDone <-chan struct{}
}

func (f *netAppendFuture) respond(err error) {
	f.err = err
	close(f.done)
}

// Error waits for the answer. An answer that raced with shutdown wins.
func (f *netAppendFuture) Error() error {
	select {
	case <-f.done:
		return f.err
	case <-f.pipeDone:
	case <-f.transDone:
	}
	select {
	case <-f.done:
		return f.err
	default:
		return ErrPipelineShutdown
	}
}

func (f *netAppendFuture) Start() time.Time                 { return f.start }
func (f *netAppendFuture) Request() *AppendEntriesRequest   { return f.args }
func (f *netAppendFuture) Response() *AppendEntriesResponse { return f.resp }
