package raft

// This file holds raft's decisions as pure functions of plain values: whether
// to grant a vote, where a follower's log stops matching the leader's, where
// the leader probes next, and what the commit index is. The main loop and the
// replication goroutines call them and carry out the effects; the table tests
// in decide_test.go pin each rule to the paper.

import (
	"bytes"
	"slices"
	"time"
)

// voterView is what a server knows when it judges a vote request.
type voterView struct {
	currentTerm uint64
	// votedTerm and votedFor are the last vote cast (votedFor is the
	// candidate's address bytes, as hashicorp/raft stores it).
	votedTerm uint64
	votedFor  []byte
	// lastIndex and lastTerm describe the voter's log.
	lastIndex uint64
	lastTerm  uint64
	// leaderKnown is true while the voter follows (or is) a leader it has
	// heard from within its election timeout.
	leaderKnown bool
	// candidateVotes is true when the candidate is a voter of the voter's
	// latest configuration.
	candidateVotes bool
}

// voteAsk is a vote or pre-vote request reduced to what the decision needs.
type voteAsk struct {
	term      uint64
	candidate []byte
	lastIndex uint64
	lastTerm  uint64
	transfer  bool // the election was started by a leadership transfer
}

// voteVerdict is the outcome of a vote request.
type voteVerdict struct {
	// adoptTerm: the request's term is newer; the voter moves to it (and
	// becomes a follower) whether or not it grants. Ignored for pre-votes.
	adoptTerm bool
	grant     bool
	reason    string // why the vote was refused, for the log
}

// decideVote applies the vote rules: Raft paper Figure 2 (RequestVote
// receiver), section 5.4.1 (the up-to-date check), thesis section 4.2.3
// (ignore candidates while a leader is known, unless the leader itself asked
// for the election) and section 4.2.2 (a server outside the configuration
// cannot disturb it). A pre-vote uses the same rules and ignores adoptTerm.
func decideVote(v voterView, a voteAsk) voteVerdict {
	switch {
	case !v.candidateVotes:
		return voteVerdict{reason: "candidate is not a voter of the configuration"}
	case v.leaderKnown && !a.transfer:
		return voteVerdict{reason: "a leader is known"}
	case a.term < v.currentTerm:
		return voteVerdict{reason: "stale term"}
	}
	verdict := voteVerdict{adoptTerm: a.term > v.currentTerm}
	if v.votedTerm == a.term && len(v.votedFor) > 0 {
		if bytes.Equal(v.votedFor, a.candidate) {
			verdict.grant = true // the same candidate asking again
		} else {
			verdict.reason = "already voted in this term"
		}
		return verdict
	}
	if !logUpToDate(a.lastTerm, a.lastIndex, v.lastTerm, v.lastIndex) {
		verdict.reason = "candidate's log is behind"
		return verdict
	}
	verdict.grant = true
	return verdict
}

// logUpToDate reports whether a log ending at (term, index) is at least as
// up to date as one ending at (ourTerm, ourIndex) (section 5.4.1).
func logUpToDate(term, index, ourTerm, ourIndex uint64) bool {
	return term > ourTerm || (term == ourTerm && index >= ourIndex)
}

// termLookup returns the term of the entry at index, and false when the log
// does not hold that index (or the lookup failed).
type termLookup func(index uint64) (uint64, bool)

// prevMatches reports whether the follower's log holds the entry the leader
// says precedes its new entries (Figure 2, AppendEntries receiver, rule 2).
// Index 0 (the empty log) always matches.
func prevMatches(prevIndex, prevTerm uint64, termAt termLookup) bool {
	if prevIndex == 0 {
		return true
	}
	t, ok := termAt(prevIndex)
	return ok && t == prevTerm
}

// firstNewEntry returns the position in entries of the first entry the
// follower does not already hold, and the index from which the follower must
// truncate its log first (0 for none): the first entry whose term differs from
// the follower's (Figure 2, AppendEntries receiver, rules 3 and 4). Entries the
// follower already holds are skipped, so a duplicated or reordered request
// never truncates entries that a later request appended.
func firstNewEntry(entries []*Log, lastIndex uint64, termAt termLookup) (pos int, truncateFrom uint64) {
	for i, e := range entries {
		if e.Index > lastIndex {
			return i, 0
		}
		if t, ok := termAt(e.Index); !ok || t != e.Term {
			return i, e.Index
		}
	}
	return len(entries), 0
}

// followerHint is the LastLog a follower returns when prevIndex does not
// match: the highest index no greater than min(prevIndex, lastIndex) whose
// term is at most prevTerm. Entries above it cannot match the leader (their
// terms exceed the leader's term at prevIndex, and terms never decrease along
// a log), so the leader can probe there next and skip a whole run of
// conflicting entries in one round trip. floor is the lowest index the
// follower can answer for (its snapshot's index, or 0); the search uses
// binary search since terms are non-decreasing along the log.
func followerHint(prevIndex, prevTerm, lastIndex, floor uint64, termAt termLookup) uint64 {
	hi := min(prevIndex, lastIndex)
	if hi <= floor {
		return hi
	}
	if t, ok := termAt(hi); ok && t <= prevTerm {
		return hi
	}
	// Invariant: the answer is in [floor, hi); term(hi) > prevTerm.
	lo := floor
	for lo+1 < hi {
		mid := lo + (hi-lo)/2
		if t, ok := termAt(mid); ok && t <= prevTerm {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// nextAfterReject is where a leader probes next after a follower refused an
// AppendEntries whose previous entry was prevIndex, answering hint as its
// LastLog. When hint < prevIndex, the follower's log may match at hint. When
// hint >= prevIndex, the follower holds prevIndex with an older term (or is a
// hashicorp follower reporting its last index), so no entry of the leader's
// run of prevIndex's term can match: the probe skips to the start of that run
// (runStart). The result is always below the rejected next index and at
// least 1, so probing makes progress and ends.
func nextAfterReject(prevIndex, hint, runStart uint64) uint64 {
	next := hint + 1
	if hint >= prevIndex {
		next = runStart
	}
	return max(1, min(next, prevIndex))
}

// quorumMatch returns the highest index stored by a majority of the voters,
// given each voter's match index (Figure 2, rules for leaders: "a majority of
// matchIndex[i] >= N"). It reorders matches.
func quorumMatch(matches []uint64) uint64 {
	if len(matches) == 0 {
		return 0
	}
	slices.Sort(matches)
	// With n voters a majority is n/2+1; the (n/2+1)-th largest is at n-(n/2+1).
	return matches[len(matches)-(len(matches)/2+1)]
}

// nextCommit returns the commit index after the voters' match indexes moved.
// Only an entry of the leader's own term commits by counting replicas
// (section 5.4.2, Figure 8): termStart is the index of the first entry of the
// leader's term (its no-op), so quorum >= termStart means the entry at quorum
// is of the current term. The commit index never decreases.
func nextCommit(commit, quorum, termStart uint64) uint64 {
	if quorum < termStart || quorum <= commit {
		return commit
	}
	return quorum
}

// leaseHeld reports whether a leader still holds its lease: a majority of
// voters (the leader counting itself through a zero-age contact) were heard
// from within lease of now (thesis section 6.2 uses the same quorum).
func leaseHeld(contacts []time.Time, now time.Time, lease time.Duration) bool {
	fresh := 0
	for _, c := range contacts {
		if now.Sub(c) <= lease {
			fresh++
		}
	}
	return fresh >= len(contacts)/2+1
}
