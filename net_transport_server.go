package raft

// This file is the server side of NetworkTransport: the accept loop and one
// goroutine per accepted connection, which reads a request frame, hands the
// RPC to the heartbeat handler or the Consumer channel, waits for the answer
// and writes the response frame, one request at a time.
//
// Bad input closes only the connection it came on, with a log line saying
// why: an unknown RPC type, a frame that does not decode or declares more
// than MaxRPCSize bytes, or a peer that stops sending mid-frame for longer
// than Timeout. Memory stays bounded: frames are decoded only once received
// (by readValue, or where they lie in the connection's buffer, see
// net_codec.go), so nothing is sized by a length read from the network
// before the bytes arrive.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// Accept loop backoff: after a failed Accept, wait baseAcceptDelay, doubling
// on each further failure up to maxAcceptDelay.
const (
	baseAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay  = time.Second

	// defaultHandshakeTimeout bounds a TLS handshake when Timeout is 0.
	defaultHandshakeTimeout = 10 * time.Second
)

// listen accepts connections until Close.
func (n *NetworkTransport) listen() {
	var delay time.Duration
	for {
		conn, err := n.stream.Accept()
		if err != nil {
			if n.IsShutdown() {
				return
			}
			delay = min(max(2*delay, baseAcceptDelay), maxAcceptDelay)
			n.logger.Error("failed to accept connection", "error", err, "retry-in", delay)
			if !n.sleep(delay) {
				return
			}
			continue
		}
		delay = 0
		n.logger.Debug("accepted connection", "local-address", n.LocalAddr(), "remote-address", conn.RemoteAddr().String())
		if !n.startServing(conn) {
			return
		}
	}
}

// sleep waits for d, or returns false at Close.
func (n *NetworkTransport) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-n.shutdownCh:
		return false
	}
}

// The states of an accepted connection.
const (
	connIdle    int32 = iota // waiting for a request's first byte
	connBusy                 // handling a request
	connClosing              // CloseStreams asked it to end
)

// serverConn is an accepted connection and the buffers of its goroutine.
type serverConn struct {
	n     *NetworkTransport
	conn  net.Conn
	r     *bufio.Reader
	codec wireCodec
	in    []byte // the request value being read; reused
	out   []byte // the response frame being written; reused
	state atomic.Int32
}

// startServing starts the goroutine of an accepted connection; false after
// Close (the connection is then closed).
func (n *NetworkTransport) startServing(conn net.Conn) bool {
	s := &serverConn{n: n, conn: conn, r: bufio.NewReaderSize(conn, connBufferSize), codec: wireCodec{n: n}}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.shutdown {
		_ = conn.Close()
		return false
	}
	n.open[conn] = struct{}{}
	n.serving[s] = struct{}{}
	n.goroutines.Go(s.serve)
	return true
}

// serve handles requests until the connection ends.
func (s *serverConn) serve() {
	defer s.end()
	if err := s.handshake(); err != nil {
		s.n.logger.Error("refusing connection: TLS handshake failed", "remote-address", s.remote(), "error", err)
		return
	}
	for {
		rpcType, err := s.r.ReadByte()
		if err != nil {
			s.logEnd("connection ended", err)
			return
		}
		if !s.state.CompareAndSwap(connIdle, connBusy) {
			return // CloseStreams
		}
		keep, err := s.handle(rpcType)
		if err != nil {
			s.logEnd("closing connection", err)
			return
		}
		if !keep || !s.state.CompareAndSwap(connBusy, connIdle) {
			return
		}
	}
}

// end forgets and closes the connection.
func (s *serverConn) end() {
	s.n.mu.Lock()
	delete(s.n.serving, s)
	s.n.mu.Unlock()
	s.n.untrack(s.conn)
}

func (s *serverConn) remote() string {
	if a := s.conn.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}

// logEnd logs why the connection ends: quietly when the peer hung up or the
// transport closed it, as an error otherwise.
func (s *serverConn) logEnd(msg string, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, ErrTransportShutdown) || s.n.IsShutdown() {
		s.n.logger.Debug(msg, "remote-address", s.remote(), "error", err)
		return
	}
	s.n.logger.Error(msg, "remote-address", s.remote(), "error", err)
}

// handshake completes a TLS handshake before any request is read, so that a
// peer without a valid certificate is refused (and logged) at once.
func (s *serverConn) handshake() error {
	hs, ok := s.conn.(interface {
		HandshakeContext(context.Context) error
	})
	if !ok {
		return nil
	}
	timeout := s.n.timeout
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	// Close interrupts a handshake by closing the connection.
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return hs.HandshakeContext(ctx)
}

