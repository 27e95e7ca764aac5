package raft_test

// Cluster scenarios over the in-memory network, each in a synctest bubble:
// elections, replication, failures and recovery.

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

func TestInitialElectionAndStableTerm(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		term := leader.Raft().CurrentTerm()
		// Many election timeouts later, with the network healthy, the leader
		// and term are the same: heartbeats keep the followers quiet.
		time.Sleep(50 * c.Nodes()[0].Raft().ReloadableConfig().ElectionTimeout)
		for _, n := range c.Nodes() {
			r := n.Raft()
			if r.CurrentTerm() != term {
				t.Fatalf("%s is in term %d, want %d", n.ID, r.CurrentTerm(), term)
			}
			if addr, id := r.LeaderWithID(); id != leader.ID || addr != leader.Addr {
				t.Fatalf("%s follows %s/%s, want %s", n.ID, id, addr, leader.ID)
			}
		}
		if got := len(leaderCount(c)); got != 1 {
			t.Fatalf("%d leaders", got)
		}
	})
}

// leaderCount returns the servers that believe they lead.
func leaderCount(c *rafttest.Cluster) []*rafttest.Node {
	var out []*rafttest.Node
	for _, n := range c.Nodes() {
		if r := n.Raft(); r != nil && r.State() == raft.Leader {
			out = append(out, n)
		}
	}
	return out
}

func TestReelectionAfterLeaderCutOff(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		old := mustLeader(t, c)
		mustApply(t, c, "before", 5)
		oldTerm := old.Raft().CurrentTerm()
		c.Isolate(old)
		leader := mustNewLeader(t, c, old)
		if leader.Raft().CurrentTerm() <= oldTerm {
			t.Fatalf("new leader in term %d, old one was in %d", leader.Raft().CurrentTerm(), oldTerm)
		}
		// The old leader steps down on its own (lease) and never commits.
		if err := c.Eventually(wait, func() error {
			if old.Raft().State() == raft.Leader {
				return errors.New("old leader still leads")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		mustApply(t, c, "after", 5)
		c.Heal()
		// It rejoins as a follower of the new leader and catches up.
		if err := c.Eventually(wait, func() error {
			if _, id := old.Raft().LeaderWithID(); id != leader.ID {
				return fmt.Errorf("old leader follows %q", id)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		mustConsistent(t, c)
		if got := len(logFSM(old).Commands()); got != 10 {
			t.Fatalf("old leader applied %d commands, want 10", got)
		}
	})
}

func TestNoLeaderWithoutQuorum(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		mustLeader(t, c)
		nodes := c.Nodes()
		c.Partition([]*rafttest.Node{nodes[0]}, []*rafttest.Node{nodes[1]}, []*rafttest.Node{nodes[2]})
		time.Sleep(time.Second) // twenty election timeouts
		terms := make([]uint64, len(nodes))
		for i, n := range nodes {
			terms[i] = n.Raft().CurrentTerm()
		}
		time.Sleep(2 * time.Second)
		for i, n := range nodes {
			if s := n.Raft().State(); s == raft.Leader {
				t.Fatalf("%s leads without a quorum", n.ID)
			}
			// Pre-vote: an isolated server does not inflate its term.
			if got := n.Raft().CurrentTerm(); got != terms[i] {
				t.Fatalf("%s moved from term %d to %d while isolated", n.ID, terms[i], got)
			}
		}
		c.Heal()
		mustLeader(t, c)
		mustApply(t, c, "healed", 1)
	})
}

func TestFollowerDownAndCatchUp(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		down := others(c, leader)[0]
		c.Stop(down)
		mustApply(t, c, "while-down", 100) // a majority is still up: commits
		c.Restart(down)
		mustApply(t, c, "after", 1)
		mustConsistent(t, c)
		if got := len(logFSM(down).Commands()); got != 101 {
			t.Fatalf("restarted follower applied %d commands, want 101", got)
		}
	})
}

