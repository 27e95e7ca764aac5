package raft_test

// Membership changes: growing and shrinking under load, staging of new
// voters, removing the leader, removed and partitioned servers, non-voters,
// unreachable new voters, disaster recovery.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

// writer applies numbered commands through whoever leads until stopped, and
// records the ones acknowledged.
type writer struct {
	c     *rafttest.Cluster
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	acked []string
}

func startWriter(c *rafttest.Cluster) *writer {
	w := &writer{c: c, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *writer) run() {
	defer close(w.done)
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		cmd := fmt.Sprintf("w-%d", i)
		if _, err := w.c.Apply([]byte(cmd), time.Second); err == nil {
			w.mu.Lock()
			w.acked = append(w.acked, cmd)
			w.mu.Unlock()
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// finish stops the writer and checks that every acknowledged write is in
// every running server's FSM, once.
func (w *writer) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	<-w.done
	mustConsistent(t, w.c)
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.acked) < 20 {
		t.Fatalf("only %d writes were acknowledged: the writer hardly ran", len(w.acked))
	}
	for _, n := range w.c.Nodes() {
		if r := n.Raft(); r == nil || r.State() == raft.Shutdown {
			continue // stopped, or removed
		}
		seen := map[string]int{}
		for _, cmd := range logFSM(n).Commands() {
			seen[string(cmd)]++
		}
		for _, cmd := range w.acked {
			if seen[cmd] != 1 {
				t.Fatalf("%s holds acknowledged write %s %d times", n.ID, cmd, seen[cmd])
			}
		}
	}
}

// serverOf returns id's entry in a server's latest configuration.
func serverOf(r *raft.Raft, id raft.ServerID) raft.Server {
	for _, s := range r.GetConfiguration().Configuration().Servers {
		if s.ID == id {
			return s
		}
	}
	return raft.Server{}
}

// voters returns the voters of a server's latest configuration.
func voters(r *raft.Raft) []raft.ServerID {
	var out []raft.ServerID
	for _, s := range r.GetConfiguration().Configuration().Servers {
		if s.Suffrage == raft.Voter {
			out = append(out, s.ID)
		}
	}
	return out
}

func TestGrowAndShrinkUnderLoad(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 1}, func(t *testing.T, c *rafttest.Cluster) {
		mustLeader(t, c)
		w := startWriter(c)
		for i := 1; i <= 4; i++ {
			time.Sleep(100 * time.Millisecond) // writes go on between changes
			n, _ := c.AddNode(raft.ServerID(fmt.Sprintf("server%d", i)))
			leader := mustLeader(t, c)
			if err := leader.Raft().AddVoter(n.ID, n.Addr, 0, 0).Error(); err != nil {
				t.Fatalf("add %s: %v", n.ID, err)
			}
		}
		leader := mustLeader(t, c)
		if got := len(voters(leader.Raft())); got != 5 {
			t.Fatalf("%d voters after growing, want 5", got)
		}
		for _, n := range others(c, leader)[:2] {
			time.Sleep(100 * time.Millisecond)
			if err := leader.Raft().RemoveServer(n.ID, 0, 0).Error(); err != nil {
				t.Fatalf("remove %s: %v", n.ID, err)
			}
		}
		time.Sleep(100 * time.Millisecond)
		if got := len(voters(leader.Raft())); got != 3 {
			t.Fatalf("%d voters after shrinking, want 3", got)
		}
		w.finish(t)
	})
}

