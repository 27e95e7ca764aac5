package raft_test

// Snapshots and log compaction: automatic snapshots, a lagging follower
// caught up by InstallSnapshot, restarts from snapshot plus trailing logs,
// user snapshots and restores, and applies that keep flowing while a
// snapshot is persisted.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

// snapshotOften makes servers snapshot every 100 applied entries, keeping 20
// entries behind a snapshot.
func snapshotOften(c *raft.Config) {
	c.SnapshotInterval = 20 * time.Millisecond
	c.SnapshotThreshold = 100
	c.TrailingLogs = 20
}

// snapshotCount counts InstallSnapshot RPCs.
type snapshotCount struct{ n atomic.Int32 }

func (s *snapshotCount) hook(from, to raft.ServerAddress, req, resp interface{}, err error) {
	if _, ok := req.(*raft.InstallSnapshotRequest); ok && err == nil {
		s.n.Add(1)
	}
}

func TestAutomaticSnapshotsCompactTheLog(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3, Config: snapshotOften}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		applyConcurrently(t, leader.Raft(), 10, 50)
		time.Sleep(time.Second) // many snapshot intervals
		for _, n := range c.Nodes() {
			metas, err := n.Snaps.List()
			if err != nil || len(metas) == 0 {
				t.Fatalf("%s has no snapshot (%v)", n.ID, err)
			}
			first, _ := n.Store.FirstIndex()
			last, _ := n.Store.LastIndex()
			if first <= 1 || last-first+1 > 120 {
				t.Fatalf("%s's log was not compacted: [%d, %d]", n.ID, first, last)
			}
			if metas[0].Index < 400 || len(metas[0].Configuration.Servers) != 3 || metas[0].ConfigurationIndex != 1 {
				t.Fatalf("%s's snapshot: index %d, configuration %v at %d", n.ID, metas[0].Index,
					metas[0].Configuration, metas[0].ConfigurationIndex)
			}
		}
		mustConsistent(t, c)
	})
}

func TestLaggingFollowerCatchesUpBySnapshot(t *testing.T) {
	var installs snapshotCount
	inBubble(t, rafttest.Options{Servers: 3, Config: snapshotOften, Hook: installs.hook}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		lagging := others(c, leader)[0]
		c.Isolate(lagging)
		applyConcurrently(t, leader.Raft(), 10, 60)
		time.Sleep(time.Second) // the leader snapshots and compacts
		if first, _ := leader.Store.FirstIndex(); first <= lagging.Raft().LastIndex()+1 {
			t.Fatalf("the leader kept the entries the follower needs (first %d)", first)
		}
		c.Heal()
		mustApply(t, c, "after", 1)
		mustConsistent(t, c)
		if installs.n.Load() == 0 {
			t.Fatal("the follower caught up without an InstallSnapshot")
		}
		if got := len(logFSM(lagging).Commands()); got != 601 {
			t.Fatalf("the follower applied %d commands, want 601", got)
		}
	})
}

func TestRestartFromSnapshotAndTrailingLogs(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3, Config: snapshotOften}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		applyConcurrently(t, leader.Raft(), 10, 35)
		time.Sleep(time.Second)
		for _, n := range c.Nodes() {
			c.Stop(n)
		}
		for _, n := range c.Nodes() {
			c.Restart(n)
			// The FSM holds the snapshot's state as soon as the server starts.
			if got := len(logFSM(n).Commands()); got < 300 {
				t.Fatalf("%s restarted with %d commands in its FSM", n.ID, got)
			}
			if cf := n.Raft().GetConfiguration(); len(cf.Configuration().Servers) != 3 {
				t.Fatalf("%s restarted without its configuration: %v", n.ID, cf.Configuration())
			}
		}
		mustApply(t, c, "after", 1)
		mustConsistent(t, c)
		for _, n := range c.Nodes() {
			if got := len(logFSM(n).Commands()); got != 351 {
				t.Fatalf("%s applied %d commands, want 351", n.ID, got)
			}
		}
	})
}

