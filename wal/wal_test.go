package wal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/raftkit/raft"
)

func byIndex(term uint64, size int) func(uint64) *raft.Log {
	return func(i uint64) *raft.Log { return entry(i, term, size) }
}

func TestStoreGetReopen(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, WithSegmentSize(8<<10), WithSync(false))
	checkRange(t, w, 0, 0, nil)
	for i := uint64(1); i <= 200; i += 10 {
		mustStore(t, w, entries(i, i+9, 3, 100))
	}
	checkRange(t, w, 1, 200, byIndex(3, 100))
	if n := len(segFiles(t, dir)); n < 3 {
		t.Fatalf("%d segment files, want several with 8 KiB segments", n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := w.GetLog(1, &l); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetLog after Close: %v", err)
	}
	w = mustOpen(t, dir, WithSegmentSize(8<<10), WithSync(false))
	defer w.Close()
	checkRange(t, w, 1, 200, byIndex(3, 100))
	mustStore(t, w, entries(201, 210, 3, 100))
	checkRange(t, w, 1, 210, byIndex(3, 100))
}

func TestReadsFromDiskWithoutCache(t *testing.T) {
	w := mustOpen(t, t.TempDir(), WithCacheEntries(0), WithSync(false))
	defer w.Close()
	mustStore(t, w, entries(5, 50, 1, 33))
	checkRange(t, w, 5, 50, byIndex(1, 33))
}

func TestStoreLogsOrder(t *testing.T) {
	w := mustOpen(t, t.TempDir(), WithSync(false))
	defer w.Close()
	mustStore(t, w, entries(10, 12, 1, 8))
	for _, logs := range [][]*raft.Log{
		entries(14, 15, 1, 8),              // gap
		entries(12, 13, 1, 8),              // overlap
		{entry(13, 1, 8), entry(15, 1, 8)}, // gap inside
		{{Index: 0, Term: 1}},              // index 0
	} {
		if err := w.StoreLogs(logs); !errors.Is(err, ErrOutOfOrder) {
			t.Fatalf("StoreLogs from %d: %v, want ErrOutOfOrder", logs[0].Index, err)
		}
	}
	mustStore(t, w, entries(13, 13, 1, 8)) // a rejected call leaves the store usable
	checkRange(t, w, 10, 13, byIndex(1, 8))
}

func TestDeleteRange(t *testing.T) {
	dir := t.TempDir()
	opts := []Option{WithSegmentSize(4 << 10), WithSync(false)}
	w := mustOpen(t, dir, opts...)
	mustStore(t, w, entries(1, 100, 1, 64))
	steps := []struct {
		min, max    uint64
		first, last uint64
	}{
		{1, 10, 11, 100},   // head, inside a segment
		{0, 40, 41, 100},   // head, whole segments
		{90, 200, 41, 89},  // tail, inside a segment
		{60, 89, 41, 59},   // tail, whole segments
		{200, 300, 41, 59}, // beyond the log: nothing
		{1, 5, 41, 59},     // before the log: nothing
	}
	for _, s := range steps {
		if err := w.DeleteRange(s.min, s.max); err != nil {
			t.Fatalf("DeleteRange(%d, %d): %v", s.min, s.max, err)
		}
		checkRange(t, w, s.first, s.last, byIndex(1, 64))
		w.Close()
		w = mustOpen(t, dir, opts...)
		checkRange(t, w, s.first, s.last, byIndex(1, 64))
	}
	if err := w.DeleteRange(45, 50); !errors.Is(err, ErrUnsupportedRange) {
		t.Fatalf("DeleteRange in the middle: %v", err)
	}
	// The tail continues from the cut, with another term.
	mustStore(t, w, entries(60, 70, 2, 64))
	want := func(i uint64) *raft.Log {
		if i >= 60 {
			return entry(i, 2, 64)
		}
		return entry(i, 1, 64)
	}
	checkRange(t, w, 41, 70, want)
	w.Close()
	w = mustOpen(t, dir, opts...)
	defer w.Close()
	checkRange(t, w, 41, 70, want)
}

