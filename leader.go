package raft

// This file owns the leader role: taking client entries in batches (group
// commit), appending them to the log while they replicate (the leader's own
// durable write counts toward the commit like a follower's), advancing the
// commit index, the leader lease, and stepping down.
//
// Invariant: r.lead != nil exactly while the role is Leader; everything in
// leaderState belongs to the main loop unless marked otherwise.

import (
	"runtime"
	"time"

	metrics "github.com/armon/go-metrics"
)

// leaderState is the state of one term of leadership.
type leaderState struct {
	// termStart is the index of the no-op that opened this term: entries
	// from it on are of the current term (nextCommit's Figure 8 rule).
	termStart uint64

	// inflight are the futures of appended entries not yet committed, in
	// index order.
	inflight []*logFuture

	replicators map[ServerID]*replicator
	retiring    []*replicator // replicators of servers that left the configuration
	writer      *logWriter

	// progress is signalled (cap 1) when a match index, the durable index,
	// or a verification round moved. Written by replicators and the writer.
	progress chan struct{}
	// events carries what happens off the main loop: timers firing, a newer
	// term seen by a replicator, a TimeoutNow sent.
	events chan leaderEvent
	// done is closed when this term of leadership ends: late events are
	// dropped rather than block their sender.
	done chan struct{}

	lease *time.Timer

	verify   verifyState
	transfer *transferState
	changes  changeState

	dispatchBuf []*Log       // reused by dispatch
	applyBuf    []*logFuture // reused by handleApply
	matchBuf    []uint64     // reused by updateCommit
}

// leaderEvent is something that happened to the leader off the main loop.
type leaderEvent struct {
	kind     leaderEventKind
	term     uint64         // evNewerTerm: the term seen
	err      error          // evTransferSent: the outcome of TimeoutNow
	transfer *transferState // evTransfer*: the transfer it belongs to
}

type leaderEventKind int

const (
	evNewerTerm       leaderEventKind = iota // a peer answered with a newer term
	evLease                                  // time to check the lease
	evTransferSent                           // the TimeoutNow RPC returned
	evTransferTimeout                        // the transfer ran out of time
	evStagingTick                            // time to check the staging servers
)

// post delivers an event to the main loop, unless this term of leadership
// has ended. Any goroutine may call it.
func (l *leaderState) post(ev leaderEvent) {
	select {
	case l.events <- ev:
	case <-l.done:
	}
}

// after posts ev once d has passed.
func (l *leaderState) after(d time.Duration, ev leaderEvent) *time.Timer {
	return time.AfterFunc(d, func() { l.post(ev) })
}

// handleLeaderEvent reacts to an event on the main loop.
func (r *Raft) handleLeaderEvent(ev leaderEvent) {
	l := r.lead
	switch ev.kind {
	case evNewerTerm:
		r.handleNewerTerm(ev.term)
	case evLease:
		r.checkLease()
	case evTransferSent:
		if l.transfer == ev.transfer {
			r.finishTransfer(ev.err)
		}
	case evTransferTimeout:
		if l.transfer == ev.transfer {
			r.transferTimedOut()
		}
	case evStagingTick:
		r.checkStaging()
	}
}

// runLeader runs the leader role until the role changes.
func (r *Raft) runLeader() {
	r.logger.Info("entering leader state", "leader", r)
	metrics.IncrCounter([]string{"raft", "state", "leader"}, 1)
	r.startLeading()
	defer func() {
		if r.lead == nil {
			return
		}
		if r.isShutdown() {
			r.stopLeading(ErrRaftShutdown)
		} else {
			r.stopLeading(ErrLeadershipLost)
		}
	}()
	for r.getState() == Leader {
		l := r.lead
		select {
		case rpc := <-r.trans.Consumer():
			r.processRPC(rpc)
		case rpc := <-r.rpcCh:
			r.processRPC(rpc)
		case f := <-r.applyCh:
			r.handleApply(f)
		case req := <-r.reqCh:
			r.handleRequest(req)
		case <-l.progress:
			r.onProgress()
		case ev := <-l.events:
			r.handleLeaderEvent(ev)
		case <-r.shutdownCh:
			return
		}
	}
}

