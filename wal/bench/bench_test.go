// Package bench compares raftkit's wal with hashicorp's raft-wal and
// raft-boltdb on the same StoreLogs workloads. It is a module of its own so
// that the library does not depend on them.
package bench

import (
	"fmt"
	"path/filepath"
	"testing"

	hraft "github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"
	"github.com/raftkit/raft"
	"github.com/raftkit/raft/wal"
)

var (
	batches = []int{1, 64, 1024}
	sizes   = []int{128, 1024}
)

// run times store(first, count) for each batch shape; store appends count
// entries of size bytes starting at index first.
func run(b *testing.B, open func(b *testing.B, size, count int) func(first uint64) error) {
	for _, batch := range batches {
		for _, size := range sizes {
			b.Run(fmt.Sprintf("batch=%d/size=%d", batch, size), func(b *testing.B) {
				store := open(b, size, batch)
				b.SetBytes(int64(batch * size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := store(uint64(i*batch) + 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkStoreLogs(b *testing.B) {
	b.Run("store=raftkit-wal", func(b *testing.B) {
		run(b, func(b *testing.B, size, count int) func(uint64) error {
			w, err := wal.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { w.Close() })
			logs := make([]*raft.Log, count)
			data := make([]byte, size)
			for i := range logs {
				logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: data}
			}
			return func(first uint64) error {
				for i, l := range logs {
					l.Index = first + uint64(i)
				}
				return w.StoreLogs(logs)
			}
		})
	})
	b.Run("store=raft-wal", func(b *testing.B) {
		run(b, func(b *testing.B, size, count int) func(uint64) error {
			w, err := raftwal.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { w.Close() })
			return hashicorpStore(w, size, count)
		})
	})
	b.Run("store=raft-boltdb", func(b *testing.B) {
		run(b, func(b *testing.B, size, count int) func(uint64) error {
			s, err := raftboltdb.NewBoltStore(filepath.Join(b.TempDir(), "raft.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return hashicorpStore(s, size, count)
		})
	})
}

// hashicorpStore adapts a hashicorp/raft LogStore to run.
func hashicorpStore(s hraft.LogStore, size, count int) func(uint64) error {
	logs := make([]*hraft.Log, count)
	data := make([]byte, size)
	for i := range logs {
		logs[i] = &hraft.Log{Term: 1, Type: hraft.LogCommand, Data: data}
	}
	return func(first uint64) error {
		for i, l := range logs {
			l.Index = first + uint64(i)
		}
		return s.StoreLogs(logs)
	}
}
