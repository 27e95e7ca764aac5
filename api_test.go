package raft_test

// Tests of the API's behaviour on a running cluster.

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

func TestApplyRefusals(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		follower := others(c, leader)[0].Raft()
		start := time.Now()
		err := follower.Apply([]byte("x"), time.Second).Error()
		if !errors.Is(err, raft.ErrNotLeader) {
			t.Fatalf("apply on a follower: %v, want ErrNotLeader", err)
		}
		if time.Since(start) != 0 {
			t.Fatalf("apply on a follower took %s to fail", time.Since(start))
		}
		if !strings.Contains(err.Error(), string(leader.ID)) {
			t.Fatalf("ErrNotLeader should name the leader: %v", err)
		}
		if err := leader.Raft().Apply(nil, 0).Error(); !errors.Is(err, raft.ErrNilCommand) {
			t.Fatalf("nil command: %v", err)
		}
		big := make([]byte, raft.MaxCommandSize+1)
		if err := leader.Raft().Apply(big, 0).Error(); !errors.Is(err, raft.ErrCommandTooLarge) {
			t.Fatalf("oversized command: %v", err)
		}
		if err := follower.Barrier(0).Error(); !errors.Is(err, raft.ErrNotLeader) {
			t.Fatalf("barrier on a follower: %v", err)
		}
		if err := follower.VerifyLeader().Error(); !errors.Is(err, raft.ErrNotLeader) {
			t.Fatalf("VerifyLeader on a follower: %v", err)
		}
		if err := follower.AddPeer("x").Error(); !errors.Is(err, raft.ErrUnsupportedProtocol) {
			t.Fatalf("AddPeer: %v", err)
		}
		if err := follower.RemovePeer("x").Error(); !errors.Is(err, raft.ErrUnsupportedProtocol) {
			t.Fatalf("RemovePeer: %v", err)
		}
	})
}

func TestBarrierAndVerifyLeader(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		r := leader.Raft()
		var futures []raft.ApplyFuture
		for i := 0; i < 50; i++ {
			futures = append(futures, r.Apply([]byte(fmt.Sprintf("%d", i)), 0))
		}
		b := r.Barrier(0)
		if err := b.Error(); err != nil {
			t.Fatal(err)
		}
		// After the barrier every earlier entry is applied on the leader.
		if got := len(logFSM(leader).Commands()); got != 50 {
			t.Fatalf("barrier returned with %d of 50 commands applied", got)
		}
		if r.AppliedIndex() < futures[49].Index() {
			t.Fatalf("applied index %d below the last command's %d", r.AppliedIndex(), futures[49].Index())
		}
		if err := r.VerifyLeader().Error(); err != nil {
			t.Fatalf("VerifyLeader on the leader: %v", err)
		}
		// An isolated leader cannot verify: no quorum answers.
		c.Isolate(leader)
		if err := r.VerifyLeader().Error(); err == nil {
			t.Fatal("an isolated leader verified its leadership")
		}
	})
}

// batchFSM is a BatchingFSM that records the size of each batch.
type batchFSM struct {
	rafttest.LogFSM
	mu      sync.Mutex
	batches []int
}

func (f *batchFSM) ApplyBatch(logs []*raft.Log) []interface{} {
	f.mu.Lock()
	f.batches = append(f.batches, len(logs))
	f.mu.Unlock()
	out := make([]interface{}, len(logs))
	for i, l := range logs {
		if l.Type == raft.LogCommand {
			out[i] = f.Apply(l)
		}
	}
	return out
}

func (f *batchFSM) maxBatch() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := 0
	for _, b := range f.batches {
		m = max(m, b)
	}
	return m
}

func TestBatchingFSMAndBatchApplyCh(t *testing.T) {
	opts := rafttest.Options{
		Servers: 3,
		NewFSM:  func(raft.ServerID) raft.FSM { return &batchFSM{} },
		Config:  func(c *raft.Config) { c.BatchApplyCh = true },
	}
	inBubble(t, opts, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		leader.Store.SetWriteDelay(time.Millisecond) // let a backlog build
		var wg sync.WaitGroup
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 8; j++ {
					f := leader.Raft().Apply([]byte(fmt.Sprintf("%d-%d", i, j)), 0)
					if err := f.Error(); err != nil {
						t.Error(err)
						return
					}
					if f.Response() != f.Index() {
						t.Errorf("response %v for entry %d", f.Response(), f.Index())
					}
				}
			}()
		}
		wg.Wait()
		leader.Store.SetWriteDelay(0)
		mustConsistent(t, c)
		fsm := leader.FSM().(*batchFSM)
		if got := len(fsm.Commands()); got != 256 {
			t.Fatalf("applied %d commands, want 256", got)
		}
		if fsm.maxBatch() < 2 {
			t.Fatalf("ApplyBatch never received more than one entry")
		}
	})
}

