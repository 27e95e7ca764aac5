package raft

// Tests of InmemTransport's calls: delivery, answers, failures, timeouts, the
// heartbeat fast path and Close. Pipelines are in
// inmem_transport_pipeline_test.go. Everything that involves time runs in a
// synctest bubble, whose end also proves that no goroutine was left behind.

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// inmemPeers returns two transports, from connected to to.
func inmemPeers(t testing.TB, timeout time.Duration) (from, to *InmemTransport) {
	t.Helper()
	_, from = NewInmemTransportWithTimeout("", timeout)
	_, to = NewInmemTransportWithTimeout("", timeout)
	from.Connect(to.LocalAddr(), to)
	t.Cleanup(func() { from.Close(); to.Close() })
	return from, to
}

// inmemServe calls answer for every RPC reaching trans's Consumer, from one
// goroutine, until the test ends.
func inmemServe(t testing.TB, trans *InmemTransport, answer func(RPC)) {
	t.Helper()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case rpc := <-trans.Consumer():
				answer(rpc)
			case <-stop:
				return
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })
}

// inmemEcho answers each request with a response derived from it, so that a
// test can tell which request an answer belongs to.
func inmemEcho(rpc RPC) {
	switch req := rpc.Command.(type) {
	case *AppendEntriesRequest:
		rpc.Respond(&AppendEntriesResponse{Term: req.Term, LastLog: req.PrevLogEntry + uint64(len(req.Entries)), Success: true}, nil)
	case *RequestVoteRequest:
		rpc.Respond(&RequestVoteResponse{Term: req.Term, Granted: req.LastLogIndex%2 == 0}, nil)
	case *RequestPreVoteRequest:
		rpc.Respond(&RequestPreVoteResponse{Term: req.Term, Granted: true}, nil)
	case *InstallSnapshotRequest:
		data, err := io.ReadAll(rpc.Reader)
		rpc.Respond(&InstallSnapshotResponse{Term: req.Term, Success: err == nil && int64(len(data)) == req.Size && bytes.Equal(data, inmemSnapshotData)}, nil)
	case *TimeoutNowRequest:
		rpc.Respond(&TimeoutNowResponse{RPCHeader: RPCHeader{ID: req.ID}}, nil)
	default:
		rpc.Respond(nil, fmt.Errorf("unexpected command %T", rpc.Command))
	}
}

var inmemSnapshotData = []byte("snapshot bytes")

// inmemCallKind runs one kind of RPC from a transport to a target, checking
// that a successful answer is the echo of the request.
type inmemCallKind struct {
	name string
	call func(from *InmemTransport, to ServerAddress) error
}

var inmemCallKinds = []inmemCallKind{
	{"AppendEntries", func(from *InmemTransport, to ServerAddress) error {
		var resp AppendEntriesResponse
		err := from.AppendEntries("id", to, &AppendEntriesRequest{Term: 7, PrevLogEntry: 3, Entries: []*Log{{Index: 4}}}, &resp)
		return inmemCheckEcho(err, resp, AppendEntriesResponse{Term: 7, LastLog: 4, Success: true})
	}},
	{"RequestVote", func(from *InmemTransport, to ServerAddress) error {
		var resp RequestVoteResponse
		err := from.RequestVote("id", to, &RequestVoteRequest{Term: 8, LastLogIndex: 2}, &resp)
		return inmemCheckEcho(err, resp.Term, uint64(8))
	}},
	{"RequestPreVote", func(from *InmemTransport, to ServerAddress) error {
		var resp RequestPreVoteResponse
		err := from.RequestPreVote("id", to, &RequestPreVoteRequest{Term: 9}, &resp)
		return inmemCheckEcho(err, resp, RequestPreVoteResponse{Term: 9, Granted: true})
	}},
	{"InstallSnapshot", func(from *InmemTransport, to ServerAddress) error {
		var resp InstallSnapshotResponse
		req := &InstallSnapshotRequest{Term: 10, Size: int64(len(inmemSnapshotData))}
		err := from.InstallSnapshot("id", to, req, &resp, bytes.NewReader(inmemSnapshotData))
		return inmemCheckEcho(err, resp, InstallSnapshotResponse{Term: 10, Success: true})
	}},
	{"TimeoutNow", func(from *InmemTransport, to ServerAddress) error {
		var resp TimeoutNowResponse
		err := from.TimeoutNow("id", to, &TimeoutNowRequest{RPCHeader: RPCHeader{ID: []byte("leader")}}, &resp)
		return inmemCheckEcho(err, string(resp.ID), "leader")
	}},
}

