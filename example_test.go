package raft_test

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/raftkit/raft"
)

// counter is the replicated state machine of the example: it adds up the
// lengths of the commands.
type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) Apply(l *raft.Log) interface{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n += len(l.Data)
	return c.n
}

func (c *counter) Snapshot() (raft.FSMSnapshot, error) {
	return nil, fmt.Errorf("the example takes no snapshots")
}

func (c *counter) Restore(rc io.ReadCloser) error { return rc.Close() }

// The README's example: three servers in one process over the in-memory
// transport, and one command applied through the leader.
func Example() {
	var servers []raft.Server
	var transports []*raft.InmemTransport
	for _, id := range []raft.ServerID{"a", "b", "c"} {
		addr, t := raft.NewInmemTransport("")
		servers = append(servers, raft.Server{ID: id, Address: addr})
		transports = append(transports, t)
	}
	for _, t := range transports {
		for _, u := range transports {
			if t != u {
				t.Connect(u.LocalAddr(), u)
			}
		}
	}
	var nodes []*raft.Raft
	for i, s := range servers {
		conf := raft.DefaultConfig()
		conf.LocalID = s.ID
		conf.LogLevel = "off"
		store := raft.NewInmemStore()
		snaps := raft.NewInmemSnapshotStore()
		err := raft.BootstrapCluster(conf, store, store, snaps, transports[i], raft.Configuration{Servers: servers})
		if err != nil {
			panic(err)
		}
		r, err := raft.NewRaft(conf, &counter{}, store, store, snaps, transports[i])
		if err != nil {
			panic(err)
		}
		nodes = append(nodes, r)
	}
	defer func() {
		for _, r := range nodes {
			r.Shutdown().Error()
		}
	}()
	for {
		for _, r := range nodes {
			if r.State() == raft.Leader {
				f := r.Apply([]byte("hello"), time.Second)
				if err := f.Error(); err != nil {
					panic(err)
				}
				fmt.Println("applied, the counter is at", f.Response())
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Output: applied, the counter is at 5
}
