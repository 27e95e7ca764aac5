package raft

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
)

// storeTestSeed returns the seed of a randomized test, from RAFT_TEST_SEED
// when set (to replay a failure) or else fresh, and logs it.
func storeTestSeed(t testing.TB) uint64 {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("RAFT_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RAFT_TEST_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (replay with RAFT_TEST_SEED=%d)", seed, seed)
	return seed
}

// testLog returns an entry whose data names its index and a version, so that
// a test can tell an overwritten entry from the original.
func testLog(idx uint64, version int) *Log {
	return &Log{Index: idx, Term: uint64(version), Type: LogCommand, Data: []byte(fmt.Sprintf("%d/%d", idx, version))}
}

func testLogs(first, last uint64, version int) []*Log {
	var logs []*Log
	for i := first; i <= last; i++ {
		logs = append(logs, testLog(i, version))
	}
	return logs
}

// checkIndexes fails unless s holds exactly the indexes want (sorted), with
// the right bounds.
func checkIndexes(t *testing.T, s LogStore, want []uint64) {
	t.Helper()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	var wantFirst, wantLast uint64
	if len(want) > 0 {
		wantFirst, wantLast = want[0], want[len(want)-1]
	}
	if first != wantFirst || last != wantLast {
		t.Fatalf("bounds = [%d, %d], want [%d, %d]", first, last, wantFirst, wantLast)
	}
	held := map[uint64]bool{}
	for _, idx := range want {
		held[idx] = true
	}
	for idx := uint64(0); idx <= wantLast+2; idx++ {
		var l Log
		err := s.GetLog(idx, &l)
		switch {
		case held[idx] && (err != nil || l.Index != idx):
			t.Fatalf("GetLog(%d) = %+v, %v; want the entry", idx, l, err)
		case !held[idx] && !errors.Is(err, ErrLogNotFound):
			t.Fatalf("GetLog(%d) = %+v, %v; want ErrLogNotFound", idx, l, err)
		}
	}
}

func seq(first, last uint64) []uint64 {
	var out []uint64
	for i := first; i <= last; i++ {
		out = append(out, i)
	}
	return out
}