func inmemCheckEcho(err error, got, want any) error {
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(got, want) {
		return fmt.Errorf("answer %+v, want %+v", got, want)
	}
	return nil
}

func TestInmemTransportRoundTrip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, time.Second)
		inmemServe(t, to, inmemEcho)
		for _, k := range inmemCallKinds {
			if err := k.call(from, to.LocalAddr()); err != nil {
				t.Errorf("%s: %v", k.name, err)
			}
		}
	})
}

func TestInmemTransportDeliversRequestByPointer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, time.Second)
		args := &RequestVoteRequest{Term: 1}
		var got any
		inmemServe(t, to, func(rpc RPC) {
			got = rpc.Command
			rpc.Respond(&RequestVoteResponse{Term: 2}, nil)
		})
		var resp RequestVoteResponse
		if err := from.RequestVote("id", to.LocalAddr(), args, &resp); err != nil || resp.Term != 2 {
			t.Fatalf("RequestVote = %v, resp %+v", err, resp)
		}
		if got != any(args) {
			t.Errorf("peer received %p, want the sender's request %p", got, args)
		}
	})
}

func TestInmemTransportErrorAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, time.Second)
		refused := errors.New("refused")
		inmemServe(t, to, func(rpc RPC) { rpc.Respond(&AppendEntriesResponse{Term: 99}, refused) })
		for _, k := range inmemCallKinds {
			err := k.call(from, to.LocalAddr())
			if !errors.Is(err, refused) {
				t.Errorf("%s: error %v, want the answer's error", k.name, err)
			}
		}
		resp := AppendEntriesResponse{Term: 1}
		from.AppendEntries("id", to.LocalAddr(), &AppendEntriesRequest{}, &resp)
		if resp.Term != 1 {
			t.Errorf("resp changed to %+v by an error answer", resp)
		}
	})
}

func TestInmemTransportBadAnswerType(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, time.Second)
		inmemServe(t, to, func(rpc RPC) { rpc.Respond(&RequestVoteResponse{}, nil) })
		var resp AppendEntriesResponse
		err := from.AppendEntries("id", to.LocalAddr(), &AppendEntriesRequest{}, &resp)
		if !errors.Is(err, errInmemBadResponse) {
			t.Errorf("error %v, want errInmemBadResponse", err)
		}
	})
}

func TestInmemTransportUnreachable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, time.Second)
		inmemServe(t, to, inmemEcho)
		check := func(stage string) {
			t.Helper()
			start := time.Now()
			for _, k := range inmemCallKinds {
				err := k.call(from, to.LocalAddr())
				if !errors.Is(err, errInmemUnreachable) || !strings.Contains(err.Error(), string(to.LocalAddr())) {
					t.Errorf("%s: %s: error %v, want errInmemUnreachable naming %s", stage, k.name, err, to.LocalAddr())
				}
			}
			if _, err := from.AppendEntriesPipeline("id", to.LocalAddr()); !errors.Is(err, errInmemUnreachable) {
				t.Errorf("%s: AppendEntriesPipeline: error %v, want errInmemUnreachable", stage, err)
			}
			if d := time.Since(start); d != 0 {
				t.Errorf("%s: failing took %v, want no wait", stage, d)
			}
		}

		from.Disconnect(to.LocalAddr())
		check("after Disconnect")
		from.Connect(to.LocalAddr(), to)
		if err := inmemCallKinds[0].call(from, to.LocalAddr()); err != nil {
			t.Fatalf("after Connect again: %v", err)
		}
		from.DisconnectAll()
		check("after DisconnectAll")

		// Routes are one way: to was never connected to from.
		var resp RequestVoteResponse
		err := to.RequestVote("id", from.LocalAddr(), &RequestVoteRequest{}, &resp)
		if !errors.Is(err, errInmemUnreachable) {
			t.Errorf("reverse route: error %v, want errInmemUnreachable", err)
		}
	})
}

