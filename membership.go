package raft

// This file owns membership changes on the leader (thesis chapter 4): one
// server at a time, each change appended only once the previous one
// committed and once the leader's no-op committed; new voters catch up as
// Staging servers before they count (section 4.2.1); a leader that removes
// itself leads until the change commits, then steps down.

import (
	"errors"
	"fmt"
	"time"
)

// Bounds of a new voter's catch-up.
const (
	// maxCatchUpRounds is how many replication rounds a staging server
	// gets to come within one round of the leader.
	maxCatchUpRounds = 10
	// catchUpStallFactor times ElectionTimeout is how long a staging server
	// may make no progress at all before the AddVoter fails.
	catchUpStallFactor = 10
)

// errCatchUpFailed: a new voter did not catch up with the leader in time.
var errCatchUpFailed = errors.New("raft: server could not catch up with the leader")

// configChangeFuture answers AddVoter, AddNonvoter, DemoteVoter and
// RemoveServer.
type configChangeFuture struct {
	future
	req   configurationChangeRequest
	index uint64 // the index of the entry that completed the change
	// stall is how long a staging server may make no progress (AddVoter).
	stall time.Duration
	// parent is the AddVoter whose server a Promote promotes.
	parent *configChangeFuture
}

// Index returns the index of the configuration entry of the change.
func (c *configChangeFuture) Index() uint64 { return c.index }

// changeState is the leader's membership work.
type changeState struct {
	queue         []*configChangeFuture // waiting for their turn, in order
	inflight      *configChangeFuture   // appended, not yet committed
	inflightIndex uint64
	staging       map[ServerID]*stagingState
	tick          *time.Timer // checks staging servers while any exist
}

// stagingState follows a new voter's catch-up in rounds: a round ends when
// the server holds what the leader held when it began; a round shorter than
// an election timeout means the server is within one round of the leader.
type stagingState struct {
	f            *configChangeFuture
	roundTarget  uint64
	roundStart   time.Time
	rounds       int
	lastMatch    uint64
	lastProgress time.Time
}

// requestChange queues a membership change and starts it when it can.
func (r *Raft) requestChange(f *configChangeFuture) {
	if r.lead.transfer != nil {
		f.respond(ErrLeadershipTransferInProgress)
		return
	}
	r.lead.changes.queue = append(r.lead.changes.queue, f)
	r.maybeStartChange()
}

// maybeStartChange appends the next queued change once the configuration is
// committed and the leader's no-op is committed (the fix for the
// single-server change bug of 2015: a new leader must not change the
// configuration before it committed an entry of its term).
func (r *Raft) maybeStartChange() {
	c := &r.lead.changes
	for c.inflight == nil && len(c.queue) > 0 && r.commit >= r.lead.termStart && r.configs.latestIndex <= r.commit {
		f := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		next, err := nextConfiguration(r.configs.latest, r.configs.latestIndex, f.req)
		if err != nil {
			f.respond(err)
			continue
		}
		r.appendConfiguration(next)
		c.inflight, c.inflightIndex = f, r.lastIndex
		f.index = r.lastIndex
	}
}

// appendConfiguration appends a configuration entry; it takes effect at once.
func (r *Raft) appendConfiguration(next Configuration) {
	prev := r.configs.latest
	lf := newLogFuture(Log{Type: LogConfiguration, Data: EncodeConfiguration(next)})
	r.dispatch([]*logFuture{lf})
	r.appendConfig(lf.log.Index, next)
	r.logger.Info("updating configuration", "servers", next.Servers, "index", lf.log.Index)
	r.syncReplicators()
	r.observePeerChanges(prev, next)
}

// afterCommit finishes the membership work a new commit index allows.
func (r *Raft) afterCommit() {
	l := r.lead
	c := &l.changes
	if c.inflight != nil && r.commit >= c.inflightIndex {
		f := c.inflight
		c.inflight = nil
		r.changeCommitted(f)
	}
	if r.configs.latestIndex <= r.commit && !hasVote(r.configs.latest, r.localID) {
		r.logger.Info("removed ourself, transitioning to follower")
		r.becomeFollower()
		return
	}
	r.maybeStartChange()
}

// changeCommitted completes a committed change. An AddVoter whose server is
// now staging completes later, when the server is promoted.
func (r *Raft) changeCommitted(f *configChangeFuture) {
	switch {
	case f.parent != nil: // a Promote
		f.parent.index = f.index
		f.parent.respond(nil)
		f.respond(nil)
	case f.req.command == AddVoter && serverSuffrage(r.configs.latest, f.req.serverID) == Staging:
		r.beginStaging(f)
	default:
		f.respond(nil)
	}
}

// serverSuffrage returns id's suffrage in c, or -1 when absent.
func serverSuffrage(c Configuration, id ServerID) ServerSuffrage {
	if i := serverIndex(c, id); i >= 0 {
		return c.Servers[i].Suffrage
	}
	return -1
}

// beginStaging starts following a new voter's catch-up.
func (r *Raft) beginStaging(f *configChangeFuture) {
	c := &r.lead.changes
	if c.staging == nil {
		c.staging = make(map[ServerID]*stagingState)
	}
	now := time.Now()
	c.staging[f.req.serverID] = &stagingState{f: f, roundTarget: r.lastIndex, roundStart: now, lastProgress: now}
	r.updateWatch()
	r.checkStaging()
}

