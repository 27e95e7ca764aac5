package raft

// This file owns replication from the leader to one peer: a replicator
// goroutine that brings the peer's log up to the leader's (probing back with
// the follower's hints when logs diverge, pipelining once they match, sending
// a snapshot when the entries it needs were compacted), and a heartbeater
// goroutine that keeps the peer's election timer quiet and answers
// VerifyLeader rounds.
//
// Both goroutines live as long as one term of leadership (or until the peer
// leaves the configuration). They read the log through the tail and the
// LogStore and report to the main loop only through the atomics below and the
// leader's progress and events channels.

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	metrics "github.com/armon/go-metrics"
)

// Backoff after failed RPCs: doubles from the base up to the cap.
const (
	failureBackoffBase = 10 * time.Millisecond
	failureBackoffCap  = 5 * time.Second
	// snapshotBackoffBase is the first wait after a failed snapshot transfer.
	snapshotBackoffBase = 100 * time.Millisecond
)

// errNoSnapshot: a follower needs entries that were compacted, yet the
// snapshot store holds no snapshot.
var errNoSnapshot = errors.New("raft: no snapshot available to send")

// replicator replicates the leader's log to one peer.
type replicator struct {
	r    *Raft
	term uint64 // the leader's term; fixed for the replicator's life

	peer     atomic.Pointer[Server] // the address may change (AddVoter again)
	trigger  chan struct{}          // cap 1: new entries or a new commit index
	hbKick   chan struct{}          // cap 1: send a heartbeat now (VerifyLeader)
	stopCh   chan struct{}          // closed by stop
	stopOnce sync.Once
	progress chan<- struct{} // the leader's progress channel
	leader   *leaderState    // for posting events only
	round    *atomic.Uint64  // the leader's latest VerifyLeader round

	// Published to the main loop.
	match       atomic.Uint64 // highest index known to be on the peer
	next        atomic.Uint64 // next index to send; owned by the replicator goroutine
	lastContact atomic.Int64  // UnixNano of the last response
	ackRound    atomic.Uint64 // the last VerifyLeader round a heartbeat answered
	// retireAt, when non-zero, is the index of the configuration entry that
	// removed the peer: the replicator stops once the peer has it committed.
	retireAt atomic.Uint64

	// peerCommit is the commit index the peer acknowledged receiving.
	peerCommit atomic.Uint64
	// inflight counts the pipelined requests not yet answered.
	inflight atomic.Int32

	// labels of the replicator's metrics: the peer's ID. Set once.
	labels []metrics.Label

	// Owned by the replicator goroutine.
	sentCommit uint64 // the commit index sent (pipelines: not yet acknowledged)
	failures   int
	noPipeline bool
	buf        []*Log
	lastBatch  uint64 // entries in the last request built
}

// startReplicator starts replicating to s, from the leader's last index.
func (r *Raft) startReplicator(s Server) *replicator {
	l := r.lead
	p := &replicator{
		r:        r,
		term:     r.term,
		trigger:  make(chan struct{}, 1),
		hbKick:   make(chan struct{}, 1),
		stopCh:   make(chan struct{}),
		progress: l.progress,
		leader:   l,
		round:    &l.verify.round,
	}
	p.peer.Store(&s)
	p.labels = []metrics.Label{{Name: "peer_id", Value: string(s.ID)}}
	p.next.Store(r.lastIndex)
	p.lastContact.Store(time.Now().UnixNano()) // a grace lease for a new term
	r.goFunc(p.run)
	r.goFunc(p.heartbeat)
	p.notify()
	return p
}

// notify wakes the replicator.
func (p *replicator) notify() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// appended wakes the replicator for entries the leader just appended,
// unless the wake-up would find nothing to do: while a pipelined request is
// in flight, the sender holds back requests that are not full, and the
// receiver of that request's answer wakes it (pipelineReceive).
//
// No wake-up is lost: the main loop publishes the new last index before it
// reads inflight here, and the receiver decrements inflight before it reads
// the last index (hasWorkRacy), so at least one of them sees the other.
func (p *replicator) appended(maxEntries uint64) {
	if p.inflight.Load() > 0 && p.pending() < maxEntries {
		return
	}
	p.notify()
}

// stop ends both goroutines; it does not wait for an RPC in flight.
func (p *replicator) stop() { p.stopOnce.Do(func() { close(p.stopCh) }) }

// stopped reports whether stop was called.
func (p *replicator) stopped() bool {
	select {
	case <-p.stopCh:
		return true
	default:
		return false
	}
}

