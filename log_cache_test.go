package raft

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// flakyStore is an InmemStore whose writes fail at random after doing part
// of their work, as a disk that fails halfway through a batch would.
type flakyStore struct {
	*InmemStore
	rng      *rand.Rand // used by one goroutine only
	failRate float64
}

var errFlaky = errors.New("flaky store: injected failure")

func (f *flakyStore) StoreLogs(logs []*Log) error {
	if f.rng.Float64() >= f.failRate {
		return f.InmemStore.StoreLogs(logs)
	}
	if err := f.InmemStore.StoreLogs(logs[:f.rng.IntN(len(logs)+1)]); err != nil {
		return err
	}
	return errFlaky
}

func (f *flakyStore) DeleteRange(min, max uint64) error {
	if f.rng.Float64() >= f.failRate {
		return f.InmemStore.DeleteRange(min, max)
	}
	if err := f.InmemStore.DeleteRange(min, min+(max-min)/2); err != nil {
		return err
	}
	return errFlaky
}

// monotonicStore is a LogStore that says whether it is monotonic.
type monotonicStore struct {
	*InmemStore
	monotonic bool
}

func (m monotonicStore) IsMonotonic() bool { return m.monotonic }

func TestNewLogCacheCapacity(t *testing.T) {
	for _, capacity := range []int{0, -1} {
		if c, err := NewLogCache(capacity, NewInmemStore()); c != nil || !errors.Is(err, errCacheCapacity) {
			t.Errorf("NewLogCache(%d) = %v, %v; want errCacheCapacity", capacity, c, err)
		}
	}
	if _, err := NewLogCache(1, NewInmemStore()); err != nil {
		t.Errorf("NewLogCache(1): %v", err)
	}
}

func TestLogCacheIsMonotonic(t *testing.T) {
	tests := []struct {
		name  string
		store LogStore
		want  bool
	}{
		{"plain store", NewInmemStore(), false},
		{"monotonic store", monotonicStore{NewInmemStore(), true}, true},
		{"store saying no", monotonicStore{NewInmemStore(), false}, false},
	}
	for _, tt := range tests {
		c, err := NewLogCache(4, tt.store)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.IsMonotonic(); got != tt.want {
			t.Errorf("%s: IsMonotonic = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestLogCacheNeverServesUnpersisted stores over an entry that is cached,
// with a store that fails without persisting: the cache must not serve the
// new entry, and must not go on serving the old one if the store lost it.
func TestLogCacheNeverServesUnpersisted(t *testing.T) {
	inner := NewInmemStore()
	c, err := NewLogCache(8, inner)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StoreLogs(testLogs(1, 4, 1)); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	inner.failWrites(boom)
	if err := c.StoreLog(testLog(5, 1)); !errors.Is(err, boom) {
		t.Fatalf("StoreLog with failing store = %v, want the store's error", err)
	}
	var l Log
	if err := c.GetLog(5, &l); !errors.Is(err, ErrLogNotFound) {
		t.Fatalf("GetLog(5) after failed store = %+v, %v; want ErrLogNotFound", l, err)
	}
	if err := c.StoreLogs(testLogs(3, 4, 2)); !errors.Is(err, boom) {
		t.Fatalf("StoreLogs = %v", err)
	}
	if err := c.GetLog(3, &l); err != nil || string(l.Data) != "3/1" {
		t.Fatalf("GetLog(3) = %q, %v; want what the store holds, 3/1", l.Data, err)
	}
	if err := c.DeleteRange(1, 2); !errors.Is(err, boom) {
		t.Fatalf("DeleteRange = %v", err)
	}
	inner.failWrites(nil)
	if err := c.DeleteRange(1, 2); err != nil {
		t.Fatal(err)
	}
	checkIndexes(t, c, seq(3, 4))
}

func TestLogCacheDeleteRangeInvalidates(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		min, max uint64
		want     []uint64
	}{
		{"inside the cache", 16, 3, 5, append(seq(1, 2), seq(6, 10)...)},
		{"larger than the cache", 4, 2, 9, []uint64{1, 10}},
		{"suffix", 16, 8, 1<<64 - 1, seq(1, 7)},
		{"everything", 16, 0, 1<<64 - 1, nil},
		{"capacity 1", 1, 10, 10, seq(1, 9)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewLogCache(tt.capacity, NewInmemStore())
			if err != nil {
				t.Fatal(err)
			}
			if err := c.StoreLogs(testLogs(1, 10, 1)); err != nil {
				t.Fatal(err)
			}
			if err := c.DeleteRange(tt.min, tt.max); err != nil {
				t.Fatal(err)
			}
			checkIndexes(t, c, tt.want)
		})
	}
}

// TestLogCacheMatchesStore runs random operations on a cache in front of a
// store that may fail halfway, and on a reference InmemStore getting the
// same writes when they succeed: every read through the cache must return
// what the wrapped store holds, and, with no failures, what the reference
// holds.
func TestLogCacheMatchesStore(t *testing.T) {
	seed := storeTestSeed(t)
	for _, tt := range []struct {
		capacity int
		failRate float64
	}{{1, 0}, {7, 0}, {64, 0}, {7, 0.3}, {64, 0.3}} {
		t.Run(fmt.Sprintf("capacity %d fail %.1f", tt.capacity, tt.failRate), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, uint64(tt.capacity)))
			inner := &flakyStore{InmemStore: NewInmemStore(), rng: rng, failRate: tt.failRate}
			ref := NewInmemStore()
			c, err := NewLogCache(tt.capacity, inner)
			if err != nil {
				t.Fatal(err)
			}
			for step := range 500 {
				desc := randomLogOp(rng, step, func(logs []*Log) {
					if c.StoreLogs(logs) == nil {
						_ = ref.StoreLogs(logs)
					}
				}, func(min, max uint64) {
					if c.DeleteRange(min, max) == nil {
						_ = ref.DeleteRange(min, max)
					}
				})
				want := LogStore(inner.InmemStore)
				if tt.failRate == 0 {
					want = ref
				}
				compareLogStores(t, fmt.Sprintf("step %d (%s)", step, desc), c, want, 310)
			}
		})
	}
}

