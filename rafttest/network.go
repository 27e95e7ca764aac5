package rafttest

// This file owns the simulated network between the cluster's servers: every
// server talks through a transport that asks the network, RPC by RPC, whether
// the message goes through. The network partitions servers, and by a seeded
// policy drops, delays and duplicates RPCs; duplicates arrive late, so they
// also reorder.

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/raftkit/raft"
)

// ErrUnreachable is returned by an RPC to a server the network cuts off.
var ErrUnreachable = errors.New("rafttest: server unreachable")

// Faults is a policy of network faults, applied to every RPC between two
// servers that are not partitioned from each other. Zero values mean no
// fault.
type Faults struct {
	// Drop is the probability that an RPC is lost: the caller gets an error
	// after waiting DropDelay.
	Drop float64
	// DropDelay is how long a lost RPC takes to fail.
	DropDelay time.Duration
	// MaxDelay delays every RPC by a random duration up to it.
	MaxDelay time.Duration
	// Duplicate is the probability that an RPC is delivered a second time,
	// later (up to MaxDelay + 1ms), its answer discarded.
	Duplicate float64
}

// RPCHook sees every RPC after it completed: the sender, the target, the
// request and response (pointers to raft's RPC types) and the error. Tests
// use it to count or check messages. It runs on the sender's goroutine.
type RPCHook func(from, to raft.ServerAddress, req, resp interface{}, err error)

// network decides the fate of each RPC.
type network struct {
	hook   RPCHook // set before the servers start; nil for none
	mu     sync.Mutex
	rng    *rand.Rand                                         // guarded by mu
	faults Faults                                             // guarded by mu
	cut    map[raft.ServerAddress]map[raft.ServerAddress]bool // guarded by mu; cut[a][b]: a cannot reach b
	wg     sync.WaitGroup                                     // duplicate deliveries in flight
	closed bool                                               // guarded by mu
}

func newNetwork(seed uint64) *network {
	return &network{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), cut: make(map[raft.ServerAddress]map[raft.ServerAddress]bool)}
}

// setCut makes b unreachable from a (or reachable again).
func (n *network) setCut(a, b raft.ServerAddress, cut bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut[a] == nil {
		n.cut[a] = make(map[raft.ServerAddress]bool)
	}
	n.cut[a][b] = cut
}

// heal removes every partition.
func (n *network) heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
}

// setFaults replaces the fault policy.
func (n *network) setFaults(f Faults) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.faults = f
}

// verdict is the fate of one RPC.
type verdict struct {
	drop      bool
	delay     time.Duration
	duplicate time.Duration // > 0: deliver again after this long
}

// judge decides what happens to an RPC from a to b.
func (n *network) judge(a, b raft.ServerAddress) (verdict, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.cut[a][b] || n.cut[b][a] {
		return verdict{}, fmt.Errorf("%w: %s from %s", ErrUnreachable, b, a)
	}
	f := n.faults
	var v verdict
	if f.Drop > 0 && n.rng.Float64() < f.Drop {
		v.drop = true
		v.delay = f.DropDelay
		return v, nil
	}
	if f.MaxDelay > 0 {
		v.delay = time.Duration(n.rng.Int64N(int64(f.MaxDelay)))
	}
	if f.Duplicate > 0 && n.rng.Float64() < f.Duplicate {
		v.duplicate = time.Millisecond + time.Duration(n.rng.Int64N(int64(f.MaxDelay)+1))
	}
	return v, nil
}

// close stops duplicate deliveries and waits for those in flight.
func (n *network) close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	n.wg.Wait()
}

// transport is a server's view of the network: its InmemTransport, with every
// outgoing RPC judged by the network first.
type transport struct {
	*raft.InmemTransport
	net      *network
	pipeline bool // offer AppendEntries pipelines
}

// AppendEntriesPipeline opens a pipeline whose requests the network judges
// as they are sent (a partition or a drop fails the request, which ends the
// pipeline; delays and duplicates do not apply), when the cluster offers
// pipelines.
func (t *transport) AppendEntriesPipeline(id raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if !t.pipeline {
		return nil, raft.ErrPipelineReplicationNotSupported
	}
	if _, err := t.net.judge(t.LocalAddr(), target); err != nil {
		return nil, err
	}
	p, err := t.InmemTransport.AppendEntriesPipeline(id, target)
	if err != nil {
		return nil, err
	}
	return &pipeline{AppendPipeline: p, t: t, target: target}, nil
}

