package wal

import (
	"math/rand/v2"
	"testing"

	"github.com/raftkit/raft"
)

// TestTailCacheAgainstReference drives the cache with random adds,
// truncations and restarts and checks every lookup against a map of what
// was added and not truncated: a hit must return the right entry, and the
// entry just added must be held.
func TestTailCacheAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var c tailCache
	c.init(16)
	c.maxBytes = 1000
	ref := map[uint64]int{} // index -> payload size of the live entries
	next := uint64(1)
	for step := range 5000 {
		added := false
		switch op := rng.IntN(10); {
		case op < 7:
			added = true
			size := rng.IntN(3) * (c.maxBytes / 4) // some entries force eviction by bytes
			c.add(&raft.Log{Index: next, Data: make([]byte, size)})
			ref[next] = size
			next++
		case op < 9 && next > 1:
			cut := next - 1 - uint64(rng.IntN(int(min(next-1, 20))))
			c.truncate(cut)
			for i := cut + 1; i < next; i++ {
				delete(ref, i)
			}
			next = cut + 1
		default:
			next += uint64(rng.IntN(100)) // a restart elsewhere: not consecutive
		}
		hits, total := 0, 0
		for i := next - min(next-1, 40); i < next; i++ {
			l, ok := c.get(i)
			size, live := ref[i]
			if ok && (!live || l.Index != i || len(l.Data) != size) {
				t.Fatalf("step %d: get(%d) hit a stale or wrong entry", step, i)
			}
			if ok {
				hits++
				total += size
			}
		}
		if total > c.maxBytes+c.maxBytes/2 || c.bytes < 0 {
			t.Fatalf("step %d: %d bytes cached, %d counted", step, total, c.bytes)
		}
		if added {
			if _, ok := c.get(next - 1); !ok {
				t.Fatalf("step %d: newest entry %d not cached", step, next-1)
			}
		}
	}
}