func TestInmemTransportNoAnswerTimesOut(t *testing.T) {
	const timeout = 200 * time.Millisecond
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, timeout)
		inmemServe(t, to, func(RPC) {}) // takes every RPC, answers none
		want := map[string]time.Duration{"InstallSnapshot": 10 * timeout, "TimeoutNow": 10 * timeout}
		for _, k := range inmemCallKinds {
			start := time.Now()
			err := k.call(from, to.LocalAddr())
			if !errors.Is(err, errInmemTimeout) {
				t.Errorf("%s: error %v, want errInmemTimeout", k.name, err)
			}
			wantWait := cmp.Or(want[k.name], timeout)
			if d := time.Since(start); d != wantWait {
				t.Errorf("%s: gave up after %v, want %v", k.name, d, wantWait)
			}
		}
	})
}

func TestInmemTransportFullConsumerTimesOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, timeout)
		for range cap(to.consumerCh) {
			to.consumerCh <- RPC{}
		}
		start := time.Now()
		var resp RequestVoteResponse
		err := from.RequestVote("id", to.LocalAddr(), &RequestVoteRequest{}, &resp)
		if !errors.Is(err, errInmemTimeout) {
			t.Errorf("error %v, want errInmemTimeout", err)
		}
		if d := time.Since(start); d != timeout {
			t.Errorf("gave up after %v, want %v", d, timeout)
		}
	})
}

func TestInmemTransportZeroTimeoutWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, 0)
		inmemServe(t, to, func(rpc RPC) {
			time.Sleep(time.Hour) // a very slow peer, in virtual time
			inmemEcho(rpc)
		})
		start := time.Now()
		if err := inmemCallKinds[1].call(from, to.LocalAddr()); err != nil {
			t.Fatalf("RequestVote: %v", err)
		}
		if d := time.Since(start); d != time.Hour {
			t.Errorf("answered after %v, want 1h", d)
		}
	})
}

// inmemHeartbeat returns a request of the heartbeat shape.
func inmemHeartbeat() *AppendEntriesRequest {
	return &AppendEntriesRequest{RPCHeader: RPCHeader{Addr: []byte("leader")}, Term: 3}
}

