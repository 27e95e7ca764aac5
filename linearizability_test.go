package raft_test

// A chaos run whose client history is checked for linearizability with
// porcupine: clients write and read registers through whichever server leads
// while the network partitions, drops, delays and duplicates messages.

import (
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

// registerFSM holds registers set by "put <key> <value>" commands; a
// "get <key>" command returns a register's value (reads through the log).
type registerFSM struct {
	rafttest.LogFSM // snapshots: the registers are rebuilt from the commands
	mu              sync.Mutex
	regs            map[string]string // guarded by mu
}

func (f *registerFSM) Apply(l *raft.Log) interface{} {
	f.LogFSM.Apply(l)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.regs == nil {
		f.regs = map[string]string{}
	}
	parts := strings.Fields(string(l.Data))
	if len(parts) == 3 && parts[0] == "put" {
		f.regs[parts[1]] = parts[2]
		return ""
	}
	if len(parts) == 2 && parts[0] == "get" {
		return f.regs[parts[1]]
	}
	return nil
}

func (f *registerFSM) Restore(rc io.ReadCloser) error {
	if err := f.LogFSM.Restore(rc); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regs = map[string]string{}
	for _, c := range f.LogFSM.Commands() {
		if parts := strings.Fields(string(c)); len(parts) == 3 && parts[0] == "put" {
			f.regs[parts[1]] = parts[2]
		}
	}
	return nil
}

func (f *registerFSM) read(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.regs[key]
}

// regInput is an operation on a register: a put of value, or a get.
type regInput struct {
	put   bool
	key   string
	value string
}

// registerModel is the sequential specification of a set of registers.
var registerModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(regInput).key
			byKey[k] = append(byKey[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() interface{} { return "" },
	Step: func(state, input, output interface{}) (bool, interface{}) {
		in := input.(regInput)
		if in.put {
			return true, in.value
		}
		return output == nil || output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output interface{}) string {
		in := input.(regInput)
		if in.put {
			return fmt.Sprintf("put(%s, %s)", in.key, in.value)
		}
		return fmt.Sprintf("get(%s) -> %v", in.key, output)
	},
}

// history records operations with a logical clock: an operation that returned
// before another was called gets smaller timestamps, as real time orders them.
type history struct {
	clock atomic.Int64
	mu    sync.Mutex
	ops   []porcupine.Operation // guarded by mu
}

func (h *history) add(op porcupine.Operation) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
}

// client runs operations against whichever server leads, a few
// milliseconds apart, until stop is closed.
func (h *history) client(c *rafttest.Cluster, id int, seed uint64, stop <-chan struct{}) {
	rng := newRand(seed)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(rng.IntN(20)) * time.Millisecond):
		}
		in := regInput{key: fmt.Sprintf("k%d", rng.IntN(3))}
		if rng.IntN(2) == 0 {
			in.put, in.value = true, fmt.Sprintf("c%d-%d", id, i)
		}
		leader := anyLeader(c, rng.IntN(8))
		if leader == nil {
			continue
		}
		call := h.clock.Add(1)
		out, err := h.do(leader, in, rng.IntN(2) == 0)
		switch {
		case err == nil:
			h.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: h.clock.Add(1)})
		case in.put:
			// The write may or may not have happened, at any time from now on.
			h.add(porcupine.Operation{ClientId: id, Input: in, Call: call, Output: nil, Return: math.MaxInt64})
		}
	}
}

// do performs one operation: a put through the log; a get either through
// the log, or as a leader read (Barrier, then VerifyLeader, then the FSM).
func (h *history) do(n *rafttest.Node, in regInput, logRead bool) (interface{}, error) {
	// The Raft before the FSM: if the server restarts in between, r is shut
	// down and fails, so a leader read never reads a fresh, empty FSM.
	r := n.Raft()
	fsm, _ := n.FSM().(*registerFSM)
	if r == nil {
		return nil, raft.ErrRaftShutdown // stopped by a crash
	}
	if in.put {
		return nil, r.Apply([]byte("put "+in.key+" "+in.value), time.Second).Error()
	}
	if logRead {
		f := r.Apply([]byte("get "+in.key), time.Second)
		if err := f.Error(); err != nil {
			return nil, err
		}
		return f.Response(), nil
	}
	if err := r.Barrier(time.Second).Error(); err != nil {
		return nil, err
	}
	if err := r.VerifyLeader().Error(); err != nil {
		return nil, err
	}
	return fsm.read(in.key), nil
}

