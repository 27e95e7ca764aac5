package raft

import (
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// sendRaw writes frame to the transport on a connection of its own and
// returns once the server has closed that connection.
func sendRaw(t *testing.T, server *NetworkTransport, frame []byte, closeWrite bool) {
	t.Helper()
	conn, err := net.Dial("tcp", string(server.LocalAddr()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	if closeWrite {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	_ = conn.SetReadDeadline(deadline(t))
	if got, err := io.ReadAll(conn); err != nil || len(got) != 0 {
		t.Fatalf("the server answered %q (%v) instead of closing the connection", got, err)
	}
}

// checkStillServing makes an RPC on a fresh client: bad input on one
// connection must not affect the others.
func checkStillServing(t *testing.T, server *NetworkTransport) {
	t.Helper()
	client, _ := newTestTransport(t)
	var resp TimeoutNowResponse
	if err := client.TimeoutNow("f", server.LocalAddr(), &TimeoutNowRequest{}, &resp); err != nil {
		t.Fatalf("the server stopped serving: %v", err)
	}
}

func TestServerClosesConnectionOnBadInput(t *testing.T) {
	hugeTime := "\x00\x81\xa7Entries\x91\x81\xaaAppendedAt\xdb\xff\xff\xff\xf0" // go-msgpack would allocate 4 GiB
	for _, c := range []struct {
		name, frame, log string
		stall            bool // leave the connection open
	}{
		{"unknown type", "\x09\x80", "unknown rpc type 9", false},
		{"invalid msgpack", "\x00\x81\xa4Term\xc1", "invalid msgpack", false},
		{"wrong field type", "\x01\x81\xa4Term\xa1x", "decode *raft.RequestVoteRequest", false},
		{"negative snapshot size", "\x02\x81\xa4Size\xff", "negative size", false},
		{"declared length beyond max", "\x00\x81\xa4Addr\xdb\x7f\xff\xff\xff", "exceeds the maximum size", false},
		{"declared count beyond max", "\x01\xdf\x10\x00\x00\x00", "exceeds the maximum size", false},
		{"time length beyond max", hugeTime, "exceeds the maximum size", false},
		{"frame ends early", "\x00\x89\xa4Addr\xc0", "unexpected EOF", false},
		{"stalled mid-frame", "\x00\x89\xa4Addr", "i/o timeout", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			server, logs := newTestTransport(t, func(conf *NetworkTransportConfig) {
				conf.MaxRPCSize = 1 << 20
				conf.Timeout = 100 * time.Millisecond
			})
			serveRPCs(t, server, func(rpc RPC) (any, error) { return &TimeoutNowResponse{}, nil })
			sendRaw(t, server, []byte(c.frame), !c.stall)
			waitFor(t, "the log line", func() bool { return strings.Contains(logs.String(), c.log) })
			if !strings.Contains(logs.String(), "[ERROR]") {
				t.Fatalf("not logged as an error:\n%s", logs)
			}
			checkStillServing(t, server)
		})
	}
}

// TestServerMemoryFollowsBytesReceived: a 28-byte frame whose time field
// declares 512 MiB (within the default MaxRPCSize) costs about what arrived,
// not what was declared.
func TestServerMemoryFollowsBytesReceived(t *testing.T) {
	server, logs := newTestTransport(t)
	frame := "\x00\x81\xa7Entries\x91\x81\xaaAppendedAt\xdb\x1f\xff\xff\xff"
	if len(frame) != 28 || 0x1fffffff > DefaultMaxRPCSize {
		t.Fatal("the frame does not test what it claims")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sendRaw(t, server, []byte(frame), true)
	waitFor(t, "the log line", func() bool { return strings.Contains(logs.String(), "unexpected EOF") })
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Fatalf("a 28-byte frame cost %d bytes", grew)
	}
}

// failingStream is a StreamLayer whose Accept fails a number of times,
// recording when, then waits for Close.
type failingStream struct {
	failures int
	mu       sync.Mutex // guards calls
	calls    []time.Time
	closed   chan struct{}
	once     sync.Once
}

func (f *failingStream) Accept() (net.Conn, error) {
	f.mu.Lock()
	f.calls = append(f.calls, time.Now())
	n := len(f.calls)
	f.mu.Unlock()
	if n <= f.failures {
		return nil, errors.New("too many open files")
	}
	<-f.closed
	return nil, net.ErrClosed
}

func (f *failingStream) Close() error   { f.once.Do(func() { close(f.closed) }); return nil }
func (f *failingStream) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (f *failingStream) Dial(ServerAddress, time.Duration) (net.Conn, error) {
	return nil, errors.New("no dialing")
}

func TestAcceptLoopBacksOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stream := &failingStream{failures: 10, closed: make(chan struct{})}
		logs := &syncBuffer{}
		trans := NewNetworkTransportWithConfig(&NetworkTransportConfig{Stream: stream, Logger: testLogger(logs)})
		time.Sleep(5 * time.Second) // virtual time: every failure and backoff happens
		synctest.Wait()
		if err := trans.Close(); err != nil {
			t.Fatal(err)
		}
		stream.mu.Lock()
		defer stream.mu.Unlock()
		if len(stream.calls) != stream.failures+1 {
			t.Fatalf("%d Accept calls, want %d", len(stream.calls), stream.failures+1)
		}
		want := baseAcceptDelay
		for i := 1; i < len(stream.calls); i++ {
			if got := stream.calls[i].Sub(stream.calls[i-1]); got != want {
				t.Fatalf("wait %d was %v, want %v", i, got, want)
			}
			want = min(2*want, maxAcceptDelay)
		}
		if !strings.Contains(logs.String(), "failed to accept connection") {
			t.Fatal("accept failures were not logged")
		}
	})
}