// checkStaging promotes the staging servers that caught up and gives up on
// those that cannot.
func (r *Raft) checkStaging() {
	l := r.lead
	c := &l.changes
	if c.tick != nil {
		c.tick.Stop()
		c.tick = nil
	}
	if len(c.staging) == 0 {
		r.updateWatch()
		return
	}
	now := time.Now()
	et := r.config().ElectionTimeout
	for id, st := range c.staging {
		var match uint64
		if p := l.replicators[id]; p != nil {
			match = p.match.Load()
		}
		if match > st.lastMatch {
			st.lastMatch, st.lastProgress = match, now
		}
		switch {
		case match >= st.roundTarget && now.Sub(st.roundStart) <= et:
			delete(c.staging, id)
			r.promote(id, st.f)
		case match >= st.roundTarget:
			st.rounds++
			st.roundTarget, st.roundStart = r.lastIndex, now
			if st.rounds >= maxCatchUpRounds {
				r.abandonStaging(id, st, fmt.Errorf("%w: %s still more than one round behind after %d rounds",
					errCatchUpFailed, id, st.rounds))
			}
		case now.Sub(st.lastProgress) > max(catchUpStallFactor*et, st.f.stall):
			r.abandonStaging(id, st, fmt.Errorf("%w: no progress from %s for %s",
				errCatchUpFailed, id, now.Sub(st.lastProgress).Round(time.Millisecond)))
		}
	}
	if len(c.staging) > 0 {
		c.tick = l.after(et/2, leaderEvent{kind: evStagingTick})
	}
	r.updateWatch()
}

// promote queues the promotion of a caught-up staging server, ahead of any
// other change.
func (r *Raft) promote(id ServerID, parent *configChangeFuture) {
	c := &r.lead.changes
	pf := &configChangeFuture{req: configurationChangeRequest{command: Promote, serverID: id}, parent: parent}
	pf.init(r.shutdownCh)
	c.queue = append([]*configChangeFuture{pf}, c.queue...)
	r.logger.Info("staging server caught up, promoting to voter", "id", id)
	r.maybeStartChange()
}

// abandonStaging fails an AddVoter and removes its server again, so the
// quorum stays as it was.
func (r *Raft) abandonStaging(id ServerID, st *stagingState, err error) {
	c := &r.lead.changes
	delete(c.staging, id)
	r.logger.Warn("abandoning new voter", "id", id, "error", err)
	st.f.respond(err)
	rf := &configChangeFuture{req: configurationChangeRequest{command: RemoveServer, serverID: id}}
	rf.init(r.shutdownCh)
	c.queue = append([]*configChangeFuture{rf}, c.queue...)
	r.maybeStartChange()
}

// failChanges fails every membership request of a leader stepping down.
func (r *Raft) failChanges(l *leaderState, err error) {
	c := &l.changes
	if c.inflight != nil {
		c.inflight.respond(err)
		if c.inflight.parent != nil {
			c.inflight.parent.respond(err)
		}
	}
	for _, f := range c.queue {
		f.respond(err)
		if f.parent != nil {
			f.parent.respond(err)
		}
	}
	for _, st := range c.staging {
		st.f.respond(err)
	}
	if c.tick != nil {
		c.tick.Stop()
	}
	l.changes = changeState{}
}

// syncReplicators starts a replicator for every server of the latest
// configuration and retires those of servers that left it: they keep
// replicating until the server has the configuration entry that removed it
// committed, so that it learns of its removal.
func (r *Raft) syncReplicators() {
	l := r.lead
	latest := r.configs.latest
	for _, s := range latest.Servers {
		if s.ID == r.localID {
			continue
		}
		if p := l.replicators[s.ID]; p != nil {
			if *p.peer.Load() != s {
				p.peer.Store(&s)
			}
			continue
		}
		l.replicators[s.ID] = r.startReplicator(s)
	}
	for id, p := range l.replicators {
		if !inConfiguration(latest, id) {
			p.retireAt.Store(r.configs.latestIndex)
			p.notify()
			delete(l.replicators, id)
			l.retiring = append(l.retiring, p)
		}
	}
}

// observePeerChanges reports the servers that joined or left.
func (r *Raft) observePeerChanges(prev, next Configuration) {
	for _, s := range next.Servers {
		if i := serverIndex(prev, s.ID); i < 0 || prev.Servers[i] != s {
			r.observe(PeerObservation{Peer: s})
		}
	}
	for _, s := range prev.Servers {
		if !inConfiguration(next, s.ID) {
			r.observe(PeerObservation{Removed: true, Peer: s})
		}
	}
}

// checkRemoved shuts down a server that learned that a committed
// configuration removed it, when ShutdownOnRemove is set.
func (r *Raft) checkRemoved(prevCommitted Configuration) {
	if !inConfiguration(prevCommitted, r.localID) || inConfiguration(r.configs.committed, r.localID) {
		return
	}
	if r.config().ShutdownOnRemove {
		r.logger.Info("removed from the configuration: shutting down")
		r.Shutdown()
		return
	}
	r.logger.Info("removed from the configuration: staying up as a follower")
}
