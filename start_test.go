package raft_test

// Starting servers: bootstrap, existing state, replay of committed entries,
// the pre-vote settings, metrics.

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	metrics "github.com/armon/go-metrics"
	"github.com/hashicorp/go-hclog"
	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

func testConfig(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.Logger = hclog.NewNullLogger()
	c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	return c
}

func TestBootstrapAndExistingState(t *testing.T) {
	store, snaps := raft.NewInmemStore(), raft.NewInmemSnapshotStore()
	addr, trans := raft.NewInmemTransport("")
	defer trans.Close()
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil || has {
		t.Fatalf("fresh stores: %v %v", has, err)
	}
	conf := raft.Configuration{Servers: []raft.Server{{ID: "a", Address: addr}}}
	bad := raft.Configuration{Servers: []raft.Server{{ID: "a", Address: addr}, {ID: "a", Address: "x"}}}
	if err := raft.BootstrapCluster(testConfig("a"), store, store, snaps, trans, bad); err == nil {
		t.Fatal("bootstrap with a duplicate ID succeeded")
	}
	if err := raft.BootstrapCluster(testConfig("a"), store, store, snaps, trans, conf); err != nil {
		t.Fatal(err)
	}
	if has, err := raft.HasExistingState(store, store, snaps); err != nil || !has {
		t.Fatalf("after bootstrap: %v %v", has, err)
	}
	if err := raft.BootstrapCluster(testConfig("a"), store, store, snaps, trans, conf); !errors.Is(err, raft.ErrCantBootstrap) {
		t.Fatalf("second bootstrap: %v", err)
	}
	got, err := raft.GetConfiguration(testConfig("a"), &rafttest.LogFSM{}, store, store, snaps, trans)
	if err != nil || len(got.Servers) != 1 || got.Servers[0].ID != "a" {
		t.Fatalf("offline GetConfiguration: %v %v", got, err)
	}
}

func TestBootstrapMethod(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3, NoBootstrap: true}, func(t *testing.T, c *rafttest.Cluster) {
		time.Sleep(time.Second)
		if _, err := c.Leader(0); err == nil {
			t.Fatal("a cluster with no configuration elected a leader")
		}
		first := c.Nodes()[0].Raft()
		if err := first.BootstrapCluster(c.Configuration()).Error(); err != nil {
			t.Fatal(err)
		}
		if err := first.BootstrapCluster(c.Configuration()).Error(); !errors.Is(err, raft.ErrCantBootstrap) {
			t.Fatalf("second bootstrap: %v", err)
		}
		mustLeader(t, c)
		mustApply(t, c, "x", 3)
		mustConsistent(t, c)
	})
}

func TestRestoreCommittedLogs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := raft.NewInmemCommitTrackingStore()
		snaps := raft.NewInmemSnapshotStore()
		addr, trans := raft.NewInmemTransport("")
		conf := testConfig("a")
		conf.RestoreCommittedLogs = true
		if err := raft.BootstrapCluster(conf, store, store, snaps, trans, raft.Configuration{Servers: []raft.Server{{ID: "a", Address: addr}}}); err != nil {
			t.Fatal(err)
		}
		r, err := raft.NewRaft(conf, rafttest.NewLogFSM(), store, store, snaps, trans)
		if err != nil {
			t.Fatal(err)
		}
		for r.State() != raft.Leader {
			time.Sleep(time.Millisecond)
		}
		for i := 0; i < 10; i++ {
			if err := r.Apply([]byte{byte(i)}, 0).Error(); err != nil {
				t.Fatal(err)
			}
		}
		// One more entry makes the store record the commit index of the ten.
		if err := r.Barrier(0).Error(); err != nil {
			t.Fatal(err)
		}
		r.Shutdown().Error()
		_, trans = raft.NewInmemTransport(addr)
		fsm := rafttest.NewLogFSM()
		r, err = raft.NewRaft(conf, fsm, store, store, snaps, trans)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Shutdown()
		// The entries are applied before NewRaft returned, without a leader.
		if got := len(fsm.Commands()); got != 10 {
			t.Fatalf("%d commands replayed before NewRaft returned, want 10", got)
		}
		if !r.RestoreCommittedLogs {
			t.Fatal("Raft.RestoreCommittedLogs does not mirror the configuration")
		}
	})
}

func TestPreVoteDisabled(t *testing.T) {
	var preVotes int
	hook := func(from, to raft.ServerAddress, req, resp interface{}, err error) {
		if _, ok := req.(*raft.RequestPreVoteRequest); ok {
			preVotes++
		}
	}
	opts := rafttest.Options{Servers: 3, Hook: hook, Config: func(c *raft.Config) { c.PreVoteDisabled = true }}
	inBubble(t, opts, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		c.Isolate(leader)
		mustNewLeader(t, c, leader)
		// Without pre-vote an isolated server campaigns in ever newer terms.
		term := leader.Raft().CurrentTerm()
		time.Sleep(time.Second)
		if leader.Raft().CurrentTerm() == term {
			t.Fatal("an isolated server without pre-vote kept its term: was pre-vote on?")
		}
		if preVotes != 0 {
			t.Fatalf("%d pre-vote requests with PreVoteDisabled", preVotes)
		}
	})
}

func TestMetricsNames(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		// go-metrics is global; the sink lives in the bubble, as its
		// intervals' channels must.
		sink := metrics.NewInmemSink(time.Hour, time.Hour)
		cfg := metrics.DefaultConfig("")
		cfg.EnableHostname, cfg.EnableRuntimeMetrics = false, false
		if _, err := metrics.NewGlobal(cfg, sink); err != nil {
			t.Fatal(err)
		}
		defer metrics.NewGlobal(cfg, &metrics.BlackholeSink{})
		leader := mustLeader(t, c)
		leader.Raft().LeadershipTransfer().Error() // a new election, with metrics
		mustLeader(t, c)
		mustApply(t, c, "x", 5)
		mustConsistent(t, c)
		seen := map[string]bool{}
		for _, iv := range sink.Data() {
			for k := range iv.Counters {
				seen[k] = true
			}
			for k := range iv.Samples {
				seen[k] = true
			}
			for k := range iv.Gauges {
				seen[k] = true
			}
		}
		for _, want := range []string{"raft.apply", "raft.commitTime", "raft.fsm.apply", "raft.rpc.appendEntries",
			"raft.state.leader", "raft.state.candidate", "raft.leader.dispatchLog", "raft.barrier"} {
			found := false
			for k := range seen {
				if k == want || strings.HasPrefix(k, want+";") {
					found = true
				}
			}
			if !found {
				t.Errorf("metric %s was not emitted (seen: %v)", want, seen)
			}
		}
	})
}
