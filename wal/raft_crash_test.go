package wal

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

// The cluster kill -9 test runs three raft servers over this package's WAL
// in a child process, with clients applying commands, and kills the whole
// process at a random point: every server crashes at once. The parent then
// starts the cluster from the same directories and checks that every
// command whose Apply had returned success is in the new leader's FSM. It
// checks raft and the store together: a command is acknowledged once a
// majority stored it, so it must survive the crash of every server.

const (
	clusterDirEnv  = "WAL_CLUSTER_CHILD_DIR"
	clusterSeedEnv = "WAL_CLUSTER_CHILD_SEED"
	clusterSize    = 3
)

// crashCluster is three servers in one process, each over its own WAL and
// file snapshot store under dir, talking through in-memory transports.
type crashCluster struct {
	rafts  []*raft.Raft
	fsms   []*rafttest.LogFSM
	stores []*WAL
}

// startCrashCluster starts the cluster; opts, when given, holds each
// server's WAL options.
func startCrashCluster(dir string, opts ...[]Option) (*crashCluster, error) {
	c := &crashCluster{}
	var servers []raft.Server
	var transports []*raft.InmemTransport
	for i := range clusterSize {
		addr, trans := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("n%d", i)))
		servers = append(servers, raft.Server{ID: raft.ServerID(addr), Address: addr})
		transports = append(transports, trans)
	}
	for _, t := range transports {
		for _, u := range transports {
			t.Connect(u.LocalAddr(), u)
		}
	}
	for i, s := range servers {
		var o []Option
		if i < len(opts) {
			o = opts[i]
		}
		if err := c.startServer(filepath.Join(dir, string(s.ID)), s.ID, transports[i], servers, o); err != nil {
			c.close()
			return nil, fmt.Errorf("start %s: %w", s.ID, err)
		}
	}
	return c, nil
}

func (c *crashCluster) startServer(dir string, id raft.ServerID, trans *raft.InmemTransport, servers []raft.Server, opts []Option) error {
	// Small segments: the log rolls to new segments, and compaction drops
	// whole ones, while the crashes happen.
	store, err := Open(dir, append([]Option{WithSegmentSize(64 << 10)}, opts...)...)
	if err != nil {
		return err
	}
	c.stores = append(c.stores, store)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hclog.NewNullLogger())
	if err != nil {
		return err
	}
	conf := raft.DefaultConfig()
	conf.LocalID = id
	conf.Logger = hclog.NewNullLogger()
	conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	// Snapshots and compaction often, so that crashes land in them too.
	conf.SnapshotThreshold, conf.SnapshotInterval, conf.TrailingLogs = 64, 20*time.Millisecond, 32
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return err
	}
	if !existing {
		if err := raft.BootstrapCluster(conf, store, store, snaps, trans, raft.Configuration{Servers: servers}); err != nil {
			return err
		}
	}
	fsm := rafttest.NewLogFSM()
	r, err := raft.NewRaft(conf, fsm, store, store, snaps, trans)
	if err != nil {
		return err
	}
	c.rafts, c.fsms = append(c.rafts, r), append(c.fsms, fsm)
	return nil
}

// leader waits until one server leads and returns its index.
func (c *crashCluster) leader(timeout time.Duration) (int, error) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for i, r := range c.rafts {
			if r.State() == raft.Leader {
				return i, nil
			}
		}
	}
	return 0, errors.New("no leader")
}

// barrier waits until a leader has applied every entry it holds (a new
// leader's first election may be followed by another one) and returns its
// index.
func (c *crashCluster) barrier(timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		l, err := c.leader(time.Until(deadline))
		if err != nil {
			return 0, err
		}
		err = c.rafts[l].Barrier(time.Until(deadline)).Error()
		if err == nil || time.Now().After(deadline) {
			return l, err
		}
	}
}

func (c *crashCluster) close() {
	for _, r := range c.rafts {
		r.Shutdown().Error()
	}
	for _, s := range c.stores {
		s.Close()
	}
}

