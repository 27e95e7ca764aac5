package compat

// A raftkit leader replicating through a NetworkTransport pipeline to a
// follower that stops answering: once the leader steps down, Shutdown must
// still return. The follower is scripted on a hashicorp transport.
//
// This reproduces a deadlock seen in the mixed-cluster tests: when
// replicator.pipelineReceive returns (on p.stopCh, or after closing failed
// on a refused or failed answer), nobody drains the pipeline's Consumer any
// more; netPipeline.decodeResponses blocks handing the next answer to doneCh,
// pipelineSend blocks in netPipeline.AppendEntries waiting for room in
// inflight (it watches only the pipeline's and the transport's shutdown),
// and the pipeline is closed only after pipelineSend returns. The replicator
// never ends, so Raft.Shutdown never returns.

import (
	"bytes"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
	"github.com/raftkit/raft"
)

// scriptedPeer is a follower that grants every vote and acknowledges every
// AppendEntries until stalled, after which it holds them unanswered.
type scriptedPeer struct {
	trans   *hraft.NetworkTransport
	stalled atomic.Bool
	done    chan struct{}
	ended   chan struct{}
}

func newScriptedPeer(t *testing.T) *scriptedPeer {
	trans, err := hraft.NewTCPTransportWithConfig("127.0.0.1:0", nil,
		&hraft.NetworkTransportConfig{MaxPool: 3, Timeout: time.Second, Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	p := &scriptedPeer{trans: trans, done: make(chan struct{}), ended: make(chan struct{})}
	go p.serve()
	t.Cleanup(func() {
		close(p.done)
		<-p.ended
		_ = trans.Close()
	})
	return p
}

func (p *scriptedPeer) serve() {
	defer close(p.ended)
	var held []hraft.RPC
	defer func() {
		for _, rpc := range held {
			rpc.Respond(nil, errors.New("peer closing"))
		}
	}()
	h := hraft.RPCHeader{ProtocolVersion: 3, ID: []byte("peer"), Addr: []byte(p.trans.LocalAddr())}
	var term uint64 // the highest term seen, answered to pre-votes
	for {
		var rpc hraft.RPC
		select {
		case rpc = <-p.trans.Consumer():
		case <-p.done:
			return
		}
		switch req := rpc.Command.(type) {
		case *hraft.RequestPreVoteRequest:
			rpc.Respond(&hraft.RequestPreVoteResponse{RPCHeader: h, Term: term, Granted: true}, nil)
		case *hraft.RequestVoteRequest:
			term = max(term, req.Term)
			rpc.Respond(&hraft.RequestVoteResponse{RPCHeader: h, Term: req.Term, Granted: true}, nil)
		case *hraft.AppendEntriesRequest:
			term = max(term, req.Term)
			if p.stalled.Load() {
				held = append(held, rpc)
				continue
			}
			rpc.Respond(&hraft.AppendEntriesResponse{RPCHeader: h, Term: req.Term,
				LastLog: req.PrevLogEntry + uint64(len(req.Entries)), Success: true}, nil)
		default:
			rpc.Respond(nil, errors.New("unexpected RPC"))
		}
	}
}

// TestShutdownAfterPipelineStall: a raftkit leader pipelines AppendEntries
// (one entry each) to a follower that then stops answering; the leader steps
// down when its lease runs out, and Shutdown must return.
func TestShutdownAfterPipelineStall(t *testing.T) {
	sink := &logSink{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "leader", Level: hclog.Info, Output: sink})
	defer func() {
		if t.Failed() {
			t.Logf("leader log:\n%s", sink)
		}
	}()
	peer := newScriptedPeer(t)
	trans, err := raft.NewTCPTransportWithConfig("127.0.0.1:0", nil,
		&raft.NetworkTransportConfig{MaxPool: 3, Timeout: 500 * time.Millisecond, Logger: logger.Named("transport")})
	if err != nil {
		t.Fatal(err)
	}
	defer trans.Close() // unblocks a stuck replicator, so a failed run leaks nothing

	conf := raft.DefaultConfig()
	conf.LocalID = "leader"
	conf.HeartbeatTimeout, conf.ElectionTimeout = 150*time.Millisecond, 150*time.Millisecond
	conf.LeaderLeaseTimeout, conf.CommitTimeout = 100*time.Millisecond, 5*time.Millisecond
	conf.MaxAppendEntries = 1 // one AppendEntries per entry: the pipeline fills
	conf.Logger = logger
	store, snaps := raft.NewInmemStore(), raft.NewInmemSnapshotStore()
	servers := raft.Configuration{Servers: []raft.Server{
		{Suffrage: raft.Voter, ID: "leader", Address: trans.LocalAddr()},
		{Suffrage: raft.Voter, ID: "peer", Address: raft.ServerAddress(peer.trans.LocalAddr())},
	}}
	if err := raft.BootstrapCluster(conf, store, store, snaps, trans, servers); err != nil {
		t.Fatal(err)
	}
	r, err := raft.NewRaft(conf, rkFSM{&history{}}, store, store, snaps, trans)
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(10 * time.Second)
	poll(t, end, "leadership", func() bool { return r.State() == raft.Leader })
	// A burst of entries, committed: the replicator has work after its first
	// AppendEntries matched, so it switches to the pipeline.
	var burst []raft.ApplyFuture
	for i := range 10 {
		burst = append(burst, r.Apply(command(0, uint64(i)), time.Second))
	}
	for i, f := range burst {
		if err := f.Error(); err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
	}

	peer.stalled.Store(true)
	for i := range 10 {
		r.Apply(command(1, uint64(i)), time.Second) // never committed
	}
	poll(t, end, "the leader to step down", func() bool { return r.State() != raft.Leader })

	done := make(chan error, 1)
	go func() { done <- r.Shutdown().Error() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(shutdownWait):
		t.Errorf("Shutdown did not return within %s; stuck goroutines:\n%s", shutdownWait, raftkitStacks())
		_ = trans.Close()
		<-done
	}
}

func poll(t *testing.T, end time.Time, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(pollEvery)
	}
}

// raftkitStacks returns the stacks of the goroutines running raftkit's
// replication or pipeline code.
func raftkitStacks() string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []byte
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("raftkit/raft.(*netPipeline)")) || bytes.Contains(g, []byte("raftkit/raft.(*replicator)")) {
			out = append(append(out, g...), "\n\n"...)
		}
	}
	return string(out)
}