// compareLogStores fails unless got and want hold the same entries up to
// index limit and report the same bounds.
func compareLogStores(t *testing.T, when string, got, want LogStore, limit uint64) {
	t.Helper()
	for idx := uint64(0); idx <= limit; idx++ {
		var g, w Log
		gErr, wErr := got.GetLog(idx, &g), want.GetLog(idx, &w)
		if !errors.Is(gErr, wErr) || string(g.Data) != string(w.Data) || g.Index != w.Index {
			t.Fatalf("%s: GetLog(%d) = %q, %v; want %q, %v", when, idx, g.Data, gErr, w.Data, wErr)
		}
	}
	gf, _ := got.FirstIndex()
	wf, _ := want.FirstIndex()
	gl, _ := got.LastIndex()
	wl, _ := want.LastIndex()
	if gf != wf || gl != wl {
		t.Fatalf("%s: bounds [%d,%d], want [%d,%d]", when, gf, gl, wf, wl)
	}
}

func TestLogCacheConcurrent(t *testing.T) {
	c, err := NewLogCache(32, NewInmemStore())
	if err != nil {
		t.Fatal(err)
	}
	checkConcurrentReads(t, c, 2000, func(i uint64) error {
		// Store, truncate, then rewrite, as a follower with a conflict does.
		return errors.Join(c.StoreLogs(testLogs(i, i+9, 1)), c.DeleteRange(i+5, i+9), c.StoreLogs(testLogs(i+5, i+9, 1)))
	})
	checkIndexes(t, c, seq(1, 2000))
}

func BenchmarkLogCacheGetLog(b *testing.B) {
	b.ReportAllocs()
	c, err := NewLogCache(512, NewInmemStore())
	if err != nil {
		b.Fatal(err)
	}
	if err := c.StoreLogs(testLogs(1, 512, 1)); err != nil {
		b.Fatal(err)
	}
	var l Log
	i := uint64(0)
	for b.Loop() {
		if err := c.GetLog(1+i%512, &l); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
