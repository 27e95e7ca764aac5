package raft_test

// Storage failures: a server whose disk fails stops acknowledging writes and
// says why; it never panics and never acknowledges what it did not persist.

import (
	"errors"
	"testing"
	"time"

	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

func TestLeaderStorageFailure(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		mustApply(t, c, "before", 3)
		r := leader.Raft()
		// Followers are slow, so the leader's own (failing) write decides.
		for _, n := range others(c, leader) {
			n.Store.SetWriteDelay(100 * time.Millisecond)
		}
		leader.Store.FailWrites(true)
		err := r.Apply([]byte("lost"), 0).Error()
		if !errors.Is(err, raft.ErrStorageFailed) || !errors.Is(err, rafttest.ErrInjected) {
			t.Fatalf("apply on a leader whose disk failed: %v, want ErrStorageFailed wrapping the store's error", err)
		}
		for _, n := range others(c, leader) {
			n.Store.SetWriteDelay(0)
		}
		// The others carry on; the failed server never leads again, even
		// once its store works: only a restart clears the failure.
		newLeader := mustNewLeader(t, c, leader)
		leader.Store.FailWrites(false)
		mustApply(t, c, "after", 3)
		time.Sleep(time.Second)
		if r.State() == raft.Leader {
			t.Fatal("a server whose storage failed became leader again")
		}
		if err := r.Apply([]byte("x"), 0).Error(); err == nil {
			t.Fatal("a server whose storage failed accepted an apply")
		}
		_ = newLeader
		c.Restart(leader)
		mustApply(t, c, "restarted", 1)
		mustConsistent(t, c)
	})
}

func TestFollowerStorageFailure(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		mustApply(t, c, "before", 3)
		bad := others(c, leader)[0]
		bad.Store.FailWrites(true)
		// The other follower makes a majority: writes go on.
		mustApply(t, c, "during", 10)
		lastOnDisk, _ := bad.Store.LastIndex()
		if bad.Raft().LastIndex() > lastOnDisk {
			t.Fatalf("the failed follower claims index %d with %d on disk", bad.Raft().LastIndex(), lastOnDisk)
		}
		if bad.Raft().CommitIndex() > lastOnDisk {
			t.Fatalf("the failed follower commits %d beyond its disk's %d", bad.Raft().CommitIndex(), lastOnDisk)
		}
		// It does not vote either: with the leader gone, no majority exists.
		c.Stop(leader)
		time.Sleep(2 * time.Second)
		for _, n := range c.Nodes() {
			if r := n.Raft(); r != nil && r.State() == raft.Leader {
				t.Fatalf("%s leads with the votes of a server whose storage failed", n.ID)
			}
		}
		bad.Store.FailWrites(false)
		c.Restart(bad)
		c.Restart(leader)
		mustApply(t, c, "recovered", 1)
		mustConsistent(t, c)
	})
}
