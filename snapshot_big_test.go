package raft_test

// A large snapshot installs with bounded memory: the leader streams it from
// its snapshot store through the transport into the follower's store, and the
// follower's FSM restores it streaming.

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

// bigFSM's state is a seed; its snapshot is size bytes generated from the
// seed, so a snapshot of any size costs no memory, and Restore checks the
// bytes as they stream by.
type bigFSM struct {
	size     int64
	mu       sync.Mutex
	applied  int      // guarded by mu
	restored [32]byte // guarded by mu: hash of the last restored stream
}

func (f *bigFSM) Apply(*raft.Log) interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied++
	return nil
}

func (f *bigFSM) Snapshot() (raft.FSMSnapshot, error) { return &bigSnapshot{size: f.size}, nil }

func (f *bigFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, bufio.NewReader(rc)); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	copy(f.restored[:], h.Sum(nil))
	return nil
}

type bigSnapshot struct{ size int64 }

func (s *bigSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := io.Copy(sink, io.LimitReader(newPattern(), s.size)); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *bigSnapshot) Release() {}

// pattern is an endless reader of pseudo-random bytes from a fixed seed.
type pattern struct{ rng *rand.ChaCha8 }

func newPattern() *pattern { return &pattern{rand.NewChaCha8([32]byte{7})} }

func (p *pattern) Read(b []byte) (int, error) { return p.rng.Read(b) }

// patternHash is the hash of the first size bytes of the pattern.
func patternHash(size int64) [32]byte {
	var out [32]byte
	var h hash.Hash = sha256.New()
	io.Copy(h, io.LimitReader(newPattern(), size))
	copy(out[:], h.Sum(nil))
	return out
}

// rss returns the process's resident set size in bytes (Linux).
func rss() (int64, error) {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return 0, errors.New("statm: unexpected format")
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	return pages * int64(os.Getpagesize()), err
}

// TestInstallLargeSnapshotBoundedMemory installs a 1 GiB snapshot (128 MiB
// under the race detector, which is ten times slower; `make test` also runs
// it at full size without -race).
func TestInstallLargeSnapshotBoundedMemory(t *testing.T) {
	size := int64(1 << 30)
	if raceEnabled {
		size = 128 << 20
	}
	if s := os.Getenv("RAFT_BIG_SNAPSHOT_MB"); s != "" {
		mb, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		size = int64(mb) << 20
	}
	if _, err := rss(); err != nil {
		t.Skipf("no RSS reading on this system: %v", err)
	}
	dir := t.TempDir()
	var installs snapshotCount
	opts := rafttest.Options{
		Servers:    3,
		Logger:     hclog.NewNullLogger(),
		RPCTimeout: time.Minute, // the whole snapshot travels in one RPC
		Hook:       installs.hook,
		NewFSM:     func(raft.ServerID) raft.FSM { return &bigFSM{size: size} },
		NewSnapshotStore: func(id raft.ServerID) (raft.SnapshotStore, error) {
			return raft.NewFileSnapshotStoreWithLogger(dir+"/"+string(id), 1, hclog.NewNullLogger())
		},
		Config: func(c *raft.Config) {
			c.TrailingLogs = 2
			// Real time: generous timeouts, the disk is slow and shared.
			c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
		},
	}
	c, err := rafttest.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	leader, err := c.Leader(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lagging := others(c, leader)[0]
	c.Isolate(lagging)
	for i := 0; i < 10; i++ {
		if _, err := c.Apply([]byte("x"), 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := leader.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	var peak atomic.Int64
	base, _ := rss()
	peak.Store(base)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if v, err := rss(); err == nil && v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	c.Heal()
	want := patternHash(size)
	err = c.Eventually(5*time.Minute, func() error {
		f := lagging.FSM().(*bigFSM)
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.restored != want {
			return fmt.Errorf("the follower has not restored the snapshot yet")
		}
		return nil
	})
	close(stop)
	<-sampled
	if err != nil {
		t.Fatal(err)
	}
	growth := peak.Load() - base
	t.Logf("installed a %d MiB snapshot in %s; RSS grew by %.1f MiB", size>>20, time.Since(start).Round(time.Millisecond), float64(growth)/(1<<20))
	// The follower restores before it answers: the RPC completes just after.
	if err := c.Eventually(time.Minute, func() error {
		if installs.n.Load() == 0 {
			return errors.New("the follower caught up without an InstallSnapshot")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if growth > 64<<20 {
		t.Fatalf("RSS grew by %d MiB while installing a %d MiB snapshot", growth>>20, size>>20)
	}
}