func TestAddVoterStagesUntilCaughtUp(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		mustApply(t, c, "x", 200)
		n, _ := c.AddNode("new")
		n.Store.SetWriteDelay(20 * time.Millisecond) // it catches up slowly
		f := leader.Raft().AddVoter(n.ID, n.Addr, 0, 0)
		sawStaging := false
		for !sawStaging {
			for _, s := range leader.Raft().GetConfiguration().Configuration().Servers {
				if s.ID == n.ID && s.Suffrage == raft.Staging {
					sawStaging = true
				}
			}
			time.Sleep(time.Millisecond)
		}
		// While staging it does not count: 3 of the 4 servers stay the voters.
		if got := len(voters(leader.Raft())); got != 3 {
			t.Fatalf("%d voters while the new server catches up", got)
		}
		n.Store.SetWriteDelay(0)
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		if got := len(voters(leader.Raft())); got != 4 {
			t.Fatalf("%d voters after the promotion, want 4", got)
		}
		if f.Index() <= 1 || f.Index() != leader.Raft().GetConfiguration().Index() {
			t.Fatalf("AddVoter's index %d is not the promotion's %d", f.Index(), leader.Raft().GetConfiguration().Index())
		}
		mustApply(t, c, "y", 1)
		mustConsistent(t, c)
	})
}

func TestRemoveTheLeader(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		mustApply(t, c, "before", 5)
		r := leader.Raft()
		if err := r.RemoveServer(leader.ID, 0, 0).Error(); err != nil {
			t.Fatal(err)
		}
		// It led until the change committed, then stepped down and, with
		// ShutdownOnRemove, shut down.
		if err := c.Eventually(wait, func() error {
			if r.State() != raft.Shutdown {
				return fmt.Errorf("removed leader is %v", r.State())
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		next := mustNewLeader(t, c, leader)
		if got := voters(next.Raft()); len(got) != 2 {
			t.Fatalf("voters after removing the leader: %v", got)
		}
		c.Stop(leader)
		mustApply(t, c, "after", 5)
		mustConsistent(t, c)
	})
}

func TestRemovedServerCannotDisrupt(t *testing.T) {
	for _, preVote := range []bool{true, false} {
		t.Run(fmt.Sprintf("prevote=%v", preVote), func(t *testing.T) {
			opts := rafttest.Options{Servers: 4, Config: func(c *raft.Config) {
				c.PreVoteDisabled = !preVote
				c.ShutdownOnRemove = false
			}}
			inBubble(t, opts, func(t *testing.T, c *rafttest.Cluster) {
				leader := mustLeader(t, c)
				gone := others(c, leader)[0]
				// Cut it off first: it never learns that it was removed.
				c.Isolate(gone)
				if err := leader.Raft().RemoveServer(gone.ID, 0, 0).Error(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Second) // it campaigns, in vain
				term := leader.Raft().CurrentTerm()
				c.Heal()
				mustApply(t, c, "after", 10)
				time.Sleep(time.Second)
				if leader.Raft().State() != raft.Leader || leader.Raft().CurrentTerm() != term {
					t.Fatalf("the removed server disrupted the cluster: leader %v in term %d (was %d)",
						leader.Raft().State(), leader.Raft().CurrentTerm(), term)
				}
			})
		})
	}
}

func TestNonvoterRules(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3, Nonvoters: 1}, func(t *testing.T, c *rafttest.Cluster) {
		nodes := c.Nodes()
		nonvoter := nodes[2]
		leader := mustLeader(t, c)
		if leader == nonvoter {
			t.Fatal("a non-voter leads")
		}
		mustApply(t, c, "x", 10)
		mustConsistent(t, c) // it receives the log
		if got := len(logFSM(nonvoter).Commands()); got != 10 {
			t.Fatalf("the non-voter applied %d commands", got)
		}
		// Cut off, it never starts an election.
		term := nonvoter.Raft().CurrentTerm()
		c.Isolate(nonvoter)
		time.Sleep(time.Second)
		if nonvoter.Raft().CurrentTerm() != term || nonvoter.Raft().State() != raft.Follower {
			t.Fatalf("an isolated non-voter campaigned: term %d, %v", nonvoter.Raft().CurrentTerm(), nonvoter.Raft().State())
		}
		c.Heal()
		// It does not count toward the quorum: with one voter down, the
		// leader plus the non-voter cannot commit.
		other := others(c, leader)[0]
		if other == nonvoter {
			other = others(c, leader)[1]
		}
		c.Stop(other)
		f := leader.Raft().Apply([]byte("needs a majority of voters"), 0)
		if err := f.Error(); err == nil {
			t.Fatal("an entry committed with the votes of one voter and a non-voter")
		}
		c.Restart(other)
		mustApply(t, c, "y", 1)
	})
}

