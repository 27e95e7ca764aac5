package raft_test

// Starting from snapshots on disk: broken snapshots are skipped for older
// ones, and a server refuses to start when none is usable.

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

// syncLog is a log sink tests read.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// soloServer is a one-server cluster over a FileSnapshotStore in dir.
type soloServer struct {
	dir   string
	store *raft.InmemStore
	log   *syncLog
}

func (s *soloServer) start(t *testing.T) (*raft.Raft, *rafttest.LogFSM, error) {
	snaps, err := raft.NewFileSnapshotStoreWithLogger(s.dir, 5, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	conf := testConfig("a")
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: s.log, Level: hclog.Info})
	addr, trans := raft.NewInmemTransport("a")
	_ = raft.BootstrapCluster(conf, s.store, s.store, snaps, trans, raft.Configuration{Servers: []raft.Server{{ID: "a", Address: addr}}})
	fsm := rafttest.NewLogFSM()
	r, err := raft.NewRaft(conf, fsm, s.store, s.store, snaps, trans)
	if err != nil {
		trans.Close()
		return nil, nil, err
	}
	for r.State() != raft.Leader {
		time.Sleep(time.Millisecond)
	}
	return r, fsm, nil
}

func TestStartSkipsBrokenSnapshots(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		s := &soloServer{dir: dir, store: raft.NewInmemStore(), log: &syncLog{}}
		r, _, err := s.start(t)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for round := 0; round < 2; round++ {
			for i := 0; i < 5; i++ {
				if err := r.Apply([]byte{byte(round), byte(i)}, 0).Error(); err != nil {
					t.Fatal(err)
				}
			}
			f := r.Snapshot()
			if err := f.Error(); err != nil {
				t.Fatal(err)
			}
			meta, rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			rc.Close()
			ids = append(ids, meta.ID)
		}
		r.Shutdown().Error()

		// Break the newest snapshot: the server starts from the older one
		// and replays the log after it.
		state := filepath.Join(dir, "snapshots", ids[1], "state.bin")
		data, err := os.ReadFile(state)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		if err := os.WriteFile(state, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, fsm, err := s.start(t)
		if err != nil {
			t.Fatalf("start with one broken snapshot: %v", err)
		}
		if err := r.Barrier(0).Error(); err != nil {
			t.Fatal(err)
		}
		if got := len(fsm.Commands()); got != 10 {
			t.Fatalf("restarted with %d commands, want 10", got)
		}
		if !strings.Contains(s.log.String(), ids[1]) {
			t.Fatalf("the broken snapshot %s was skipped without a log naming it:\n%s", ids[1], s.log)
		}
		r.Shutdown().Error()

		// Break the older one too: no usable snapshot, no start.
		state = filepath.Join(dir, "snapshots", ids[0], "state.bin")
		if err := os.WriteFile(state, []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.start(t); err == nil || !strings.Contains(err.Error(), "no usable snapshot") {
			t.Fatalf("start with every snapshot broken: %v", err)
		}
	})
}
