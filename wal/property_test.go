package wal

import (
	"errors"
	"flag"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/raftkit/raft"
)

var propSeed = flag.Uint64("wal.seed", 0, "replay TestAgainstReference or TestKill9 with this seed")

// refLog is the reference: a map from index to entry and the bounds.
type refLog struct {
	first, last uint64 // 0, 0 when empty
	entries     map[uint64]*raft.Log
	commit      uint64 // last commit index written with entries
}

func (r *refLog) store(logs []*raft.Log, commit uint64) {
	if r.last == 0 {
		r.first = logs[0].Index
	}
	for _, l := range logs {
		r.entries[l.Index] = l
	}
	r.last = logs[len(logs)-1].Index
	r.commit = max(r.commit, commit)
}

func (r *refLog) deleteRange(lo, hi uint64) {
	if r.last == 0 || hi < r.first || lo > r.last {
		return
	}
	for i := max(lo, r.first); i <= min(hi, r.last); i++ {
		delete(r.entries, i)
	}
	switch {
	case lo <= r.first && hi >= r.last:
		r.first, r.last = 0, 0
	case lo <= r.first:
		r.first = hi + 1
	default:
		r.last = lo - 1
	}
}

// TestAgainstReference runs random sequences of StoreLogs, DeleteRange
// (head, tail, everything), commit staging and reopening against the
// reference, with segments small enough that most operations cross one.
func TestAgainstReference(t *testing.T) {
	seeds := []uint64{*propSeed}
	if *propSeed == 0 {
		seeds = []uint64{uint64(time.Now().UnixNano()), 1, 2}
	}
	for _, seed := range seeds {
		t.Logf("seed %d (replay with -wal.seed=%d)", seed, seed)
		runReference(t, seed, 300)
		if t.Failed() {
			return
		}
	}
}

func runReference(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, seed))
	dir := t.TempDir()
	opts := []Option{WithSegmentSize(4 << 10), WithSync(false), WithCacheEntries(rng.IntN(40))}
	w := mustOpen(t, dir, opts...)
	defer func() { w.Close() }()
	ref := &refLog{entries: map[uint64]*raft.Log{}}
	term := uint64(1)
	for step := 0; step < steps; step++ {
		switch op := rng.IntN(20); {
		case op < 10:
			refStore(t, rng, w, ref, term)
		case op < 12:
			term++ // a new leader: the next tail cut rewrites with it
			refDelete(t, w, ref, ref.last-uint64(rng.IntN(8)), ref.last+uint64(rng.IntN(3)))
		case op < 14:
			refDelete(t, w, ref, ref.first-uint64(rng.IntN(2)), ref.first+uint64(rng.IntN(30)))
		case op == 14:
			refDelete(t, w, ref, 0, ref.last+uint64(rng.IntN(100))) // snapshot installed
		case op == 15:
			w.StageCommitIndex(ref.last)
		default:
			w.Close()
			w = mustOpen(t, dir, opts...)
			if c, _ := w.GetCommitIndex(); c < ref.commit && ref.last != 0 {
				t.Fatalf("step %d: commit index %d after reopening, want at least %d", step, c, ref.commit)
			}
		}
		refCheck(t, rng, w, ref, step)
	}
}

func refStore(t *testing.T, rng *rand.Rand, w *WAL, ref *refLog, term uint64) {
	from := ref.last + 1
	if ref.last == 0 {
		from = 1 + uint64(rng.IntN(1000))
	}
	n := 1 + rng.IntN(12)
	if rng.IntN(20) == 0 {
		n = 60 // larger than a segment
	}
	var logs []*raft.Log
	for i := range n {
		logs = append(logs, entry(from+uint64(i), term, rng.IntN(300)))
	}
	commit, _ := w.GetCommitIndex()
	mustStore(t, w, logs)
	ref.store(logs, commit)
}

func refDelete(t *testing.T, w *WAL, ref *refLog, lo, hi uint64) {
	if err := w.DeleteRange(lo, hi); err != nil && !errors.Is(err, ErrUnsupportedRange) {
		t.Fatalf("DeleteRange(%d, %d): %v", lo, hi, err)
	} else if err == nil {
		ref.deleteRange(lo, hi)
	}
}

func refCheck(t *testing.T, rng *rand.Rand, w *WAL, ref *refLog, step int) {
	t.Helper()
	first, _ := w.FirstIndex()
	last, _ := w.LastIndex()
	if first != ref.first || last != ref.last {
		t.Fatalf("step %d: bounds [%d, %d], reference [%d, %d]", step, first, last, ref.first, ref.last)
	}
	for range 8 {
		i := ref.first + uint64(rng.IntN(int(ref.last-ref.first)+3)) - 1
		var got raft.Log
		err := w.GetLog(i, &got)
		want, ok := ref.entries[i]
		switch {
		case !ok && !errors.Is(err, raft.ErrLogNotFound):
			t.Fatalf("step %d: GetLog(%d) outside the log: %v", step, i, err)
		case ok && err != nil:
			t.Fatalf("step %d: GetLog(%d): %v", step, i, err)
		case ok:
			if d := sameLog(&got, want); d != "" {
				t.Fatalf("step %d: %s", step, d)
			}
		}
	}
}