// pipeline is a pipeline whose requests the network judges.
type pipeline struct {
	raft.AppendPipeline
	t      *transport
	target raft.ServerAddress
}

func (p *pipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	v, err := p.t.net.judge(p.t.LocalAddr(), p.target)
	if err == nil && v.drop {
		err = fmt.Errorf("rafttest: pipelined RPC to %s dropped", p.target)
	}
	if err != nil {
		p.t.net.observe(p.t.LocalAddr(), p.target, args, resp, err)
		return nil, err
	}
	f, err := p.AppendPipeline.AppendEntries(args, resp)
	if err == nil {
		// The hook sees the request when it is sent; its response comes later.
		p.t.net.observe(p.t.LocalAddr(), p.target, args, nil, nil)
	}
	return f, err
}

// observe calls the hook, if any.
func (n *network) observe(from, to raft.ServerAddress, req, resp interface{}, err error) {
	if n.hook != nil {
		n.hook(from, to, req, resp, err)
	}
}

// send runs one RPC through the network's judgement. call makes the RPC;
// keep says whether its response goes to the caller (false for a duplicate).
func (t *transport) send(target raft.ServerAddress, call func(keep bool) error) error {
	v, err := t.net.judge(t.LocalAddr(), target)
	if err != nil {
		t.net.observe(t.LocalAddr(), target, nil, nil, err)
		return err
	}
	if v.delay > 0 {
		time.Sleep(v.delay)
	}
	if v.drop {
		err := fmt.Errorf("rafttest: RPC to %s dropped", target)
		t.net.observe(t.LocalAddr(), target, nil, nil, err)
		return err
	}
	if v.duplicate > 0 {
		t.net.wg.Add(1)
		go func() {
			defer t.net.wg.Done()
			time.Sleep(v.duplicate)
			if _, err := t.net.judge(t.LocalAddr(), target); err == nil {
				call(false)
			}
		}()
	}
	return call(true)
}

// rpc runs one RPC of the embedded InmemTransport through the network: call
// makes it into a fresh response; only the original (not a duplicate) fills
// resp and is shown to the hook.
func rpc[Req, Resp any](t *transport, target raft.ServerAddress, args *Req, resp *Resp, call func(*Req, *Resp) error) error {
	return t.send(target, func(keep bool) error {
		var r Resp
		err := call(args, &r)
		if keep {
			*resp = r
			t.net.observe(t.LocalAddr(), target, args, resp, err)
		}
		return err
	})
}

func (t *transport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	return rpc(t, target, args, resp, func(a *raft.AppendEntriesRequest, r *raft.AppendEntriesResponse) error {
		return t.InmemTransport.AppendEntries(id, target, a, r)
	})
}

func (t *transport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return rpc(t, target, args, resp, func(a *raft.RequestVoteRequest, r *raft.RequestVoteResponse) error {
		return t.InmemTransport.RequestVote(id, target, a, r)
	})
}

func (t *transport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return rpc(t, target, args, resp, func(a *raft.RequestPreVoteRequest, r *raft.RequestPreVoteResponse) error {
		return t.InmemTransport.RequestPreVote(id, target, a, r)
	})
}

func (t *transport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	return rpc(t, target, args, resp, func(a *raft.TimeoutNowRequest, r *raft.TimeoutNowResponse) error {
		return t.InmemTransport.TimeoutNow(id, target, a, r)
	})
}

// InstallSnapshot is never duplicated: its data stream can be read once.
func (t *transport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	v, err := t.net.judge(t.LocalAddr(), target)
	if err != nil {
		return err
	}
	if v.drop {
		time.Sleep(v.delay)
		return fmt.Errorf("rafttest: snapshot to %s dropped", target)
	}
	err = t.InmemTransport.InstallSnapshot(id, target, args, resp, data)
	t.net.observe(t.LocalAddr(), target, args, resp, err)
	return err
}