// startLeading sets up a term of leadership: the log writer, the no-op that
// commits the entries of earlier terms (section 5.4.2), and one replicator
// per peer.
func (r *Raft) startLeading() {
	l := &leaderState{
		replicators: make(map[ServerID]*replicator),
		progress:    make(chan struct{}, 1),
		events:      make(chan leaderEvent, 16),
		done:        make(chan struct{}),
	}
	r.lead = l
	r.setLeader(r.localAddr, r.localID)
	l.writer = r.newLogWriter(l.progress)
	noop := newLogFuture(Log{Type: LogNoop})
	r.dispatch([]*logFuture{noop})
	l.termStart = noop.log.Index
	r.syncReplicators()
	l.lease = l.after(r.config().LeaderLeaseTimeout, leaderEvent{kind: evLease})
	r.notifyLeadership(true)
}

// stopLeading tears down the leader's state: replicators stop, the writer
// finishes what it was given (so the log is settled before another role
// touches it), and every pending request fails with err.
func (r *Raft) stopLeading(err error) {
	l := r.lead
	r.lead = nil
	// Whoever learns of the step-down below (a future's caller, LeaderCh,
	// an observer) must not then find this server still reporting Leader.
	if r.getState() == Leader {
		r.setState(Follower)
	}
	r.watchMatch.Store(false)
	close(l.done)
	l.lease.Stop()
	r.logger.Info("stepping down as leader", "term", r.term, "reason", err)
	for _, p := range l.replicators {
		p.stop()
	}
	for _, p := range l.retiring {
		p.stop()
	}
	l.writer.stop()
	if ld := r.leader.Load(); ld.id == r.localID {
		r.setLeader("", "")
	}
	r.publishLeaderCh(false)
	for _, f := range l.inflight {
		f.respond(err)
	}
	l.inflight = nil
	r.failVerifies(l, ErrNotLeader)
	r.failChanges(l, ErrLeadershipLost)
	r.endTransfer(l, err)
	// NotifyCh last: its send blocks until the user reads it, and a user
	// may read it only once its pending futures have been answered.
	r.sendNotifyCh(false)
}

// notifyLeadership tells LeaderCh (latest transition wins) and NotifyCh.
func (r *Raft) notifyLeadership(isLeader bool) {
	r.publishLeaderCh(isLeader)
	r.sendNotifyCh(isLeader)
}

// publishLeaderCh replaces what LeaderCh holds with isLeader; it never
// blocks.
func (r *Raft) publishLeaderCh(isLeader bool) {
	select {
	case <-r.leaderCh:
	default:
	}
	r.leaderCh <- isLeader // cap 1, emptied above, only the main loop sends
}

// sendNotifyCh sends isLeader on the configured NotifyCh, blocking until
// it is received or raft shuts down.
func (r *Raft) sendNotifyCh(isLeader bool) {
	if ch := r.config().NotifyCh; ch != nil {
		select {
		case ch <- isLeader:
		case <-r.shutdownCh:
		}
	}
}

// handleApply dispatches f together with the Apply requests already waiting
// (group commit): one batch, one log write, one AppendEntries per follower.
func (r *Raft) handleApply(f *logFuture) {
	l := r.lead
	batch := append(l.applyBuf[:0], f)
	maxBatch := r.config().MaxAppendEntries
	if len(r.applyCh) == 0 && len(l.inflight) > 0 {
		// Other entries are on their way, so other callers are likely
		// about to Apply too: let them run before the batch is cut.
		runtime.Gosched()
	}
collect:
	for len(batch) < maxBatch {
		select {
		case f := <-r.applyCh:
			batch = append(batch, f)
		default:
			break collect
		}
	}
	if l.transfer != nil {
		for _, f := range batch {
			f.respond(ErrLeadershipTransferInProgress)
		}
	} else {
		r.dispatch(batch)
		emitApplies(batch)
	}
	clear(batch)
	l.applyBuf = batch[:0]
}

// emitApplies counts the Apply and Barrier calls of a batch, once per batch:
// a counter per call would have every caller contend on go-metrics' lock.
func emitApplies(batch []*logFuture) {
	var applies, barriers float32
	for _, f := range batch {
		switch f.log.Type {
		case LogCommand:
			applies++
		case LogBarrier:
			barriers++
		}
	}
	if applies > 0 {
		metrics.IncrCounter(keyApply, applies)
	}
	if barriers > 0 {
		metrics.IncrCounter(keyBarrier, barriers)
	}
}