func TestLeaderChAndNotifyCh(t *testing.T) {
	notify := map[raft.ServerID]chan bool{}
	var mu sync.Mutex
	opts := rafttest.Options{Servers: 3, Config: func(c *raft.Config) {
		mu.Lock()
		defer mu.Unlock()
		if notify[c.LocalID] == nil {
			notify[c.LocalID] = make(chan bool, 16)
		}
		c.NotifyCh = notify[c.LocalID]
	}}
	inBubble(t, opts, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		if v := <-notify[leader.ID]; !v {
			t.Fatal("NotifyCh did not say true on election")
		}
		// Step down, then let it win or lose: LeaderCh holds only the latest.
		c.Isolate(leader)
		if err := c.Eventually(wait, func() error {
			if leader.Raft().State() == raft.Leader {
				return errors.New("still leader")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if v := <-notify[leader.ID]; v {
			t.Fatal("NotifyCh did not say false on step-down")
		}
		select {
		case v := <-leader.Raft().LeaderCh():
			if v {
				t.Fatal("LeaderCh holds a stale true after stepping down")
			}
		default:
			t.Fatal("LeaderCh holds nothing")
		}
		select {
		case v := <-leader.Raft().LeaderCh():
			t.Fatalf("LeaderCh held a second value %v: it must keep only the latest", v)
		default:
		}
	})
}

func TestObservers(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		follower := others(c, leader)[0]
		all := make(chan raft.Observation, 100)
		onlyLeader := make(chan raft.Observation, 100)
		full := make(chan raft.Observation) // never read: a non-blocking observer drops
		obsAll := raft.NewObserver(all, true, nil)
		obsLeader := raft.NewObserver(onlyLeader, false, func(o *raft.Observation) bool {
			_, ok := o.Data.(raft.LeaderObservation)
			return ok
		})
		obsFull := raft.NewObserver(full, false, nil)
		for _, o := range []*raft.Observer{obsLeader, obsFull} {
			follower.Raft().RegisterObserver(o)
		}
		for _, n := range c.Nodes() {
			n.Raft().RegisterObserver(obsAll)
		}
		// A new election: the follower sees a vote request and a new leader;
		// the old leader sees its follower's heartbeats fail.
		c.Isolate(leader)
		newLeader := mustNewLeader(t, c, leader)
		var sawVote, sawLeader, sawFailed bool
		deadline := time.After(wait)
		for !(sawVote && sawLeader && sawFailed) {
			select {
			case o := <-all:
				switch d := o.Data.(type) {
				case raft.RequestVoteRequest:
					sawVote = true
				case raft.LeaderObservation:
					sawLeader = sawLeader || d.LeaderID == newLeader.ID
				case raft.FailedHeartbeatObservation:
					sawFailed = true
				}
			case <-deadline:
				t.Fatalf("observations missing: vote %v, leader %v, failed heartbeat %v", sawVote, sawLeader, sawFailed)
			}
		}
		for len(onlyLeader) > 0 {
			if _, ok := (<-onlyLeader).Data.(raft.LeaderObservation); !ok {
				t.Fatal("the filter let another observation through")
			}
		}
		if obsFull.GetNumDropped() == 0 || obsAll.GetNumObserved() == 0 {
			t.Fatalf("counters: dropped %d, observed %d", obsFull.GetNumDropped(), obsAll.GetNumObserved())
		}
		for _, o := range []*raft.Observer{obsLeader, obsFull} {
			follower.Raft().DeregisterObserver(o)
		}
		for _, n := range c.Nodes() {
			n.Raft().DeregisterObserver(obsAll)
		}
		observed := obsAll.GetNumObserved()
		c.Heal()
		mustApply(t, c, "after", 1)
		time.Sleep(time.Second)
		if obsAll.GetNumObserved() != observed {
			t.Fatal("a deregistered observer still receives observations")
		}
	})
}

func TestStatsAndAccessors(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		mustApply(t, c, "x", 5)
		r := leader.Raft()
		stats := r.Stats()
		for _, k := range []string{"state", "term", "last_log_index", "last_log_term", "commit_index",
			"applied_index", "fsm_pending", "last_snapshot_index", "last_snapshot_term",
			"protocol_version", "protocol_version_min", "protocol_version_max",
			"snapshot_version_min", "snapshot_version_max", "latest_configuration_index",
			"latest_configuration", "num_peers", "last_contact"} {
			if _, ok := stats[k]; !ok {
				t.Errorf("Stats lacks %q", k)
			}
		}
		if stats["state"] != "Leader" || stats["num_peers"] != "2" || stats["last_contact"] != "0" {
			t.Errorf("stats: %v", stats)
		}
		if r.LastIndex() < 6 || r.CommitIndex() != r.LastIndex() || r.CurrentTerm() == 0 {
			t.Errorf("last %d commit %d term %d", r.LastIndex(), r.CommitIndex(), r.CurrentTerm())
		}
		if !strings.Contains(r.String(), string(leader.Addr)) || !strings.Contains(r.String(), "Leader") {
			t.Errorf("String() = %q", r.String())
		}
		f := others(c, leader)[0].Raft()
		if f.LastContact().IsZero() || f.Stats()["last_contact"] == "never" {
			t.Errorf("follower's last contact: %v", f.LastContact())
		}
		cf := r.GetConfiguration()
		if err := cf.Error(); err != nil || len(cf.Configuration().Servers) != 3 || cf.Index() != 1 {
			t.Errorf("GetConfiguration: %v %v %d", err, cf.Configuration(), cf.Index())
		}
	})
}