// anyLeader returns a server that believes it leads, or nil. When several
// do (an old leader cut off has not noticed yet), pick chooses among them,
// so that clients also talk to a deposed leader.
func anyLeader(c *rafttest.Cluster, pick int) *rafttest.Node {
	var leaders []*rafttest.Node
	for _, n := range c.Nodes() {
		if r := n.Raft(); r != nil && r.State() == raft.Leader {
			leaders = append(leaders, n)
		}
	}
	if len(leaders) == 0 {
		return nil
	}
	return leaders[pick%len(leaders)]
}

func TestLinearizableUnderChaos(t *testing.T) {
	checkLinearizable(t, chaos(t, testSeed(t, 11), false))
}

// TestLinearizableUnderCrashes adds crashes to the chaos: in some rounds a
// server, often the leader, crashes (its stores keep what they acknowledged
// before that instant, and no write in flight lands; its FSM is lost) and
// comes back in a later round over its stores, with a fresh FSM that it
// rebuilds from its snapshot and the log.
func TestLinearizableUnderCrashes(t *testing.T) {
	checkLinearizable(t, chaos(t, testSeed(t, 12), true))
}

// chaosRounds is the length of a chaos run: a round lasts 50 to 200 ms of
// the bubble's virtual time.
const chaosRounds = 40

// chaos runs six clients against a five-server cluster, whose disks take 0
// to 2 ms per write, while its network partitions, drops, delays and
// duplicates messages, and, with crashes, servers crash and restart. It
// checks Raft's safety invariants as it goes and returns the clients'
// history.
func chaos(t *testing.T, seed uint64, crashes bool) *history {
	opts := rafttest.Options{Servers: 5, Seed: seed,
		NewFSM: func(raft.ServerID) raft.FSM { return &registerFSM{} },
		Config: func(c *raft.Config) {
			c.SnapshotThreshold, c.SnapshotInterval, c.TrailingLogs = 64, 50*time.Millisecond, 16
		},
	}
	var h history
	inBubble(t, opts, func(t *testing.T, c *rafttest.Cluster) {
		s := newSafety()
		watchSafety(c, s)
		c.SetFaults(rafttest.Faults{Drop: 0.03, DropDelay: 5 * time.Millisecond, MaxDelay: 2 * time.Millisecond, Duplicate: 0.03})
		var clients sync.WaitGroup
		stop := make(chan struct{})
		for id := 0; id < 6; id++ {
			clients.Go(func() { h.client(c, id, seed*100+uint64(id), stop) })
		}
		rng := newRand(seed)
		nodes := c.Nodes()
		for _, n := range nodes { // disks of different speeds
			n.Store.SetWriteDelay(time.Duration(rng.IntN(3)) * time.Millisecond)
		}
		var down *rafttest.Node // crashed, restarted a round later
		crashed := 0
		for round := 0; round < chaosRounds; round++ {
			time.Sleep(time.Duration(50+rng.IntN(150)) * time.Millisecond)
			c.Heal()
			if round%3 != 2 { // two rounds of three are partitioned
				var side []*rafttest.Node
				for _, n := range nodes {
					if rng.IntN(2) == 0 {
						side = append(side, n)
					}
				}
				c.Partition(side)
			}
			s.check(t, c)
			switch {
			case !crashes:
			case down != nil:
				restart(t, c, s, down)
				down = nil
			case rng.IntN(2) == 0:
				down = nodes[rng.IntN(len(nodes))]
				if l := anyLeader(c, rng.IntN(8)); l != nil && rng.IntN(2) == 0 {
					down = l
				}
				// A crash, not a clean stop: from this instant nothing more
				// reaches its disk, the writes in flight included.
				down.Store.FailWrites(true)
				if err := c.Stop(down); err != nil {
					t.Fatal(err)
				}
				crashed++
			}
		}
		close(stop)
		clients.Wait()
		if down != nil {
			restart(t, c, s, down)
		}
		c.Heal()
		c.SetFaults(rafttest.Faults{})
		mustConsistent(t, c)
		s.check(t, c)
		t.Logf("%d rounds, %d crashes", chaosRounds, crashed)
	})
	return &h
}

// restart starts a crashed server again and watches its new Raft.
func restart(t *testing.T, c *rafttest.Cluster, s *safety, n *rafttest.Node) {
	t.Helper()
	n.Store.FailWrites(false)
	if err := c.Restart(n); err != nil {
		t.Fatal(err)
	}
	s.watch(n.ID, n.Raft())
}

// checkLinearizable checks a history with porcupine.
func checkLinearizable(t *testing.T, h *history) {
	t.Helper()
	res, info := porcupine.CheckOperationsVerbose(registerModel, h.ops, time.Minute)
	t.Logf("%d operations checked", len(h.ops))
	if res != porcupine.Ok {
		path := t.TempDir() + "/history.html"
		porcupine.VisualizePath(registerModel, info, path)
		t.Fatalf("history is not linearizable (%s); visualization in %s", res, path)
	}
}
