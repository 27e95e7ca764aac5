package compat

// One server of either library behind the few calls the mixed-cluster tests
// make, each with its library's TCP transport on loopback, InmemStore and
// InmemSnapshotStore.

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
	"github.com/raftkit/raft"
)

// lib names the library a server runs.
type lib string

const (
	raftkit   lib = "raftkit"
	hashicorp lib = "hashicorp"
)

// opTimeout bounds the enqueueing of every request a test makes; the
// request itself then ends with its outcome or with the server's shutdown.
const opTimeout = 2 * time.Second

// futureWait bounds the wait for a request's outcome. Both libraries
// promise one; a request that never completes is reported as stuck (which
// fails the test) and returns errStuck, instead of hanging the test.
const futureWait = 15 * time.Second

var errStuck = errors.New("request never completed")

// await returns what wait returns, or errStuck after futureWait. A stuck
// wait leaves its goroutine behind; the test fails anyway.
func await(stuck func(what string), what string, wait func() error) error {
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(futureWait):
		stuck(what)
		return fmt.Errorf("%s: %w", what, errStuck)
	}
}

// settings are the parts of the configuration a test chooses; the rest is
// the same for every test (short timeouts, see the config functions).
type settings struct {
	trailingLogs      uint64
	snapshotThreshold uint64
	snapshotInterval  time.Duration
}

// noSnapshots keeps every entry: no server snapshots unless asked to.
var noSnapshots = settings{trailingLogs: 1 << 20, snapshotThreshold: 1 << 40, snapshotInterval: time.Hour}

// member is a server of a configuration to bootstrap.
type member struct{ id, addr string }

// node is one server. Calls that wait return with the request's outcome, or
// with an error when the server is not the leader, loses leadership or shuts
// down; the caller retries against whichever server leads.
type node interface {
	id() string
	addr() string
	lib() lib
	// start bootstraps the server with boot (unless nil) and runs it.
	start(boot []member) error
	isLeader() bool
	apply(cmd []byte) error
	barrier() error
	addVoter(id, addr string) error
	removeServer(id string) error
	transferTo(id, addr string) error
	snapshot() error
	// servers returns the suffrage ("Voter", "Staging", ...) of every server
	// of the latest configuration, by ID.
	servers() (map[string]string, error)
	// firstIndex is the first index of the server's LogStore.
	firstIndex() (uint64, error)
	history() *history
	// stop shuts the server down; closeTransport then closes its transport.
	stop() error
	closeTransport() error
}

// The transports' settings, the same for both libraries.
const (
	transportPool    = 3
	transportTimeout = 2 * time.Second
)

// rkNode is a raftkit server.
type rkNode struct {
	sid    string
	logger hclog.Logger
	s      settings
	trans  *raft.NetworkTransport
	store  *raft.InmemStore
	snaps  *raft.InmemSnapshotStore
	h      *history
	stuck  func(what string) // reports a request that never completed
	r      *raft.Raft        // nil until started
}

func newRaftkitNode(id string, s settings, logger hclog.Logger, stuck func(string)) (*rkNode, error) {
	trans, err := raft.NewTCPTransportWithConfig("127.0.0.1:0", nil, &raft.NetworkTransportConfig{
		MaxPool: transportPool, Timeout: transportTimeout, Logger: logger.Named("transport")})
	if err != nil {
		return nil, fmt.Errorf("raftkit transport for %s: %w", id, err)
	}
	return &rkNode{sid: id, logger: logger, s: s, trans: trans, store: raft.NewInmemStore(),
		snaps: raft.NewInmemSnapshotStore(), h: &history{}, stuck: stuck}, nil
}

func (n *rkNode) config() *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(n.sid)
	c.HeartbeatTimeout, c.ElectionTimeout = 150*time.Millisecond, 150*time.Millisecond
	c.LeaderLeaseTimeout, c.CommitTimeout = 100*time.Millisecond, 5*time.Millisecond
	c.TrailingLogs, c.SnapshotThreshold, c.SnapshotInterval = n.s.trailingLogs, n.s.snapshotThreshold, n.s.snapshotInterval
	// The tests shut removed servers down themselves. Besides, hashicorp's
	// leader removing itself may shut down before completing the
	// RemoveServer future, which then never completes.
	c.ShutdownOnRemove = false
	c.Logger = n.logger
	return c
}

func (n *rkNode) start(boot []member) error {
	c := n.config()
	if boot != nil {
		var conf raft.Configuration
		for _, m := range boot {
			conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.id), Address: raft.ServerAddress(m.addr)})
		}
		if err := raft.BootstrapCluster(c, n.store, n.store, n.snaps, n.trans, conf); err != nil {
			return fmt.Errorf("bootstrap %s: %w", n.sid, err)
		}
	}
	r, err := raft.NewRaft(c, rkFSM{n.h}, n.store, n.store, n.snaps, n.trans)
	if err != nil {
		return fmt.Errorf("start %s: %w", n.sid, err)
	}
	n.r = r
	return nil
}

func (n *rkNode) id() string        { return n.sid }
func (n *rkNode) addr() string      { return string(n.trans.LocalAddr()) }
func (n *rkNode) lib() lib          { return raftkit }
func (n *rkNode) history() *history { return n.h }
func (n *rkNode) isLeader() bool    { return n.r.State() == raft.Leader }

func (n *rkNode) apply(b []byte) error {
	return await(n.stuck, n.sid+" apply", n.r.Apply(b, opTimeout).Error)
}

func (n *rkNode) barrier() error {
	return await(n.stuck, n.sid+" barrier", n.r.Barrier(opTimeout).Error)
}

func (n *rkNode) snapshot() error {
	return await(n.stuck, n.sid+" snapshot", n.r.Snapshot().Error)
}

func (n *rkNode) addVoter(id, addr string) error {
	return await(n.stuck, n.sid+" add voter "+id, n.r.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, opTimeout).Error)
}

func (n *rkNode) removeServer(id string) error {
	return await(n.stuck, n.sid+" remove server "+id, n.r.RemoveServer(raft.ServerID(id), 0, opTimeout).Error)
}

func (n *rkNode) transferTo(id, addr string) error {
	return await(n.stuck, n.sid+" transfer to "+id, n.r.LeadershipTransferToServer(raft.ServerID(id), raft.ServerAddress(addr)).Error)
}

func (n *rkNode) servers() (map[string]string, error) {
	f := n.r.GetConfiguration()
	if err := await(n.stuck, n.sid+" get configuration", f.Error); err != nil {
		return nil, err
	}
	m := make(map[string]string)
	for _, s := range f.Configuration().Servers {
		m[string(s.ID)] = s.Suffrage.String()
	}
	return m, nil
}

func (n *rkNode) firstIndex() (uint64, error) { return n.store.FirstIndex() }

func (n *rkNode) stop() error {
	if n.r == nil {
		return nil
	}
	return n.r.Shutdown().Error()
}

func (n *rkNode) closeTransport() error { return n.trans.Close() }

// hcNode is a hashicorp/raft server.
type hcNode struct {
	sid    string
	logger hclog.Logger
	s      settings
	trans  *hraft.NetworkTransport
	store  *hraft.InmemStore
	snaps  *hraft.InmemSnapshotStore
	h      *history
	stuck  func(what string) // reports a request that never completed
	r      *hraft.Raft       // nil until started
}

func newHashicorpNode(id string, s settings, logger hclog.Logger, stuck func(string)) (*hcNode, error) {
	trans, err := hraft.NewTCPTransportWithConfig("127.0.0.1:0", nil, &hraft.NetworkTransportConfig{
		MaxPool: transportPool, Timeout: transportTimeout, Logger: logger.Named("transport")})
	if err != nil {
		return nil, fmt.Errorf("hashicorp transport for %s: %w", id, err)
	}
	return &hcNode{sid: id, logger: logger, s: s, trans: trans, store: hraft.NewInmemStore(),
		snaps: hraft.NewInmemSnapshotStore(), h: &history{}, stuck: stuck}, nil
}

func (n *hcNode) config() *hraft.Config {
	c := hraft.DefaultConfig()
	c.LocalID = hraft.ServerID(n.sid)
	c.HeartbeatTimeout, c.ElectionTimeout = 150*time.Millisecond, 150*time.Millisecond
	c.LeaderLeaseTimeout, c.CommitTimeout = 100*time.Millisecond, 5*time.Millisecond
	c.TrailingLogs, c.SnapshotThreshold, c.SnapshotInterval = n.s.trailingLogs, n.s.snapshotThreshold, n.s.snapshotInterval
	// The tests shut removed servers down themselves. Besides, hashicorp's
	// leader removing itself may shut down before completing the
	// RemoveServer future, which then never completes.
	c.ShutdownOnRemove = false
	c.Logger = n.logger
	return c
}

func (n *hcNode) start(boot []member) error {
	c := n.config()
	if boot != nil {
		var conf hraft.Configuration
		for _, m := range boot {
			conf.Servers = append(conf.Servers, hraft.Server{Suffrage: hraft.Voter, ID: hraft.ServerID(m.id), Address: hraft.ServerAddress(m.addr)})
		}
		if err := hraft.BootstrapCluster(c, n.store, n.store, n.snaps, n.trans, conf); err != nil {
			return fmt.Errorf("bootstrap %s: %w", n.sid, err)
		}
	}
	r, err := hraft.NewRaft(c, hcFSM{n.h}, n.store, n.store, n.snaps, n.trans)
	if err != nil {
		return fmt.Errorf("start %s: %w", n.sid, err)
	}
	n.r = r
	return nil
}

func (n *hcNode) id() string        { return n.sid }
func (n *hcNode) addr() string      { return string(n.trans.LocalAddr()) }
func (n *hcNode) lib() lib          { return hashicorp }
func (n *hcNode) history() *history { return n.h }
func (n *hcNode) isLeader() bool    { return n.r.State() == hraft.Leader }

func (n *hcNode) apply(b []byte) error {
	return await(n.stuck, n.sid+" apply", n.r.Apply(b, opTimeout).Error)
}

func (n *hcNode) barrier() error {
	return await(n.stuck, n.sid+" barrier", n.r.Barrier(opTimeout).Error)
}

func (n *hcNode) snapshot() error {
	return await(n.stuck, n.sid+" snapshot", n.r.Snapshot().Error)
}

func (n *hcNode) addVoter(id, addr string) error {
	return await(n.stuck, n.sid+" add voter "+id, n.r.AddVoter(hraft.ServerID(id), hraft.ServerAddress(addr), 0, opTimeout).Error)
}

func (n *hcNode) removeServer(id string) error {
	return await(n.stuck, n.sid+" remove server "+id, n.r.RemoveServer(hraft.ServerID(id), 0, opTimeout).Error)
}

func (n *hcNode) transferTo(id, addr string) error {
	return await(n.stuck, n.sid+" transfer to "+id, n.r.LeadershipTransferToServer(hraft.ServerID(id), hraft.ServerAddress(addr)).Error)
}

func (n *hcNode) servers() (map[string]string, error) {
	f := n.r.GetConfiguration()
	if err := await(n.stuck, n.sid+" get configuration", f.Error); err != nil {
		return nil, err
	}
	m := make(map[string]string)
	for _, s := range f.Configuration().Servers {
		m[string(s.ID)] = s.Suffrage.String()
	}
	return m, nil
}

func (n *hcNode) firstIndex() (uint64, error) { return n.store.FirstIndex() }

func (n *hcNode) stop() error {
	if n.r == nil {
		return nil
	}
	return n.r.Shutdown().Error()
}

func (n *hcNode) closeTransport() error { return n.trans.Close() }