func TestAddUnreachableVoterFails(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		before := leader.Raft().GetConfiguration().Configuration()
		err := leader.Raft().AddVoter("ghost", "nowhere", 0, 0).Error()
		if err == nil || !strings.Contains(err.Error(), "catch up") {
			t.Fatalf("AddVoter of an unreachable server: %v", err)
		}
		// The server was removed again: the quorum is as it was.
		if err := c.Eventually(wait, func() error {
			after := leader.Raft().GetConfiguration().Configuration()
			if len(after.Servers) != len(before.Servers) {
				return fmt.Errorf("configuration after the failed add: %v", after.Servers)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		mustApply(t, c, "x", 3)
	})
}

func TestConfigurationChangeRefusals(t *testing.T) {
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		r := leader.Raft()
		follower := others(c, leader)[0]
		if err := follower.Raft().AddVoter("x", "y", 0, 0).Error(); !errors.Is(err, raft.ErrNotLeader) {
			t.Fatalf("change on a follower: %v", err)
		}
		index := r.GetConfiguration().Index()
		// Adding a voter again only updates its address.
		if err := r.AddVoter(follower.ID, "moved", 0, 0).Error(); err != nil {
			t.Fatal(err)
		}
		if got := len(voters(r)); got != 3 {
			t.Fatalf("re-adding a voter left %d voters", got)
		}
		if s := serverOf(r, follower.ID); s.Address != "moved" || s.Suffrage != raft.Voter {
			t.Fatalf("re-added voter is %+v, want a voter at its new address", s)
		}
		if got := r.GetConfiguration().Index(); got <= index {
			t.Fatalf("the address change left the configuration at index %d (was %d)", got, index)
		}
		if err := r.AddVoter(follower.ID, follower.Addr, 0, 0).Error(); err != nil {
			t.Fatal(err)
		}
		// Demoting a voter keeps it as a non-voter.
		other := others(c, leader)[1]
		if err := r.DemoteVoter(other.ID, 0, 0).Error(); err != nil {
			t.Fatal(err)
		}
		if s := serverOf(r, other.ID); s.Suffrage != raft.Nonvoter {
			t.Fatalf("demoted voter is %+v", s)
		}
		mustApply(t, c, "after demotion", 1)
		if err := r.AddVoter(other.ID, other.Addr, 0, 0).Error(); err != nil {
			t.Fatalf("promote the demoted server again: %v", err)
		}
		index = r.GetConfiguration().Index()
		// A stale prevIndex is refused.
		if err := r.AddNonvoter("m", "m-addr", index, 0).Error(); err != nil {
			t.Fatalf("change at the current prevIndex: %v", err)
		}
		if err := r.RemoveServer("m", 0, 0).Error(); err != nil {
			t.Fatal(err)
		}
		err := r.AddNonvoter("n", "n-addr", index, 0).Error()
		if err == nil || !strings.Contains(err.Error(), "configuration changed since") {
			t.Fatalf("stale prevIndex: %v", err)
		}
		// Removing an unknown server succeeds and changes nothing.
		if err := r.RemoveServer("unknown", 0, 0).Error(); err != nil {
			t.Fatalf("remove an unknown server: %v", err)
		}
		if got := len(r.GetConfiguration().Configuration().Servers); got != 3 {
			t.Fatalf("%d servers after removing an unknown one", got)
		}
		// Removing or demoting down to no voter is refused.
		for _, n := range others(c, leader) {
			if err := r.RemoveServer(n.ID, 0, 0).Error(); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.DemoteVoter(leader.ID, 0, 0).Error(); err == nil {
			t.Fatal("demoting the last voter succeeded")
		}
		if err := r.RemoveServer(leader.ID, 0, 0).Error(); err == nil {
			t.Fatal("removing the last voter succeeded")
		}
		if got := voters(r); len(got) != 1 || got[0] != leader.ID {
			t.Fatalf("voters after the refusals: %v", got)
		}
		mustApply(t, c, "still works", 1)
	})
}

