package raft_test

// Replication scenarios: pipelining, fast backtracking, heartbeats that do
// not wait for the disk, the leader's parallel write, and group commit.

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

// appendCounter counts the AppendEntries RPCs per target, split by outcome.
type appendCounter struct {
	mu        sync.Mutex
	rejected  map[raft.ServerAddress]int
	sent      map[raft.ServerAddress]int
	pipelined int
}

func newAppendCounter() *appendCounter {
	return &appendCounter{rejected: map[raft.ServerAddress]int{}, sent: map[raft.ServerAddress]int{}}
}

func (a *appendCounter) hook(from, to raft.ServerAddress, req, resp interface{}, err error) {
	r, ok := req.(*raft.AppendEntriesRequest)
	if !ok || len(r.Entries) == 0 && r.PrevLogEntry == 0 {
		return // not an AppendEntries, or a heartbeat
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.sent[to]++
	switch resp := resp.(type) {
	case *raft.AppendEntriesResponse:
		if err == nil && !resp.Success {
			a.rejected[to]++
		}
	case nil:
		a.pipelined++
	}
}

func (a *appendCounter) rejectedBy(addr raft.ServerAddress) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rejected[addr]
}

func (a *appendCounter) sentTo(addr raft.ServerAddress) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sent[addr]
}

func TestPipelinedReplication(t *testing.T) {
	counter := newAppendCounter()
	inBubble(t, rafttest.Options{Servers: 3, Pipeline: true, Hook: counter.hook}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		// Slow follower disks let entries pile up while a request is in
		// flight, so that requests outgrow the few entries that a
		// replicator sends as a plain round trip.
		for _, n := range others(c, leader) {
			n.Store.SetWriteDelay(time.Millisecond)
		}
		applyConcurrently(t, leader.Raft(), 16, 50)
		mustConsistent(t, c)
		counter.mu.Lock()
		defer counter.mu.Unlock()
		if counter.pipelined == 0 {
			t.Fatal("no AppendEntries went through a pipeline")
		}
	})
}

// applyConcurrently applies clients*each commands from clients goroutines.
func applyConcurrently(t *testing.T, r *raft.Raft, clients, each int) {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < each; j++ {
				if err := r.Apply([]byte(fmt.Sprintf("c%d-%d", i, j)), 0).Error(); err != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d applies failed", n)
	}
}

// newLeaderAmong hands leadership from the current leader to another of
// candidates, so that the next leader starts replicating from its own last
// index and must find each follower's match afresh.
func newLeaderAmong(t *testing.T, c *rafttest.Cluster, from *rafttest.Node, to *rafttest.Node) {
	t.Helper()
	if err := from.Raft().LeadershipTransferToServer(to.ID, to.Addr).Error(); err != nil {
		t.Fatalf("transfer leadership to %s: %v", to.ID, err)
	}
	if l := mustLeader(t, c); l != to {
		t.Fatalf("leadership went to %s, want %s", l.ID, to.ID)
	}
}

func TestBacktrackFollowerFarBehind(t *testing.T) {
	counter := newAppendCounter()
	inBubble(t, rafttest.Options{Servers: 3, Hook: counter.hook}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		behind, next := others(c, leader)[0], others(c, leader)[1]
		c.Stop(behind)
		applyConcurrently(t, leader.Raft(), 16, 200) // 3,200 entries it misses
		newLeaderAmong(t, c, leader, next)
		c.Restart(behind)
		mustApply(t, c, "after", 1)
		mustConsistent(t, c)
		n := counter.rejectedBy(behind.Addr)
		t.Logf("%d rejected round trips", n)
		if n == 0 || n > 2 {
			t.Fatalf("a follower 3,200 entries behind took %d rejected round trips to find its match", n)
		}
	})
}

