// Package rafttest runs a cluster of raftkit servers in one process, around
// your own FSM, for your tests: start N servers over an in-memory network,
// wait for a leader, apply commands, partition and heal the network, make
// RPCs fail or arrive late, make a server's disk fail, restart servers, and
// check that every FSM ended in the same state.
//
// A Cluster works in real time, and inside a testing/synctest bubble, where
// time is virtual: elections and timeouts then cost no wall-clock time and
// the test is deterministic in its timing. Close the cluster before the
// bubble ends.
//
// The servers use short timeouts (tens of milliseconds) unless Options.Config
// changes them.
package rafttest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftkit/raft"
)

// Options configures a Cluster.
type Options struct {
	// Servers is the number of servers (default 3).
	Servers int
	// NewFSM returns a fresh FSM for a server; it is called again when a
	// server restarts. Default: NewLogFSM.
	NewFSM func(id raft.ServerID) raft.FSM
	// Config adjusts each server's configuration after the cluster's
	// defaults are set.
	Config func(*raft.Config)
	// Nonvoters is how many of the servers start as non-voters (the last
	// ones).
	Nonvoters int
	// NoBootstrap leaves the servers' stores empty: the test bootstraps.
	NoBootstrap bool
	// Seed drives the network's fault policy (default 1).
	Seed uint64
	// Pipeline lets the servers pipeline AppendEntries. A pipeline's
	// requests are subject to partitions and drops, not to delays or
	// duplicates.
	Pipeline bool
	// Hook sees every RPC (see RPCHook).
	Hook RPCHook
	// RPCTimeout bounds each RPC of the in-memory network (default 500ms,
	// InmemTransport's; InstallSnapshot gets ten times as long).
	RPCTimeout time.Duration
	// NewSnapshotStore returns a server's snapshot store, created once per
	// server (it survives restarts). Default: an InmemSnapshotStore.
	NewSnapshotStore func(id raft.ServerID) (raft.SnapshotStore, error)
	// Logger receives the servers' logs, each named after its server
	// (default: none).
	Logger hclog.Logger
}

// Node is one server of a Cluster.
type Node struct {
	ID    raft.ServerID
	Addr  raft.ServerAddress
	Store *Store
	Snaps raft.SnapshotStore

	c     *Cluster
	trans *transport

	mu   sync.Mutex
	raft *raft.Raft // guarded by mu; nil while stopped
	fsm  raft.FSM   // guarded by mu
}

// Raft returns the server's Raft, nil while it is stopped. A server that
// shut itself down (ShutdownOnRemove) keeps its Raft, in state Shutdown.
func (n *Node) Raft() *raft.Raft {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.raft
}

// running reports whether the server runs.
func (n *Node) running() bool {
	r := n.Raft()
	return r != nil && r.State() != raft.Shutdown
}

// FSM returns the server's current FSM.
func (n *Node) FSM() raft.FSM {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.fsm
}

// Cluster is a set of servers in one process. Its methods may be called
// from several goroutines at once (a test's writers and its fault schedule).
type Cluster struct {
	t    testing.TB // nil when started by Start
	opts Options
	net  *network

	mu    sync.Mutex
	nodes []*Node // guarded by mu; only appended to
}

// New starts a cluster for a test. It bootstraps every server with the same
// configuration unless opts.NoBootstrap. It fails the test on error, and so
// do the cluster's methods (Stop, Restart, AddNode). Close is registered with
// t.Cleanup too, so a test may omit it outside synctest.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c, err := start(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// Start starts a cluster outside a test (an example, a benchmark, a tool):
// errors are returned, and the caller must Close the cluster.
func Start(opts Options) (*Cluster, error) { return start(nil, opts) }

func start(t testing.TB, opts Options) (*Cluster, error) {
	if opts.Servers == 0 {
		opts.Servers = 3
	}
	if opts.NewFSM == nil {
		opts.NewFSM = func(raft.ServerID) raft.FSM { return NewLogFSM() }
	}
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.NewSnapshotStore == nil {
		opts.NewSnapshotStore = func(raft.ServerID) (raft.SnapshotStore, error) { return raft.NewInmemSnapshotStore(), nil }
	}
	c := &Cluster{t: t, opts: opts, net: newNetwork(opts.Seed)}
	c.net.hook = opts.Hook
	for i := 0; i < opts.Servers; i++ {
		n, err := c.newNode(raft.ServerID(fmt.Sprintf("server%d", i)))
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
	}
	c.connectAll()
	if !opts.NoBootstrap {
		conf := c.Configuration()
		for _, n := range c.Nodes() {
			if err := raft.BootstrapCluster(c.config(n.ID), n.Store, n.Store, n.Snaps, n.trans, conf); err != nil {
				c.Close()
				return nil, fmt.Errorf("rafttest: bootstrap %s: %w", n.ID, err)
			}
		}
	}
	for _, n := range c.Nodes() {
		if err := c.start(n); err != nil {
			c.Close()
			return nil, fmt.Errorf("rafttest: start %s: %w", n.ID, err)
		}
	}
	return c, nil
}