func TestDeleteAllThenRestartHigher(t *testing.T) {
	dir := t.TempDir()
	opts := []Option{WithSegmentSize(4 << 10), WithSync(false)}
	w := mustOpen(t, dir, opts...)
	mustStore(t, w, entries(1, 30, 1, 10))
	if err := w.DeleteRange(1, 30); err != nil {
		t.Fatal(err)
	}
	checkRange(t, w, 0, 0, nil)
	if n := len(segFiles(t, dir)); n != 0 {
		t.Fatalf("%d segment files after deleting everything", n)
	}
	w.Close()
	w = mustOpen(t, dir, opts...)
	checkRange(t, w, 0, 0, nil)
	mustStore(t, w, entries(500, 510, 4, 10)) // after installing a snapshot at 499
	checkRange(t, w, 500, 510, byIndex(4, 10))
	w.Close()
	w = mustOpen(t, dir, opts...)
	checkRange(t, w, 500, 510, byIndex(4, 10))
	// Restarting below the recorded head must not hide the new entries.
	if err := w.DeleteRange(0, 600); err != nil {
		t.Fatal(err)
	}
	mustStore(t, w, entries(7, 9, 5, 10))
	w.Close()
	w = mustOpen(t, dir, opts...)
	defer w.Close()
	checkRange(t, w, 7, 9, byIndex(5, 10))
}

func TestOversizedBatchGetsItsOwnSegment(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, WithSegmentSize(4<<10), WithSync(false))
	mustStore(t, w, entries(1, 2, 1, 10))
	mustStore(t, w, entries(3, 6, 1, 3000)) // 12 KiB in one write
	mustStore(t, w, entries(7, 7, 1, 10))
	w.Close()
	w = mustOpen(t, dir, WithSegmentSize(4<<10), WithSync(false))
	defer w.Close()
	checkRange(t, w, 1, 7, func(i uint64) *raft.Log {
		if i >= 3 && i <= 6 {
			return entry(i, 1, 3000)
		}
		return entry(i, 1, 10)
	})
}

func TestCommitIndex(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir)
	if c, _ := w.GetCommitIndex(); c != 0 {
		t.Fatalf("commit index %d on a new WAL", c)
	}
	w.StageCommitIndex(3)
	if c, _ := w.GetCommitIndex(); c != 3 {
		t.Fatalf("staged commit index reads %d, want 3", c)
	}
	mustStore(t, w, entries(1, 5, 1, 1))
	w.StageCommitIndex(5) // staged but never written: not durable
	w.Close()
	w = mustOpen(t, dir)
	if c, _ := w.GetCommitIndex(); c != 3 {
		t.Fatalf("commit index after reopen %d, want 3", c)
	}
	w.StageCommitIndex(5)
	if err := w.DeleteRange(1, 5); err != nil { // the log empties: the head file keeps it
		t.Fatal(err)
	}
	w.Close()
	w = mustOpen(t, dir)
	defer w.Close()
	if c, _ := w.GetCommitIndex(); c != 5 {
		t.Fatalf("commit index after emptying and reopening %d, want 5", c)
	}
}

