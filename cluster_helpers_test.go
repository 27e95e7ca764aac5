package raft_test

// Helpers of the cluster tests: a synctest bubble around a rafttest.Cluster,
// and the safety checker that randomized scenarios run after every round.

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

// wait is how long a cluster test waits for something that should happen
// within a few election timeouts. It is virtual time: it costs nothing.
const wait = 10 * time.Second

// inBubble runs f inside a synctest bubble with a cluster made from opts,
// closed at the end.
func inBubble(t *testing.T, opts rafttest.Options, f func(t *testing.T, c *rafttest.Cluster)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		if opts.Logger == nil {
			opts.Logger = testLogger(t)
		}
		c := rafttest.New(t, opts)
		defer c.Close()
		f(t, c)
	})
}

// testLogger returns a logger for the servers: silent unless RAFT_TEST_LOG
// names a level (debug, info, ...).
func testLogger(t *testing.T) hclog.Logger {
	level := os.Getenv("RAFT_TEST_LOG")
	if level == "" {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.LevelFromString(level), Output: os.Stderr})
}

// mustLeader waits for a leader or fails the test.
func mustLeader(t *testing.T, c *rafttest.Cluster) *rafttest.Node {
	t.Helper()
	l, err := c.Leader(wait)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// mustNewLeader waits for a leader other than old.
func mustNewLeader(t *testing.T, c *rafttest.Cluster, old *rafttest.Node) *rafttest.Node {
	t.Helper()
	var leader *rafttest.Node
	if err := c.Eventually(wait, func() error {
		for _, n := range c.Nodes() {
			if r := n.Raft(); n != old && r != nil && r.State() == raft.Leader {
				leader = n
				return nil
			}
		}
		return errors.New("no new leader")
	}); err != nil {
		t.Fatal(err)
	}
	return leader
}

// mustApply applies n commands through the leader, named prefix-i.
func mustApply(t *testing.T, c *rafttest.Cluster, prefix string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := c.Apply([]byte(fmt.Sprintf("%s-%d", prefix, i)), wait); err != nil {
			t.Fatalf("apply %s-%d: %v", prefix, i, err)
		}
	}
}

// mustConsistent waits until every running server applied the same
// commands.
func mustConsistent(t *testing.T, c *rafttest.Cluster) {
	t.Helper()
	if err := c.Consistent(wait); err != nil {
		t.Fatal(err)
	}
}

// logFSM returns a node's LogFSM.
func logFSM(n *rafttest.Node) *rafttest.LogFSM { return n.FSM().(*rafttest.LogFSM) }

// others returns the nodes of c other than n.
func others(c *rafttest.Cluster, n *rafttest.Node) []*rafttest.Node {
	var out []*rafttest.Node
	for _, o := range c.Nodes() {
		if o != n {
			out = append(out, o)
		}
	}
	return out
}

// testSeed returns the seed of a randomized test: RAFT_TEST_SEED if set,
// else a fixed default; it is logged so a failure can be replayed.
func testSeed(t *testing.T, def uint64) uint64 {
	seed := def
	if s := os.Getenv("RAFT_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RAFT_TEST_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with RAFT_TEST_SEED=%d)", seed, seed)
	return seed
}

// safety checks the invariants of Raft (paper, Figure 3) on a running
// cluster: Election Safety (at most one leader per term), Log Matching up
// to the commit index, Leader Completeness and State Machine Safety
// (committed entries never change; every FSM applied the same sequence).
type safety struct {
	mu        sync.Mutex
	leaders   map[uint64]raft.ServerID // guarded by mu: term -> leader
	violation []string                 // guarded by mu
	committed map[uint64]committedEntry
}

type committedEntry struct {
	term uint64
	data []byte
}

// watchSafety registers the checker's observers on every server of c; call
// it again after restarts.
func watchSafety(c *rafttest.Cluster, s *safety) {
	for _, n := range c.Nodes() {
		if r := n.Raft(); r != nil {
			s.watch(n.ID, r)
		}
	}
}

func newSafety() *safety {
	return &safety{leaders: make(map[uint64]raft.ServerID), committed: make(map[uint64]committedEntry)}
}

// watch records, synchronously on the server's main loop (the filter runs
// there), the term in which it becomes leader.
func (s *safety) watch(id raft.ServerID, r *raft.Raft) {
	r.RegisterObserver(raft.NewObserver(nil, false, func(o *raft.Observation) bool {
		if st, ok := o.Data.(raft.RaftState); ok && st == raft.Leader {
			s.leaderIn(o.Raft.CurrentTerm(), id)
		}
		return false
	}))
}

func (s *safety) leaderIn(term uint64, id raft.ServerID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.leaders[term]; ok && prev != id {
		s.violation = append(s.violation, fmt.Sprintf("two leaders in term %d: %s and %s", term, prev, id))
	}
	s.leaders[term] = id
}

// check verifies the invariants now; it fails the test on a violation.
func (s *safety) check(t *testing.T, c *rafttest.Cluster) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.violation {
		t.Error(v)
	}
	for _, n := range c.Nodes() {
		r := n.Raft()
		if r == nil {
			continue
		}
		commit := r.CommitIndex()
		first, _ := n.Store.FirstIndex()
		for i := max(first, 1); i <= commit; i++ {
			var e raft.Log
			if err := n.Store.GetLog(i, &e); err != nil {
				continue // compacted into a snapshot
			}
			if prev, ok := s.committed[i]; ok {
				if prev.term != e.Term || !bytes.Equal(prev.data, e.Data) {
					t.Errorf("committed entry %d changed on %s: term %d -> %d", i, n.ID, prev.term, e.Term)
				}
				continue
			}
			s.committed[i] = committedEntry{term: e.Term, data: append([]byte(nil), e.Data...)}
		}
	}
	s.checkApplied(t, c)
}

// appliedRecord is an FSM that records what it applied: rafttest.LogFSM,
// or one that embeds it.
type appliedRecord interface {
	Indexes() []uint64
	Commands() [][]byte
}

// checkApplied verifies that every FSM that records what it applied applied
// a prefix of one sequence.
func (s *safety) checkApplied(t *testing.T, c *rafttest.Cluster) {
	t.Helper()
	var longest []uint64
	var longestCmds [][]byte
	for _, n := range c.Nodes() {
		fsm, ok := n.FSM().(appliedRecord)
		if !ok || n.Raft() == nil {
			continue
		}
		idx, cmds := fsm.Indexes(), fsm.Commands()
		short, shortCmds, long, longCmds := idx, cmds, longest, longestCmds
		if len(short) > len(long) {
			short, shortCmds, long, longCmds = long, longCmds, short, shortCmds
		}
		for i := range short {
			if short[i] != long[i] || !bytes.Equal(shortCmds[i], longCmds[i]) {
				t.Errorf("%s applied %q at %d where another applied %q at %d", n.ID, shortCmds[i], short[i], longCmds[i], long[i])
				break
			}
		}
		longest, longestCmds = long, longCmds
	}
}

// newRand returns a random source for a test's choices, from its seed.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }
