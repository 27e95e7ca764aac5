package wal

import (
	"fmt"
	"sync"
	"testing"

	"github.com/raftkit/raft"
)

// benchBatch returns count entries of size bytes starting at index from.
func benchBatch(from uint64, count, size int) []*raft.Log {
	logs := make([]*raft.Log, count)
	data := make([]byte, size)
	for i := range logs {
		logs[i] = &raft.Log{Index: from + uint64(i), Term: 1, Type: raft.LogCommand, Data: data}
	}
	return logs
}

// renumber makes logs continue after last, reusing the entries.
func renumber(logs []*raft.Log, last uint64) {
	for i, l := range logs {
		l.Index = last + 1 + uint64(i)
	}
}

// BenchmarkStoreLogs measures durable appends (one write and one
// fdatasync per call): the rate a follower or leader can persist.
func BenchmarkStoreLogs(b *testing.B) {
	for _, batch := range []int{1, 64, 1024} {
		for _, size := range []int{128, 1024} {
			b.Run(fmt.Sprintf("batch=%d/size=%d", batch, size), func(b *testing.B) {
				w := mustOpen(b, b.TempDir())
				defer w.Close()
				logs := benchBatch(1, batch, size)
				b.SetBytes(int64(batch * size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					renumber(logs, uint64(i*batch))
					if err := w.StoreLogs(logs); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkStoreLogsParallel measures group commit: 16 concurrent callers
// per core, each storing one 128-byte entry, share syncs.
func BenchmarkStoreLogsParallel(b *testing.B) {
	w := mustOpen(b, b.TempDir())
	defer w.Close()
	var mu sync.Mutex // makes taking an index and queueing one step
	next := uint64(1)
	data := make([]byte, 128)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			req := &request{logs: []*raft.Log{{Index: next, Term: 1, Data: data}}}
			next++
			err := w.enqueue(req)
			mu.Unlock()
			if err == nil {
				err = w.await(req)
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkGetLog(b *testing.B) {
	for _, tc := range []struct {
		name  string
		cache int
	}{{"cached", 4096}, {"file", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			w := mustOpen(b, b.TempDir(), WithSync(false), WithCacheEntries(tc.cache))
			defer w.Close()
			const n = 4096
			if err := w.StoreLogs(benchBatch(1, n, 1024)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			var l raft.Log
			for i := 0; i < b.N; i++ {
				if err := w.GetLog(uint64(1+i%n), &l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDeleteRange measures compaction from the head (ten entries at a
// time, inside a segment: the head file is rewritten) and cutting ten
// entries from the tail.
func BenchmarkDeleteRange(b *testing.B) {
	b.Run("head", func(b *testing.B) {
		w := mustOpen(b, b.TempDir())
		defer w.Close()
		for i := 0; i < b.N*10; i += 1024 {
			if err := w.StoreLogs(benchBatch(uint64(i+1), 1024, 128)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := w.DeleteRange(uint64(i*10+1), uint64(i*10+10)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("tail", func(b *testing.B) {
		w := mustOpen(b, b.TempDir())
		defer w.Close()
		logs := benchBatch(1, 20, 128)
		if err := w.StoreLogs(logs); err != nil {
			b.Fatal(err)
		}
		tail := logs[10:]
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := w.DeleteRange(11, 20); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := w.StoreLogs(tail); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
}