func TestApplyDuringLeadershipTransfer(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		target := others(c, leader)[0]
		// The target cannot be reached and lacks the last entry: the
		// transfer waits for it to catch up until it times out.
		c.Partition([]*rafttest.Node{target})
		mustApply(t, c, "missed", 1)
		transfer := leader.Raft().LeadershipTransferToServer(target.ID, target.Addr)
		time.Sleep(time.Millisecond)
		if err := leader.Raft().Apply([]byte("x"), 0).Error(); !errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			t.Fatalf("apply during a transfer: %v", err)
		}
		if err := leader.Raft().LeadershipTransfer().Error(); !errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			t.Fatalf("second transfer: %v", err)
		}
		if err := transfer.Error(); err == nil {
			t.Fatal("a transfer to an unreachable server succeeded")
		}
		// Afterwards the leader takes writes again.
		if err := leader.Raft().Apply([]byte("y"), 0).Error(); err != nil {
			t.Fatalf("apply after the failed transfer: %v", err)
		}
	})
}

func TestShutdown(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		for _, n := range others(c, leader) {
			c.Stop(n) // nothing can commit now
		}
		r := leader.Raft()
		pending := r.Apply([]byte("never"), 0)
		var racing sync.WaitGroup
		for i := 0; i < 20; i++ {
			racing.Add(1)
			go func() {
				defer racing.Done()
				r.Apply([]byte("racing"), 0).Error()
				r.Snapshot().Error()
				r.LeadershipTransfer().Error()
				r.VerifyLeader().Error()
			}()
		}
		if err := r.Shutdown().Error(); err != nil {
			t.Fatal(err)
		}
		racing.Wait()
		if err := pending.Error(); !errors.Is(err, raft.ErrRaftShutdown) && !errors.Is(err, raft.ErrLeadershipLost) {
			t.Fatalf("pending apply after shutdown: %v", err)
		}
		if err := r.Apply([]byte("late"), 0).Error(); !errors.Is(err, raft.ErrRaftShutdown) {
			t.Fatalf("apply after shutdown: %v", err)
		}
		if err := r.VerifyLeader().Error(); !errors.Is(err, raft.ErrRaftShutdown) {
			t.Fatalf("VerifyLeader after shutdown: %v", err)
		}
		if err := r.Snapshot().Error(); !errors.Is(err, raft.ErrRaftShutdown) {
			t.Fatalf("Snapshot after shutdown: %v", err)
		}
		if r.State() != raft.Shutdown {
			t.Fatalf("state %v after shutdown", r.State())
		}
		if err := r.Shutdown().Error(); err != nil {
			t.Fatalf("second shutdown: %v", err)
		}
	})
}

// TestShutdownAnswersEveryApply shuts a healthy leader down while callers
// apply as fast as they can: every future is answered (a lost one would
// block its caller for ever, which the bubble reports as a deadlock), and
// every Apply that reported success was applied by the leader's FSM.
func TestShutdownAnswersEveryApply(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		r := leader.Raft()
		var (
			mu      sync.Mutex
			ok      []uint64 // indexes of the applies that succeeded
			wg      sync.WaitGroup
			running = make(chan struct{}) // closed once 1,000 succeeded
		)
		for g := 0; g < 50; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					f := r.Apply([]byte("w"), 0)
					err := f.Error()
					switch {
					case err == nil:
						mu.Lock()
						ok = append(ok, f.Index())
						if len(ok) == 1000 {
							close(running)
						}
						mu.Unlock()
					case errors.Is(err, raft.ErrRaftShutdown), errors.Is(err, raft.ErrLeadershipLost):
						return
					default:
						t.Errorf("apply: %v", err)
						return
					}
				}
			}()
		}
		// Under load the bubble's clock stands still (its goroutines never
		// all block), so wait for progress rather than for time.
		<-running
		if err := r.Shutdown().Error(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if len(ok) == 0 {
			t.Fatal("no apply succeeded before the shutdown")
		}
		applied := map[uint64]bool{}
		for _, i := range leader.FSM().(*rafttest.LogFSM).Indexes() {
			applied[i] = true
		}
		for _, i := range ok {
			if !applied[i] {
				t.Fatalf("apply at index %d succeeded but the FSM never saw it", i)
			}
		}
	})
}