func TestStableStore(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir)
	_, err := w.Get([]byte("CurrentTerm"))
	if !errors.Is(err, ErrKeyNotFound) || err.Error() != "not found" {
		t.Fatalf("Get of a missing key: %v", err)
	}
	if v, err := w.GetUint64([]byte("CurrentTerm")); v != 0 || !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("GetUint64 of a missing key: %d, %v", v, err)
	}
	if err := w.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	val := []byte("node-1")
	if err := w.Set([]byte("LastVoteCand"), val); err != nil {
		t.Fatal(err)
	}
	val[0] = 'X' // the store copied it
	if err := w.Set([]byte("empty"), nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	w = mustOpen(t, dir)
	defer w.Close()
	if v, err := w.GetUint64([]byte("CurrentTerm")); v != 7 || err != nil {
		t.Fatalf("GetUint64 after reopen: %d, %v", v, err)
	}
	if v, err := w.Get([]byte("LastVoteCand")); string(v) != "node-1" || err != nil {
		t.Fatalf("Get after reopen: %q, %v", v, err)
	}
	if v, err := w.Get([]byte("empty")); len(v) != 0 || err != nil {
		t.Fatalf("Get of an empty value: %q, %v", v, err)
	}
	if _, err := w.GetUint64([]byte("LastVoteCand")); err == nil {
		t.Fatal("GetUint64 of a 6-byte value succeeded")
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir)
	defer w.Close()
	if w2, err := Open(dir); err == nil {
		w2.Close()
		t.Fatal("a second Open of the same directory succeeded")
	}
}

func TestFilesStayInTheirSubdirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "snapshots"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := mustOpen(t, dir)
	mustStore(t, w, entries(1, 3, 1, 1))
	w.SetUint64([]byte("k"), 1)
	w.Close()
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "snapshots,wal" {
		t.Fatalf("directory holds %v, want only snapshots and wal", names)
	}
}

// TestGroupCommit holds the first caller's sync until the others have
// queued, and checks that they all share the next sync.
func TestGroupCommit(t *testing.T) {
	fs := &faultFS{}
	w := mustOpen(t, t.TempDir(), withFS(fs), WithSegmentSize(64<<10))
	defer w.Close()
	mustStore(t, w, entries(1, 1, 1, 8)) // create the segment
	var syncs, blocked int
	var mu sync.Mutex
	release := make(chan struct{})
	fs.setHook(func(op, path string) error {
		if op != "datasync" {
			return nil
		}
		mu.Lock()
		syncs++
		first := syncs == 1
		if first {
			blocked++
		}
		mu.Unlock()
		if first {
			<-release
		}
		return nil
	})
	const callers = 8
	var wg sync.WaitGroup
	errs := make([]error, callers+1)
	store := func(k int) {
		defer wg.Done()
		errs[k] = w.StoreLogs(entries(uint64(k)+2, uint64(k)+2, 1, 8))
	}
	wg.Add(1)
	go store(0)
	waitFor(t, "the first sync", func() bool { mu.Lock(); defer mu.Unlock(); return syncs == 1 })
	for k := 1; k < callers; k++ { // queue in index order
		wg.Add(1)
		go store(k)
		waitFor(t, "a queued call", func() bool { w.qmu.Lock(); defer w.qmu.Unlock(); return len(w.queue) == k })
	}
	close(release)
	wg.Wait()
	for k, err := range errs[:callers] {
		if err != nil {
			t.Fatalf("caller %d: %v", k, err)
		}
	}
	if syncs != 2 || blocked != 1 {
		t.Fatalf("%d syncs for %d calls, want 2 (one shared by the %d queued calls)", syncs, callers, callers-1)
	}
	checkRange(t, w, 1, callers+1, byIndex(1, 8))
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	w := mustOpen(t, t.TempDir(), WithSegmentSize(16<<10), WithCacheEntries(16), WithSync(false))
	defer w.Close()
	mustStore(t, w, entries(1, 1, 1, 40))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := uint64(1); ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				last, _ := w.LastIndex()
				var l raft.Log
				idx := 1 + i%last
				if err := w.GetLog(idx, &l); err != nil {
					t.Errorf("GetLog(%d): %v", idx, err)
					return
				}
				if d := sameLog(&l, entry(idx, 1, 40)); d != "" {
					t.Error(d)
					return
				}
			}
		}()
	}
	for i := uint64(2); i <= 1000; i += 4 {
		mustStore(t, w, entries(i, i+3, 1, 40))
	}
	close(stop)
	wg.Wait()
}
