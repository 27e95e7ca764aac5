package raft

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// memConn is a connection that reads a fixed input and discards what is
// written to it.
type memConn struct{ r *bytes.Reader }

func (m memConn) Read(p []byte) (int, error)      { return m.r.Read(p) }
func (m memConn) Write(p []byte) (int, error)     { return len(p), nil }
func (m memConn) Close() error                    { return nil }
func (m memConn) LocalAddr() net.Addr             { return &net.TCPAddr{} }
func (m memConn) RemoteAddr() net.Addr            { return &net.TCPAddr{} }
func (m memConn) SetDeadline(time.Time) error     { return nil }
func (m memConn) SetReadDeadline(time.Time) error { return nil }
func (memConn) SetWriteDeadline(time.Time) error  { return nil }

// answerAll answers every RPC of trans with the zero response of its type,
// reading snapshots to their end first, until done is closed.
func answerAll(trans *NetworkTransport, done <-chan struct{}) {
	trans.SetHeartbeatHandler(func(rpc RPC) { rpc.Respond(&AppendEntriesResponse{}, nil) })
	for {
		select {
		case rpc := <-trans.Consumer():
			var resp any
			switch rpc.Command.(type) {
			case *AppendEntriesRequest:
				resp = &AppendEntriesResponse{}
			case *RequestVoteRequest:
				resp = &RequestVoteResponse{}
			case *RequestPreVoteRequest:
				resp = &RequestPreVoteResponse{}
			case *TimeoutNowRequest:
				resp = &TimeoutNowResponse{}
			case *InstallSnapshotRequest:
				_, _ = io.Copy(io.Discard, rpc.Reader)
				resp = &InstallSnapshotResponse{}
			}
			rpc.Respond(resp, nil)
		case <-done:
			return
		}
	}
}

// serverFuzzSeeds are well-formed request streams of every type, and the
// bad frames of TestServerClosesConnectionOnBadInput.
func serverFuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, c := range rpcCases() {
		typ := map[string]byte{"AppendEntries": rpcAppendEntries, "RequestVote": rpcRequestVote,
			"RequestPreVote": rpcRequestPreVote, "TimeoutNow": rpcTimeoutNow}[c.name]
		seeds = append(seeds, append([]byte{typ}, libEncode(f, c.req, false)...))
	}
	hb := append([]byte{rpcAppendEntries}, libEncode(f, &AppendEntriesRequest{Term: 1, Leader: []byte("l")}, true)...)
	seeds = append(seeds, append(hb, hb...))
	snap := append([]byte{rpcInstallSnapshot}, libEncode(f, &InstallSnapshotRequest{Term: 1, Size: 5, Configuration: []byte{0x80}}, false)...)
	seeds = append(seeds, append(snap, "abcde"...), append(snap, "ab"...))
	for _, bad := range []string{"\x09\x80", "\x00\x81\xa4Term\xc1", "\x00\x81\xa7Entries\x91\x81\xaaAppendedAt\xdb\xff\xff\xff\xf0",
		"\x01\xdf\x10\x00\x00\x00", "\x00\x89\xa4Addr"} {
		seeds = append(seeds, []byte(bad))
	}
	return seeds
}

// allocatedBytes is the heap allocated so far by the process; unlike
// runtime.ReadMemStats it does not stop the world, which keeps fuzzing fast.
func allocatedBytes() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(sample)
	return sample[0].Value.Uint64()
}

// FuzzServeConn feeds arbitrary bytes to the server side of a connection:
// nothing may panic, and the memory it allocates must follow the input's
// size, whatever lengths the input declares.
func FuzzServeConn(f *testing.F) {
	for _, seed := range serverFuzzSeeds(f) {
		f.Add(seed)
	}
	trans := NewNetworkTransportWithConfig(&NetworkTransportConfig{
		Stream: &failingStream{closed: make(chan struct{})}, Logger: hclog.NewNullLogger(), MaxRPCSize: 1 << 20})
	done := make(chan struct{})
	go answerAll(trans, done)
	f.Cleanup(func() { close(done); _ = trans.Close() })
	f.Fuzz(func(t *testing.T, input []byte) {
		conn := memConn{bytes.NewReader(input)}
		s := &serverConn{n: trans, conn: conn, r: bufio.NewReaderSize(conn, connBufferSize), codec: wireCodec{n: trans}}
		before := allocatedBytes()
		fin := make(chan struct{})
		go func() { s.serve(); close(fin) }()
		select {
		case <-fin:
		case <-time.After(3 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("hung on %q\n%s", input, buf[:runtime.Stack(buf, true)])
		}
		if grew := allocatedBytes() - before; grew > 8<<20+200*uint64(len(input)) {
			t.Fatalf("%d input bytes cost %d bytes", len(input), grew)
		}
	})
}

// responseKinds make a response of each type a client may wait for.
var responseKinds = []func() any{
	func() any { return new(AppendEntriesResponse) },
	func() any { return new(RequestVoteResponse) },
	func() any { return new(RequestPreVoteResponse) },
	func() any { return new(TimeoutNowResponse) },
	func() any { return new(InstallSnapshotResponse) },
}

// FuzzReceiveResponse feeds arbitrary bytes to the client side of a
// connection, as a broken or hostile server might answer: nothing may
// panic, the memory allocated must follow the input's size, and a
// connection is given up only with an error.
func FuzzReceiveResponse(f *testing.F) {
	snap := &InstallSnapshotResponse{RPCHeader: header("f"), Term: 3, Success: true}
	for kind, c := range rpcCases() {
		ok := append([]byte{0xa0}, libEncode(f, c.resp, false)...)
		f.Add(byte(kind), append(ok, ok...))
		f.Add(byte(kind), append([]byte("\xa4oops"), libEncode(f, c.resp, false)...))
		f.Add(byte(kind), ok[:len(ok)-1])
	}
	f.Add(byte(4), append([]byte{0xa0}, libEncode(f, snap, false)...))
	f.Add(byte(0), []byte("\xa0\xdf\x10\x00\x00\x00"))
	f.Add(byte(1), []byte("\xdb\xff\xff\xff\xf0"))
	trans := NewNetworkTransportWithConfig(&NetworkTransportConfig{
		Stream: &failingStream{closed: make(chan struct{})}, Logger: hclog.NewNullLogger(), MaxRPCSize: 1 << 20})
	f.Cleanup(func() { _ = trans.Close() })
	f.Fuzz(func(t *testing.T, kind byte, input []byte) {
		newResp := responseKinds[int(kind)%len(responseKinds)]
		conn := memConn{bytes.NewReader(input)}
		c := &netConn{conn: conn, r: bufio.NewReaderSize(conn, connBufferSize), codec: wireCodec{n: trans}}
		before := allocatedBytes()
		for { // every frame read consumes input, so the stream ends
			reusable, err := c.receive(newResp())
			if !reusable {
				if err == nil {
					t.Fatalf("connection given up without an error on %q", input)
				}
				break
			}
		}
		if grew := allocatedBytes() - before; grew > 8<<20+200*uint64(len(input)) {
			t.Fatalf("%d input bytes cost %d bytes", len(input), grew)
		}
	})
}