func TestInmemStoreLog(t *testing.T) {
	type op struct {
		store    [2]uint64 // store entries [0] to [1] when [0] > 0
		del      [2]uint64 // else delete [0] to [1]
		wantHeld []uint64
	}
	tests := []struct {
		name string
		ops  []op
	}{
		{"empty", []op{{del: [2]uint64{1, 10}}}},
		{"append", []op{{store: [2]uint64{1, 5}, wantHeld: seq(1, 5)}, {store: [2]uint64{6, 8}, wantHeld: seq(1, 8)}}},
		{"compact prefix", []op{{store: [2]uint64{1, 10}, wantHeld: seq(1, 10)}, {del: [2]uint64{1, 4}, wantHeld: seq(5, 10)}}},
		{"truncate suffix then append", []op{
			{store: [2]uint64{1, 10}, wantHeld: seq(1, 10)},
			{del: [2]uint64{7, 10}, wantHeld: seq(1, 6)},
			{store: [2]uint64{7, 12}, wantHeld: seq(1, 12)},
		}},
		{"delete everything", []op{{store: [2]uint64{3, 9}, wantHeld: seq(3, 9)}, {del: [2]uint64{0, 100}}}},
		{"hole in the middle", []op{
			{store: [2]uint64{1, 10}, wantHeld: seq(1, 10)},
			{del: [2]uint64{4, 6}, wantHeld: append(seq(1, 3), seq(7, 10)...)},
			{store: [2]uint64{11, 11}, wantHeld: append(seq(1, 3), seq(7, 11)...)},
			{store: [2]uint64{4, 6}, wantHeld: seq(1, 11)},
		}},
		{"gap after a snapshot", []op{
			{store: [2]uint64{1, 3}, wantHeld: seq(1, 3)},
			{store: [2]uint64{1000, 1002}, wantHeld: append(seq(1, 3), seq(1000, 1002)...)},
			{del: [2]uint64{1, 3}, wantHeld: seq(1000, 1002)},
		}},
		{"gap filled backwards", []op{
			{store: [2]uint64{10, 12}, wantHeld: seq(10, 12)},
			{store: [2]uint64{9, 9}, wantHeld: seq(9, 12)},
			{store: [2]uint64{5, 6}, wantHeld: append(seq(5, 6), seq(9, 12)...)},
			{store: [2]uint64{7, 8}, wantHeld: seq(5, 12)},
		}},
		{"inverted range is a no-op", []op{{store: [2]uint64{1, 5}, wantHeld: seq(1, 5)}, {del: [2]uint64{4, 2}, wantHeld: seq(1, 5)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewInmemStore()
			for _, o := range tt.ops {
				var err error
				if o.store[0] > 0 {
					err = s.StoreLogs(testLogs(o.store[0], o.store[1], 1))
				} else {
					err = s.DeleteRange(o.del[0], o.del[1])
				}
				if err != nil {
					t.Fatal(err)
				}
				checkIndexes(t, s, o.wantHeld)
			}
		})
	}
}

func TestInmemStoreOverwriteAndCopy(t *testing.T) {
	s := NewInmemStore()
	if err := s.StoreLogs(testLogs(1, 3, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLog(testLog(2, 2)); err != nil {
		t.Fatal(err)
	}
	var l Log
	if err := s.GetLog(2, &l); err != nil || string(l.Data) != "2/2" {
		t.Fatalf("GetLog(2) = %q, %v; want the overwritten entry 2/2", l.Data, err)
	}
	l.Index = 99 // the caller's copy is its own
	if err := s.GetLog(2, &l); err != nil || l.Index != 2 {
		t.Fatalf("GetLog(2) after caller mutation = %d, %v", l.Index, err)
	}
	if err := s.StoreLogs([]*Log{testLog(4, 1), nil}); !errors.Is(err, errNilLog) {
		t.Fatalf("StoreLogs with nil = %v, want errNilLog", err)
	}
	if err := s.StoreLog(nil); !errors.Is(err, errNilLog) {
		t.Fatalf("StoreLog(nil) = %v, want errNilLog", err)
	}
	checkIndexes(t, s, seq(1, 3)) // nothing of the rejected batch
}

func TestInmemStoreStable(t *testing.T) {
	s := NewInmemStore()
	if v, err := s.Get([]byte("k")); v != nil || !errors.Is(err, errKeyNotFound) || err.Error() != "not found" {
		t.Fatalf("Get(missing) = %q, %v; want nil, not found", v, err)
	}
	if v, err := s.GetUint64([]byte("k")); v != 0 || err != nil {
		t.Fatalf("GetUint64(missing) = %d, %v; want 0, nil", v, err)
	}
	val := []byte("value")
	if err := s.Set([]byte("k"), val); err != nil {
		t.Fatal(err)
	}
	val[0] = 'X' // the store keeps its own copy
	got, err := s.Get([]byte("k"))
	if err != nil || string(got) != "value" {
		t.Fatalf("Get(k) = %q, %v; want value", got, err)
	}
	got[0] = 'Y'
	if again, _ := s.Get([]byte("k")); string(again) != "value" {
		t.Fatalf("Get(k) after caller mutation = %q", again)
	}
	if err := s.SetUint64(keyCurrentTerm, 7); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetUint64(keyCurrentTerm); v != 7 || err != nil {
		t.Fatalf("GetUint64 = %d, %v; want 7", v, err)
	}
	if err := s.Set([]byte("empty"), []byte{}); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get([]byte("empty")); err != nil || len(v) != 0 {
		t.Fatalf("Get(empty) = %q, %v", v, err)
	}
}

func TestInmemStoreFailWrites(t *testing.T) {
	s := NewInmemStore()
	boom := errors.New("disk on fire")
	s.failWrites(boom)
	for name, err := range map[string]error{
		"StoreLogs":   s.StoreLogs(testLogs(1, 2, 1)),
		"StoreLog":    s.StoreLog(testLog(1, 1)),
		"DeleteRange": s.DeleteRange(1, 2),
		"Set":         s.Set([]byte("k"), []byte("v")),
		"SetUint64":   s.SetUint64([]byte("k"), 1),
	} {
		if !errors.Is(err, boom) {
			t.Errorf("%s = %v, want the injected failure", name, err)
		}
	}
	checkIndexes(t, s, nil)
	s.failWrites(nil)
	if err := s.StoreLogs(testLogs(1, 2, 1)); err != nil {
		t.Fatal(err)
	}
	checkIndexes(t, s, seq(1, 2))
}

func TestInmemCommitTrackingStore(t *testing.T) {
	var s CommitTrackingLogStore = NewInmemCommitTrackingStore()
	if v, err := s.GetCommitIndex(); v != 0 || err != nil {
		t.Fatalf("initial GetCommitIndex = %d, %v", v, err)
	}
	if err := s.StageCommitIndex(42); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetCommitIndex(); v != 42 || err != nil {
		t.Fatalf("GetCommitIndex = %d, %v; want 42", v, err)
	}
	if err := s.StoreLogs(testLogs(1, 3, 1)); err != nil {
		t.Fatal(err)
	}
	checkIndexes(t, s, seq(1, 3))
}

// checkRunsInvariants fails if the runs are not sorted, non-empty and apart.
func checkRunsInvariants(t *testing.T, s *logRuns) {
	t.Helper()
	for i, r := range s.runs {
		if len(r.logs) == 0 {
			t.Fatalf("run %d is empty: %+v", i, s.runs)
		}
		for k, l := range r.logs {
			if l == nil || l.Index != r.first+uint64(k) {
				t.Fatalf("run %d slot %d holds %+v, want index %d", i, k, l, r.first+uint64(k))
			}
		}
		if i > 0 && s.runs[i-1].last()+1 >= r.first {
			t.Fatalf("runs %d and %d touch or overlap: [%d,%d] [%d,%d]", i-1, i, s.runs[i-1].first, s.runs[i-1].last(), r.first, r.last())
		}
	}
}

// TestLogRunsMatchesMap checks the run structure against a map, the simplest
// store that could work, over random operations.
func TestLogRunsMatchesMap(t *testing.T) {
	seed := storeTestSeed(t)
	rng := rand.New(rand.NewPCG(seed, 0))
	for round := range 50 {
		var runs logRuns
		ref := map[uint64]*Log{}
		for step := range 200 {
			desc := randomLogOp(rng, step, func(logs []*Log) {
				for _, l := range logs {
					runs.store(l)
					ref[l.Index] = l
				}
			},
				func(min, max uint64) {
					runs.deleteRange(min, max)
					for i := min; i <= max && i <= 300; i++ {
						delete(ref, i)
					}
				})
			checkRunsInvariants(t, &runs)
			var lo, hi uint64
			for idx := range ref {
				if lo == 0 || idx < lo {
					lo = idx
				}
				hi = max(hi, idx)
			}
			if runs.firstIndex() != lo || runs.lastIndex() != hi {
				t.Fatalf("round %d step %d (%s): bounds [%d,%d], want [%d,%d]", round, step, desc, runs.firstIndex(), runs.lastIndex(), lo, hi)
			}
			for idx := uint64(0); idx <= 300; idx++ {
				if got := runs.get(idx); got != ref[idx] {
					t.Fatalf("round %d step %d (%s): get(%d) = %v, want %v", round, step, desc, idx, got, ref[idx])
				}
			}
		}
	}
}

// randomLogOp performs one random operation of the kinds raft does (append,
// compact, truncate) or arbitrary ones, within indexes 1 to 300, and
// describes it. Entries carry the step as version, so overwrites show.
func randomLogOp(rng *rand.Rand, step int, store func([]*Log), del func(min, max uint64)) string {
	a := 1 + rng.Uint64N(280)
	b := a + rng.Uint64N(20)
	switch rng.IntN(4) {
	case 0, 1:
		store(testLogs(a, b, step))
		return fmt.Sprintf("store %d-%d", a, b)
	case 2:
		del(a, b)
		return fmt.Sprintf("delete %d-%d", a, b)
	default:
		if rng.IntN(2) == 0 {
			del(0, a)
			return fmt.Sprintf("delete 0-%d", a)
		}
		del(a, 1<<64-1)
		return fmt.Sprintf("delete %d-max", a)
	}
}

func TestInmemStoreConcurrent(t *testing.T) {
	s := NewInmemStore()
	checkConcurrentReads(t, s, 2000, func(i uint64) error {
		if err := s.StoreLogs(testLogs(i, i+9, 1)); err != nil || i <= 100 {
			return err
		}
		return s.DeleteRange(0, i-100)
	})
	checkIndexes(t, s, seq(1892, 2000)) // the last batch stores 1991-2000, then deletes up to 1891
}

// checkConcurrentReads calls write(i) for i = 1, 11, 21, ... below total from
// one goroutine while four others read every index: a read must return the
// entry testLog(i, 1) or ErrLogNotFound.
func checkConcurrentReads(t *testing.T, s LogStore, total uint64, write func(i uint64) error) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := uint64(1); i <= total; i += 10 {
			if err := write(i); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			for i := uint64(1); i <= total; i++ {
				var l Log
				err := s.GetLog(i, &l)
				if err == nil && (l.Index != i || string(l.Data) != fmt.Sprintf("%d/1", i)) {
					t.Errorf("GetLog(%d) = %+v", i, l)
					return
				}
				if err != nil && !errors.Is(err, ErrLogNotFound) {
					t.Errorf("GetLog(%d): %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkInmemStoreStoreLogs(b *testing.B) {
	b.ReportAllocs()
	s := NewInmemStore()
	// Entries are recycled once compacted away, so that the benchmark
	// measures the store rather than the allocation of entries. The store
	// holds at most compactEvery+keep entries, fewer than the pool.
	const batch, compactEvery, keep, pool = 64, 64 * 1024, 1024, 128 * 1024
	logs := testLogs(1, pool, 1)
	next := uint64(1)
	for b.Loop() {
		off := (next - 1) % pool
		for k, l := range logs[off : off+batch] {
			l.Index = next + uint64(k)
		}
		if err := s.StoreLogs(logs[off : off+batch]); err != nil {
			b.Fatal(err)
		}
		next += batch
		if (next-1)%compactEvery == 0 {
			if err := s.DeleteRange(0, next-keep); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
}

func BenchmarkInmemStoreGetLog(b *testing.B) {
	b.ReportAllocs()
	s := NewInmemStore()
	if err := s.StoreLogs(testLogs(1, 4096, 1)); err != nil {
		b.Fatal(err)
	}
	var l Log
	i := uint64(0)
	for b.Loop() {
		if err := s.GetLog(1+i%4096, &l); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