// TestClusterCrashChild is the child; it does nothing unless run by
// TestClusterKill9.
func TestClusterCrashChild(t *testing.T) {
	dir := os.Getenv(clusterDirEnv)
	if dir == "" {
		t.Skip("only run as the child of TestClusterKill9")
	}
	seed, err := strconv.ParseUint(os.Getenv(clusterSeedEnv), 10, 64)
	if err == nil {
		err = clusterChild(dir, seed)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(3)
	}
	os.Exit(0)
}

// clusterChild starts the cluster and has eight clients apply commands
// through the leader, printing "ok CMD" for each Apply that succeeded,
// until it is killed (or for at most 20 s). A failed Apply (leadership can
// move on a loaded machine) is not reported and the client goes on.
func clusterChild(dir string, seed uint64) error {
	// Disks of different speeds: each server's segment writes wait up to
	// 2 ms, so that the crash also lands while one server (the leader, often)
	// has not yet written what the others acknowledged.
	rng := rand.New(rand.NewPCG(seed, 99))
	var opts [][]Option
	for range clusterSize {
		delay := time.Duration(rng.IntN(2000)) * time.Microsecond
		fs := &faultFS{hook: func(op, path string) error {
			if op == "write" && strings.HasSuffix(path, segSuffix) {
				time.Sleep(delay)
			}
			return nil
		}}
		opts = append(opts, []Option{withFS(fs)})
	}
	c, err := startCrashCluster(dir, opts...)
	if err != nil {
		return err
	}
	var mu sync.Mutex // guards out
	out := bufio.NewWriter(os.Stdout)
	var clients sync.WaitGroup
	errs := make(chan error, 8)
	deadline := time.Now().Add(20 * time.Second)
	for id := range 8 {
		clients.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(id)))
			for i := 0; time.Now().Before(deadline); i++ {
				l, err := c.leader(10 * time.Second)
				if err != nil {
					errs <- err
					return
				}
				cmd := fmt.Sprintf("%x-%d-%d", seed, id, i)
				if c.rafts[l].Apply([]byte(cmd), time.Second).Error() != nil {
					continue
				}
				mu.Lock()
				fmt.Fprintf(out, "ok %s\n", cmd)
				err = out.Flush()
				mu.Unlock()
				if err != nil {
					return // the parent stopped reading
				}
				time.Sleep(time.Duration(rng.IntN(200)) * time.Microsecond)
			}
		})
	}
	clients.Wait()
	close(errs)
	return <-errs
}

// TestClusterKill9 kills a process running a three-server cluster at
// random points and checks after each kill that every acknowledged command
// survived.
func TestClusterKill9(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 4
	}
	rng := killRand(t, 2)
	dir := t.TempDir()
	var acked []string
	for round := range rounds {
		env := []string{clusterDirEnv + "=" + dir, fmt.Sprintf("%s=%d", clusterSeedEnv, rng.Uint64())}
		killedChild(t, "TestClusterCrashChild", env, 1+rng.IntN(400), func(line string) {
			acked = append(acked, strings.TrimPrefix(line, "ok "))
		})
		c, err := startCrashCluster(dir)
		if err != nil {
			t.Fatalf("round %d: restart after kill -9: %v", round, err)
		}
		l, err := c.barrier(10 * time.Second)
		if err != nil {
			c.close()
			t.Fatalf("round %d: after kill -9: %v", round, err)
		}
		applied := map[string]bool{}
		for _, cmd := range c.fsms[l].Commands() {
			applied[string(cmd)] = true
		}
		for _, cmd := range acked {
			if !applied[cmd] {
				c.close()
				t.Fatalf("round %d: acknowledged command %s lost (%d acknowledged in all)", round, cmd, len(acked))
			}
		}
		c.close()
	}
	segs := segFiles(t, filepath.Join(dir, "n0"))
	t.Logf("%d rounds, %d acknowledged commands, all kept; n0's newest segment: %s", rounds, len(acked), filepath.Base(segs[len(segs)-1]))
}
