package raft

// This file owns observers: user channels that receive notable events
// (leader changes, peer changes, vote requests, heartbeat failures).
// Observations are sent from the goroutine where the event happens; a
// non-blocking observer drops what its channel cannot take at once.

import (
	"sync"
	"sync/atomic"
	"time"
)

// Observation is sent along the given channel to observers when an event occurs.
type Observation struct {
	// Raft is the server that made the observation.
	Raft *Raft
	// Data is one of LeaderObservation, PeerObservation,
	// FailedHeartbeatObservation, ResumedHeartbeatObservation,
	// RequestVoteRequest and RaftState.
	Data interface{}
}

// LeaderObservation is sent when the server learns of a new leader, or loses
// track of the leader (empty LeaderAddr and LeaderID).
type LeaderObservation struct {
	// Deprecated: use LeaderAddr.
	Leader     ServerAddress
	LeaderAddr ServerAddress
	LeaderID   ServerID
}

// PeerObservation is sent by the leader when a server joins or leaves the
// configuration.
type PeerObservation struct {
	Removed bool
	Peer    Server
}

// FailedHeartbeatObservation is sent by the leader when a follower stops
// answering heartbeats.
type FailedHeartbeatObservation struct {
	PeerID      ServerID
	LastContact time.Time
}

// ResumedHeartbeatObservation is sent by the leader when a follower that had
// stopped answering heartbeats answers again.
type ResumedHeartbeatObservation struct {
	PeerID ServerID
}

// FilterFn selects the observations an observer receives: those for which it
// returns true.
type FilterFn func(o *Observation) bool

// Observer sends a Raft's observations to a channel.
type Observer struct {
	numObserved atomic.Uint64
	numDropped  atomic.Uint64

	channel  chan Observation
	blocking bool
	filter   FilterFn // nil: everything
}

// NewObserver creates an observer that sends to channel the observations
// filter accepts (all of them when filter is nil). A blocking observer waits
// until the channel takes each observation, holding up the goroutine that
// made it; otherwise an observation the channel cannot take at once is
// dropped and counted.
func NewObserver(channel chan Observation, blocking bool, filter FilterFn) *Observer {
	return &Observer{
		channel:  channel,
		blocking: blocking,
		filter:   filter,
	}
}

// GetNumObserved returns the number of observations delivered.
func (or *Observer) GetNumObserved() uint64 { return or.numObserved.Load() }

// GetNumDropped returns the number of observations dropped.
func (or *Observer) GetNumDropped() uint64 { return or.numDropped.Load() }

// observers is the set of observers of one Raft.
type observers struct {
	mu sync.RWMutex
	// guarded by mu:
	set map[*Observer]struct{}
}

// RegisterObserver registers a new observer.
func (r *Raft) RegisterObserver(or *Observer) {
	r.observers.mu.Lock()
	defer r.observers.mu.Unlock()
	if r.observers.set == nil {
		r.observers.set = make(map[*Observer]struct{})
	}
	r.observers.set[or] = struct{}{}
}

// DeregisterObserver deregisters an observer.
func (r *Raft) DeregisterObserver(or *Observer) {
	r.observers.mu.Lock()
	defer r.observers.mu.Unlock()
	delete(r.observers.set, or)
}

// observe sends o to every observer that accepts it. A blocking observer's
// send gives up when raft shuts down.
func (r *Raft) observe(o interface{}) {
	r.observers.mu.RLock()
	defer r.observers.mu.RUnlock()
	if len(r.observers.set) == 0 {
		return
	}
	ob := Observation{Raft: r, Data: o}
	for or := range r.observers.set {
		if or.filter != nil && !or.filter(&ob) {
			continue
		}
		if or.channel == nil {
			continue
		}
		if or.deliver(ob, r.shutdownCh) {
			or.numObserved.Add(1)
		} else {
			or.numDropped.Add(1)
		}
	}
}

// deliver sends ob, blocking or not as the observer asks.
func (or *Observer) deliver(ob Observation, shutdownCh <-chan struct{}) bool {
	if or.blocking {
		select {
		case or.channel <- ob:
			return true
		case <-shutdownCh:
			return false
		}
	}
	select {
	case or.channel <- ob:
		return true
	default:
		return false
	}
}