// dispatch appends the futures' entries to the log: they go to the tail, to
// the log writer and to the replicators at once.
func (r *Raft) dispatch(fs []*logFuture) {
	l := r.lead
	now := time.Now()
	batch := l.dispatchBuf[:0]
	index := r.lastIndex
	for _, f := range fs {
		index++
		f.log.Index, f.log.Term, f.log.AppendedAt = index, r.term, now
		batch = append(batch, &f.log)
	}
	r.tail.append(batch)
	l.writer.queue(batch)
	r.setLastLog(index, r.term)
	l.inflight = append(l.inflight, fs...)
	clear(batch)
	l.dispatchBuf = batch[:0]
	maxEntries := uint64(r.config().MaxAppendEntries)
	for _, p := range l.replicators {
		p.appended(maxEntries)
	}
	metrics.MeasureSince(keyDispatchLog, now)
}

// onProgress reacts to moved match or durable indexes and acknowledged
// heartbeats.
func (r *Raft) onProgress() {
	if err := r.storageFailed(); err != nil {
		r.stopLeading(err)
		r.becomeFollower()
		return
	}
	r.updateCommit()
	if r.lead == nil {
		return // the commit removed this leader from the configuration
	}
	r.checkVerifies()
	r.checkTransfer()
	r.checkStaging()
}

// updateCommit advances the commit index to what a majority of voters hold.
func (r *Raft) updateCommit() {
	l := r.lead
	matches := l.matchBuf[:0]
	for _, s := range r.configs.latest.Servers {
		if s.Suffrage != Voter {
			continue
		}
		if s.ID == r.localID {
			matches = append(matches, r.durableIndex.Load())
		} else if p := l.replicators[s.ID]; p != nil {
			matches = append(matches, p.match.Load())
		} else {
			matches = append(matches, 0)
		}
	}
	l.matchBuf = matches
	commit := nextCommit(r.commit, quorumMatch(matches), l.termStart)
	if commit == r.commit {
		return
	}
	n := 0
	for n < len(l.inflight) && l.inflight[n].log.Index <= commit {
		n++
	}
	committed := append([]*logFuture(nil), l.inflight[:n]...)
	rest := copy(l.inflight, l.inflight[n:])
	clear(l.inflight[rest:])
	l.inflight = l.inflight[:rest]
	metrics.AddSample(keyCommitNumLogs, float32(len(committed)))
	// Followers learn the new commit index with the next entries, or within
	// CommitTimeout when no entries follow: telling them at once would
	// double the messages of a lightly loaded cluster.
	prev := r.commitTo(commit, committed)
	r.afterCommit() // completes the futures of membership changes first
	r.checkRemoved(prev)
}

// handleNewerTerm steps down on a term learned by a replicator.
func (r *Raft) handleNewerTerm(term uint64) {
	if term <= r.term {
		return
	}
	r.logger.Info("peer has a newer term, stepping down", "term", term)
	if err := r.adoptTerm(term); err != nil {
		r.logger.Error("failed to persist newer term", "error", err)
	}
}

// checkLease steps down when a majority of voters has not been heard from
// within LeaderLeaseTimeout: a partitioned leader stops taking writes it
// could never commit.
func (r *Raft) checkLease() {
	l := r.lead
	lease := r.config().LeaderLeaseTimeout
	now := time.Now()
	var contacts []time.Time
	oldest := now
	for _, s := range r.configs.latest.Servers {
		if s.Suffrage != Voter {
			continue
		}
		c := now
		if s.ID != r.localID {
			c = time.Time{}
			if p := l.replicators[s.ID]; p != nil {
				c = p.contact()
				r.emitContact(now.Sub(c))
			}
		}
		contacts = append(contacts, c)
		if c.Before(oldest) {
			oldest = c
		}
	}
	if len(contacts) > 0 && !leaseHeld(contacts, now, lease) {
		r.logger.Warn("failed to contact quorum of nodes, stepping down")
		metrics.IncrCounter([]string{"raft", "transition", "leader_lease_timeout"}, 1)
		r.becomeFollower()
		return
	}
	// Check again when the oldest contact inside the lease would expire.
	next := max(lease-now.Sub(oldest), lease/10)
	if next > lease {
		next = lease
	}
	l.lease = l.after(next, leaderEvent{kind: evLease})
}

// emitContact reports how long ago a peer was heard from.
func (r *Raft) emitContact(since time.Duration) {
	metrics.AddSample([]string{"raft", "leader", "lastContact"}, float32(since/time.Millisecond))
}
