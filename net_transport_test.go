package raft

import (
	"bytes"
	"errors"
	"io"
	"os"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

func header(id string) RPCHeader {
	return RPCHeader{ProtocolVersion: ProtocolVersionMax, ID: []byte(id), Addr: []byte("addr-" + id)}
}

// rpcCase is one RPC type with a request, the answer the server gives, and
// the call that sends it.
type rpcCase struct {
	name string
	req  any
	resp any
	call func(n *NetworkTransport, target ServerAddress) (any, error)
}

func rpcCases() []rpcCase {
	ae := &AppendEntriesRequest{RPCHeader: header("l"), Term: 4, Leader: []byte("addr-l"), PrevLogEntry: 9, PrevLogTerm: 3, LeaderCommitIndex: 8,
		Entries: []*Log{{Index: 10, Term: 4, Type: LogCommand, Data: []byte("cmd"), Extensions: []byte{}, AppendedAt: time.Unix(1700000000, 5).UTC()}}}
	rv := &RequestVoteRequest{RPCHeader: header("c"), Term: 5, Candidate: []byte("addr-c"), LastLogIndex: 10, LastLogTerm: 4, LeadershipTransfer: true}
	pv := &RequestPreVoteRequest{RPCHeader: header("c"), Term: 6, LastLogIndex: 10, LastLogTerm: 4}
	tn := &TimeoutNowRequest{RPCHeader: header("l")}
	return []rpcCase{
		{"AppendEntries", ae, &AppendEntriesResponse{RPCHeader: header("f"), Term: 4, LastLog: 10, Success: true},
			func(n *NetworkTransport, target ServerAddress) (any, error) {
				var resp AppendEntriesResponse
				return &resp, n.AppendEntries("f", target, ae, &resp)
			}},
		{"RequestVote", rv, &RequestVoteResponse{RPCHeader: header("f"), Term: 5, Granted: true},
			func(n *NetworkTransport, target ServerAddress) (any, error) {
				var resp RequestVoteResponse
				return &resp, n.RequestVote("f", target, rv, &resp)
			}},
		{"RequestPreVote", pv, &RequestPreVoteResponse{RPCHeader: header("f"), Term: 5, Granted: true},
			func(n *NetworkTransport, target ServerAddress) (any, error) {
				var resp RequestPreVoteResponse
				return &resp, n.RequestPreVote("f", target, pv, &resp)
			}},
		{"TimeoutNow", tn, &TimeoutNowResponse{RPCHeader: header("f")},
			func(n *NetworkTransport, target ServerAddress) (any, error) {
				var resp TimeoutNowResponse
				return &resp, n.TimeoutNow("f", target, tn, &resp)
			}},
	}
}

func TestNetworkTransportRPCs(t *testing.T) {
	client, _ := newTestTransport(t)
	server, _ := newTestTransport(t)
	for _, c := range rpcCases() {
		t.Run(c.name, func(t *testing.T) {
			serveRPCs(t, server, func(rpc RPC) (any, error) {
				if !reflect.DeepEqual(rpc.Command, c.req) {
					t.Errorf("server got %#v, want %#v", rpc.Command, c.req)
				}
				return c.resp, nil
			})
			for range 3 { // the later calls reuse the pooled connection
				resp, err := c.call(client, server.LocalAddr())
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(resp, c.resp) {
					t.Fatalf("got %#v, want %#v", resp, c.resp)
				}
			}
			if got := pooled(client, server.LocalAddr()); got != 1 {
				t.Fatalf("%d pooled connections, want 1", got)
			}
		})
	}
}

func pooled(n *NetworkTransport, target ServerAddress) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.pool[target])
}

func TestNetworkTransportErrorTextKeepsConnection(t *testing.T) {
	client, _ := newTestTransport(t)
	server, _ := newTestTransport(t)
	serveRPCs(t, server, func(rpc RPC) (any, error) { return &RequestVoteResponse{Term: 9}, errors.New("no vote for you") })
	var resp RequestVoteResponse
	for range 2 {
		err := client.RequestVote("f", server.LocalAddr(), &RequestVoteRequest{Term: 1}, &resp)
		if err == nil || err.Error() != "no vote for you" {
			t.Fatalf("error %v, want the server's text", err)
		}
		if resp.Term != 9 {
			t.Fatalf("response not decoded with the error: %+v", resp)
		}
		if got := pooled(client, server.LocalAddr()); got != 1 {
			t.Fatalf("%d pooled connections after an error text, want 1", got)
		}
	}
}