func TestNoCommitWithoutMajority(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		mustApply(t, c, "first", 1)
		commit := leader.Raft().CommitIndex()
		for _, n := range others(c, leader) {
			c.Stop(n)
		}
		f := leader.Raft().Apply([]byte("lonely"), 0)
		time.Sleep(20 * time.Millisecond) // less than the lease
		if got := leader.Raft().CommitIndex(); got != commit {
			t.Fatalf("commit index moved from %d to %d without a majority", commit, got)
		}
		// The lease runs out: the leader steps down and the entry's fate is
		// unknown to the caller.
		if err := f.Error(); !errors.Is(err, raft.ErrLeadershipLost) {
			t.Fatalf("apply without majority: %v, want ErrLeadershipLost", err)
		}
		for _, n := range others(c, leader) {
			c.Restart(n)
		}
		mustLeader(t, c)
		mustApply(t, c, "recovered", 1)
		mustConsistent(t, c)
	})
}

func TestDeposedLeaderEntriesDiscarded(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 5}, func(t *testing.T, c *rafttest.Cluster) {
		old := mustLeader(t, c)
		mustApply(t, c, "base", 3)
		c.Isolate(old)
		// 60 entries the old leader appends but can never commit.
		var futures []raft.ApplyFuture
		for i := 0; i < 60; i++ {
			futures = append(futures, old.Raft().Apply([]byte(fmt.Sprintf("lost-%d", i)), 0))
		}
		for _, f := range futures {
			if err := f.Error(); err == nil {
				t.Fatalf("an entry of the isolated leader committed")
			}
		}
		mustApply(t, c, "new", 5)
		c.Heal()
		mustConsistent(t, c)
		for _, cmd := range logFSM(old).Commands() {
			if string(cmd[:4]) == "lost" {
				t.Fatalf("deposed leader applied its uncommitted %q", cmd)
			}
		}
		if got := len(logFSM(old).Commands()); got != 8 {
			t.Fatalf("deposed leader applied %d commands, want 8", got)
		}
	})
}

func TestRestartEveryNode(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		mustLeader(t, c)
		mustApply(t, c, "before", 20)
		terms := map[raft.ServerID]uint64{}
		for _, n := range c.Nodes() {
			terms[n.ID] = n.Raft().CurrentTerm()
			c.Stop(n)
		}
		for _, n := range c.Nodes() {
			c.Restart(n)
			r := n.Raft()
			if r.CurrentTerm() < terms[n.ID] {
				t.Fatalf("%s restarted in term %d, had %d", n.ID, r.CurrentTerm(), terms[n.ID])
			}
			// Bootstrap again must be refused: the stores hold state.
			if err := r.BootstrapCluster(c.Configuration()).Error(); !errors.Is(err, raft.ErrCantBootstrap) {
				t.Fatalf("second bootstrap of %s: %v", n.ID, err)
			}
		}
		mustLeader(t, c)
		mustApply(t, c, "after", 1)
		mustConsistent(t, c)
		for _, n := range c.Nodes() {
			if got := len(logFSM(n).Commands()); got != 21 {
				t.Fatalf("%s applied %d commands after restart, want 21", n.ID, got)
			}
		}
	})
}

func TestLeadershipTransfer(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		old := mustLeader(t, c)
		mustApply(t, c, "before", 10)
		target := others(c, old)[1]
		if err := old.Raft().LeadershipTransferToServer(target.ID, target.Addr).Error(); err != nil {
			t.Fatal(err)
		}
		leader := mustLeader(t, c)
		if leader != target {
			t.Fatalf("leadership went to %s, want %s", leader.ID, target.ID)
		}
		mustApply(t, c, "after", 1)
		// And without a target: the most up-to-date voter.
		if err := leader.Raft().LeadershipTransfer().Error(); err != nil {
			t.Fatal(err)
		}
		if l := mustLeader(t, c); l == leader {
			t.Fatalf("leadership stayed on %s", l.ID)
		}
		mustConsistent(t, c)
	})
}