func TestInmemTransportHeartbeatFastPath(t *testing.T) {
	const (
		viaHandler  = 1
		viaConsumer = 2
	)
	tests := []struct {
		name   string
		change func(*AppendEntriesRequest)
		want   uint64
	}{
		{"heartbeat", func(*AppendEntriesRequest) {}, viaHandler},
		{"deprecated Leader field", func(r *AppendEntriesRequest) { r.Addr, r.Leader = nil, []byte("leader") }, viaHandler},
		{"with entries", func(r *AppendEntriesRequest) { r.Entries = []*Log{{Index: 1}} }, viaConsumer},
		{"with empty entries", func(r *AppendEntriesRequest) { r.Entries = []*Log{} }, viaHandler},
		{"PrevLogEntry set", func(r *AppendEntriesRequest) { r.PrevLogEntry = 1 }, viaConsumer},
		{"PrevLogTerm set", func(r *AppendEntriesRequest) { r.PrevLogTerm = 1 }, viaConsumer},
		{"LeaderCommitIndex set", func(r *AppendEntriesRequest) { r.LeaderCommitIndex = 1 }, viaConsumer},
		{"no Term", func(r *AppendEntriesRequest) { r.Term = 0 }, viaConsumer},
		{"no leader", func(r *AppendEntriesRequest) { r.Addr = nil }, viaConsumer},
	}
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, time.Second)
		inmemServe(t, to, func(rpc RPC) {
			if _, ok := rpc.Command.(*AppendEntriesRequest); ok {
				rpc.Respond(&AppendEntriesResponse{LastLog: viaConsumer}, nil)
				return
			}
			inmemEcho(rpc)
		})
		to.SetHeartbeatHandler(func(rpc RPC) { rpc.Respond(&AppendEntriesResponse{LastLog: viaHandler}, nil) })
		for _, tt := range tests {
			req := inmemHeartbeat()
			tt.change(req)
			var resp AppendEntriesResponse
			if err := from.AppendEntries("id", to.LocalAddr(), req, &resp); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if resp.LastLog != tt.want {
				t.Errorf("%s: went via %d, want %d (1 handler, 2 consumer)", tt.name, resp.LastLog, tt.want)
			}
		}

		// Other RPCs never take the fast path.
		to.SetHeartbeatHandler(func(rpc RPC) { t.Errorf("handler called with %T", rpc.Command) })
		for _, k := range inmemCallKinds[1:] {
			if err := k.call(from, to.LocalAddr()); err != nil {
				t.Errorf("%s with a heartbeat handler set: %v", k.name, err)
			}
		}

		to.SetHeartbeatHandler(nil)
		var resp AppendEntriesResponse
		if err := from.AppendEntries("id", to.LocalAddr(), inmemHeartbeat(), &resp); err != nil || resp.LastLog != viaConsumer {
			t.Errorf("without a handler: error %v, went via %d, want the consumer", err, resp.LastLog)
		}
	})
}

func TestInmemTransportHeartbeatForwarded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, time.Second)
		loop := make(chan RPC, 1) // stands for the main loop's queue
		to.SetHeartbeatHandler(func(rpc RPC) { loop <- rpc })
		var wg sync.WaitGroup
		wg.Go(func() {
			rpc := <-loop
			time.Sleep(10 * time.Millisecond)
			rpc.Respond(&AppendEntriesResponse{Term: 5}, nil)
		})
		start := time.Now()
		var resp AppendEntriesResponse
		if err := from.AppendEntries("id", to.LocalAddr(), inmemHeartbeat(), &resp); err != nil || resp.Term != 5 {
			t.Errorf("AppendEntries = %v, resp %+v", err, resp)
		}
		if d := time.Since(start); d != 10*time.Millisecond {
			t.Errorf("answered after %v, want 10ms", d)
		}
		wg.Wait()
	})
}

func TestInmemTransportClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, time.Second)
		inmemServe(t, to, inmemEcho)
		pipe, err := from.AppendEntriesPipeline("id", to.LocalAddr())
		if err != nil {
			t.Fatal(err)
		}
		if err := from.Close(); err != nil {
			t.Fatal(err)
		}
		for _, k := range inmemCallKinds {
			if err := k.call(from, to.LocalAddr()); err != ErrTransportShutdown {
				t.Errorf("%s after Close: error %v, want ErrTransportShutdown", k.name, err)
			}
		}
		if _, err := from.AppendEntriesPipeline("id", to.LocalAddr()); err != ErrTransportShutdown {
			t.Errorf("AppendEntriesPipeline after Close: error %v, want ErrTransportShutdown", err)
		}
		if _, err := pipe.AppendEntries(&AppendEntriesRequest{}, &AppendEntriesResponse{}); err != ErrPipelineShutdown {
			t.Errorf("pipeline after Close: error %v, want ErrPipelineShutdown", err)
		}
		from.Connect(to.LocalAddr(), to)
		if err := inmemCallKinds[0].call(from, to.LocalAddr()); err != ErrTransportShutdown {
			t.Errorf("after Connect on a closed transport: error %v, want ErrTransportShutdown", err)
		}
		if err := from.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

// TestInmemTransportCloseWhileWaiting closes each side of a call that waits
// for an answer: the caller returns at once, long before its timeout.
func TestInmemTransportCloseWhileWaiting(t *testing.T) {
	for _, side := range []string{"caller", "peer"} {
		synctest.Test(t, func(t *testing.T) {
			from, to := inmemPeers(t, time.Hour)
			inmemServe(t, to, func(RPC) {})
			closed := map[string]*InmemTransport{"caller": from, "peer": to}[side]
			var wg sync.WaitGroup
			wg.Go(func() {
				time.Sleep(time.Second)
				closed.Close()
			})
			start := time.Now()
			err := inmemCallKinds[1].call(from, to.LocalAddr())
			want := map[string]error{"caller": ErrTransportShutdown, "peer": errInmemPeerClosed}[side]
			if !errors.Is(err, want) {
				t.Errorf("closing the %s: error %v, want %v", side, err, want)
			}
			if d := time.Since(start); d != time.Second {
				t.Errorf("closing the %s: returned after %v, want 1s", side, d)
			}
			wg.Wait()
		})
	}
}

func TestInmemTransportClosedPeerFailsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		from, to := inmemPeers(t, time.Hour)
		to.SetHeartbeatHandler(func(RPC) { t.Error("handler of a closed transport called") })
		to.Close()
		start := time.Now()
		for _, k := range inmemCallKinds {
			if err := k.call(from, to.LocalAddr()); !errors.Is(err, errInmemPeerClosed) {
				t.Errorf("%s: error %v, want errInmemPeerClosed", k.name, err)
			}
		}
		var resp AppendEntriesResponse
		if err := from.AppendEntries("id", to.LocalAddr(), inmemHeartbeat(), &resp); !errors.Is(err, errInmemPeerClosed) {
			t.Errorf("heartbeat: error %v, want errInmemPeerClosed", err)
		}
		if d := time.Since(start); d != 0 {
			t.Errorf("failing took %v, want no wait", d)
		}
	})
}

func TestInmemTransportAddresses(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := make(map[ServerAddress]bool)
	for range 100 {
		a := NewInmemAddr()
		if !uuid.MatchString(string(a)) || seen[a] {
			t.Fatalf("NewInmemAddr = %q: not a fresh UUID", a)
		}
		seen[a] = true
	}

	addr, trans := NewInmemTransport("")
	if !uuid.MatchString(string(addr)) || trans.LocalAddr() != addr {
		t.Errorf("NewInmemTransport(\"\") = %q, LocalAddr %q", addr, trans.LocalAddr())
	}
	if trans.timeout != 500*time.Millisecond {
		t.Errorf("default timeout %v, want 500ms", trans.timeout)
	}
	addr, trans = NewInmemTransport("node-1")
	if addr != "node-1" || trans.LocalAddr() != "node-1" {
		t.Errorf("NewInmemTransport(node-1) = %q, LocalAddr %q", addr, trans.LocalAddr())
	}
	for _, a := range []ServerAddress{"", "node-1", "10.0.0.1:8300", "\x00\xff"} {
		if got := trans.DecodePeer(trans.EncodePeer("id", a)); got != a {
			t.Errorf("DecodePeer(EncodePeer(%q)) = %q", a, got)
		}
	}
}

func TestInmemTransportConnectRejectsOtherTransports(t *testing.T) {
	_, trans := NewInmemTransport("")
	for _, other := range []Transport{nil, (*InmemTransport)(nil)} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Connect(%T) did not panic", other)
				}
			}()
			trans.Connect("peer", other)
		}()
	}
}
