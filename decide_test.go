package raft

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDecideVote(t *testing.T) {
	base := voterView{currentTerm: 5, lastIndex: 10, lastTerm: 5, candidateVotes: true}
	ask := voteAsk{term: 6, candidate: []byte("c"), lastIndex: 10, lastTerm: 5}
	cases := []struct {
		name    string
		edit    func(v *voterView, a *voteAsk)
		grant   bool
		adopt   bool
		because string
	}{
		{"up to date candidate in a newer term", nil, true, true, ""},
		{"longer log, same last term", func(_ *voterView, a *voteAsk) { a.lastIndex = 12 }, true, true, ""},
		{"higher last term beats a longer log", func(v *voterView, a *voteAsk) { v.lastIndex = 50; a.lastTerm = 6; a.lastIndex = 1 }, true, true, ""},
		{"shorter log, same last term (5.4.1)", func(_ *voterView, a *voteAsk) { a.lastIndex = 9 }, false, true, "candidate's log is behind"},
		{"older last term (5.4.1)", func(_ *voterView, a *voteAsk) { a.lastTerm = 4; a.lastIndex = 100 }, false, true, "candidate's log is behind"},
		{"stale term", func(_ *voterView, a *voteAsk) { a.term = 4 }, false, false, "stale term"},
		{"same term, not voted yet", func(_ *voterView, a *voteAsk) { a.term = 5 }, true, false, ""},
		{"same term, voted for another (Figure 2)", func(v *voterView, a *voteAsk) {
			a.term = 5
			v.votedTerm, v.votedFor = 5, []byte("other")
		}, false, false, "already voted in this term"},
		{"same term, voted for this candidate: grant again", func(v *voterView, a *voteAsk) {
			a.term = 5
			v.votedTerm, v.votedFor = 5, []byte("c")
		}, true, false, ""},
		{"vote of an older term does not bind", func(v *voterView, _ *voteAsk) { v.votedTerm, v.votedFor = 5, []byte("other") }, true, true, ""},
		{"leader known: refused without adopting the term (4.2.3)", func(v *voterView, _ *voteAsk) { v.leaderKnown = true }, false, false, "a leader is known"},
		{"leader known but transfer asked", func(v *voterView, a *voteAsk) { v.leaderKnown = true; a.transfer = true }, true, true, ""},
		{"candidate outside configuration never changes state (4.2.2)", func(v *voterView, a *voteAsk) { v.candidateVotes = false; a.term = 100 }, false, false, "candidate is not a voter of the configuration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, a := base, ask
			if c.edit != nil {
				c.edit(&v, &a)
			}
			got := decideVote(v, a)
			require.Equal(t, c.grant, got.grant, "grant")
			require.Equal(t, c.adopt, got.adoptTerm, "adoptTerm")
			require.Equal(t, c.because, got.reason)
		})
	}
}

// logOf returns a termLookup over a log whose entry i (from 1) has terms[i-1],
// and which holds nothing at or below floor.
func logOf(floor uint64, terms ...uint64) termLookup {
	return func(i uint64) (uint64, bool) {
		if i <= floor || i == 0 || i > uint64(len(terms)) {
			return 0, false
		}
		return terms[i-1], true
	}
}

func TestPrevMatches(t *testing.T) {
	l := logOf(0, 1, 1, 2, 3)
	cases := []struct {
		prevIndex, prevTerm uint64
		want                bool
	}{
		{0, 0, true},  // empty prefix always matches
		{2, 1, true},  // same index and term
		{3, 2, true},  // ditto
		{3, 3, false}, // term differs
		{5, 3, false}, // beyond the log
	}
	for _, c := range cases {
		require.Equal(t, c.want, prevMatches(c.prevIndex, c.prevTerm, l), "prev %d/%d", c.prevIndex, c.prevTerm)
	}
}