// TestStepDownVisibleAtOnce: once a leader's transfer future has answered,
// or its LeaderCh has said false, the server no longer reports itself
// leader. (A caller that checks State right after, as rafttest's Leader
// does, would otherwise find two leaders for a moment.)
func TestStepDownVisibleAtOnce(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		for i := 0; i < 30; i++ {
			old := mustLeader(t, c)
			target := others(c, old)[i%2]
			drainLeaderCh(old.Raft())
			if err := old.Raft().LeadershipTransferToServer(target.ID, target.Addr).Error(); err != nil {
				t.Fatalf("transfer %d: %v", i, err)
			}
			if s := old.Raft().State(); s == raft.Leader {
				t.Fatalf("transfer %d answered while %s still reports %v", i, old.ID, s)
			}
			select {
			case isLeader := <-old.Raft().LeaderCh():
				if isLeader {
					t.Fatalf("transfer %d: LeaderCh says %s leads", i, old.ID)
				}
			default:
				t.Fatalf("transfer %d: LeaderCh of %s said nothing", i, old.ID)
			}
			if l := mustLeader(t, c); l != target {
				t.Fatalf("transfer %d: leadership went to %s, want %s", i, l.ID, target.ID)
			}
		}
	})
}

// drainLeaderCh empties r's LeaderCh.
func drainLeaderCh(r *raft.Raft) {
	for {
		select {
		case <-r.LeaderCh():
		default:
			return
		}
	}
}

func TestLeaseStepDown(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		lease := 50 * time.Millisecond
		c.Isolate(leader)
		start := time.Now()
		if err := c.Eventually(wait, func() error {
			if leader.Raft().State() == raft.Leader {
				return errors.New("still leader")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// It steps down within a few leases, not an arbitrary time later.
		if took := time.Since(start); took > 4*lease {
			t.Fatalf("stepped down after %s, lease is %s", took, lease)
		}
		if err := leader.Raft().Apply([]byte("x"), 0).Error(); !errors.Is(err, raft.ErrNotLeader) {
			t.Fatalf("apply after step-down: %v", err)
		}
	})
}

func TestConcurrentApplies(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		const clients, each = 100, 20
		var wg sync.WaitGroup
		errs := make(chan error, clients*each)
		for i := 0; i < clients; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < each; j++ {
					f := leader.Raft().Apply([]byte(fmt.Sprintf("c%d-%d", i, j)), 0)
					if err := f.Error(); err != nil {
						errs <- err
						return
					}
					if f.Response().(uint64) != f.Index() {
						errs <- fmt.Errorf("response %v for index %d", f.Response(), f.Index())
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		mustConsistent(t, c)
		if got := len(logFSM(leader).Commands()); got != clients*each {
			t.Fatalf("applied %d commands, want %d", got, clients*each)
		}
	})
}

func TestRandomPartitionsSafety(t *testing.T) {
	seed := testSeed(t, 7)
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	inBubble(t, rafttest.Options{Servers: 5, Seed: seed}, func(t *testing.T, c *rafttest.Cluster) {
		s := newSafety()
		watchSafety(c, s)
		rng := newRand(seed)
		nodes := c.Nodes()
		c.SetFaults(rafttest.Faults{Drop: 0.02, DropDelay: 5 * time.Millisecond, MaxDelay: 3 * time.Millisecond, Duplicate: 0.02})
		for round := 0; round < rounds; round++ {
			// A random split of the servers into two sides.
			var side []*rafttest.Node
			for _, n := range nodes {
				if rng.IntN(2) == 0 {
					side = append(side, n)
				}
			}
			c.Partition(side)
			var wg sync.WaitGroup
			for i := 0; i < 4; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, n := range nodes {
						if r := n.Raft(); r != nil && r.State() == raft.Leader {
							r.Apply([]byte(fmt.Sprintf("r%d-%d", round, i)), 0).Error()
						}
					}
				}()
			}
			time.Sleep(time.Duration(20+rng.IntN(200)) * time.Millisecond)
			wg.Wait()
			s.check(t, c)
			if round%5 == 4 {
				c.Heal()
				mustLeader(t, c)
			}
		}
		c.Heal()
		c.SetFaults(rafttest.Faults{})
		mustApply(t, c, "final", 1)
		mustConsistent(t, c)
		s.check(t, c)
		leader := mustLeader(t, c)
		t.Logf("%d commands committed in %d terms", len(logFSM(leader).Commands()), leader.Raft().CurrentTerm())
	})
}