func TestUserSnapshot(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		mustApply(t, c, "x", 10)
		f := leader.Raft().Snapshot()
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		meta, rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || int64(len(data)) != meta.Size || meta.Index < 11 {
			t.Fatalf("snapshot %+v: read %d bytes, %v", meta, len(data), err)
		}
		if err := leader.Raft().Snapshot().Error(); !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			t.Fatalf("second snapshot with nothing new: %v", err)
		}
	})
}

func TestUserRestoreReplacesStateEverywhere(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		mustApply(t, c, "old", 5)
		// A snapshot of another FSM's state: two commands.
		other := rafttest.NewLogFSM()
		other.Apply(&raft.Log{Index: 1, Data: []byte("restored-1")})
		other.Apply(&raft.Log{Index: 2, Data: []byte("restored-2")})
		state, err := snapshotOf(other)
		if err != nil {
			t.Fatal(err)
		}
		meta := &raft.SnapshotMeta{Version: 1, Index: 2, Term: 1, Size: int64(len(state))}
		if err := leader.Raft().Restore(meta, bytes.NewReader(state), 0); err != nil {
			t.Fatal(err)
		}
		mustApply(t, c, "new", 1)
		mustConsistent(t, c)
		for _, n := range c.Nodes() {
			cmds := logFSM(n).Commands()
			if len(cmds) != 3 || string(cmds[0]) != "restored-1" || string(cmds[2]) != "new-0" {
				t.Fatalf("%s after restore: %q", n.ID, cmds)
			}
		}
		// A reader that fails makes Restore fail, and nothing changes.
		bad := &raft.SnapshotMeta{Version: 1, Index: 2, Term: 1, Size: 100}
		if err := leader.Raft().Restore(bad, io.LimitReader(bytes.NewReader(state), 10), 0); err == nil {
			t.Fatal("a restore from a short reader succeeded")
		}
		if got := len(logFSM(leader).Commands()); got != 3 {
			t.Fatalf("a failed restore changed the state: %d commands", got)
		}
	})
}

// snapshotOf serializes an FSM through its own snapshot.
func snapshotOf(fsm raft.FSM) ([]byte, error) {
	s, err := fsm.Snapshot()
	if err != nil {
		return nil, err
	}
	sink := &memSink{}
	if err := s.Persist(sink); err != nil {
		return nil, err
	}
	return sink.Bytes(), nil
}

type memSink struct{ bytes.Buffer }

func (*memSink) ID() string    { return "mem" }
func (*memSink) Cancel() error { return nil }
func (*memSink) Close() error  { return nil }

// slowPersistFSM is a LogFSM whose snapshots take a long time to persist.
type slowPersistFSM struct {
	rafttest.LogFSM
	persisting atomic.Bool
}

func (f *slowPersistFSM) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.LogFSM.Snapshot()
	return &slowSnapshot{FSMSnapshot: s, f: f}, err
}

type slowSnapshot struct {
	raft.FSMSnapshot
	f *slowPersistFSM
}

func (s *slowSnapshot) Persist(sink raft.SnapshotSink) error {
	s.f.persisting.Store(true)
	defer s.f.persisting.Store(false)
	time.Sleep(2 * time.Second)
	return s.FSMSnapshot.Persist(sink)
}

func TestAppliesFlowWhileSnapshotPersists(t *testing.T) {
	opts := rafttest.Options{Servers: 3, NewFSM: func(raft.ServerID) raft.FSM { return &slowPersistFSM{} }}
	inBubble(t, opts, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		mustApply(t, c, "before", 10)
		fsm := leader.FSM().(*slowPersistFSM)
		snap := leader.Raft().Snapshot()
		for !fsm.persisting.Load() {
			time.Sleep(time.Millisecond)
		}
		// 64 writers while the snapshot is being persisted: none waits for
		// the two seconds the persist takes.
		var wg sync.WaitGroup
		var slowest atomic.Int64
		for i := 0; i < 64; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 5; j++ {
					start := time.Now()
					if err := leader.Raft().Apply([]byte(fmt.Sprintf("%d-%d", i, j)), 0).Error(); err != nil {
						t.Error(err)
						return
					}
					if d := int64(time.Since(start)); d > slowest.Load() {
						slowest.Store(d)
					}
				}
			}()
		}
		wg.Wait()
		if !fsm.persisting.Load() {
			t.Fatal("the snapshot finished before the applies: the test proves nothing")
		}
		if d := time.Duration(slowest.Load()); d > 100*time.Millisecond {
			t.Fatalf("an apply waited %s while a snapshot was persisted", d)
		}
		if err := snap.Error(); err != nil {
			t.Fatal(err)
		}
		mustConsistent(t, c)
	})
}