// closeWhenIdle closes the connection now if it waits for a request, or
// after its current request otherwise.
func (s *serverConn) closeWhenIdle() {
	for {
		switch s.state.Load() {
		case connIdle:
			if s.state.CompareAndSwap(connIdle, connClosing) {
				_ = s.conn.Close()
				return
			}
		case connBusy:
			if s.state.CompareAndSwap(connBusy, connClosing) {
				return
			}
		default:
			return
		}
	}
}

// handle serves one request whose type byte was read. keep is false when
// the connection must be closed afterwards (InstallSnapshot).
func (s *serverConn) handle(rpcType uint8) (keep bool, err error) {
	n := s.n
	if n.timeout > 0 {
		_ = s.conn.SetReadDeadline(time.Now().Add(n.timeout))
	}
	rpc, heartbeat, err := s.readRequest(rpcType)
	if err != nil {
		return false, err
	}
	respCh := make(chan RPCResponse, 1)
	rpc.RespChan = respCh
	if fn := n.heartbeatFn.Load(); heartbeat && fn != nil {
		(*fn)(rpc)
	} else {
		select {
		case n.consumeCh <- rpc:
		case <-n.shutdownCh:
			return false, ErrTransportShutdown
		}
	}
	var resp RPCResponse
	select {
	case resp = <-respCh:
	case <-n.shutdownCh:
		return false, ErrTransportShutdown
	}
	if err := s.writeResponse(resp); err != nil {
		return false, err
	}
	return rpcType != rpcInstallSnapshot, nil
}

// readRequest reads and decodes the request of rpcType.
func (s *serverConn) readRequest(rpcType uint8) (rpc RPC, heartbeat bool, err error) {
	switch rpcType {
	case rpcAppendEntries:
		req := &AppendEntriesRequest{}
		rpc.Command, err = req, s.codec.readMessage(s.r, &s.in, req)
		heartbeat = err == nil && isHeartbeat(req)
	case rpcRequestVote:
		req := &RequestVoteRequest{}
		rpc.Command, err = req, s.codec.readMessage(s.r, &s.in, req)
	case rpcRequestPreVote:
		req := &RequestPreVoteRequest{}
		rpc.Command, err = req, s.codec.readMessage(s.r, &s.in, req)
	case rpcTimeoutNow:
		req := &TimeoutNowRequest{}
		rpc.Command, err = req, s.codec.readMessage(s.r, &s.in, req)
	case rpcInstallSnapshot:
		req := &InstallSnapshotRequest{}
		rpc.Command, err = req, s.codec.readMessage(s.r, &s.in, req)
		if err == nil && req.Size < 0 {
			err = fmt.Errorf("install snapshot: negative size %d", req.Size)
		}
		if err == nil {
			rpc.Reader = &snapshotStream{r: s.r, left: req.Size}
			if d := s.n.snapshotTimeout(req.Size); d > 0 {
				_ = s.conn.SetReadDeadline(time.Now().Add(d))
			}
		}
	default:
		return rpc, false, fmt.Errorf("unknown rpc type %d", rpcType)
	}
	if cap(s.in) > maxKeptScratch {
		s.in = nil
	}
	if err != nil {
		return rpc, false, fmt.Errorf("read request of rpc type %d: %w", rpcType, err)
	}
	return rpc, heartbeat, nil
}

// writeResponse writes the response frame of resp.
func (s *serverConn) writeResponse(resp RPCResponse) error {
	text := ""
	if resp.Error != nil {
		text = resp.Error.Error()
	}
	out, err := s.codec.appendMessage(appendString(s.out[:0], text), resp.Response)
	if cap(out) <= maxKeptScratch {
		s.out = out
	}
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	if s.n.timeout > 0 {
		_ = s.conn.SetReadDeadline(time.Time{})
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.n.timeout))
	}
	if _, err := s.conn.Write(out); err != nil {
		return fmt.Errorf("send response: %w", err)
	}
	return nil
}

// snapshotStream is RPC.Reader for InstallSnapshot: the Size bytes that
// follow the request on the connection. A connection that ends sooner is
// io.ErrUnexpectedEOF, so a short snapshot is never mistaken for a whole one.
type snapshotStream struct {
	r    *bufio.Reader
	left int64
}

func (s *snapshotStream) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	got, err := s.r.Read(p)
	s.left -= int64(got)
	if err == io.EOF {
		err = nil
		if s.left > 0 {
			err = io.ErrUnexpectedEOF
		}
	}
	return got, err
}
