package raft

// This file owns the leader's requests that are not log entries: confirming
// leadership with a quorum (VerifyLeader), and handing leadership over to
// another voter (LeadershipTransfer, thesis section 3.10).

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// verifyFuture answers VerifyLeader.
type verifyFuture struct {
	future
	round uint64 // the heartbeat round that must be acknowledged
}

// verifyState tracks VerifyLeader rounds: each request starts a round, every
// heartbeater sends at once and records the round its response answered, and
// a request succeeds when a quorum of voters answered its round.
type verifyState struct {
	round   atomic.Uint64 // the latest round; read by heartbeaters
	pending []*verifyFuture
}

// startVerify begins a verification round for f.
func (r *Raft) startVerify(f *verifyFuture) {
	l := r.lead
	f.round = l.verify.round.Add(1)
	l.verify.pending = append(l.verify.pending, f)
	for _, p := range l.replicators {
		p.kickHeartbeat()
	}
	r.checkVerifies()
}

// checkVerifies completes the verifications a quorum has answered.
func (r *Raft) checkVerifies() {
	l := r.lead
	if len(l.verify.pending) == 0 {
		return
	}
	keep := l.verify.pending[:0]
	for _, f := range l.verify.pending {
		if r.quorumAcked(f.round) {
			f.respond(nil)
		} else {
			keep = append(keep, f)
		}
	}
	clear(l.verify.pending[len(keep):])
	l.verify.pending = keep
}

// quorumAcked reports whether a majority of voters (the leader included)
// answered a heartbeat of round or a later one.
func (r *Raft) quorumAcked(round uint64) bool {
	acks, voters := 0, 0
	for _, s := range r.configs.latest.Servers {
		if s.Suffrage != Voter {
			continue
		}
		voters++
		if s.ID == r.localID {
			acks++
		} else if p := r.lead.replicators[s.ID]; p != nil && p.ackRound.Load() >= round {
			acks++
		}
	}
	return acks >= voters/2+1
}

// failVerifies fails the pending verifications.
func (r *Raft) failVerifies(l *leaderState, err error) {
	for _, f := range l.verify.pending {
		f.respond(err)
	}
	l.verify.pending = nil
}

// transferFuture answers LeadershipTransfer and LeadershipTransferToServer.
type transferFuture struct {
	future
	id   ServerID // empty: the most up-to-date voter
	addr ServerAddress
}

// transferState is a leadership transfer in progress.
type transferState struct {
	f       *transferFuture
	target  Server
	sent    bool        // TimeoutNow was sent
	timeout *time.Timer // the whole transfer must end within ElectionTimeout
}

// Errors of leadership transfers.
var (
	errTransferNoTarget = errors.New("raft: no voter to transfer leadership to")
	errTransferTimeout  = errors.New("raft: leadership transfer timed out")
	errTransferSelf     = errors.New("raft: cannot transfer leadership to itself")
)

// startTransfer begins a leadership transfer: no new entries are accepted,
// the target is brought up to date, then told to start an election at once.
func (r *Raft) startTransfer(f *transferFuture) {
	l := r.lead
	if l.transfer != nil {
		f.respond(ErrLeadershipTransferInProgress)
		return
	}
	target, err := r.transferTarget(f.id, f.addr)
	if err != nil {
		f.respond(err)
		return
	}
	r.logger.Info("starting leadership transfer", "to", target.ID, "address", target.Address)
	t := &transferState{f: f, target: target}
	t.timeout = l.after(r.config().ElectionTimeout, leaderEvent{kind: evTransferTimeout, transfer: t})
	l.transfer = t
	r.updateWatch()
	r.checkTransfer()
}

// transferTarget picks the voter to hand leadership to: the one asked for,
// or the one whose log is the most up to date.
func (r *Raft) transferTarget(id ServerID, addr ServerAddress) (Server, error) {
	l := r.lead
	if id != "" {
		switch {
		case id == r.localID:
			return Server{}, errTransferSelf
		case !hasVote(r.configs.latest, id):
			return Server{}, fmt.Errorf("raft: leadership transfer to %s: %w", id, ErrNotVoter)
		case l.replicators[id] == nil:
			return Server{}, fmt.Errorf("raft: leadership transfer to %s: not replicating to it", id)
		}
		return Server{Suffrage: Voter, ID: id, Address: addr}, nil
	}
	var best Server
	var bestMatch uint64
	found := false
	for _, s := range r.configs.latest.Servers {
		p := l.replicators[s.ID]
		if s.Suffrage != Voter || s.ID == r.localID || p == nil {
			continue
		}
		if m := p.match.Load(); !found || m > bestMatch {
			best, bestMatch, found = s, m, true
		}
	}
	if !found {
		return Server{}, errTransferNoTarget
	}
	return best, nil
}

// checkTransfer sends TimeoutNow once the target holds the whole log.
func (r *Raft) checkTransfer() {
	l := r.lead
	t := l.transfer
	if t == nil || t.sent {
		return
	}
	p := l.replicators[t.target.ID]
	if p == nil {
		r.endTransfer(l, fmt.Errorf("raft: leadership transfer to %s: it left the configuration", t.target.ID))
		return
	}
	if p.match.Load() < r.lastIndex {
		p.notify()
		return
	}
	t.sent = true
	req := &TimeoutNowRequest{RPCHeader: r.header()}
	r.goFunc(func() {
		err := r.trans.TimeoutNow(t.target.ID, t.target.Address, req, new(TimeoutNowResponse))
		l.post(leaderEvent{kind: evTransferSent, err: err, transfer: t})
	})
}

// finishTransfer handles the outcome of the TimeoutNow RPC. On success the
// target's election deposes this leader; until then the transfer waits.
func (r *Raft) finishTransfer(err error) {
	if err != nil {
		r.endTransfer(r.lead, fmt.Errorf("raft: leadership transfer to %s failed: %w", r.lead.transfer.target.ID, err))
	}
}

// transferTimedOut gives up the transfer; the leader takes requests again.
func (r *Raft) transferTimedOut() {
	r.endTransfer(r.lead, fmt.Errorf("%w: target %s", errTransferTimeout, r.lead.transfer.target.ID))
}

// endTransfer completes the transfer in progress with err. When the leader
// steps down after the target was told to campaign, the transfer succeeded.
func (r *Raft) endTransfer(l *leaderState, err error) {
	t := l.transfer
	if t == nil {
		return
	}
	l.transfer = nil
	t.timeout.Stop()
	r.updateWatch()
	if r.lead == nil && t.sent {
		err = nil // deposed by the target's election: the transfer worked
	}
	if err != nil {
		r.logger.Warn("leadership transfer failed", "to", t.target.ID, "error", err)
	}
	t.f.respond(err)
}

// updateWatch tells replicators whether the main loop follows their
// progress closely.
func (r *Raft) updateWatch() {
	l := r.lead
	r.watchMatch.Store(l != nil && (l.transfer != nil || len(l.changes.staging) > 0))
}