// contact is when the peer last answered.
func (p *replicator) contact() time.Time { return time.Unix(0, p.lastContact.Load()) }

// touch records an answer from the peer.
func (p *replicator) touch() { p.lastContact.Store(time.Now().UnixNano()) }

// signal wakes the main loop.
func (p *replicator) signal() {
	select {
	case p.progress <- struct{}{}:
	default:
	}
}

// sawTerm reports whether a response carries a newer term, and if so hands
// it to the main loop (which steps down) and stops.
//
// A server that left the configuration does not count: it may have campaigned
// in ever newer terms while cut off (without pre-vote), and deposing the
// leader for it would let a removed server disrupt the cluster. Replication to
// it simply stops.
func (p *replicator) sawTerm(term uint64) bool {
	if term <= p.term {
		return false
	}
	if p.retireAt.Load() != 0 {
		p.r.logger.Warn("removed server has a newer term, no longer replicating to it",
			"peer", p.peer.Load().ID, "term", term)
	} else {
		p.leader.post(leaderEvent{kind: evNewerTerm, term: term})
	}
	p.stop()
	return true
}

// run is the replication goroutine. When it ends, the heartbeater ends too.
func (p *replicator) run() {
	defer p.stop()
	commitTimeout := time.NewTimer(p.r.config().CommitTimeout)
	defer commitTimeout.Stop()
	for !p.stopped() {
		if p.retired() {
			return
		}
		if !p.hasWork() {
			select {
			case <-p.stopCh:
				return
			case <-p.trigger:
			case <-commitTimeout.C:
			}
			commitTimeout.Reset(p.r.config().CommitTimeout)
			continue
		}
		p.gather()
		ok, matched := p.replicateOnce()
		if !ok {
			p.backoff(failureBackoffBase)
			continue
		}
		if matched && !p.noPipeline && p.hasWork() {
			p.runPipeline()
		}
	}
}

// gather yields at most gatherYields times, and not after gatherWindow has
// passed: with many unrelated goroutines runnable, one yield can take long,
// and the window bounds the delay it adds to a request. (50 µs cut a
// durable 64-caller workload by a tenth; 200 µs measured as no bound.)
const (
	gatherYields = 32
	gatherWindow = 200 * time.Microsecond
)

// gather lets callers that are ready to run append their entries before
// the next request is cut, while fewer entries are pending than the last
// request carried. It reports whether it yielded.
//
// Under load, the callers answered by one commit apply again within a few
// goroutine runs. Cutting a request at the first of them splits the rest
// off into the request after it, and the load settles into two half-size
// groups per round trip: twice the requests, and twice the syncs on a
// follower with a disk. Yielding for a moment (see gatherYields) lets them
// in. It costs nothing when there is no such crowd: Gosched returns at once
// when nothing else is runnable, and a lightly loaded leader, whose
// requests carry one entry each, never waits.
func (p *replicator) gather() bool {
	var start time.Time
	for i := 0; i < gatherYields; i++ {
		if n := p.pending(); n == 0 || n >= p.lastBatch {
			break // only the commit index to send, or a request as large
		}
		if i == 0 {
			start = time.Now()
		} else if time.Since(start) > gatherWindow {
			break
		}
		runtime.Gosched()
	}
	return !start.IsZero()
}

// hasWork reports whether the peer lacks entries or the commit index.
func (p *replicator) hasWork() bool {
	return p.next.Load() <= p.r.pubLastIndex.Load() || p.sentCommit < p.r.pubCommit.Load()
}

// hasWorkRacy is hasWork for goroutines other than the replicator's: it
// reads sentCommit without synchronization (a stale value only costs a
// spurious or a delayed wake-up; the commit timeout covers the latter), so
// it looks at the log only.
func (p *replicator) hasWorkRacy() bool {
	return p.next.Load() <= p.r.pubLastIndex.Load()
}

// retired reports whether the peer left the configuration and has been told.
func (p *replicator) retired() bool {
	at := p.retireAt.Load()
	return at != 0 && p.match.Load() >= at && p.peerCommit.Load() >= at
}

// backoff waits after a failure, longer with each consecutive one.
func (p *replicator) backoff(base time.Duration) {
	p.failures++
	d := base << min(p.failures-1, 16)
	if d > failureBackoffCap || d <= 0 {
		d = failureBackoffCap
	}
	select {
	case <-time.After(d):
	case <-p.stopCh:
	}
}