// failed reports err to the test, if the cluster has one, and returns it.
func (c *Cluster) failed(err error) error {
	if err != nil && c.t != nil {
		c.t.Helper()
		c.t.Fatal(err)
	}
	return err
}

// newNode creates a server's stores and transport.
func (c *Cluster) newNode(id raft.ServerID) (*Node, error) {
	snaps, err := c.opts.NewSnapshotStore(id)
	if err != nil {
		return nil, fmt.Errorf("rafttest: snapshot store of %s: %w", id, err)
	}
	addr, inmem := c.newTransport(raft.ServerAddress(id))
	return &Node{ID: id, Addr: addr, Store: NewStore(), Snaps: snaps, c: c,
		trans: &transport{InmemTransport: inmem, net: c.net, pipeline: c.opts.Pipeline}}, nil
}

// newTransport returns an in-memory transport with the cluster's timeout.
func (c *Cluster) newTransport(addr raft.ServerAddress) (raft.ServerAddress, *raft.InmemTransport) {
	if c.opts.RPCTimeout > 0 {
		return raft.NewInmemTransportWithTimeout(addr, c.opts.RPCTimeout)
	}
	return raft.NewInmemTransport(addr)
}

// connectAll wires every server's transport to every other.
func (c *Cluster) connectAll() {
	nodes := c.Nodes()
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b {
				a.trans.Connect(b.Addr, b.trans.InmemTransport)
			}
		}
	}
}

// config returns a server's configuration: short timeouts, the test's
// adjustments.
func (c *Cluster) config(id raft.ServerID) *raft.Config {
	conf := raft.DefaultConfig()
	conf.LocalID = id
	conf.HeartbeatTimeout = 50 * time.Millisecond
	conf.ElectionTimeout = 50 * time.Millisecond
	conf.LeaderLeaseTimeout = 50 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.Logger = c.opts.Logger.Named(string(id))
	if c.opts.Config != nil {
		c.opts.Config(conf)
	}
	return conf
}

// Configuration returns the cluster's initial configuration.
func (c *Cluster) Configuration() raft.Configuration {
	var conf raft.Configuration
	for i, n := range c.Nodes()[:c.opts.Servers] {
		s := raft.Server{Suffrage: raft.Voter, ID: n.ID, Address: n.Addr}
		if i >= c.opts.Servers-c.opts.Nonvoters {
			s.Suffrage = raft.Nonvoter
		}
		conf.Servers = append(conf.Servers, s)
	}
	return conf
}

// start runs a server over its stores with a fresh FSM.
func (c *Cluster) start(n *Node) error {
	fsm := c.opts.NewFSM(n.ID)
	r, err := raft.NewRaft(c.config(n.ID), fsm, n.Store, n.Store, n.Snaps, n.trans)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.raft, n.fsm = r, fsm
	n.mu.Unlock()
	return nil
}

// Nodes returns the servers.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// Node returns the server with the given ID, or nil.
func (c *Cluster) Node(id raft.ServerID) *Node {
	for _, n := range c.Nodes() {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// AddNode creates a server that is not in the configuration and starts it
// with empty stores, ready to be added with AddVoter or AddNonvoter.
func (c *Cluster) AddNode(id raft.ServerID) (*Node, error) {
	n, err := c.newNode(id)
	if err != nil {
		return nil, c.failed(err)
	}
	c.mu.Lock()
	c.nodes = append(c.nodes, n)
	c.mu.Unlock()
	c.connectAll()
	if err := c.start(n); err != nil {
		return nil, c.failed(fmt.Errorf("rafttest: start %s: %w", id, err))
	}
	return n, nil
}

// Stop shuts a server down; its stores survive and Restart runs it again.
func (c *Cluster) Stop(n *Node) error {
	running, err := c.shutdown(n)
	if running {
		// Shutdown closed the transport: give the server a fresh one at
		// the same address for its next start.
		_, inmem := c.newTransport(n.Addr)
		n.trans = &transport{InmemTransport: inmem, net: c.net, pipeline: c.opts.Pipeline}
		c.connectAll()
	}
	return c.failed(err)
}

// shutdown shuts a running server down and reports whether it was running.
func (c *Cluster) shutdown(n *Node) (bool, error) {
	r := n.Raft()
	if r == nil {
		return false, nil
	}
	err := r.Shutdown().Error()
	n.mu.Lock()
	n.raft = nil
	n.mu.Unlock()
	if err != nil {
		return true, fmt.Errorf("rafttest: shutdown %s: %w", n.ID, err)
	}
	return true, nil
}

// Restart stops a server (if running) and starts it again over its stores,
// with a fresh FSM.
func (c *Cluster) Restart(n *Node) error {
	if err := c.Stop(n); err != nil {
		return err
	}
	if err := c.start(n); err != nil {
		return c.failed(fmt.Errorf("rafttest: restart %s: %w", n.ID, err))
	}
	return nil
}

// Leader waits up to timeout for a server to be leader and returns it.
// Outside synctest choose a timeout of a second or more.
func (c *Cluster) Leader(timeout time.Duration) (*Node, error) {
	var leader *Node
	err := c.Eventually(timeout, func() error {
		leader = nil
		for _, n := range c.Nodes() {
			if r := n.Raft(); r != nil && r.State() == raft.Leader {
				leader = n
				return nil
			}
		}
		return errors.New("rafttest: no leader")
	})
	return leader, err
}

// Apply applies cmd through the current leader, waiting for one and
// retrying while leadership moves, until timeout. It returns the FSM's
// response.
func (c *Cluster) Apply(cmd []byte, timeout time.Duration) (interface{}, error) {
	var resp interface{}
	err := c.Eventually(timeout, func() error {
		for _, n := range c.Nodes() {
			r := n.Raft()
			if r == nil || r.State() != raft.Leader {
				continue
			}
			f := r.Apply(cmd, timeout)
			if err := f.Error(); err != nil {
				return err
			}
			resp = f.Response()
			return nil
		}
		return raft.ErrNotLeader
	})
	return resp, err
}

// Eventually polls cond every millisecond of (possibly virtual) time until
// it returns nil or timeout passes; it returns cond's last error then.
func (c *Cluster) Eventually(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %w", timeout, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// Isolate cuts a server off from every other server.
func (c *Cluster) Isolate(n *Node) {
	for _, o := range c.Nodes() {
		if o != n {
			c.net.setCut(n.Addr, o.Addr, true)
		}
	}
}

// Partition splits the servers into groups that cannot reach each other.
// Servers not named in any group form one more group.
func (c *Cluster) Partition(groups ...[]*Node) {
	group := make(map[*Node]int)
	for i, g := range groups {
		for _, n := range g {
			group[n] = i + 1
		}
	}
	nodes := c.Nodes()
	for _, a := range nodes {
		for _, b := range nodes {
			if a != b && group[a] != group[b] {
				c.net.setCut(a.Addr, b.Addr, true)
			}
		}
	}
}

// Heal removes every partition.
func (c *Cluster) Heal() { c.net.heal() }

// SetFaults sets the network's fault policy for RPCs between connected
// servers.
func (c *Cluster) SetFaults(f Faults) { c.net.setFaults(f) }

// WaitApplied waits until every running server applied index.
func (c *Cluster) WaitApplied(index uint64, timeout time.Duration) error {
	return c.Eventually(timeout, func() error {
		for _, n := range c.Nodes() {
			if r := n.Raft(); n.running() && r.AppliedIndex() < index {
				return fmt.Errorf("rafttest: %s applied %d of %d", n.ID, r.AppliedIndex(), index)
			}
		}
		return nil
	})
}

// Consistent waits until every running server applied the leader's commit
// index and then compares the FSMs: each is snapshotted and the snapshots'
// bytes must be equal. FSMs whose snapshots are not deterministic need their
// own comparison.
func (c *Cluster) Consistent(timeout time.Duration) error {
	leader, err := c.Leader(timeout)
	if err != nil {
		return err
	}
	// A barrier applies everything committed so far on the leader.
	if err := leader.Raft().Barrier(timeout).Error(); err != nil {
		return fmt.Errorf("rafttest: barrier: %w", err)
	}
	if err := c.WaitApplied(leader.Raft().AppliedIndex(), timeout); err != nil {
		return err
	}
	var want []byte
	var wantID raft.ServerID
	for _, n := range c.Nodes() {
		if !n.running() {
			continue
		}
		got, err := snapshotBytes(n.FSM())
		if err != nil {
			return fmt.Errorf("rafttest: snapshot %s: %w", n.ID, err)
		}
		if want == nil {
			want, wantID = got, n.ID
			continue
		}
		if !bytes.Equal(want, got) {
			return fmt.Errorf("rafttest: FSM of %s differs from %s's", n.ID, wantID)
		}
	}
	return nil
}

// snapshotBytes serializes an FSM through its own Snapshot and Persist,
// called from the test's goroutine: the FSM must allow that while raft may
// apply to it (any FSM your service reads from outside raft does).
func snapshotBytes(fsm raft.FSM) ([]byte, error) {
	s, err := fsm.Snapshot()
	if err != nil {
		return nil, err
	}
	defer s.Release()
	sink := &bufferSink{}
	if err := s.Persist(sink); err != nil {
		return nil, err
	}
	return sink.Bytes(), nil
}

// bufferSink is a SnapshotSink in memory.
type bufferSink struct{ bytes.Buffer }

func (b *bufferSink) ID() string    { return "rafttest" }
func (b *bufferSink) Cancel() error { return nil }
func (b *bufferSink) Close() error  { return nil }

// Close shuts every server down and waits for their goroutines. It may be
// called more than once.
func (c *Cluster) Close() {
	for _, n := range c.Nodes() {
		c.shutdown(n) // a failure to shut down is the test's to see, not Close's
		n.trans.Close()
	}
	c.net.close()
}
