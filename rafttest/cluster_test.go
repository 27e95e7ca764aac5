package rafttest_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

const wait = 10 * time.Second

func TestPartitionAndHeal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := rafttest.New(t, rafttest.Options{Servers: 5})
		defer c.Close()
		nodes := c.Nodes()
		c.Partition(nodes[:2], nodes[2:])
		// Only the side with three servers can elect and commit.
		if _, err := c.Apply([]byte("x"), wait); err != nil {
			t.Fatal(err)
		}
		leader, err := c.Leader(wait)
		if err != nil {
			t.Fatal(err)
		}
		if leader == nodes[0] || leader == nodes[1] {
			t.Fatalf("the minority side leads: %s", leader.ID)
		}
		c.Heal()
		if err := c.Consistent(wait); err != nil {
			t.Fatal(err)
		}
	})
}

func TestConsistentDetectsDivergence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := rafttest.New(t, rafttest.Options{Servers: 3})
		defer c.Close()
		if _, err := c.Apply([]byte("x"), wait); err != nil {
			t.Fatal(err)
		}
		if err := c.Consistent(wait); err != nil {
			t.Fatal(err)
		}
		// Tamper with one FSM behind raft's back.
		c.Nodes()[2].FSM().Apply(&raft.Log{Index: 99, Data: []byte("rogue")})
		if err := c.Consistent(wait); err == nil {
			t.Fatal("Consistent did not notice an FSM that differs")
		}
	})
}

func TestFaultsAndHook(t *testing.T) {
	var rpcs, failed atomic.Int64
	hook := func(from, to raft.ServerAddress, req, resp interface{}, err error) {
		rpcs.Add(1)
		if err != nil {
			failed.Add(1)
		}
	}
	synctest.Test(t, func(t *testing.T) {
		c := rafttest.New(t, rafttest.Options{Servers: 3, Hook: hook, Seed: 42})
		defer c.Close()
		c.SetFaults(rafttest.Faults{Drop: 0.2, DropDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, Duplicate: 0.2})
		for i := 0; i < 20; i++ {
			if _, err := c.Apply([]byte{byte(i)}, wait); err != nil {
				t.Fatal(err)
			}
		}
		c.SetFaults(rafttest.Faults{})
		if err := c.Consistent(wait); err != nil {
			t.Fatal(err)
		}
		if rpcs.Load() == 0 || failed.Load() == 0 {
			t.Fatalf("hook saw %d RPCs, %d failed: the faults did not bite", rpcs.Load(), failed.Load())
		}
	})
}

func TestFailingStoreAndRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := rafttest.New(t, rafttest.Options{Servers: 3})
		defer c.Close()
		if _, err := c.Apply([]byte("a"), wait); err != nil {
			t.Fatal(err)
		}
		n := c.Nodes()[0]
		n.Store.FailWrites(true)
		if err := n.Store.StoreLogs([]*raft.Log{{Index: 100}}); !errors.Is(err, rafttest.ErrInjected) {
			t.Fatalf("failing store wrote: %v", err)
		}
		n.Store.FailWrites(false)
		c.Restart(n)
		if n.Raft() == nil {
			t.Fatal("restarted server is not running")
		}
		if _, err := c.Apply([]byte("b"), wait); err != nil {
			t.Fatal(err)
		}
		if err := c.Consistent(wait); err != nil {
			t.Fatal(err)
		}
		if got := len(n.FSM().(*rafttest.LogFSM).Commands()); got != 2 {
			t.Fatalf("restarted server applied %d commands, want 2", got)
		}
	})
}
