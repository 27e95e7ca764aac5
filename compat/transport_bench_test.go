package compat

import (
	"bytes"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	hraft "github.com/hashicorp/raft"
	"github.com/raftkit/raft"
)

const benchEntries = 64

// benchRequest is a replication batch of benchEntries 128-byte commands.
func benchRequest() *raft.AppendEntriesRequest {
	req := &raft.AppendEntriesRequest{RPCHeader: header("leader"), Term: 12, Leader: []byte("addr-leader"),
		PrevLogEntry: 100000, PrevLogTerm: 12, LeaderCommitIndex: 99990}
	now := time.Now()
	for i := range benchEntries {
		req.Entries = append(req.Entries, &raft.Log{Index: uint64(100001 + i), Term: 12, Type: raft.LogCommand,
			Data: bytes.Repeat([]byte{byte(i)}, 128), AppendedAt: now})
	}
	return req
}

// BenchmarkTransportAppendEntries compares one synchronous AppendEntries of
// 64 entries over loopback TCP between two transports of the same library.
func BenchmarkTransportAppendEntries(b *testing.B) {
	b.Run("raftkit", func(b *testing.B) {
		config := func() *raft.NetworkTransportConfig {
			return &raft.NetworkTransportConfig{MaxPool: 2, Timeout: 5 * time.Second, Logger: hclog.NewNullLogger()}
		}
		client, err := raft.NewTCPTransportWithConfig("127.0.0.1:0", nil, config())
		if err != nil {
			b.Fatal(err)
		}
		server, err := raft.NewTCPTransportWithConfig("127.0.0.1:0", nil, config())
		if err != nil {
			b.Fatal(err)
		}
		defer client.Close()
		defer server.Close()
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case rpc := <-server.Consumer():
					rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
				case <-done:
					return
				}
			}
		}()
		req := benchRequest()
		b.ReportAllocs()
		for b.Loop() {
			if err := client.AppendEntries("s", server.LocalAddr(), req, &raft.AppendEntriesResponse{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchEntries), "ns/entry")
	})
	b.Run("hashicorp", func(b *testing.B) {
		config := func() *hraft.NetworkTransportConfig {
			return &hraft.NetworkTransportConfig{MaxPool: 2, Timeout: 5 * time.Second, Logger: hclog.NewNullLogger()}
		}
		client, err := hraft.NewTCPTransportWithConfig("127.0.0.1:0", nil, config())
		if err != nil {
			b.Fatal(err)
		}
		server, err := hraft.NewTCPTransportWithConfig("127.0.0.1:0", nil, config())
		if err != nil {
			b.Fatal(err)
		}
		defer client.Close()
		defer server.Close()
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case rpc := <-server.Consumer():
					rpc.Respond(&hraft.AppendEntriesResponse{Success: true}, nil)
				case <-done:
					return
				}
			}
		}()
		req := toHashicorp(benchRequest()).(*hraft.AppendEntriesRequest)
		b.ReportAllocs()
		for b.Loop() {
			if err := client.AppendEntries("s", server.LocalAddr(), req, &hraft.AppendEntriesResponse{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchEntries), "ns/entry")
	})
}