func entriesFrom(first uint64, terms ...uint64) []*Log {
	out := make([]*Log, len(terms))
	for i, term := range terms {
		out[i] = &Log{Index: first + uint64(i), Term: term}
	}
	return out
}

func TestFirstNewEntry(t *testing.T) {
	l := logOf(0, 1, 1, 2, 2, 2)
	cases := []struct {
		name     string
		entries  []*Log
		pos      int
		truncate uint64
	}{
		{"all new after the log", entriesFrom(6, 3, 3), 0, 0},
		{"all held already (duplicate request)", entriesFrom(3, 2, 2), 2, 0},
		{"held then new", entriesFrom(4, 2, 2, 3), 2, 0},
		{"conflict in the middle truncates there (rule 3)", entriesFrom(3, 2, 3, 3), 1, 4},
		{"conflict at once", entriesFrom(2, 2, 2), 0, 2},
		{"empty", nil, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pos, tr := firstNewEntry(c.entries, 5, l)
			require.Equal(t, c.pos, pos)
			require.Equal(t, c.truncate, tr)
		})
	}
}

func TestFollowerHint(t *testing.T) {
	// A follower that led term 3 and wrote 60 entries nobody else holds.
	deposed := make([]uint64, 0, 70)
	for i := 0; i < 10; i++ {
		deposed = append(deposed, 2)
	}
	for i := 0; i < 60; i++ {
		deposed = append(deposed, 3)
	}
	cases := []struct {
		name                                  string
		prevIndex, prevTerm, lastIndex, floor uint64
		log                                   termLookup
		want                                  uint64
	}{
		{"follower far behind: its last index", 5000, 4, 3, 0, logOf(0, 1, 1, 1), 3},
		{"conflicting run of a newer term is skipped at once", 70, 2, 70, 0, logOf(0, deposed...), 10},
		{"older term at prev: prev itself", 5, 4, 5, 0, logOf(0, 1, 1, 2, 2, 2), 5},
		{"nothing can match above the snapshot", 70, 1, 70, 4, logOf(4, deposed...), 4},
		{"empty log", 8, 3, 0, 0, logOf(0), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, followerHint(c.prevIndex, c.prevTerm, c.lastIndex, c.floor, c.log))
		})
	}
}

// TestFollowerHintMatchesLinearScan checks the binary search against the
// definition on every prefix of a log with many term changes.
func TestFollowerHintMatchesLinearScan(t *testing.T) {
	terms := []uint64{1, 1, 2, 2, 2, 4, 4, 5, 7, 7, 7, 7, 8, 9, 9}
	l := logOf(0, terms...)
	for prev := uint64(0); prev <= 20; prev++ {
		for pt := uint64(0); pt <= 10; pt++ {
			want := uint64(0)
			for i := min(prev, uint64(len(terms))); i >= 1; i-- {
				if terms[i-1] <= pt {
					want = i
					break
				}
			}
			require.Equal(t, want, followerHint(prev, pt, uint64(len(terms)), 0, l), "prev %d term %d", prev, pt)
		}
	}
}

func TestNextAfterReject(t *testing.T) {
	cases := []struct {
		name                      string
		prevIndex, hint, runStart uint64
		want                      uint64
	}{
		{"follower behind: probe after its last entry", 5000, 3, 4990, 4},
		{"follower hint below prev", 70, 10, 60, 11},
		{"follower holds prev with an older term: skip our run", 70, 70, 41, 41},
		{"hashicorp follower with a longer log: skip our run", 70, 90, 41, 41},
		{"never below 1", 1, 0, 1, 1},
		{"never at or above the rejected next index", 10, 10, 12, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, nextAfterReject(c.prevIndex, c.hint, c.runStart))
		})
	}
}

// TestBacktrackingConverges replays the leader/follower exchange over logs that
// diverge in many ways and checks it ends at the true match point within a few
// round trips.
func TestBacktrackingConverges(t *testing.T) {
	cases := []struct {
		name             string
		leader, follower []uint64
		maxRounds        int
	}{
		{"follower behind by thousands", repeatTerm(1, 5000), repeatTerm(1, 3), 2},
		{"deposed leader with 60 uncommitted entries", append(repeatTerm(2, 10), repeatTerm(4, 80)...), append(repeatTerm(2, 10), repeatTerm(3, 60)...), 3},
		{"follower with an older term over a long run", append(repeatTerm(1, 10), repeatTerm(3, 100)...), append(repeatTerm(1, 10), repeatTerm(2, 100)...), 3},
		{"identical logs", repeatTerm(5, 50), repeatTerm(5, 50), 1},
		// One round trip per leader term above the match point: the cost of a
		// one-number hint, bounded by the number of elections.
		{"many one-entry terms over an older run", []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []uint64{1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3}, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lead, fol := logOf(0, c.leader...), logOf(0, c.follower...)
			want := uint64(0) // the true match point: the longest common prefix
			for want < uint64(min(len(c.leader), len(c.follower))) && c.leader[want] == c.follower[want] {
				want++
			}
			next := uint64(len(c.leader)) + 1
			for round := 1; ; round++ {
				require.LessOrEqual(t, round, c.maxRounds, "too many round trips")
				prev := next - 1
				prevTerm, _ := lead(prev)
				if prevMatches(prev, prevTerm, fol) {
					require.Equal(t, want, prev, "converged on the wrong index")
					return
				}
				hint := followerHint(prev, prevTerm, uint64(len(c.follower)), 0, fol)
				next = nextAfterReject(prev, hint, runStartOf(prev, lead))
			}
		})
	}
}

func repeatTerm(term uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = term
	}
	return out
}

// runStartOf is the first index of the run of prev's term, by linear scan.
func runStartOf(prev uint64, l termLookup) uint64 {
	t, _ := l(prev)
	i := prev
	for i > 1 {
		if pt, _ := l(i - 1); pt != t {
			break
		}
		i--
	}
	return i
}

func TestQuorumMatch(t *testing.T) {
	cases := []struct {
		matches []uint64
		want    uint64
	}{
		{nil, 0},
		{[]uint64{7}, 7},
		{[]uint64{7, 3}, 3},           // two voters: both needed
		{[]uint64{9, 3, 5}, 5},        // three: any two
		{[]uint64{1, 9, 9, 2}, 2},     // four: three needed
		{[]uint64{4, 8, 6, 2, 10}, 6}, // five: three
	}
	for _, c := range cases {
		require.Equal(t, c.want, quorumMatch(append([]uint64(nil), c.matches...)), "%v", c.matches)
	}
}

func TestNextCommit(t *testing.T) {
	cases := []struct {
		name                      string
		commit, quorum, termStart uint64
		want                      uint64
	}{
		{"advances to an entry of the current term", 4, 9, 6, 9},
		{"entries of earlier terms do not commit by counting (Figure 8)", 4, 5, 6, 4},
		{"the no-op itself commits", 4, 6, 6, 6},
		{"never goes back", 9, 7, 6, 9},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, nextCommit(c.commit, c.quorum, c.termStart))
		})
	}
}

func TestLeaseHeld(t *testing.T) {
	now := time.Unix(1000, 0)
	fresh, stale := now.Add(-100*time.Millisecond), now.Add(-time.Second)
	lease := 500 * time.Millisecond
	require.True(t, leaseHeld([]time.Time{now}, now, lease), "single voter")
	require.True(t, leaseHeld([]time.Time{now, fresh, stale}, now, lease))
	require.False(t, leaseHeld([]time.Time{now, stale, stale}, now, lease))
	require.False(t, leaseHeld([]time.Time{now, fresh, stale, stale}, now, lease), "4 voters need 3")
	require.True(t, leaseHeld([]time.Time{now, fresh, fresh, stale, stale}, now, lease))
}
