package raft

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLogTailAgainstReference drives the tail with random appends,
// truncations, drops, evictions and resets, and checks every read against a
// plain slice that models the same window.
func TestLogTailAgainstReference(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		var tail logTail
		var ref []*Log // the window the tail should hold
		next := uint64(1)
		for step := 0; step < 3000; step++ {
			switch op := rng.IntN(20); {
			case op < 12: // append a batch
				var batch []*Log
				for i := rng.IntN(8) + 1; i > 0; i-- {
					batch = append(batch, &Log{Index: next, Term: 1, Data: make([]byte, rng.IntN(64))})
					next++
				}
				tail.append(batch)
				ref = append(ref, batch...)
			case op < 14 && len(ref) > 0: // truncate a suffix
				at := ref[rng.IntN(len(ref))].Index
				tail.truncateFrom(at)
				ref = ref[:at-ref[0].Index]
				next = at
			case op < 16 && len(ref) > 0: // compaction
				through := ref[rng.IntN(len(ref))].Index
				tail.dropThrough(through)
				ref = ref[through-ref[0].Index+1:]
			case op < 17: // eviction: nothing is over the bounds here
				tail.evict(next)
			case op < 18: // the log restarts elsewhere (a snapshot)
				tail.reset()
				ref = nil
				next += uint64(rng.IntN(100))
			default: // reads
			}
			checkTail(t, seed, step, rng, &tail, ref, next)
		}
	}
}

// checkTail compares the tail with the reference: its size, and reads at
// the window's edges and at random indexes.
func checkTail(t *testing.T, seed uint64, step int, rng *rand.Rand, tail *logTail, ref []*Log, next uint64) {
	t.Helper()
	bytes := 0
	for _, e := range ref {
		bytes += len(e.Data)
	}
	if tail.bytes != bytes || len(tail.entries) != len(ref) {
		t.Fatalf("seed %d step %d: tail holds %d entries / %d bytes, want %d / %d", seed, step,
			len(tail.entries), tail.bytes, len(ref), bytes)
	}
	if len(tail.sizes) != len(tail.entries) {
		t.Fatalf("seed %d step %d: %d sizes for %d entries", seed, step, len(tail.sizes), len(tail.entries))
	}
	for i, e := range tail.entries {
		if tail.sizes[i] != len(e.Data) {
			t.Fatalf("seed %d step %d: size of entry %d is %d, its Data has %d bytes", seed, step, e.Index, tail.sizes[i], len(e.Data))
		}
	}
	lo := uint64(1)
	if len(ref) > 0 {
		lo = ref[0].Index
	}
	probes := []uint64{lo - min(lo, 1), lo, next - min(next, 1), next, next + 1}
	for k := 0; k < 8; k++ {
		probes = append(probes, lo+uint64(rng.IntN(int(next-lo+2))))
	}
	for _, i := range probes {
		got, ok := tail.get(i)
		held := len(ref) > 0 && i >= ref[0].Index && i < ref[0].Index+uint64(len(ref))
		if ok != held || (ok && got != ref[i-ref[0].Index]) {
			t.Fatalf("seed %d step %d: get(%d) = %v, %v; held %v", seed, step, i, got, ok, held)
		}
		if got := tail.copyRange(nil, i, 3); held && (len(got) == 0 || got[0] != ref[i-ref[0].Index]) {
			t.Fatalf("seed %d step %d: copyRange(%d) = %v", seed, step, i, got)
		} else if !held && len(got) != 0 {
			t.Fatalf("seed %d step %d: copyRange(%d) of an index not held = %v", seed, step, i, got)
		}
	}
}

func TestLogTailEvictsOnlyDurableEntries(t *testing.T) {
	var tail logTail
	for i := uint64(1); i <= tailMaxEntries+100; i++ {
		tail.append([]*Log{{Index: i}})
	}
	tail.evict(50) // only the first 50 are in the store
	if e, ok := tail.get(51); !ok || e.Index != 51 {
		t.Fatal("evicted an entry that is not durable")
	}
	if _, ok := tail.get(50); ok {
		t.Fatal("kept a durable entry although over the bound")
	}
	tail.evict(tailMaxEntries + 100)
	if n := len(tail.entries); n > tailMaxEntries*3/4 {
		t.Fatalf("after eviction %d entries remain, bound %d", n, tailMaxEntries*3/4)
	}
	if e, ok := tail.get(tailMaxEntries + 100); !ok || e.Index != tailMaxEntries+100 {
		t.Fatal("evicted the newest entry")
	}
}

// TestLogTailEvictsByBytes: over the byte bound, eviction drops the oldest
// durable entries until the tail holds at most three quarters of it, and
// its count of bytes stays exact.
func TestLogTailEvictsByBytes(t *testing.T) {
	var tail logTail
	data := make([]byte, 1<<20) // shared: the tail counts bytes, it does not copy them
	n := uint64(tailMaxBytes>>20 + 6)
	for i := uint64(1); i <= n; i++ {
		tail.append([]*Log{{Index: i, Data: data}})
	}
	tail.evict(0) // nothing durable yet: nothing may go
	if len(tail.entries) != int(n) {
		t.Fatalf("evicted with nothing durable: %d entries left of %d", len(tail.entries), n)
	}
	tail.evict(3) // only the first three may go
	if first := tail.entries[0].Index; first != 4 {
		t.Fatalf("first entry after evicting up to durable 3 is %d, want 4", first)
	}
	tail.evict(math.MaxUint64) // all durable, however far the bound
	if tail.bytes > tailMaxBytes*3/4 {
		t.Fatalf("after eviction the tail holds %d bytes, bound %d", tail.bytes, tailMaxBytes*3/4)
	}
	if want := len(tail.entries) << 20; tail.bytes != want {
		t.Fatalf("tail counts %d bytes for %d entries of 1 MiB", tail.bytes, len(tail.entries))
	}
	if last := tail.entries[len(tail.entries)-1].Index; last != n {
		t.Fatalf("evicted the newest entry: last is %d, want %d", last, n)
	}
}