func TestNetworkTransportPoolIsLIFOAndBounded(t *testing.T) {
	client, _ := newTestTransport(t)
	server, _ := newTestTransport(t)
	target := server.LocalAddr()
	var conns []*netConn
	for range 3 {
		c, err := client.conn("f", target)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns {
		client.returnConn(c)
	}
	if got := pooled(client, target); got != 2 {
		t.Fatalf("%d pooled, want MaxPool = 2", got)
	}
	if _, err := conns[2].conn.Write([]byte{0}); err == nil {
		t.Fatal("the connection beyond MaxPool was not closed")
	}
	if c, _ := client.conn("f", target); c != conns[1] {
		t.Fatal("the pool did not hand out the last connection returned")
	}
}

func TestNetworkTransportHeartbeatFastPath(t *testing.T) {
	client, _ := newTestTransport(t)
	server, _ := newTestTransport(t)
	var handled atomic.Int32
	server.SetHeartbeatHandler(func(rpc RPC) {
		handled.Add(1)
		rpc.Respond(&AppendEntriesResponse{Term: 3, Success: true}, nil)
	})
	var consumed atomic.Int32
	serveRPCs(t, server, func(rpc RPC) (any, error) {
		consumed.Add(1)
		return &AppendEntriesResponse{Term: 3}, nil
	})
	hb := &AppendEntriesRequest{RPCHeader: header("l"), Term: 3, Leader: []byte("addr-l")}
	var resp AppendEntriesResponse
	if err := client.AppendEntries("f", server.LocalAddr(), hb, &resp); err != nil || !resp.Success {
		t.Fatalf("heartbeat: %v %+v", err, resp)
	}
	notHB := &AppendEntriesRequest{RPCHeader: header("l"), Term: 3, LeaderCommitIndex: 1}
	if err := client.AppendEntries("f", server.LocalAddr(), notHB, &resp); err != nil {
		t.Fatal(err)
	}
	if handled.Load() != 1 || consumed.Load() != 1 {
		t.Fatalf("handler saw %d, consumer %d; want 1 and 1", handled.Load(), consumed.Load())
	}
	server.SetHeartbeatHandler(nil)
	if err := client.AppendEntries("f", server.LocalAddr(), hb, &resp); err != nil || consumed.Load() != 2 {
		t.Fatalf("with no handler the heartbeat must reach Consumer: %v, %d", err, consumed.Load())
	}
}

func TestIsHeartbeat(t *testing.T) {
	for _, c := range []struct {
		req  AppendEntriesRequest
		want bool
	}{
		{AppendEntriesRequest{Term: 1, Leader: []byte("a")}, true},
		{AppendEntriesRequest{Term: 1, RPCHeader: RPCHeader{Addr: []byte("a")}}, true},
		{AppendEntriesRequest{Term: 1, RPCHeader: RPCHeader{Addr: []byte{}}, Leader: []byte{}}, true},
		{AppendEntriesRequest{Term: 0, Leader: []byte("a")}, false},
		{AppendEntriesRequest{Term: 1}, false},
		{AppendEntriesRequest{Term: 1, Leader: []byte("a"), PrevLogEntry: 1}, false},
		{AppendEntriesRequest{Term: 1, Leader: []byte("a"), PrevLogTerm: 1}, false},
		{AppendEntriesRequest{Term: 1, Leader: []byte("a"), LeaderCommitIndex: 1}, false},
		{AppendEntriesRequest{Term: 1, Leader: []byte("a"), Entries: []*Log{{}}}, false},
	} {
		if got := isHeartbeat(&c.req); got != c.want {
			t.Errorf("isHeartbeat(%+v) = %v", c.req, got)
		}
	}
}

func TestNetworkTransportInstallSnapshot(t *testing.T) {
	client, _ := newTestTransport(t)
	server, _ := newTestTransport(t)
	const size = 1<<20 + 3
	data := make([]byte, size+100) // more than Size: only Size bytes go
	for i := range data {
		data[i] = byte(i * 7)
	}
	req := &InstallSnapshotRequest{RPCHeader: header("l"), SnapshotVersion: 1, Term: 2, Leader: []byte("addr-l"), LastLogIndex: 50,
		LastLogTerm: 2, Configuration: []byte{1, 2}, ConfigurationIndex: 40, Size: size}
	received := make(chan []byte, 1)
	serveRPCs(t, server, func(rpc RPC) (any, error) {
		got, err := io.ReadAll(rpc.Reader)
		if rpc.Command.(*InstallSnapshotRequest).Size != size {
			// The short snapshot at the end of the test: whether its
			// request arrives before the client gives up is a race, but
			// if it does, its stream must end in an error.
			if err == nil {
				t.Errorf("a short snapshot stream read without error")
			}
			return nil, err
		}
		if !reflect.DeepEqual(rpc.Command, req) {
			t.Errorf("got %#v", rpc.Command)
		}
		if err != nil {
			t.Errorf("reading the snapshot: %v", err)
		}
		received <- got
		return &InstallSnapshotResponse{Term: 2, Success: true}, nil
	})
	var resp InstallSnapshotResponse
	if err := client.InstallSnapshot("f", server.LocalAddr(), req, &resp, bytes.NewReader(data)); err != nil || !resp.Success {
		t.Fatalf("%v %+v", err, resp)
	}
	if got := <-received; !bytes.Equal(got, data[:size]) {
		t.Fatalf("server read %d bytes, want exactly the %d declared", len(got), size)
	}
	if got := pooled(client, server.LocalAddr()); got != 0 {
		t.Fatal("a snapshot connection was pooled")
	}

	short := *req
	short.Size = 10
	err := client.InstallSnapshot("f", server.LocalAddr(), &short, &resp, bytes.NewReader(data[:4]))
	if err == nil {
		t.Fatal("a snapshot shorter than Size was sent without error")
	}
}

func TestSnapshotReaderShortStream(t *testing.T) {
	client, _ := newTestTransport(t)
	server, _ := newTestTransport(t)
	readErr := make(chan error, 1)
	serveRPCs(t, server, func(rpc RPC) (any, error) {
		_, err := io.ReadAll(rpc.Reader)
		readErr <- err
		return &InstallSnapshotResponse{}, err
	})
	c, err := client.conn("f", server.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.send(rpcInstallSnapshot, &InstallSnapshotRequest{Term: 1, Size: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.conn.Write(make([]byte, 40)); err != nil {
		t.Fatal(err)
	}
	client.release(c) // the stream ends 60 bytes short
	if err := <-readErr; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short snapshot read ended with %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestNetworkTransportSnapshotTimeout(t *testing.T) {
	n := &NetworkTransport{timeout: time.Second, TimeoutScale: DefaultTimeoutScale}
	for size, want := range map[int64]time.Duration{0: time.Second, DefaultTimeoutScale - 1: time.Second,
		10 * DefaultTimeoutScale: 10 * time.Second, 1 << 62: 1<<63 - 1} {
		if got := n.snapshotTimeout(size); got != want {
			t.Errorf("snapshotTimeout(%d) = %v, want %v", size, got, want)
		}
	}
}

func TestNetworkTransportClientTimeout(t *testing.T) {
	client, _ := newTestTransport(t, func(c *NetworkTransportConfig) { c.Timeout = 50 * time.Millisecond })
	server, _ := newTestTransport(t) // nobody reads its Consumer: no answer comes
	var resp RequestVoteResponse
	err := client.RequestVote("f", server.LocalAddr(), &RequestVoteRequest{}, &resp)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}
}

type mapProvider map[ServerID]ServerAddress

func (m mapProvider) ServerAddr(id ServerID) (ServerAddress, error) {
	if a, ok := m[id]; ok {
		return a, nil
	}
	return "", errors.New("unknown server")
}

func TestNetworkTransportServerAddressProvider(t *testing.T) {
	server, _ := newTestTransport(t)
	provider := mapProvider{"f": server.LocalAddr()}
	client, _ := newTestTransport(t, func(c *NetworkTransportConfig) { c.ServerAddressProvider = provider })
	serveRPCs(t, server, func(rpc RPC) (any, error) { return &TimeoutNowResponse{}, nil })
	var resp TimeoutNowResponse
	if err := client.TimeoutNow("f", "192.0.2.1:1", &TimeoutNowRequest{}, &resp); err != nil {
		t.Fatalf("the provider's address was not used: %v", err)
	}
	if got := string(client.EncodePeer("f", "x")); got != string(server.LocalAddr()) {
		t.Fatalf("EncodePeer = %q", got)
	}
	if got := string(client.EncodePeer("other", "x:1")); got != "x:1" {
		t.Fatalf("EncodePeer fallback = %q", got)
	}
	if got := client.DecodePeer([]byte("a:1")); got != "a:1" {
		t.Fatalf("DecodePeer = %q", got)
	}
}

func TestNetworkTransportCloseStreams(t *testing.T) {
	client, _ := newTestTransport(t)
	server, _ := newTestTransport(t)
	serveRPCs(t, server, func(rpc RPC) (any, error) { return &TimeoutNowResponse{}, nil })
	var resp TimeoutNowResponse
	if err := client.TimeoutNow("f", server.LocalAddr(), &TimeoutNowRequest{}, &resp); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the server connection", func() bool { return serving(server) == 1 })
	client.CloseStreams()
	server.CloseStreams()
	if pooled(client, server.LocalAddr()) != 0 {
		t.Fatal("CloseStreams left a pooled connection")
	}
	waitFor(t, "the server connection to close", func() bool { return serving(server) == 0 })
	if err := client.TimeoutNow("f", server.LocalAddr(), &TimeoutNowRequest{}, &resp); err != nil {
		t.Fatalf("after CloseStreams: %v", err)
	}
}

func serving(n *NetworkTransport) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.serving)
}

func TestNetworkTransportCloseEndsEverything(t *testing.T) {
	before := transportGoroutines()
	client, _ := newTestTransport(t)
	server, _ := newTestTransport(t)
	stuck := make(chan struct{})
	serveRPCs(t, server, func(rpc RPC) (any, error) {
		if _, ok := rpc.Command.(*RequestVoteRequest); ok {
			<-stuck // never answers: Close must not wait for it
		}
		return &AppendEntriesResponse{Success: true}, nil
	})
	defer close(stuck)
	pipe, err := client.AppendEntriesPipeline("f", server.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	fut, err := pipe.AppendEntries(&AppendEntriesRequest{Term: 1}, &AppendEntriesResponse{})
	if err != nil || fut.Error() != nil {
		t.Fatalf("pipelined request: %v", err)
	}
	voteErr := make(chan error, 1)
	go func() {
		voteErr <- client.RequestVote("f", server.LocalAddr(), &RequestVoteRequest{}, &RequestVoteResponse{})
	}()
	waitFor(t, "connections on both sides", func() bool { return serving(server) == 2 })

	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if !client.IsShutdown() || !server.IsShutdown() {
		t.Fatal("IsShutdown is false after Close")
	}
	if err := <-voteErr; err == nil {
		t.Fatal("the RPC in progress did not fail")
	}
	if got := transportGoroutines(); got != before {
		t.Fatalf("%d transport goroutines left after Close, %d before", got, before)
	}
	if err := client.RequestVote("f", server.LocalAddr(), &RequestVoteRequest{}, &RequestVoteResponse{}); !errors.Is(err, ErrTransportShutdown) {
		t.Fatalf("RPC after Close: %v", err)
	}
	if _, err := pipe.AppendEntries(&AppendEntriesRequest{}, &AppendEntriesResponse{}); err == nil {
		t.Fatal("a pipeline of a closed transport accepted a request")
	}
	if err := client.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