func TestRecoverClusterAfterLosingAMajority(t *testing.T) {
	dir := t.TempDir()
	inBubble(t, rafttest.Options{Servers: 3}, func(t *testing.T, c *rafttest.Cluster) {
		mustLeader(t, c)
		mustApply(t, c, "before", 20)
		mustConsistent(t, c) // the survivor holds every write before the loss
		nodes := c.Nodes()
		survivor := nodes[0]
		for _, n := range nodes {
			c.Stop(n)
		}
		// Two servers are lost for good; the operator writes peers.json with
		// the survivor alone and recovers it.
		peers := filepath.Join(dir, "peers.json")
		body := fmt.Sprintf(`[{"id": %q, "address": %q, "non_voter": false}]`, survivor.ID, survivor.Addr)
		if err := os.WriteFile(peers, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		conf, err := raft.ReadConfigJSON(peers)
		if err != nil {
			t.Fatal(err)
		}
		_, trans := raft.NewInmemTransport(survivor.Addr)
		defer trans.Close()
		if err := raft.RecoverCluster(testConfig(survivor.ID), rafttest.NewLogFSM(), survivor.Store, survivor.Store,
			survivor.Snaps, trans, conf); err != nil {
			t.Fatal(err)
		}
		c.Partition([]*rafttest.Node{survivor}) // the lost servers stay lost
		c.Restart(survivor)
		if err := c.Eventually(wait, func() error {
			if survivor.Raft().State() != raft.Leader {
				return errors.New("the survivor does not lead")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := survivor.Raft().Apply([]byte("after"), 0).Error(); err != nil {
			t.Fatal(err)
		}
		if got := len(logFSM(survivor).Commands()); got != 21 {
			t.Fatalf("the recovered server holds %d commands, want 21", got)
		}
	})
}

// configFSM is a ConfigurationStore that records the configurations it sees.
type configFSM struct {
	rafttest.LogFSM
	mu      sync.Mutex
	configs map[uint64]int // index -> number of servers
}

func (f *configFSM) StoreConfiguration(index uint64, c raft.Configuration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.configs == nil {
		f.configs = map[uint64]int{}
	}
	f.configs[index] = len(c.Servers)
}

func TestConfigurationStoreAndPeerObservations(t *testing.T) {
	opts := rafttest.Options{Servers: 3, NewFSM: func(raft.ServerID) raft.FSM { return &configFSM{} }}
	inBubble(t, opts, func(t *testing.T, c *rafttest.Cluster) {
		leader := mustLeader(t, c)
		obs := make(chan raft.Observation, 16)
		leader.Raft().RegisterObserver(raft.NewObserver(obs, false, func(o *raft.Observation) bool {
			_, ok := o.Data.(raft.PeerObservation)
			return ok
		}))
		add := leader.Raft().AddNonvoter("extra", "extra-addr", 0, 0)
		if err := add.Error(); err != nil {
			t.Fatal(err)
		}
		rm := leader.Raft().RemoveServer("extra", 0, 0)
		if err := rm.Error(); err != nil {
			t.Fatal(err)
		}
		if o := (<-obs).Data.(raft.PeerObservation); o.Removed || o.Peer.ID != "extra" || o.Peer.Suffrage != raft.Nonvoter {
			t.Fatalf("first observation %+v, want extra added", o)
		}
		if o := (<-obs).Data.(raft.PeerObservation); !o.Removed || o.Peer.ID != "extra" {
			t.Fatalf("second observation %+v, want extra removed", o)
		}
		mustConsistent(t, c)
		for _, n := range c.Nodes() {
			f := n.FSM().(*configFSM)
			f.mu.Lock()
			got := map[uint64]int{}
			for k, v := range f.configs {
				got[k] = v
			}
			f.mu.Unlock()
			if got[1] != 3 || got[add.Index()] != 4 || got[rm.Index()] != 3 {
				t.Fatalf("%s's ConfigurationStore saw %v", n.ID, got)
			}
		}
	})
}
