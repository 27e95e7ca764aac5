package raft

// This file owns the candidate role: an election in two phases. The pre-vote
// phase (thesis section 9.6) asks the voters whether they would vote for this
// server in the next term, without changing anything; only if a majority
// would does the server increment its term and ask for real votes (section
// 5.2). A server cut off from the majority therefore never inflates its term
// and never disrupts the cluster when it returns. An election started by the
// leader's TimeoutNow skips the pre-vote phase.

import (
	"errors"
	"time"

	metrics "github.com/armon/go-metrics"
)

// electionPhase is the phase of an election.
type electionPhase int

const (
	phasePreVote electionPhase = iota
	phaseVote
)

// election is the state of one election attempt.
type election struct {
	phase   electionPhase
	term    uint64 // the term campaigned for
	results chan voteResult
	granted int
	refused int
	need    int // votes needed: a majority of the voters
	voters  int
	timeout <-chan time.Time
	start   time.Time
}

// voteResult is a voter's answer in one phase.
type voteResult struct {
	phase   electionPhase
	term    uint64 // the election's term
	id      ServerID
	granted bool
	peer    uint64 // the voter's term
	err     error
}

// errPeerUnsupported is wrapped by transports when a peer closed the
// connection instead of answering a request, as hashicorp/raft peers older
// than pre-vote do on RequestPreVote.
var errPeerUnsupported = errors.New("raft: peer closed the connection without answering")

// runCandidate runs the candidate role until the role changes.
func (r *Raft) runCandidate() {
	r.logger.Info("entering candidate state", "node", r, "term", r.term+1)
	metrics.IncrCounter([]string{"raft", "state", "candidate"}, 1)
	transfer := r.transferElection
	r.transferElection = false
	e := &election{}
	if r.preVote != nil && !transfer {
		r.startPreVote(e)
	} else {
		r.startVote(e, transfer)
	}
	for r.getState() == Candidate {
		select {
		case res := <-e.results:
			r.countVote(e, res)
		case <-e.timeout:
			r.electionTimedOut(e)
		case rpc := <-r.trans.Consumer():
			r.processRPC(rpc)
		case rpc := <-r.rpcCh:
			r.processRPC(rpc)
		case f := <-r.applyCh:
			f.respond(r.notLeaderError())
		case req := <-r.reqCh:
			r.handleRequest(req)
		case <-r.shutdownCh:
			return
		}
	}
}

// begin resets e for a new phase and counts this server's own vote.
func (r *Raft) begin(e *election, phase electionPhase, term uint64) []Server {
	var others []Server
	for _, s := range r.configs.latest.Servers {
		if s.Suffrage == Voter && s.ID != r.localID {
			others = append(others, s)
		}
	}
	*e = election{phase: phase, term: term, results: make(chan voteResult, len(others)),
		granted: 1, need: quorumSize(r.configs.latest), voters: len(others) + 1,
		timeout: r.randomTimeout(r.config().ElectionTimeout), start: time.Now()}
	return others
}

// startPreVote asks the voters whether they would vote for this server.
func (r *Raft) startPreVote(e *election) {
	others := r.begin(e, phasePreVote, r.term+1)
	req := &RequestPreVoteRequest{RPCHeader: r.header(), Term: e.term, LastLogIndex: r.lastIndex, LastLogTerm: r.lastTerm}
	results, term := e.results, e.term
	for _, s := range others {
		r.goFunc(func() {
			var resp RequestPreVoteResponse
			err := r.preVote.RequestPreVote(s.ID, s.Address, req, &resp)
			if errors.Is(err, errPeerUnsupported) {
				// An old peer without pre-vote: its real vote will decide.
				err, resp.Granted, resp.Term = nil, true, 0
			}
			results <- voteResult{phase: phasePreVote, term: term, id: s.ID, granted: resp.Granted, peer: resp.Term, err: err}
		})
	}
	r.checkElection(e)
}

// startVote moves to the next term, votes for itself and asks for votes.
func (r *Raft) startVote(e *election, transfer bool) {
	if err := r.setTerm(r.term + 1); err != nil {
		r.becomeFollower()
		return
	}
	if err := r.persistVote(r.term, r.rpcHeader.Addr); err != nil {
		r.becomeFollower()
		return
	}
	others := r.begin(e, phaseVote, r.term)
	r.logger.Info("starting election", "term", r.term, "transfer", transfer)
	req := &RequestVoteRequest{RPCHeader: r.header(), Term: r.term, Candidate: r.rpcHeader.Addr,
		LastLogIndex: r.lastIndex, LastLogTerm: r.lastTerm, LeadershipTransfer: transfer}
	results, term := e.results, e.term
	for _, s := range others {
		r.goFunc(func() {
			var resp RequestVoteResponse
			err := r.trans.RequestVote(s.ID, s.Address, req, &resp)
			results <- voteResult{phase: phaseVote, term: term, id: s.ID, granted: resp.Granted, peer: resp.Term, err: err}
		})
	}
	r.checkElection(e)
}

// countVote counts one answer.
func (r *Raft) countVote(e *election, res voteResult) {
	if res.phase != e.phase || res.term != e.term {
		return // an answer of an earlier phase
	}
	if res.err != nil {
		r.logger.Error("failed to make requestVote RPC", "target", res.id, "error", res.err, "term", e.term)
		res.granted = false
	}
	if res.peer > r.term {
		r.logger.Debug("newer term discovered, fallback to follower", "term", res.peer)
		if err := r.adoptTerm(res.peer); err != nil {
			r.logger.Error("failed to persist newer term", "error", err)
		}
		return
	}
	if res.granted {
		e.granted++
	} else {
		e.refused++
	}
	r.checkElection(e)
}

// checkElection ends a phase that is won or lost.
func (r *Raft) checkElection(e *election) {
	switch {
	case e.granted >= e.need && e.phase == phasePreVote:
		metrics.MeasureSince([]string{"raft", "candidate", "preElectSelf"}, e.start)
		r.logger.Debug("pre-vote successful, starting election", "term", e.term)
		r.startVote(e, false)
	case e.granted >= e.need:
		metrics.MeasureSince([]string{"raft", "candidate", "electSelf"}, e.start)
		r.logger.Info("election won", "term", e.term, "tally", e.granted)
		r.setState(Leader)
	case e.refused > e.voters-e.need && e.phase == phasePreVote:
		r.logger.Debug("pre-vote lost, waiting for the next timeout", "term", e.term, "refused", e.refused)
		r.becomeFollower()
	}
}

// electionTimedOut ends a phase without a result: a pre-vote phase returns
// to following, a vote phase starts a new election.
func (r *Raft) electionTimedOut(e *election) {
	if e.phase == phasePreVote {
		r.logger.Debug("pre-vote timed out", "term", e.term)
		r.becomeFollower()
		return
	}
	r.logger.Warn("election timeout reached, restarting election")
	if r.preVote != nil {
		r.startPreVote(e)
	} else {
		r.startVote(e, false)
	}
}