// faultySnapshots is a snapshot store whose sinks are slow, or whose Create
// fails.
type faultySnapshots struct {
	*raft.InmemSnapshotStore
	fail      atomic.Bool
	slowWrite atomic.Int64 // time.Duration of each Write of a sink
}

func (f *faultySnapshots) Create(v raft.SnapshotVersion, index, term uint64, c raft.Configuration, ci uint64, t raft.Transport) (raft.SnapshotSink, error) {
	if f.fail.Load() {
		return nil, errors.New("injected: cannot create snapshot")
	}
	sink, err := f.InmemSnapshotStore.Create(v, index, term, c, ci, t)
	return &slowSink{SnapshotSink: sink, delay: time.Duration(f.slowWrite.Load())}, err
}

type slowSink struct {
	raft.SnapshotSink
	delay time.Duration
}

func (s *slowSink) Write(p []byte) (int, error) {
	time.Sleep(s.delay)
	return s.SnapshotSink.Write(p)
}

// laggingBehindSnapshot isolates a follower, commits and snapshots past it,
// and returns it; the leader then needs InstallSnapshot to catch it up.
func laggingBehindSnapshot(t *testing.T, c *rafttest.Cluster) (leader, lagging *rafttest.Node) {
	t.Helper()
	leader = mustLeader(t, c)
	lagging = others(c, leader)[0]
	c.Isolate(lagging)
	mustApply(t, c, "x", 30)
	if err := leader.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	return leader, lagging
}

func TestFailedSnapshotTransferBacksOff(t *testing.T) {
	stores := map[raft.ServerID]*faultySnapshots{}
	opts := rafttest.Options{Servers: 3,
		Config: func(c *raft.Config) { c.TrailingLogs = 5 },
		NewSnapshotStore: func(id raft.ServerID) (raft.SnapshotStore, error) {
			stores[id] = &faultySnapshots{InmemSnapshotStore: raft.NewInmemSnapshotStore()}
			return stores[id], nil
		}}
	var attempts atomic.Int32
	opts.Hook = func(from, to raft.ServerAddress, req, resp interface{}, err error) {
		if _, ok := req.(*raft.InstallSnapshotRequest); ok {
			attempts.Add(1)
		}
	}
	inBubble(t, opts, func(t *testing.T, c *rafttest.Cluster) {
		_, lagging := laggingBehindSnapshot(t, c)
		stores[lagging.ID].fail.Store(true)
		c.Heal()
		time.Sleep(5 * time.Second)
		n := attempts.Load()
		t.Logf("%d snapshot transfers tried in 5s", n)
		if n < 2 || n > 12 {
			t.Fatalf("%d snapshot transfers in 5s: want a few retries with backoff", n)
		}
		stores[lagging.ID].fail.Store(false)
		mustApply(t, c, "after", 1)
		mustConsistent(t, c)
	})
}

func TestLongSnapshotTransferKeepsTheLeader(t *testing.T) {
	opts := rafttest.Options{Servers: 3, RPCTimeout: time.Minute,
		Config: func(c *raft.Config) { c.TrailingLogs = 5 },
		NewSnapshotStore: func(id raft.ServerID) (raft.SnapshotStore, error) {
			// Every write of a received snapshot takes ten election timeouts.
			s := &faultySnapshots{InmemSnapshotStore: raft.NewInmemSnapshotStore()}
			s.slowWrite.Store(int64(500 * time.Millisecond))
			return s, nil
		}}
	inBubble(t, opts, func(t *testing.T, c *rafttest.Cluster) {
		leader, lagging := laggingBehindSnapshot(t, c)
		term := leader.Raft().CurrentTerm()
		c.Heal()
		mustConsistent(t, c)
		if got := len(logFSM(lagging).Commands()); got != 30 {
			t.Fatalf("the follower holds %d commands, want 30", got)
		}
		for _, n := range c.Nodes() {
			if n.Raft().CurrentTerm() != term {
				t.Fatalf("%s moved to term %d during the transfer (from %d)", n.ID, n.Raft().CurrentTerm(), term)
			}
		}
		if leader.Raft().State() != raft.Leader {
			t.Fatal("the leader lost its place during a long snapshot transfer")
		}
	})
}