// replicateOnce sends one AppendEntries (or a snapshot when the entries are
// gone). ok is false after a failure that calls for a backoff; matched is
// true when the peer's log now matches the leader's up to what was sent.
func (p *replicator) replicateOnce() (ok, matched bool) {
	req, err := p.buildAppend(p.next.Load())
	if errors.Is(err, ErrLogNotFound) {
		return p.sendSnapshot(), false
	}
	if err != nil {
		p.r.logger.Error("failed to read log for replication", "peer", p.peer.Load().ID, "error", err)
		return false, false
	}
	resp := new(AppendEntriesResponse)
	peer := p.peer.Load()
	start := time.Now()
	if err := p.r.trans.AppendEntries(peer.ID, peer.Address, req, resp); err != nil {
		p.r.logger.Error("failed to appendEntries to", "peer", peer, "error", err)
		return false, false
	}
	p.emitAppend(start, len(req.Entries))
	return p.handleResponse(req, resp)
}

// handleResponse applies an AppendEntries response to the peer's progress.
func (p *replicator) handleResponse(req *AppendEntriesRequest, resp *AppendEntriesResponse) (ok, matched bool) {
	if p.sawTerm(resp.Term) {
		return true, false
	}
	p.touch()
	if resp.Success {
		p.acknowledged(req)
		p.next.Store(max(p.next.Load(), req.PrevLogEntry+uint64(len(req.Entries))+1))
		p.sentCommit = max(p.sentCommit, req.LeaderCommitIndex)
		p.failures = 0
		return true, true
	}
	next := nextAfterReject(req.PrevLogEntry, resp.LastLog, p.r.termRunStart(req.PrevLogEntry))
	p.next.Store(next)
	p.r.logger.Debug("appendEntries rejected, sending older logs", "peer", p.peer.Load().ID, "next", next)
	return resp.NoRetryBackoff, false
}

// acknowledged records a successful AppendEntries and wakes the main loop.
// The replicator and its pipeline receiver call it.
func (p *replicator) acknowledged(req *AppendEntriesRequest) {
	last := req.PrevLogEntry + uint64(len(req.Entries))
	if c := min(req.LeaderCommitIndex, last); c > p.peerCommit.Load() {
		p.peerCommit.Store(c)
	}
	if last > p.match.Load() {
		p.match.Store(last)
	}
	// Wake the main loop only when the match can move the commit index, or
	// when it follows this peer's progress (a transfer, a catch-up).
	if last > p.r.pubCommit.Load() || p.r.watchMatch.Load() {
		p.signal()
	}
}

// buildAppend builds the AppendEntries request that sends entries from next.
// It fails with ErrLogNotFound when the entry before next or the entries
// themselves were compacted.
func (p *replicator) buildAppend(next uint64) (*AppendEntriesRequest, error) {
	r := p.r
	prevTerm, err := r.termOf(next - 1)
	if err != nil {
		return nil, err
	}
	last := r.pubLastIndex.Load()
	req := &AppendEntriesRequest{
		RPCHeader:         r.header(),
		Term:              p.term,
		Leader:            r.rpcHeader.Addr,
		PrevLogEntry:      next - 1,
		PrevLogTerm:       prevTerm,
		LeaderCommitIndex: r.pubCommit.Load(),
	}
	if next <= last {
		es, err := r.entries(p.buf[:0], next, last, r.config().MaxAppendEntries)
		if err != nil {
			return nil, err
		}
		// The transport may hold on to the request (pipelines): give it
		// its own slice.
		req.Entries = append([]*Log(nil), es...)
		clear(es)
		p.buf = es[:0]
	}
	p.lastBatch = uint64(len(req.Entries))
	return req, nil
}

// termOf returns the term of the entry at index, from the snapshot or the
// log. Any goroutine may call it.
func (r *Raft) termOf(index uint64) (uint64, error) {
	if index == 0 {
		return 0, nil
	}
	if s := r.pubSnap.Load(); s.index == index {
		return s.term, nil
	}
	e, err := r.entry(index)
	if err != nil {
		return 0, err
	}
	return e.Term, nil
}

