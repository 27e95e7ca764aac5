package rafttest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

// kv is the kind of FSM a service replicates: a map set by "key=value"
// commands.
type kv struct {
	mu sync.Mutex
	m  map[string]string
}

func newKV() *kv { return &kv{m: map[string]string{}} }

func (f *kv) Apply(l *raft.Log) interface{} {
	var k, v string
	fmt.Sscanf(string(l.Data), "%s %s", &k, &v)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[k] = v
	return len(f.m)
}

func (f *kv) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(f.m) // sorted keys: equal maps give equal bytes
	return kvSnapshot(b), err
}

func (f *kv) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	m := map[string]string{}
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m = m
	return nil
}

type kvSnapshot []byte

func (s kvSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (kvSnapshot) Release() {}

// A service's FSM in a cluster of three servers: a partition isolates the
// leader, the others elect a new one and take a write, the partition heals,
// and every FSM ends in the same state. In a test, use New(t, ...) instead
// of Start, inside a synctest bubble to make the timeouts free.
func Example() {
	c, err := rafttest.Start(rafttest.Options{
		Servers: 3,
		NewFSM:  func(raft.ServerID) raft.FSM { return newKV() },
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if _, err := c.Apply([]byte("color blue"), 10*time.Second); err != nil {
		panic(err)
	}
	leader, err := c.Leader(10 * time.Second)
	if err != nil {
		panic(err)
	}
	c.Isolate(leader)
	if _, err := c.Apply([]byte("shape round"), 10*time.Second); err != nil {
		panic(err)
	}
	c.Heal()
	if err := c.Consistent(10 * time.Second); err != nil {
		panic(err)
	}
	fsm := leader.FSM().(*kv)
	fsm.mu.Lock()
	defer fsm.mu.Unlock()
	fmt.Println(fsm.m["color"], fsm.m["shape"])
	// Output: blue round
}