// failingPersistFSM is a LogFSM whose snapshots fail to persist.
type failingPersistFSM struct{ rafttest.LogFSM }

func (f *failingPersistFSM) Snapshot() (raft.FSMSnapshot, error) { return failingSnapshot{}, nil }

type failingSnapshot struct{}

func (failingSnapshot) Persist(sink raft.SnapshotSink) error {
	sink.Cancel()
	return errors.New("injected: persist failed")
}
func (failingSnapshot) Release() {}

func TestSnapshotErrorsReachTheCaller(t *testing.T) {
	opts := rafttest.Options{Servers: 1, NewFSM: func(raft.ServerID) raft.FSM { return &failingPersistFSM{} }}
	inBubble(t, opts, func(t *testing.T, c *rafttest.Cluster) {
		mustApply(t, c, "x", 3)
		leader := mustLeader(t, c)
		err := leader.Raft().Snapshot().Error()
		if err == nil || !strings.Contains(err.Error(), "injected: persist failed") {
			t.Fatalf("snapshot whose persist fails: %v", err)
		}
		if metas, _ := leader.Snaps.List(); len(metas) != 0 {
			t.Fatalf("a failed snapshot was kept: %v", metas)
		}
	})
}

func TestNoSnapshotRestoreOnStart(t *testing.T) {
	opts := rafttest.Options{Servers: 1, Config: func(c *raft.Config) {
		c.NoSnapshotRestoreOnStart = true
		c.TrailingLogs = 1
	}}
	inBubble(t, opts, func(t *testing.T, c *rafttest.Cluster) {
		mustApply(t, c, "x", 10)
		n := mustLeader(t, c)
		if err := n.Raft().Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
		c.Restart(n)
		// The FSM was not given the snapshot: it starts empty, and the
		// server carries on from the snapshot's index.
		if got := len(logFSM(n).Commands()); got != 0 {
			t.Fatalf("FSM restored %d commands despite NoSnapshotRestoreOnStart", got)
		}
		if n.Raft().LastIndex() < 11 {
			t.Fatalf("restarted at index %d, below the snapshot", n.Raft().LastIndex())
		}
		mustApply(t, c, "y", 1)
		if got := len(logFSM(n).Commands()); got != 1 {
			t.Fatalf("FSM holds %d commands after one more, want 1", got)
		}
	})
}

func TestShutdownDuringSnapshotTransfer(t *testing.T) {
	stores := map[raft.ServerID]*faultySnapshots{}
	opts := rafttest.Options{Servers: 3, RPCTimeout: time.Hour,
		Config: func(c *raft.Config) { c.TrailingLogs = 5 },
		NewSnapshotStore: func(id raft.ServerID) (raft.SnapshotStore, error) {
			stores[id] = &faultySnapshots{InmemSnapshotStore: raft.NewInmemSnapshotStore()}
			return stores[id], nil
		}}
	inBubble(t, opts, func(t *testing.T, c *rafttest.Cluster) {
		leader, lagging := laggingBehindSnapshot(t, c)
		// The follower takes an hour to write the snapshot it receives.
		stores[lagging.ID].slowWrite.Store(int64(time.Hour))
		c.Heal()
		time.Sleep(time.Second) // the transfer is under way
		start := time.Now()
		if err := leader.Raft().Shutdown().Error(); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took > time.Second {
			t.Fatalf("Shutdown took %s while a snapshot was in flight", took)
		}
	})
}