// termRunStart returns the first index of the leader's run of entries with
// the term of the entry at index (binary search: terms never decrease along
// the log). On a failed lookup it returns index, a one-step probe.
func (r *Raft) termRunStart(index uint64) uint64 {
	term, err := r.termOf(index)
	if err != nil || index == 0 {
		return index
	}
	lo := r.pubSnap.Load().index // a lower bound with a smaller or equal term
	if first, err := r.logs.FirstIndex(); err == nil && first > 0 && first-1 > lo {
		lo = first - 1
	}
	hi := index // term(hi) == term; answer in (lo, hi]
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		if t, err := r.termOf(mid); err == nil && t == term {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi
}

// emitAppend records the metrics of one AppendEntries.
func (p *replicator) emitAppend(start time.Time, n int) {
	metrics.MeasureSinceWithLabels(keyReplAppendRPC, start, p.labels)
	metrics.IncrCounterWithLabels(keyReplAppendLogs, float32(n), p.labels)
}

// sendSnapshot sends the newest snapshot to the peer. It returns false after
// a failure (the caller backs off).
func (p *replicator) sendSnapshot() bool {
	if err := p.installSnapshot(); err != nil {
		if !p.stopped() {
			p.r.logger.Error("failed to send snapshot to", "peer", p.peer.Load(), "error", err)
			p.backoff(snapshotBackoffBase)
		}
		return true // backed off already
	}
	p.failures = 0
	return true
}

// installSnapshot streams the newest snapshot to the peer.
func (p *replicator) installSnapshot() error {
	r := p.r
	metas, err := r.snaps.List()
	if err != nil {
		return fmt.Errorf("list snapshots: %w", err)
	}
	if len(metas) == 0 {
		return errNoSnapshot
	}
	meta, rc, err := r.snaps.Open(metas[0].ID)
	if err != nil {
		return fmt.Errorf("open snapshot %s: %w", metas[0].ID, err)
	}
	defer rc.Close()
	req := &InstallSnapshotRequest{
		RPCHeader:          r.header(),
		SnapshotVersion:    meta.Version,
		Term:               p.term,
		Leader:             r.rpcHeader.Addr,
		LastLogIndex:       meta.Index,
		LastLogTerm:        meta.Term,
		Peers:              meta.Peers,
		Configuration:      EncodeConfiguration(meta.Configuration),
		ConfigurationIndex: meta.ConfigurationIndex,
		Size:               meta.Size,
	}
	peer := p.peer.Load()
	start := time.Now()
	resp := new(InstallSnapshotResponse)
	if err := r.trans.InstallSnapshot(peer.ID, peer.Address, req, resp, rc); err != nil {
		return fmt.Errorf("install snapshot %s: %w", meta.ID, err)
	}
	metrics.MeasureSinceWithLabels(keyReplInstallSnap, start, p.labels)
	if p.sawTerm(resp.Term) {
		return nil
	}
	p.touch()
	if !resp.Success {
		return fmt.Errorf("peer refused snapshot %s", meta.ID)
	}
	if meta.Index > p.match.Load() {
		p.match.Store(meta.Index)
	}
	p.next.Store(meta.Index + 1)
	p.signal()
	r.logger.Info("snapshot sent", "peer", peer.ID, "index", meta.Index)
	return nil
}

// heartbeat is the heartbeater goroutine: it sends a heartbeat every tenth
// of the heartbeat timeout, and at once when a VerifyLeader round starts.
func (p *replicator) heartbeat() {
	r := p.r
	failing := false
	for {
		select {
		case <-p.stopCh:
			return
		case <-p.hbKick:
		case <-time.After(r.rand.jitter(r.config().HeartbeatTimeout / 10)):
		}
		round := p.round.Load() // before sending: the answer proves contact after it
		peer := p.peer.Load()
		req := &AppendEntriesRequest{RPCHeader: r.header(), Term: p.term, Leader: r.rpcHeader.Addr}
		var resp AppendEntriesResponse
		start := time.Now()
		if err := r.trans.AppendEntries(peer.ID, peer.Address, req, &resp); err != nil {
			if !failing {
				r.observe(FailedHeartbeatObservation{PeerID: peer.ID, LastContact: p.contact()})
				failing = true
			}
			r.logger.Error("failed to heartbeat to", "peer", peer.Address, "error", err)
			select {
			case <-time.After(r.rand.jitter(r.config().HeartbeatTimeout / 10)):
			case <-p.stopCh:
				return
			}
			continue
		}
		metrics.MeasureSinceWithLabels(keyReplHeartbeat, start, p.labels)
		if p.sawTerm(resp.Term) {
			return
		}
		if failing {
			r.observe(ResumedHeartbeatObservation{PeerID: peer.ID})
			failing = false
		}
		p.touch()
		if round > p.ackRound.Load() {
			p.ackRound.Store(round)
			p.signal()
		}
	}
}

// kickHeartbeat makes the heartbeater send at once.
func (p *replicator) kickHeartbeat() {
	select {
	case p.hbKick <- struct{}{}:
	default:
	}
}
