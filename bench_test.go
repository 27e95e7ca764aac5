package raft_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/raftkit/raft"
	"github.com/raftkit/raft/rafttest"
)

// benchCluster starts a 3-server cluster in real time (benchmarks measure
// wall-clock time, so no synctest here) and returns its leader.
func benchCluster(b *testing.B) (*rafttest.Cluster, *raft.Raft) {
	c := rafttest.New(b, rafttest.Options{Servers: 3, Logger: hclog.NewNullLogger(),
		NewFSM: func(raft.ServerID) raft.FSM { return &nopFSM{} },
		Config: func(conf *raft.Config) {
			conf.HeartbeatTimeout = 500 * time.Millisecond
			conf.ElectionTimeout = 500 * time.Millisecond
			conf.LeaderLeaseTimeout = 250 * time.Millisecond
		}})
	l, err := c.Leader(10 * time.Second)
	if err != nil {
		b.Fatal(err)
	}
	return c, l.Raft()
}

// nopFSM applies nothing, so the benchmarks measure raft alone.
type nopFSM struct{ rafttest.LogFSM }

func (*nopFSM) Apply(*raft.Log) interface{} { return nil }

// BenchmarkApply measures one client applying 128-byte commands one after
// the other on a 3-server in-memory cluster: latency-bound.
func BenchmarkApply(b *testing.B) {
	c, leader := benchCluster(b)
	defer c.Close()
	cmd := make([]byte, 128)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := leader.Apply(cmd, time.Second).Error(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyConcurrent measures 64 clients applying at once:
// throughput-bound, exercising group commit.
func BenchmarkApplyConcurrent(b *testing.B) {
	for _, clients := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			c, leader := benchCluster(b)
			defer c.Close()
			cmd := make([]byte, 128)
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			per := b.N/clients + 1
			for i := 0; i < clients; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < per; j++ {
						if err := leader.Apply(cmd, time.Second).Error(); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
		})
	}
}