func TestBacktrackOverConflictingEntries(t *testing.T) {
	counter := newAppendCounter()
	inBubble(t, rafttest.Options{Servers: 5, Hook: counter.hook}, func(t *testing.T, c *rafttest.Cluster) {
		old := mustLeader(t, c)
		mustApply(t, c, "base", 10)
		c.Isolate(old)
		for i := 0; i < 80; i++ {
			old.Raft().Apply([]byte(fmt.Sprintf("lost-%d", i)), 0) // never commits
		}
		if err := c.Eventually(wait, func() error {
			if old.Raft().State() == raft.Leader {
				return fmt.Errorf("old leader still leads")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if old.Raft().LastIndex() < 90 {
			t.Fatalf("the isolated leader holds only %d entries", old.Raft().LastIndex())
		}
		// A second leader appends past the conflicting entries, then hands
		// over to a third, which starts probing the old leader from its own
		// last index: far beyond the old leader's 80 conflicting entries.
		second := mustLeader(t, c)
		mustApply(t, c, "new", 100)
		var third *rafttest.Node
		for _, n := range others(c, second) {
			if n != old {
				third = n
				break
			}
		}
		newLeaderAmong(t, c, second, third)
		before := counter.rejectedBy(old.Addr)
		c.Heal()
		mustApply(t, c, "healed", 1)
		mustConsistent(t, c)
		n := counter.rejectedBy(old.Addr) - before
		t.Logf("%d rejected round trips", n)
		if n == 0 || n > 4 {
			t.Fatalf("80 conflicting entries took %d rejected round trips to clear", n)
		}
	})
}

func TestHeartbeatsDoNotWaitForTheDisk(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		term := leader.Raft().CurrentTerm()
		// Every follower's log writes take three leader leases: their main
		// loops are stuck in them, yet they keep answering heartbeats, so
		// the leader keeps its lease and nobody starts an election.
		for _, n := range others(c, leader) {
			n.Store.SetWriteDelay(150 * time.Millisecond)
		}
		mustApply(t, c, "slow", 10)
		for _, n := range c.Nodes() {
			if got := n.Raft().CurrentTerm(); got != term {
				t.Fatalf("%s moved to term %d (from %d): an election happened", n.ID, got, term)
			}
		}
		if leader.Raft().State() != raft.Leader {
			t.Fatal("the leader lost its lease while followers were writing")
		}
		for _, n := range others(c, leader) {
			n.Store.SetWriteDelay(0)
		}
		mustConsistent(t, c)
	})
}

func TestLeaderWritesInParallel(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		leader.Store.SetWriteDelay(time.Second)
		start := time.Now()
		if err := leader.Raft().Apply([]byte("x"), 0).Error(); err != nil {
			t.Fatal(err)
		}
		// The two followers made it durable on a majority: the leader's own
		// slow write did not hold the commit up.
		if took := time.Since(start); took >= time.Second {
			t.Fatalf("apply took %s: the leader waited for its own write", took)
		}
		leader.Store.SetWriteDelay(0)
		mustConsistent(t, c)
	})
}

func TestGroupCommit(t *testing.T) {
	counter := newAppendCounter()
	inBubble(t, rafttest.Options{Servers: 3, Hook: counter.hook}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		follower := others(c, leader)[0]
		// Slow disks let Apply calls pile up while a write is in flight.
		// Every server's: the leader's own write runs in parallel with
		// replication, so with fast followers the commit would not wait
		// for it, and how many calls pile up would be down to scheduling.
		for _, n := range c.Nodes() {
			n.Store.SetWriteDelay(time.Millisecond)
		}
		writes, sent := leader.Store.LogWrites(), counter.sentTo(follower.Addr)
		applyConcurrently(t, leader.Raft(), 64, 4)
		if err := c.Eventually(wait, func() error {
			if last, _ := leader.Store.LastIndex(); last < leader.Raft().LastIndex() {
				return fmt.Errorf("leader's log holds %d of %d entries", last, leader.Raft().LastIndex())
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		writes, sent = leader.Store.LogWrites()-writes, counter.sentTo(follower.Addr)-sent
		t.Logf("256 applies: %d log writes on the leader, %d AppendEntries to a follower", writes, sent)
		// 64 callers applying 4 times each: about 8 batches; one per
		// call would be 256.
		if writes == 0 || writes > 32 {
			t.Fatalf("256 concurrent applies took %d log writes on the leader", writes)
		}
		if sent > 32 {
			t.Fatalf("256 concurrent applies took %d AppendEntries to one follower", sent)
		}
	})
}
